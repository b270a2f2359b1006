//! Tamper-evident tokens: what the API hands a client to bring back unchanged (a statement
//! cursor, which carries the running balances the next page starts from). A token is
//! `<payload>.<tag>`, both base64url: the tag is an HMAC-SHA256 over the context (whose token
//! it is) and the payload, so an edited payload, or one client's token offered by another, is
//! refused instead of trusted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    #[error("not a token of this form")]
    Malformed,
    /// Well formed, but no key made its tag for this context: edited, or someone else's.
    #[error("the token's tag matches no key")]
    Forged,
}

pub fn seal(key: &[u8], context: &str, payload: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let tag = URL_SAFE_NO_PAD.encode(mac(key, context, &payload).finalize().into_bytes());
    format!("{payload}.{tag}")
}

/// The payload of `token`, if one of `keys` sealed it for `context`.
pub fn open(keys: &[&[u8]], context: &str, token: &str) -> Result<Vec<u8>, Unsealed> {
    let (payload, tag) = token.split_once('.').ok_or(Unsealed::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| Unsealed::Malformed)?;
    let decoded = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Unsealed::Malformed)?;
    keys.iter()
        .any(|key| mac(key, context, payload).verify_slice(&tag).is_ok())
        .then_some(decoded)
        .ok_or(Unsealed::Forged)
}

fn mac(key: &[u8], context: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(context.as_bytes());
    mac.update(b"\n");
    mac.update(payload.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_unchanged_for_its_context_under_a_key_that_sealed_it() {
        let token = seal(b"k1", "creator:c1", br#"{"balances":{"diamonds":5}}"#);
        assert_eq!(
            open(&[b"k0", b"k1"], "creator:c1", &token).unwrap(),
            br#"{"balances":{"diamonds":5}}"#
        );
        assert_eq!(open(&[b"k0"], "creator:c1", &token), Err(Unsealed::Forged));
        assert_eq!(open(&[b"k1"], "creator:c2", &token), Err(Unsealed::Forged));
        let (_, tag) = token.split_once('.').unwrap();
        let edited = URL_SAFE_NO_PAD.encode(br#"{"balances":{"diamonds":500}}"#);
        assert_eq!(
            open(&[b"k1"], "creator:c1", &format!("{edited}.{tag}")),
            Err(Unsealed::Forged)
        );
        for malformed in ["", "abc", "a.b!", "!.abc"] {
            assert_eq!(
                open(&[b"k1"], "creator:c1", malformed),
                Err(Unsealed::Malformed)
            );
        }
    }
}

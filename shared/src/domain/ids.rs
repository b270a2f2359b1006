//! Ids. New entities get a ULID (sortable by creation time); ids of effects that must happen at
//! most once are derived from the caller's idempotency key, so a retry after the key's retention
//! still lands on the same id and the store refuses it.

use sha2::{Digest, Sha256};

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// A stable id for the effect of `(scope, key)`: the first 128 bits of SHA-256, hex.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    format!("{prefix}_{}", &hex::encode(digest(parts))[..32])
}

/// SHA-256 over length-prefixed parts, so `("ab","c")` and `("a","bc")` differ.
pub fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_unambiguous() {
        assert_eq!(derived_id("g", &["a", "b"]), derived_id("g", &["a", "b"]));
        assert_ne!(derived_id("g", &["ab", "c"]), derived_id("g", &["a", "bc"]));
        assert_eq!(derived_id("g", &["x"]).len(), 2 + 32);
        assert_ne!(new_id("st"), new_id("st"));
    }
}

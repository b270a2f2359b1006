//! The payment webhook's untrusted input: the signature header and the body, up to the event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livepay::domain::payments::{sign, verify_signature, PaymentEvent, WebhookEnvelope};

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let header = String::from_utf8_lossy(header);
    // Forging an HMAC-SHA256 is beyond any fuzzer: an accepted header means the check broke.
    assert!(verify_signature(SECRET, Some(&header), body, 1_800_000_000).is_err());
    // One byte off a correct header is refused too.
    let good = sign(SECRET, 1_800_000_000, body);
    if let Some(&b) = data.first() {
        let i = usize::from(b) % good.len();
        let mut bad = good.into_bytes();
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8_lossy(&bad);
        assert!(verify_signature(SECRET, Some(&bad), body, 1_800_000_000).is_err());
    }
    // A correctly signed body reaches the parser, which must refuse or accept, never panic.
    if let Ok(envelope) = livepay::input::parse_json::<WebhookEnvelope>(body) {
        let _ = PaymentEvent::parse(envelope);
    }
});

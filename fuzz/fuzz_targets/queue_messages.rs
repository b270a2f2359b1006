//! Queue message bodies: whatever is on a queue (a bad deploy, a hand-sent message) is parsed
//! into work or refused as poison, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livepay::queue::payouts::PayoutEvent;
use livepay::queue::settlement::SettlementEvent;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    if let Ok(event) = SettlementEvent::parse(&body) {
        // What parses, round-trips.
        assert!(SettlementEvent::parse(&event.to_body()).is_ok());
    }
    let _ = PayoutEvent::parse(&body);
});

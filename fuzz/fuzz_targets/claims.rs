//! The authorizer's claims: a JSON object of strings, as API Gateway hands it over.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use livepay::http::Caller;

fuzz_target!(|data: &[u8]| {
    if let Ok(claims) = serde_json::from_slice::<HashMap<String, String>>(data) {
        if let Ok(caller) = Caller::from_claims(Some(&claims)) {
            assert!(!caller.user_id.trim().is_empty());
        }
    }
});

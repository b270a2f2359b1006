//! Stripe's side of the tests: the project's Stripe event fixtures (written from Stripe's
//! documentation and held against Stripe's published fixtures by `tests/stripe_fixtures.rs`),
//! and signatures made by Stripe's own library (`tests/stripe/sign.mjs`, the npm `stripe`
//! package that `scripts/test` installs), never by livepay's code.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::{Req, TestEnv};

/// The endpoint's current secret, and the previous one still active during a rotation.
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_test_livepay_current_0123456789";
pub const STRIPE_PREVIOUS_WEBHOOK_SECRET: &str = "whsec_test_livepay_previous_0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's fixture of one Stripe event type (`tests/fixtures/stripe/<type>.json`).
pub fn fixture(event_type: &str) -> Value {
    let path = root().join(format!("fixtures/stripe/{event_type}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no Stripe fixture {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// Every fixture's event type.
pub fn fixture_types() -> Vec<String> {
    let mut types: Vec<String> = std::fs::read_dir(root().join("fixtures/stripe"))
        .expect("tests/fixtures/stripe exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    types.sort();
    types
}

/// `Stripe-Signature` values from Stripe's library: one per `(payload, secret, timestamp)`.
pub fn signatures(deliveries: &[(&str, &str, i64)]) -> Vec<String> {
    let script = root().join("stripe/sign.mjs");
    assert!(
        root().join("stripe/node_modules/stripe").exists(),
        "Stripe's library is not installed: run scripts/test (or npm ci in tests/stripe)"
    );
    let input: Vec<Value> = deliveries
        .iter()
        .map(|(payload, secret, timestamp)| {
            json!({"payload": payload, "secret": secret, "timestamp": timestamp})
        })
        .collect();
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sign.mjs failed");
    serde_json::from_slice(&out.stdout).expect("sign.mjs prints a JSON array")
}

impl TestEnv {
    /// A delivery of `raw` to the Stripe endpoint with this `Stripe-Signature`.
    pub fn stripe_delivery(&self, raw: &str, signature: &str) -> Req {
        Req::post("/v1/webhooks/stripe", "POST /v1/webhooks/stripe")
            .header("Stripe-Signature", signature)
            .raw_body(raw)
    }

    /// `event` as Stripe delivers it now: signed by Stripe's library with the current secret.
    pub fn stripe_signed(&self, event: &Value) -> Req {
        let raw = event.to_string();
        let t = self.now().unix_timestamp();
        let signature = signatures(&[(&raw, STRIPE_WEBHOOK_SECRET, t)]).remove(0);
        self.stripe_delivery(&raw, &signature)
    }
}

/// A fixture event with its ids made unique to a test and its object's fields replaced.
pub fn event(event_type: &str, event_id: &str, object: Value) -> Value {
    let mut e = fixture(event_type);
    e["id"] = json!(event_id);
    merge(&mut e["data"]["object"], object);
    e
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

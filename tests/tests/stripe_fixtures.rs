//! The project's Stripe fixtures (`tests/fixtures/stripe/`, written from Stripe's documentation)
//! held against Stripe's published fixtures (`openapi/fixtures3.json` of `stripe/openapi`,
//! kept beside the repository at `../shared/stripe/fixtures3.json`, or where
//! `LIVEPAY_STRIPE_FIXTURES` points): every field the project's events carry exists in Stripe's
//! object of the same type, at the same place, with the same JSON type. So what livepay parses,
//! and what its tests send, is what Stripe sends. Without Stripe's file the test says it was
//! skipped, and why.

use std::path::PathBuf;

use livepay_tests::stripe::{fixture, fixture_types};
use serde_json::Value;

/// Fields Stripe documents that its fixture file does not show, each with why it is there.
const DOCUMENTED_ELSEWHERE: [(&str, &str); 3] = [
    // https://docs.stripe.com/connect/webhooks: events from connected accounts carry it.
    ("event.account", "set on events sent to a Connect endpoint"),
    // https://docs.stripe.com/api/refunds/object: present once a refund has failed.
    ("refund.failure_reason", "set on a failed refund"),
    (
        "refund.failure_balance_transaction",
        "set on a failed refund",
    ),
];

fn stripe_fixtures() -> Option<(PathBuf, Value)> {
    let path = std::env::var_os("LIVEPAY_STRIPE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/stripe/fixtures3.json")
        });
    let text = std::fs::read_to_string(&path).ok()?;
    Some((
        path,
        serde_json::from_str(&text).expect("Stripe's fixtures are JSON"),
    ))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `ours` departs from `theirs`. A null on either side is a nullable field: any type
/// matches it. `metadata` is free-form.
fn differences(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            if path.ends_with(".metadata") {
                return;
            }
            for (k, v) in a {
                let here = format!("{path}.{k}");
                match b.get(k) {
                    Some(t) => differences(&here, v, t, out),
                    None if DOCUMENTED_ELSEWHERE.iter().any(|(p, _)| *p == here) => {}
                    None => out.push(format!("{here}: not in Stripe's object")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                differences(&format!("{path}[]"), x, y, out);
            }
        }
        (a, b) if kind(a) == kind(b) => {}
        (a, b) => out.push(format!("{path}: {} here, {} in Stripe's", kind(a), kind(b))),
    }
}

#[test]
fn every_stripe_fixture_has_stripes_fields_types_and_nesting() {
    let Some((path, stripe)) = stripe_fixtures() else {
        println!(
            "SKIPPED: Stripe's published fixtures are not at ../shared/stripe/fixtures3.json \
             (nor LIVEPAY_STRIPE_FIXTURES); the project's fixtures were not checked against them"
        );
        return;
    };
    let resources = &stripe["resources"];
    let mut out = Vec::new();
    let types = fixture_types();
    assert!(types.len() >= 9, "{types:?}");
    for event_type in &types {
        let ours = fixture(event_type);
        assert_eq!(ours["type"], event_type.as_str(), "{event_type}");
        let mut envelope = ours.clone();
        envelope["data"]["object"] = Value::Null;
        differences("event", &envelope, &resources["event"], &mut out);
        let object = &ours["data"]["object"];
        let name = object["object"]
            .as_str()
            .expect("every object names its type");
        let theirs = &resources[name];
        assert!(theirs.is_object(), "Stripe has no {name} fixture");
        differences(name, object, theirs, &mut out);
    }
    assert!(
        out.is_empty(),
        "the project's Stripe fixtures depart from {}:\n{}",
        path.display(),
        out.join("\n")
    );
    println!("{} fixtures held against {}", types.len(), path.display());
}

/// The check itself finds a wrong type, a wrong nesting and an invented field.
#[test]
fn the_check_finds_what_departs() {
    let theirs = serde_json::json!({"amount": 1, "nested": {"a": "x"}, "list": [{"b": true}], "nullable": null});
    let mut out = Vec::new();
    let ours = serde_json::json!({"amount": "1", "nested": {"a": 1, "c": 2}, "list": [{"b": "no"}],
        "nullable": {"any": 1}, "invented": 3});
    differences("x", &ours, &theirs, &mut out);
    out.sort();
    assert_eq!(
        out,
        [
            "x.amount: string here, integer in Stripe's",
            "x.invented: not in Stripe's object",
            "x.list[].b: string here, boolean in Stripe's",
            "x.nested.a: integer here, string in Stripe's",
            "x.nested.c: not in Stripe's object",
        ]
    );
}

//! The OpenAPI document: generated from the code, committed as `docs/openapi.json`, and in
//! agreement with the infra code's routes and their authorizers.

use std::collections::BTreeMap;

use serde_json::Value;

const COMMITTED: &str = include_str!("../../docs/openapi.json");

#[test]
fn the_committed_document_is_the_generated_one() {
    assert_eq!(
        COMMITTED.trim_end(),
        livepay::api::openapi::document(),
        "regenerate: cargo run -q -p livepay-shared --example openapi > docs/openapi.json"
    );
}

#[test]
fn every_route_of_the_infra_code_is_documented_with_its_authorizer() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let jwt = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("jwt").is_some()));
            documented.insert(format!("{} {path}", method.to_uppercase()), jwt);
        }
    }
    assert_eq!(
        documented,
        livepay_tests::template_routes(),
        "route key → JWT authorizer, document vs infra code"
    );
}

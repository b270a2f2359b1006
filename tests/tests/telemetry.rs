//! Metrics as CloudWatch receives them: the EMF lines a gift, its settlement and a payout leave
//! on stdout. nextest runs each test in its own process, so each installs its own recorder.

use livepay::telemetry::{self, metric};
use livepay_tests::{Identity, TestEnv};
use serde_json::{json, Value};

/// The EMF documents flushed now, merged into one map of metric name to value, after checking
/// each is a well-formed document of the livepay namespace with the function dimension.
fn flushed() -> serde_json::Map<String, Value> {
    let mut out = Vec::new();
    telemetry::flush_to(&mut out).unwrap();
    let mut values = serde_json::Map::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], telemetry::NAMESPACE, "{doc}");
        assert_eq!(directive["Dimensions"], json!([["function"]]), "{doc}");
        assert_eq!(doc["function"], "send-gift");
        assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(
                metric::ALL.contains(&name),
                "{name} is not a documented metric"
            );
            values.insert(name.to_owned(), doc[name].clone());
        }
    }
    values
}

#[tokio::test]
async fn gifts_and_their_settlement_are_counted_once_in_emf() {
    telemetry::init("send-gift");
    let env = TestEnv::new().await;
    let stream = env.open_stream("creator-1").await;
    env.buy_coins("fan", 1_000).await;
    flushed();

    let gift = |key: &'static str| {
        env.gift(
            Identity::adult("fan"),
            &stream,
            key,
            json!({"gift_id": "rose", "count": 7}),
        )
    };
    assert_eq!(gift("g1").await.status, 201);
    assert_eq!(gift("g2").await.status, 201);
    let replay = gift("g1").await;
    assert!(replay.replayed, "{replay:?}");
    let refused = env
        .gift(
            Identity::adult("fan"),
            &stream,
            "g3",
            json!({"gift_id": "rose", "count": 999}),
        )
        .await;
    assert_eq!(refused.status, 402, "{refused:?}");
    let m = flushed();
    assert_eq!(
        m[metric::GIFTS_SENT],
        2,
        "a replay and a refusal send nothing"
    );
    assert_eq!(m[metric::COINS_SPENT], 14);
    assert!(flushed().is_empty(), "a flush empties the counters");

    let messages = env.drain_settlement_queue().await;
    assert!(env.settle(&messages).await.is_empty());
    assert!(env.settle(&messages).await.is_empty(), "redelivered");
    let m = flushed();
    assert_eq!(m[metric::GIFTS_SETTLED], 2, "settled once");
    let lag = m[metric::SETTLEMENT_LAG].as_array().unwrap();
    assert_eq!(
        lag.len(),
        1,
        "one lag per invocation that settled something"
    );
    assert!(lag[0].as_f64().unwrap() >= 0.0);
}

#[test]
fn only_the_first_invocation_is_a_cold_start() {
    assert!(telemetry::take_cold_start());
    assert!(!telemetry::take_cold_start());
    assert!(!telemetry::take_cold_start());
}

#[test]
fn the_infra_watches_the_metrics_the_functions_write() {
    let infra = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/lib/observability.ts"),
    )
    .unwrap();
    assert!(infra.contains(&format!("METRIC_NAMESPACE = '{}'", telemetry::NAMESPACE)));
    for name in metric::ALL {
        assert!(
            infra.contains(&format!("'{name}'")),
            "infra does not know {name}"
        );
    }
}

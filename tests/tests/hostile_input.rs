//! Hostile input, property-based: every request body, path and query parameter and every queue
//! message shape, replaced by random JSON, wrong types, huge, negative and fractional numbers,
//! long and odd strings, and bytes that are not UTF-8 — through the real handlers against the
//! emulator. Never a panic, never a 5xx, and a refusal changes nothing in any table.
//!
//! `PROPTEST_CASES` sets the cases per property (default 48 here; `scripts/fuzz` documents
//! longer runs and the `cargo fuzz` targets of the parsers underneath).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use livepay_tests::payouts::{sqs_event, PayoutMessage};
use livepay_tests::shop::order_req;
use livepay_tests::{gift_req, Answer, Func, Identity, Req, TestEnv};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

/// Every item of every table, in a stable order: "nothing changed" is equality of two of these.
async fn everything(env: &TestEnv) -> Vec<String> {
    let mut all: Vec<String> = env
        .all_items()
        .await
        .iter()
        .map(|(table, i)| format!("{table} {}", canonical_item(i)))
        .collect();
    all.sort();
    all
}

/// An item as JSON with its keys sorted at every depth (an item's maps have no stable order).
fn canonical_item(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), canonical(v)))
            .collect(),
    )
}

fn canonical(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::M(m) => canonical_item(m),
        AttributeValue::L(l) => Value::Array(l.iter().map(canonical).collect()),
        other => Value::from(format!("{other:?}")),
    }
}

/// Numbers JSON can carry that no field here accepts, as raw text.
const ODD_NUMBERS: [&str; 13] = [
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551615",
    "0",
    "-0",
    "0.5",
    "1e3",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        (1usize..70_000).prop_map(|n| Value::from("é".repeat(n / 2))),
        Just(Value::from("\u{0}\u{feff}\u{202e}<script>")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A hostile body derived from `valid`: a field replaced, dropped or added, a number replaced
/// by odd raw text, random JSON, or random bytes.
fn hostile_body(valid: Value) -> impl Strategy<Value = Vec<u8>> {
    let fields: Vec<String> = valid
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let pick = prop::sample::select(if fields.is_empty() {
        vec!["x".to_owned()]
    } else {
        fields
    });
    let (v1, v2, v3, v4) = (valid.clone(), valid.clone(), valid.clone(), valid);
    prop_oneof![
        (pick.clone(), json_value()).prop_map(move |(f, x)| {
            let mut b = v1.clone();
            b[&f] = x;
            b.to_string().into_bytes()
        }),
        pick.clone().prop_map(move |f| {
            let mut b = v2.clone();
            b.as_object_mut().map(|o| o.remove(&f));
            b.to_string().into_bytes()
        }),
        ("[a-z_]{1,10}", json_value()).prop_map(move |(f, x)| {
            let mut b = v3.clone();
            b[&f] = x;
            b.to_string().into_bytes()
        }),
        (pick, prop::sample::select(ODD_NUMBERS.to_vec())).prop_map(move |(f, n)| {
            let mut b = v4.clone();
            b[&f] = json!("@@");
            b.to_string().replace("\"@@\"", n).into_bytes()
        }),
        json_value().prop_map(|x| x.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn bytes_req(req: Req, body: &[u8]) -> Req {
    match std::str::from_utf8(body) {
        Ok(text) => req.raw_body(text),
        Err(_) => req.bytes_body(body),
    }
}

struct Fixtures {
    stream: String,
    product: String,
    order: String,
}

async fn fixtures(env: &TestEnv) -> Fixtures {
    env.buy_coins("viewer", 1_000).await;
    let stream = env.open_stream("creator").await;
    let product = env
        .create_product(
            "seller",
            json!({"title": "Tee", "price_cents": 10_000_000, "stock": 1_000_000_000, "affiliate_rate_bps": 8_000}),
        )
        .await;
    let (order, total) = env
        .placed(
            "buyer",
            json!({"lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    assert_eq!(env.pay_order(&order, total).await.status, 200);
    Fixtures {
        stream,
        product,
        order,
    }
}

/// A route taking a body: who calls it, and a valid body to start from.
struct BodyRoute {
    func: Func,
    request: Req,
    valid: Value,
}

fn body_routes(f: &Fixtures) -> Vec<BodyRoute> {
    let route = |func, request: Req, who: Identity, valid| BodyRoute {
        func,
        request: request.identity(who),
        valid,
    };
    vec![
        route(
            Func::WalletApi,
            Req::new("PUT", "/v1/wallet/limits", "PUT /v1/wallet/limits"),
            Identity::adult("viewer"),
            json!({"daily_cap_coins": 100}),
        ),
        route(
            Func::StreamsApi,
            Req::post("/v1/streams", "POST /v1/streams"),
            Identity::creator("creator"),
            json!({"title": "x"}),
        ),
        route(
            Func::SendGift,
            gift_req(&f.stream),
            Identity::adult("viewer"),
            json!({"gift_id": "rose", "count": 1}),
        ),
        route(
            Func::ShopApi,
            Req::post("/v1/products", "POST /v1/products"),
            Identity::seller("seller"),
            json!({"title": "Mug", "price_cents": 100, "stock": 1, "per_buyer_limit": 2, "affiliate_rate_bps": 10}),
        ),
        route(
            Func::ShopApi,
            Req::post(
                &format!("/v1/products/{}/stock", f.product),
                "POST /v1/products/{product_id}/stock",
            )
            .path_param("product_id", &f.product),
            Identity::seller("seller"),
            json!({"delta": 1}),
        ),
        route(
            Func::PlaceOrder,
            Req::post("/v1/orders", "POST /v1/orders"),
            Identity::adult("buyer"),
            // The largest order: 1,000 of the dearest product, the most lines.
            json!({"lines": [{"product_id": f.product, "quantity": 1000}], "stream_id": f.stream}),
        ),
        route(
            Func::ShopApi,
            order_req(&f.order, "cancel"),
            Identity::adult("buyer"),
            json!({}),
        ),
        route(
            Func::ShopApi,
            order_req(&f.order, "fulfillment"),
            Identity::seller("seller"),
            json!({"status": "shipped"}),
        ),
        route(
            Func::ShopApi,
            order_req(&f.order, "refund"),
            Identity::seller("seller"),
            json!({"reason": "broken"}),
        ),
        route(
            Func::CreatorsApi,
            Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts"),
            Identity::creator("creator"),
            json!({"amount_cents": 5000}),
        ),
    ]
}

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Calls `func` with `req` and checks the property: no 5xx, and a refusal changed nothing.
async fn refused_cleanly(env: &TestEnv, func: Func, req: Req) -> Result<Answer, TestCaseError> {
    let before = everything(env).await;
    let a = env.call(func, req).await;
    prop_assert!(a.status < 500, "{} {}", a.status, a.body);
    if a.status >= 400 {
        prop_assert!(!a.code().is_empty(), "an error names its code: {}", a.body);
        let after = everything(env).await;
        let changed: Vec<_> = after.iter().filter(|i| !before.contains(i)).collect();
        prop_assert!(
            changed.is_empty(),
            "{} {} changed {:?}",
            a.status,
            a.body,
            changed
        );
    }
    Ok(a)
}

#[test]
fn hostile_bodies_on_every_route_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let f = rt.block_on(fixtures(&env));
    let cases = std::cell::Cell::new(0);
    for route in body_routes(&f) {
        let mut runner = runner();
        runner
            .run(&hostile_body(route.valid.clone()), |body| {
                cases.set(cases.get() + 1);
                let key = format!("hostile-{}", ulid::Ulid::new());
                let req = bytes_req(route.request.clone().key(&key), &body);
                rt.block_on(refused_cleanly(&env, route.func, req))
                    .map(|_| ())
            })
            .unwrap_or_else(|e| panic!("{:?}: {e}", route.request.event()["routeKey"]));
    }
    println!(
        "hostile bodies: {} cases over every route with a body",
        cases.get()
    );
}

/// Every odd number in every numeric field of every body, deterministically: the edges a random
/// search rarely hits (i64::MIN once panicked a handler).
#[test]
fn odd_numbers_in_every_numeric_field_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let f = rt.block_on(fixtures(&env));
    let mut cases = 0;
    for route in body_routes(&f) {
        let numeric: Vec<String> = route
            .valid
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, _)| k.clone())
            .collect();
        for field in numeric {
            for number in ODD_NUMBERS {
                let mut body = route.valid.clone();
                body[&field] = json!("@@");
                let raw = body.to_string().replace("\"@@\"", number);
                let key = format!("odd-{}", ulid::Ulid::new());
                let req = route.request.clone().key(&key).raw_body(&raw);
                rt.block_on(refused_cleanly(&env, route.func, req))
                    .unwrap_or_else(|e| panic!("{raw}: {e}"));
                cases += 1;
            }
        }
    }
    println!("odd numbers: {cases} cases");
}

#[test]
fn hostile_webhook_events_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let valid = [
        json!({"id": "evt_1", "type": "coins.purchased", "data": {"user_id": "v", "coins": 70, "amount_cents": 99}}),
        json!({"id": "evt_2", "type": "order.paid", "data": {"order_id": "o", "amount_cents": 99}}),
        json!({"id": "evt_3", "type": "payment.charged_back", "data": {"user_id": "v", "coins": 70}}),
    ];
    for event in valid {
        // The envelope and its `data` are both attacked; the signature is always right, so the
        // parser is what refuses.
        let data_attacks = hostile_body(event["data"].clone());
        let strategy = prop_oneof![
            hostile_body(event.clone()),
            data_attacks.prop_map(move |data| {
                let raw = String::from_utf8_lossy(&data).into_owned();
                let mut e = event.clone();
                e["data"] = json!("@@");
                e.to_string().replace("\"@@\"", &raw).into_bytes()
            }),
        ];
        runner()
            .run(&strategy, |raw| {
                let req = env.webhook_bytes(&raw);
                rt.block_on(refused_cleanly(&env, Func::PaymentsWebhook, req))
                    .map(|_| ())
            })
            .unwrap();
    }
}

#[test]
fn hostile_signatures_are_401_and_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let body = json!({"id": "evt_sig", "type": "coins.purchased",
        "data": {"user_id": "v", "coins": 70, "amount_cents": 99}})
    .to_string();
    let good = env.webhook(&serde_json::from_str(&body).unwrap());
    let good_header = good.event()["headers"]["livepay-signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let strategy = prop_oneof![
        // Truncated anywhere.
        (0..good_header.len()).prop_map({
            let h = good_header.clone();
            move |n| h[..n].to_owned()
        }),
        // One character changed.
        (0..good_header.len(), "[0-9a-f=,tv ]").prop_map({
            let h = good_header.clone();
            move |(i, c)| {
                let mut s = h.clone();
                s.replace_range(i..=i, &c);
                s
            }
        }),
        // Anything a header can carry.
        "[ -~]{0,120}",
    ];
    runner()
        .run(&strategy, |header| {
            prop_assume!(header != good_header);
            let req = Req::post("/v1/webhooks/payments", "POST /v1/webhooks/payments")
                .header("Livepay-Signature", &header)
                .raw_body(&body);
            let a = rt.block_on(refused_cleanly(&env, Func::PaymentsWebhook, req))?;
            prop_assert_eq!(a.status, 401, "{}: {}", header, a.body);
            Ok(())
        })
        .unwrap();
}

#[test]
fn hostile_path_and_query_parameters_are_refused_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let strategy = (".{0,300}", 0..6usize);
    runner()
        .run(&strategy, |(text, route)| {
            let (func, req) = match route {
                0 => (
                    Func::StreamsApi,
                    Req::get(
                        "/v1/streams/x/leaderboard",
                        "GET /v1/streams/{stream_id}/leaderboard",
                    )
                    .path_param("stream_id", &text),
                ),
                1 => (
                    Func::StreamsApi,
                    Req::get(
                        "/v1/streams/x/leaderboard",
                        "GET /v1/streams/{stream_id}/leaderboard",
                    )
                    .path_param("stream_id", "s")
                    .query("limit", &text),
                ),
                2 => (
                    Func::CreatorsApi,
                    Req::get("/v1/creators/me/statement", "GET /v1/creators/me/statement")
                        .query("cursor", &text),
                ),
                3 => (
                    Func::CreatorsApi,
                    Req::get(
                        "/v1/creators/x/leaderboard/weekly",
                        "GET /v1/creators/{creator_id}/leaderboard/weekly",
                    )
                    .path_param("creator_id", &text),
                ),
                4 => (
                    Func::ShopApi,
                    Req::get("/v1/products/x", "GET /v1/products/{product_id}")
                        .path_param("product_id", &text),
                ),
                _ => (Func::ShopApi, order_req(&text, "")),
            };
            let req = req.identity(Identity::creator("creator")).key("k");
            rt.block_on(refused_cleanly(&env, func, req)).map(|_| ())
        })
        .unwrap();
}

#[test]
fn hostile_queue_messages_are_reported_failed_and_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new());
    let gift = json!({"type": "gift.sent", "version": 1, "gift_txn_id": "gift_x",
        "stream_id": "st_x", "creator_id": "c", "sender_id": "v", "gift_id": "rose", "count": 5,
        "coins": 5, "sent_at": "2026-11-22T17:00:00Z"});
    let order = json!({"type": "order.completion_due", "version": 1, "order_id": "ord_x"});
    let payout = json!({"type": "payout.requested", "version": 1, "payout_id": "po_x",
        "creator_id": "c", "requested_at": "2026-11-22T17:00:00Z"});
    let strategy = (
        prop_oneof![
            hostile_body(gift),
            hostile_body(order),
            hostile_body(payout)
        ],
        any::<bool>(),
    );
    runner()
        .run(&strategy, |(body, to_payouts)| {
            let body = String::from_utf8_lossy(&body).into_owned();
            let message = PayoutMessage {
                message_id: "m-1".into(),
                body,
                group: "c".into(),
            };
            let event = sqs_event(std::slice::from_ref(&message));
            rt.block_on(async {
                let before = everything(&env).await;
                let failed = if to_payouts {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                    livepay::jobs::payouts::handle(&env.app, &env.sandbox, event, deadline)
                        .await
                        .unwrap()
                        .batch_item_failures
                } else {
                    livepay::jobs::settle_payouts::handle(&env.app, event)
                        .await
                        .unwrap()
                        .batch_item_failures
                };
                // Poison is reported (and after maxReceiveCount lands in the DLQ), or, when it
                // names nothing that exists, acknowledged; either way nothing moved.
                prop_assert!(failed.iter().all(|f| f.item_identifier == "m-1"));
                prop_assert_eq!(everything(&env).await, before);
                Ok(())
            })
        })
        .unwrap();
}

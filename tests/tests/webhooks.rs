//! The payment webhook: signatures, exactly-once events, chargebacks.

use futures::future::join_all;
use livepay::domain::payments::sign;
use livepay_tests::{Func, Identity, Req, TestEnv, WEBHOOK_SECRET};
use serde_json::json;

fn purchase(id: &str, user: &str, coins: u64) -> serde_json::Value {
    json!({"id": id, "type": "coins.purchased", "data": {"user_id": user, "coins": coins, "amount_cents": 99}})
}

#[tokio::test]
async fn one_event_delivered_five_times_credits_once() {
    let env = TestEnv::new().await;
    let event = purchase("evt_dup", "v", 70);
    let first = env.call(Func::PaymentsWebhook, env.webhook(&event)).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (200, Some("applied"))
    );
    let repeats =
        join_all((0..4).map(|_| env.call(Func::PaymentsWebhook, env.webhook(&event)))).await;
    for r in &repeats {
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some("duplicate")),
            "{r:?}"
        );
    }
    assert_eq!(env.coins("v").await, 70);
    env.assert_conserved().await;
}

#[tokio::test]
async fn concurrent_first_deliveries_still_credit_once() {
    let env = TestEnv::new().await;
    let event = purchase("evt_race", "v", 70);
    let answers =
        join_all((0..5).map(|_| env.call(Func::PaymentsWebhook, env.webhook(&event)))).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.body["status"] == "applied")
            .count(),
        1
    );
    assert_eq!(env.coins("v").await, 70);
}

#[tokio::test]
async fn bad_signatures_are_401_and_credit_nothing() {
    let env = TestEnv::new().await;
    let body = purchase("evt_sig", "v", 70).to_string();
    let now = env.now().unix_timestamp();
    let req = |sig: Option<String>| {
        let r = Req::post("/v1/webhooks/payments", "POST /v1/webhooks/payments").raw_body(&body);
        match sig {
            Some(s) => r.header("Livepay-Signature", &s),
            None => r,
        }
    };
    let good = sign(WEBHOOK_SECRET.as_bytes(), now, body.as_bytes());
    let cases = [
        (None, "invalid_signature"),
        (
            Some(sign(b"wrong-secret", now, body.as_bytes())),
            "invalid_signature",
        ),
        (Some(good[..good.len() - 2].to_owned()), "invalid_signature"),
        (Some(format!("t={now}")), "invalid_signature"),
        (
            Some(sign(WEBHOOK_SECRET.as_bytes(), now, b"{}")),
            "invalid_signature",
        ),
        (
            Some(sign(WEBHOOK_SECRET.as_bytes(), now - 301, body.as_bytes())),
            "stale_signature",
        ),
        (
            Some(sign(WEBHOOK_SECRET.as_bytes(), now + 301, body.as_bytes())),
            "stale_signature",
        ),
    ];
    for (sig, code) in cases {
        let a = env.call(Func::PaymentsWebhook, req(sig.clone())).await;
        assert_eq!((a.status, a.code()), (401, code), "{sig:?}");
    }
    // Even an otherwise valid token does not replace a signature.
    let a = env
        .call(
            Func::PaymentsWebhook,
            req(None).identity(Identity::adult("v")),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(env.coins("v").await, 0);
    let a = env.call(Func::PaymentsWebhook, req(Some(good))).await;
    assert_eq!(a.status, 200);
    assert_eq!(env.coins("v").await, 70);
}

#[tokio::test]
async fn malformed_events_are_400_and_unknown_types_are_named() {
    let env = TestEnv::new().await;
    for (body, code) in [
        (
            json!({"id": "e1", "type": "coins.purchased", "data": {"user_id": "v", "coins": -1, "amount_cents": 1}}),
            "invalid_request",
        ),
        (
            json!({"id": "e2", "type": "coins.purchased", "data": {"user_id": "v", "coins": 1}}),
            "invalid_request",
        ),
        (
            json!({"id": "", "type": "coins.purchased", "data": {"user_id": "v", "coins": 1, "amount_cents": 1}}),
            "invalid_request",
        ),
        (
            json!({"id": "e4", "type": "gift.teleported", "data": {}}),
            "unsupported_event_type",
        ),
    ] {
        let a = env.call(Func::PaymentsWebhook, env.webhook(&body)).await;
        assert_eq!((a.status, a.code()), (400, code), "{body}");
    }
    assert_eq!(env.coins("v").await, 0);
    // A field the envelope does not know is a provider's addition: the event is applied.
    let extra = json!({"id": "e3", "type": "coins.purchased", "api_version": "2026-11",
        "data": {"user_id": "v", "coins": 1, "amount_cents": 1}});
    let a = env.call(Func::PaymentsWebhook, env.webhook(&extra)).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("applied")),
        "{a:?}"
    );
    assert_eq!(env.coins("v").await, 1);
}

#[tokio::test]
async fn a_chargeback_takes_back_what_is_left_and_books_the_rest_as_loss() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("c").await;
    env.buy_coins("v", 100).await;
    let g = env
        .gift(
            Identity::adult("v"),
            &stream,
            "g",
            json!({"gift_id": "hand_hearts", "count": 1}),
        )
        .await;
    assert_eq!(g.status, 201);
    env.buy_coins("v", 30).await;
    let cb = json!({"id": "evt_cb", "type": "payment.charged_back", "data": {"user_id": "v", "coins": 100}});
    let a = env.call(Func::PaymentsWebhook, env.webhook(&cb)).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(env.coins("v").await, 0);
    let again = env.call(Func::PaymentsWebhook, env.webhook(&cb)).await;
    assert_eq!(again.body["status"], "duplicate");
    let loss = env
        .app
        .store
        .account_balance(&livepay::domain::ledger::AccountId::outside(
            livepay::domain::ledger::AccountKind::ChargebackLoss,
            "evt_cb",
        ))
        .await
        .unwrap();
    assert_eq!(loss, -70);
    env.assert_conserved().await;
}

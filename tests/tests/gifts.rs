//! Sending gifts: concurrency, idempotency, every refusal, and the calls one gift makes.

use futures::future::join_all;
use livepay_tests::{gift_req, Func, Identity, TestEnv};
use serde_json::json;

const ROSE_BODY: fn(u64) -> serde_json::Value = |count| json!({"gift_id": "rose", "count": count});

#[tokio::test]
async fn forty_concurrent_gifts_on_a_wallet_for_ten() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("creator-1").await;
    env.buy_coins("viewer-1", 50).await;
    // 5 coins each: the wallet covers exactly 10.
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    // Forty writers of one wallet at once collide (DynamoDB cancels all but one transaction on
    // an item): some are answered `503 busy` with Retry-After, and a client retries those with
    // the same key, as the API asks.
    let (env, stream) = (&env, &stream);
    let gifts = keys.iter().map(|k| async move {
        for _ in 0..50 {
            let a = env
                .gift(
                    Identity::adult("viewer-1"),
                    stream,
                    k,
                    json!({"gift_id": "finger_heart", "count": 1}),
                )
                .await;
            if a.status != 503 {
                return a;
            }
        }
        panic!("gift {k} still busy after 50 tries");
    });
    let answers = join_all(gifts).await;
    let ok = answers.iter().filter(|a| a.status == 201).count();
    let poor = answers
        .iter()
        .filter(|a| a.status == 402 && a.code() == "insufficient_coins")
        .count();
    assert_eq!(
        (ok, poor),
        (10, 30),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(env.coins("viewer-1").await, 0);
    let messages = env.settlement_messages().await;
    assert_eq!(messages.len(), 10);
    env.assert_conserved().await;
}

#[tokio::test]
async fn the_same_key_twice_debits_once_and_replays_the_first_answer() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("creator-1").await;
    env.buy_coins("v", 10).await;
    let first = env
        .gift(Identity::adult("v"), &stream, "same-key", ROSE_BODY(3))
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    assert!(!first.replayed);
    assert_eq!(first.body["balance_coins"], 7);
    let again = env
        .gift(Identity::adult("v"), &stream, "same-key", ROSE_BODY(3))
        .await;
    assert_eq!((again.status, again.replayed), (201, true));
    assert_eq!(again.body, first.body);
    // The same body with other spacing and key order is the same request.
    let reordered = env
        .call(
            Func::SendGift,
            gift_req(&stream)
                .identity(Identity::adult("v"))
                .key("same-key")
                .raw_body(r#"{ "count": 3, "gift_id": "rose" }"#),
        )
        .await;
    assert_eq!((reordered.status, reordered.replayed), (201, true));
    let other = env
        .gift(Identity::adult("v"), &stream, "same-key", ROSE_BODY(4))
        .await;
    assert_eq!(
        (other.status, other.code()),
        (422, "idempotency_key_reused")
    );
    assert_eq!(env.coins("v").await, 7);
    assert_eq!(env.settlement_messages().await.len(), 1);
    // Another user's identical key is another request.
    env.buy_coins("w", 10).await;
    let theirs = env
        .gift(Identity::adult("w"), &stream, "same-key", ROSE_BODY(3))
        .await;
    assert_eq!((theirs.status, theirs.replayed), (201, false));
}

#[tokio::test]
async fn a_retry_after_the_wallet_ran_dry_replays_instead_of_refusing() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("c").await;
    env.buy_coins("v", 5).await;
    let first = env
        .gift(
            Identity::adult("v"),
            &stream,
            "k",
            json!({"gift_id": "finger_heart", "count": 1}),
        )
        .await;
    assert_eq!(first.body["balance_coins"], 0);
    let retry = env
        .gift(
            Identity::adult("v"),
            &stream,
            "k",
            json!({"gift_id": "finger_heart", "count": 1}),
        )
        .await;
    assert_eq!((retry.status, retry.replayed), (201, true));
    // A stream that ended since still replays the success.
    env.end_stream("c", &stream, "end").await;
    let after_end = env
        .gift(
            Identity::adult("v"),
            &stream,
            "k",
            json!({"gift_id": "finger_heart", "count": 1}),
        )
        .await;
    assert_eq!((after_end.status, after_end.replayed), (201, true));
}

#[tokio::test]
async fn a_warm_gift_is_one_transaction_and_one_message() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("c").await;
    env.buy_coins("v", 100).await;
    env.calls.take();
    let cold = env
        .gift(Identity::adult("v"), &stream, "g1", ROSE_BODY(1))
        .await;
    assert_eq!(cold.status, 201);
    let cold_calls = env.calls.take();
    assert_eq!(
        cold_calls.get("TransactWriteItems"),
        Some(&1),
        "{cold_calls:?}"
    );
    assert_eq!(cold_calls.get("SendMessage"), Some(&1), "{cold_calls:?}");
    assert_eq!(
        cold_calls.get("GetItem"),
        Some(&2),
        "first gift in this container reads the wallet and the stream: {cold_calls:?}"
    );
    let warm = env
        .gift(Identity::adult("v"), &stream, "g2", ROSE_BODY(1))
        .await;
    assert_eq!(warm.status, 201);
    let warm_calls = env.calls.take();
    let expected: std::collections::BTreeMap<String, usize> = [
        ("TransactWriteItems".to_owned(), 1),
        ("SendMessage".to_owned(), 1),
    ]
    .into();
    assert_eq!(warm_calls, expected);
    // A top-up elsewhere makes the remembered wallet stale: the pinned commit fails, returns the
    // current wallet, and the retry succeeds with no extra read.
    env.buy_coins("v", 10).await;
    env.calls.take();
    let stale = env
        .gift(Identity::adult("v"), &stream, "g3", ROSE_BODY(1))
        .await;
    assert_eq!(
        (stale.status, stale.body["balance_coins"].as_u64()),
        (201, Some(107))
    );
    assert_eq!(env.calls.take().get("GetItem"), None);
}

#[tokio::test]
async fn every_refusal_has_its_code_and_changes_nothing() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("creator-1").await;
    env.buy_coins("v", 100).await;
    let cases: Vec<(&str, Identity, String, serde_json::Value, u16, &str)> = vec![
        (
            "minor",
            Identity::user("kid"),
            stream.clone(),
            ROSE_BODY(1),
            403,
            "age_restricted",
        ),
        (
            "self",
            Identity::creator("creator-1"),
            stream.clone(),
            ROSE_BODY(1),
            403,
            "cannot_gift_self",
        ),
        (
            "garbage stream id",
            Identity::adult("v"),
            "nope".into(),
            ROSE_BODY(1),
            404,
            "stream_not_found",
        ),
        (
            "unknown gift",
            Identity::adult("v"),
            stream.clone(),
            json!({"gift_id": "unicorn", "count": 1}),
            404,
            "gift_not_found",
        ),
        (
            "count 0",
            Identity::adult("v"),
            stream.clone(),
            ROSE_BODY(0),
            400,
            "invalid_request",
        ),
        (
            "count 1000",
            Identity::adult("v"),
            stream.clone(),
            ROSE_BODY(1000),
            400,
            "invalid_request",
        ),
        (
            "combo of a non-streakable",
            Identity::adult("v"),
            stream.clone(),
            json!({"gift_id": "lion", "count": 2}),
            400,
            "invalid_request",
        ),
        (
            "too poor",
            Identity::adult("v"),
            stream.clone(),
            json!({"gift_id": "lion", "count": 1}),
            402,
            "insufficient_coins",
        ),
    ];
    for (name, who, stream_id, body, status, code) in cases {
        let a = env
            .gift(who, &stream_id, &format!("key-{name}"), body)
            .await;
        assert_eq!((a.status, a.code()), (status, code), "{name}: {a:?}");
    }
    // A stream id in our format for a stream that does not exist.
    let ghost = livepay::domain::streams::StreamId::new("creator-1");
    let a = env
        .gift(Identity::adult("v"), ghost.as_str(), "ghost", ROSE_BODY(1))
        .await;
    assert_eq!((a.status, a.code()), (404, "stream_not_found"));
    // The stream of one creator with another creator's name spliced in.
    let forged_other = livepay::domain::streams::StreamId::new("someone-else");
    let forged = format!(
        "{}{}",
        &stream[..stream.rfind('_').unwrap() + 1],
        &forged_other.as_str()[forged_other.as_str().rfind('_').unwrap() + 1..]
    );
    let a = env
        .gift(Identity::adult("v"), &forged, "forged", ROSE_BODY(1))
        .await;
    assert_eq!((a.status, a.code()), (404, "stream_not_found"));
    let no_key = env
        .call(
            Func::SendGift,
            gift_req(&stream)
                .identity(Identity::adult("v"))
                .json(ROSE_BODY(1)),
        )
        .await;
    assert_eq!(
        (no_key.status, no_key.code()),
        (400, "idempotency_key_required")
    );
    let long_key = env
        .gift(
            Identity::adult("v"),
            &stream,
            &"k".repeat(256),
            ROSE_BODY(1),
        )
        .await;
    assert_eq!((long_key.status, long_key.code()), (400, "invalid_request"));

    env.end_stream("creator-1", &stream, "end").await;
    // This container read the stream while it was live, and trusts that for the cache time
    // (such a gift counts: the grace covers it); then it reads the stream again.
    let cache = env.app.config.streams.cache_seconds as i64;
    env.set_now(env.now() + time::Duration::seconds(cache + 1));
    let ended = env
        .gift(Identity::adult("v"), &stream, "after-end", ROSE_BODY(1))
        .await;
    assert_eq!((ended.status, ended.code()), (409, "stream_not_live"));

    assert_eq!(env.coins("v").await, 100);
    assert!(env.settlement_messages().await.is_empty());
    env.assert_conserved().await;
}

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field_and_change_nothing() {
    // A catalog where count × price overflows u64.
    let whale = r#"[{"gift_id":"whale","name":"Whale","coins":18446744073709551615,"streakable":true},{"gift_id":"rose","name":"Rose","coins":1,"streakable":true}]"#;
    let env = TestEnv::with_settings(&[("GIFT_CATALOG", whale)]).await;
    let stream = env.open_stream("c").await;
    env.buy_coins("v", 100).await;
    let cases = [
        ("{", ""),
        ("[]", ""),
        ("", ""),
        (r#"{"gift_id":"rose"}"#, ""),
        (r#"{"gift_id":"rose","count":1,"extra":true}"#, ""),
        (r#"{"gift_id":"rose","count":-1}"#, "count"),
        (r#"{"gift_id":"rose","count":1.5}"#, "count"),
        (r#"{"gift_id":"rose","count":"1"}"#, "count"),
        (
            r#"{"gift_id":"rose","count":18446744073709551616}"#,
            "count",
        ),
        (
            r#"{"gift_id":"rose","count":99999999999999999999999999999}"#,
            "count",
        ),
        (r#"{"gift_id":7,"count":1}"#, "gift_id"),
        (r#"{"gift_id":"whale","count":2}"#, "count"),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let a = env
            .call(
                Func::SendGift,
                gift_req(&stream)
                    .identity(Identity::adult("v"))
                    .key(&format!("m{i}"))
                    .raw_body(body),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{body}: {a:?}"
        );
        if !field.is_empty() {
            assert_eq!(a.body["error"]["field"], *field, "{body}: {a:?}");
        }
        assert!(a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(env.coins("v").await, 100);
    assert!(env.settlement_messages().await.is_empty());
}

#[tokio::test]
async fn spend_caps_brake_gifting_per_day_and_per_week() {
    let env =
        TestEnv::with_settings(&[("DAILY_CAP_COINS", "50"), ("WEEKLY_CAP_COINS", "80")]).await;
    // Tuesday 24 November 2026: the ISO week runs Monday 23 to Sunday 29.
    env.set_now(time::macros::datetime!(2026-11-24 12:00 UTC));
    let stream = env.open_stream("c").await;
    env.buy_coins("v", 1_000).await;
    assert_eq!(
        env.gift(Identity::adult("v"), &stream, "a", ROSE_BODY(50))
            .await
            .status,
        201
    );
    let over = env
        .gift(Identity::adult("v"), &stream, "b", ROSE_BODY(1))
        .await;
    assert_eq!((over.status, over.code()), (422, "spend_cap_exceeded"));
    // The next day the daily cap starts again, the weekly one does not.
    env.set_now(time::macros::datetime!(2026-11-25 00:00:01 UTC));
    assert_eq!(
        env.gift(Identity::adult("v"), &stream, "c", ROSE_BODY(30))
            .await
            .status,
        201
    );
    let weekly = env
        .gift(Identity::adult("v"), &stream, "d", ROSE_BODY(1))
        .await;
    assert_eq!(
        (weekly.status, weekly.code()),
        (422, "spend_cap_exceeded"),
        "{weekly:?}"
    );
    // A new week starts both again.
    env.set_now(time::macros::datetime!(2026-11-30 08:00 UTC));
    assert_eq!(
        env.gift(Identity::adult("v"), &stream, "e", ROSE_BODY(50))
            .await
            .status,
        201
    );
    assert_eq!(env.coins("v").await, 870);
}

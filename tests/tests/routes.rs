//! Roles and ownership in detail (the whole matrix is `authorization.rs`), and the wallet and
//! stream routes' own rules.

use livepay_tests::{end_req, Func, Identity, Req, TestEnv};
use serde_json::json;

#[tokio::test]
async fn roles_and_ownership_are_enforced() {
    let env = TestEnv::new().await;
    let viewer_opens = env
        .call(
            Func::StreamsApi,
            Req::post("/v1/streams", "POST /v1/streams")
                .identity(Identity::adult("v"))
                .key("k")
                .json(json!({"title": "mine"})),
        )
        .await;
    assert_eq!(
        (viewer_opens.status, viewer_opens.code()),
        (403, "forbidden")
    );
    let stream = env.open_stream("c").await;
    let stranger_ends = env
        .call(
            Func::StreamsApi,
            end_req(&stream)
                .identity(Identity::creator("other"))
                .key("k"),
        )
        .await;
    assert_eq!(
        (stranger_ends.status, stranger_ends.code()),
        (403, "forbidden")
    );
    let unknown = livepay::domain::streams::StreamId::new("c");
    let missing = env
        .call(
            Func::StreamsApi,
            end_req(unknown.as_str())
                .identity(Identity::creator("c"))
                .key("k"),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "stream_not_found"));
    let ended = env
        .call(
            Func::StreamsApi,
            end_req(&stream).identity(Identity::creator("c")).key("k"),
        )
        .await;
    assert_eq!(
        (ended.status, ended.body["status"].as_str()),
        (200, Some("ended")),
        "{ended:?}"
    );
    // Ending again is harmless and answers with the stream as it is.
    let again = env
        .call(
            Func::StreamsApi,
            end_req(&stream).identity(Identity::creator("c")).key("k2"),
        )
        .await;
    assert_eq!(
        (again.status, again.body["ended_at"].clone()),
        (200, ended.body["ended_at"].clone())
    );
    // The creator role may come as the gateway's flattened array or as JSON.
    let json_groups = Identity::adult("c2").claim("cognito:groups", r#"["seller","creator"]"#);
    let a = env
        .call(
            Func::StreamsApi,
            Req::post("/v1/streams", "POST /v1/streams")
                .identity(json_groups)
                .key("k")
                .json(json!({"title": "x"})),
        )
        .await;
    assert_eq!(a.status, 201);
}

#[tokio::test]
async fn streams_validate_titles_and_replay_by_key() {
    let env = TestEnv::new().await;
    let open = |key: &str, body: serde_json::Value| {
        env.call(
            Func::StreamsApi,
            Req::post("/v1/streams", "POST /v1/streams")
                .identity(Identity::creator("c"))
                .key(key)
                .json(body),
        )
    };
    for body in [
        json!({"title": "  "}),
        json!({"title": "x".repeat(201)}),
        json!({"title": 5}),
        json!({}),
    ] {
        let a = open("bad", body.clone()).await;
        assert_eq!((a.status, a.code()), (400, "invalid_request"), "{body}");
    }
    let first = open("k", json!({"title": "Friday sale"})).await;
    assert_eq!(
        (
            first.status,
            first.body["status"].as_str(),
            first.body["creator_id"].as_str()
        ),
        (201, Some("live"), Some("c"))
    );
    let replay = open("k", json!({"title": "Friday sale"})).await;
    assert_eq!(
        (replay.status, replay.replayed, replay.body.clone()),
        (201, true, first.body.clone())
    );
    let reused = open("k", json!({"title": "Saturday"})).await;
    assert_eq!(reused.code(), "idempotency_key_reused");
}

#[tokio::test]
async fn wallet_limits_tighten_the_cap_and_never_exceed_the_platforms() {
    let env = TestEnv::new().await;
    let limits = |key: &str, body: serde_json::Value| {
        env.call(
            Func::WalletApi,
            Req::new("PUT", "/v1/wallet/limits", "PUT /v1/wallet/limits")
                .identity(Identity::adult("v"))
                .key(key)
                .json(body),
        )
    };
    let above = limits("a", json!({"daily_cap_coins": 35_001})).await;
    assert_eq!((above.status, above.code()), (422, "above_platform_cap"));
    for bad in [
        json!({"daily_cap_coins": -1}),
        json!({"daily_cap_coins": "10"}),
        json!({"cap": 10}),
    ] {
        assert_eq!(limits("b", bad).await.status, 400);
    }
    let set = limits("c", json!({"daily_cap_coins": 10})).await;
    assert_eq!(
        (set.status, set.body["daily_cap_coins"].as_u64()),
        (200, Some(10)),
        "{set:?}"
    );
    let gifts = env
        .call(
            Func::WalletApi,
            Req::get("/v1/gifts", "GET /v1/gifts").identity(Identity::user("v")),
        )
        .await;
    assert!(gifts.body["gifts"].as_array().is_some_and(|g| g
        .iter()
        .any(|g| g["gift_id"] == "rose" && g["coins"] == 1 && g["streakable"] == true)));

    let stream = env.open_stream("c").await;
    env.buy_coins("v", 100).await;
    assert_eq!(
        env.gift(
            Identity::adult("v"),
            &stream,
            "g1",
            json!({"gift_id": "rose", "count": 10})
        )
        .await
        .status,
        201
    );
    let over = env
        .gift(
            Identity::adult("v"),
            &stream,
            "g2",
            json!({"gift_id": "rose", "count": 1}),
        )
        .await;
    assert_eq!((over.status, over.code()), (422, "spend_cap_exceeded"));
    let wallet = env
        .call(
            Func::WalletApi,
            Req::get("/v1/wallet", "GET /v1/wallet").identity(Identity::user("v")),
        )
        .await;
    assert_eq!(
        wallet.body,
        json!({"user_id": "v", "coins": 90, "spent_today_coins": 10, "daily_cap_coins": 10,
        "spent_this_week_coins": 10, "weekly_cap_coins": 140_000})
    );
    // Another user's wallet is never visible: the caller is always the token's subject.
    let other = env
        .call(
            Func::WalletApi,
            Req::get("/v1/wallet", "GET /v1/wallet").identity(Identity::user("w")),
        )
        .await;
    assert_eq!(other.body["coins"], 0);
}

//! Secrets rotate in Secrets Manager (here the emulator's) with no redeploy and no restart: a
//! function that finds a signature matching none of its cached values reads the secret again
//! early, at most once a minute; the value before a rotation is still accepted during the
//! overlap; and once the cache time passes every instance uses the new value.

use livepay::domain::payments::sign;
use livepay_tests::{Func, Req, TestEnv, WEBHOOK_SECRET};
use serde_json::json;

async fn rotate(env: &TestEnv, value: &str) {
    let sdk = livepay::aws_sdk_config().await.unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&env.env["LIVEPAY_WEBHOOK_SECRET_ARN"])
        .secret_string(value)
        .send()
        .await
        .expect("the emulator rotates the secret");
}

/// Delivers a fresh coin purchase for `user` signed with `secret`: its status.
async fn deliver(env: &TestEnv, secret: &str, user: &str) -> u16 {
    let body = json!({"id": format!("evt_{}", ulid::Ulid::new()), "type": "coins.purchased",
        "data": {"user_id": user, "coins": 70, "amount_cents": 99}})
    .to_string();
    let signature = sign(
        secret.as_bytes(),
        env.now().unix_timestamp(),
        body.as_bytes(),
    );
    let req = Req::post("/v1/webhooks/payments", "POST /v1/webhooks/payments")
        .header("Livepay-Signature", &signature)
        .raw_body(&body);
    env.call(Func::PaymentsWebhook, req).await.status
}

#[tokio::test]
async fn a_rotated_webhook_secret_is_used_without_a_restart_and_the_old_one_during_the_overlap() {
    let env = TestEnv::new().await;
    assert_eq!(deliver(&env, WEBHOOK_SECRET, "fan").await, 200);

    let rotated = "rotated-webhook-secret-0123456789";
    rotate(&env, rotated).await;
    // The provider switched first: the mismatch reads the secret again at once.
    assert_eq!(deliver(&env, rotated, "fan").await, 200);
    // What it signed before switching still verifies during the overlap (AWSPREVIOUS).
    assert_eq!(deliver(&env, WEBHOOK_SECRET, "fan").await, 200);
    assert_eq!(env.coins("fan").await, 3 * 70);

    // A flood of forged deliveries is no flood of reads: the early re-read was spent, so a
    // second rotation within the minute waits for the cache time.
    for _ in 0..20 {
        assert_eq!(deliver(&env, "forged-secret-0123456789", "fan").await, 401);
    }
    rotate(&env, "rotated-again-0123456789abcdef").await;
    assert_eq!(
        deliver(&env, "rotated-again-0123456789abcdef", "fan").await,
        401
    );
    assert_eq!(env.coins("fan").await, 3 * 70);
}

#[tokio::test]
async fn once_the_cache_time_passes_the_new_secret_is_read_and_the_overlap_bounds_the_old() {
    let env = TestEnv::with_settings(&[
        ("SECRET_CACHE_SECONDS", "1"),
        ("SECRET_ROTATION_OVERLAP_SECONDS", "0"),
    ])
    .await;
    // The one early re-read of this minute, spent on a forgery.
    assert_eq!(deliver(&env, "forged-secret-0123456789", "fan").await, 401);
    let rotated = "rotated-webhook-secret-0123456789";
    rotate(&env, rotated).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(deliver(&env, rotated, "fan").await, 200);
    // No overlap configured: the previous secret stopped verifying with the rotation.
    assert_eq!(deliver(&env, WEBHOOK_SECRET, "fan").await, 401);
    assert_eq!(env.coins("fan").await, 70);
}

//! `POST /v1/webhooks/stripe`, with events in Stripe's own shapes (the project's fixtures) signed
//! by Stripe's own library: money in once per PaymentIntent, signatures as Stripe documents
//! them, disputes and dashboard refunds through the chargeback path, Stripe's answers to
//! livepay's refunds, and connected accounts kept current.

use futures::future::join_all;
use livepay::domain::ledger::AccountKind;
use livepay::provider::sandbox::SandboxBehavior;
use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::stripe::{
    event, signatures, STRIPE_PREVIOUS_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET,
};
use livepay_tests::{Func, Identity, Req, TestEnv};
use serde_json::{json, Value};

fn coins_metadata(user: &str, coins: u64) -> Value {
    json!({"livepay_kind": "coins", "user_id": user, "coins": coins.to_string()})
}

/// The two events Stripe sends for one Checkout payment of a coin pack.
fn checkout_payment(pi: &str, user: &str, coins: u64, cents: u64) -> (Value, Value) {
    let meta = coins_metadata(user, coins);
    let session = event(
        "checkout.session.completed",
        &format!("evt_cs_{pi}"),
        json!({"id": format!("cs_test_{pi}"), "payment_intent": pi, "amount_total": cents,
            "amount_subtotal": cents, "metadata": meta}),
    );
    let intent = event(
        "payment_intent.succeeded",
        &format!("evt_pi_{pi}"),
        json!({"id": pi, "amount": cents, "amount_received": cents, "metadata": meta}),
    );
    (session, intent)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

#[tokio::test]
async fn one_checkout_payment_delivered_as_both_events_five_times_each_at_once_credits_once() {
    let env = TestEnv::new().await;
    let pi = unique("pi");
    let (session, intent) = checkout_payment(&pi, "fan", 700, 999);
    let instances: Vec<TestEnv> = (0..4).map(|_| env.instance()).collect();
    let deliveries = (0..10).map(|i| {
        let (env, body) = (
            &instances[i % 4],
            if i % 2 == 0 { &session } else { &intent },
        );
        let req = env.stripe_signed(body);
        async move { env.call(Func::PaymentsWebhook, req).await }
    });
    let answers = join_all(deliveries).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let applied = answers
        .iter()
        .filter(|a| a.body["status"] == "applied")
        .count();
    assert_eq!(applied, 1, "{answers:?}");
    assert_eq!(env.coins("fan").await, 700);
    assert_eq!(env.balance(AccountKind::PlatformCash, &pi).await, 999);
}

#[tokio::test]
async fn signatures_are_checked_as_stripe_documents_them() {
    let env = TestEnv::new().await;
    let (session, _) = checkout_payment(&unique("pi"), "fan", 70, 99);
    let raw = session.to_string();
    let now = env.now().unix_timestamp();
    let signed = signatures(&[
        (&raw, STRIPE_WEBHOOK_SECRET, now),
        (&raw, "whsec_someone_elses", now),
        (&raw, STRIPE_WEBHOOK_SECRET, now - 301),
        (&raw, STRIPE_PREVIOUS_WEBHOOK_SECRET, now),
    ]);
    let send = |raw: String, signature: String| {
        let env = &env;
        async move {
            let a = env
                .call(Func::PaymentsWebhook, env.stripe_delivery(&raw, &signature))
                .await;
            (a.status, a.code().to_owned())
        }
    };
    let tampered = raw.replace("\"amount_total\":99", "\"amount_total\":99999");
    assert_ne!(tampered, raw);
    assert_eq!(
        send(tampered, signed[0].clone()).await,
        (401, "invalid_signature".into())
    );
    assert_eq!(
        send(raw.clone(), signed[1].clone()).await,
        (401, "invalid_signature".into())
    );
    assert_eq!(
        send(raw.clone(), signed[2].clone()).await,
        (401, "stale_signature".into())
    );
    let livepay_header = "t=1,v1=00";
    assert_eq!(
        send(raw.clone(), livepay_header.into()).await,
        (401, "invalid_signature".into())
    );
    assert_eq!(
        env.coins("fan").await,
        0,
        "nothing refused changed anything"
    );
    // Mid-rotation, Stripe signs with both secrets: a header whose only match is under the
    // previous secret (the endpoint's second) passes, and so does one whose first `v1` is not
    // ours.
    assert_eq!(send(raw.clone(), signed[3].clone()).await.0, 200);
    let (t, ours) = signed[0].split_once(",v1=").unwrap();
    let other = signed[1].split_once(",v1=").unwrap().1;
    let two = format!("{t},v1={other},v1={ours}");
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_delivery(&raw, &two))
        .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(env.coins("fan").await, 70);
}

#[tokio::test]
async fn unknown_types_and_fields_are_accepted_and_the_other_mode_refused() {
    let env = TestEnv::new().await;
    let mut unknown = event("account.updated", &unique("evt"), json!({}));
    unknown["type"] = json!("issuing_card.shipped");
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&unknown))
        .await;
    assert_eq!(
        (a.status, a.body["outcome"].as_str()),
        (200, Some("event_type_not_used"))
    );
    let (mut session, _) = checkout_payment(&unique("pi"), "fan", 70, 99);
    session["a_field_stripe_added"] = json!({"nested": [1, 2]});
    session["data"]["object"]["another_new_field"] = json!("x");
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&session))
        .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("applied"))
    );
    let (mut live, _) = checkout_payment(&unique("pi"), "fan", 70, 99);
    live["livemode"] = json!(true);
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&live))
        .await;
    assert_eq!((a.status, a.code()), (400, "livemode_mismatch"));
    let (mut foreign, _) = checkout_payment(&unique("pi"), "fan", 70, 99);
    foreign["data"]["object"]["metadata"] = json!({"order_ref": "not ours"});
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&foreign))
        .await;
    assert_eq!(a.body["outcome"], "not_livepay", "{a:?}");
    let (mut bad, _) = checkout_payment(&unique("pi"), "fan", 70, 99);
    bad["data"]["object"]["metadata"]["coins"] = json!("seventy");
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&bad))
        .await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"));
    assert_eq!(env.coins("fan").await, 70);
}

/// An order paid through Checkout follows `order.paid`'s rules: paid once at its total; a
/// second payment (another PaymentIntent) is owed back and refunded to that PaymentIntent.
#[tokio::test]
async fn an_order_paid_through_stripe_is_paid_once_and_a_stray_payment_refunded_to_its_intent() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Mug", "price_cents": 1_800, "stock": 3}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            "buyer",
            json!({"lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    let pay = |pi: &str| {
        let meta = json!({"livepay_kind": "order", "order_id": order_id});
        event(
            "payment_intent.succeeded",
            &unique("evt"),
            json!({"id": pi, "amount": total, "amount_received": total, "metadata": meta}),
        )
    };
    let (first, second) = (unique("pi"), unique("pi"));
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&pay(&first)))
        .await;
    assert_eq!(a.body["outcome"], "order_paid", "{a:?}");
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&pay(&second)))
        .await;
    assert!(
        a.body["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("owed_back_to_buyer")),
        "{a:?}"
    );
    // The stray payment is not the order's: a dispute of it does not reverse the order, and
    // Stripe's `charge.refunded` for livepay's own refund of it is not booked twice.
    let dispute = event(
        "charge.dispute.created",
        &unique("evt"),
        json!({"id": unique("dp"), "payment_intent": second, "amount": total}),
    );
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&dispute))
        .await;
    assert_eq!((a.status, a.code()), (422, "not_booked"));
    let refunded = event(
        "charge.refunded",
        &unique("evt"),
        json!({"payment_intent": second, "amount_refunded": total}),
    );
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&refunded))
        .await;
    assert_eq!(a.body["outcome"], "refunded_by_livepay", "{a:?}");
    let order = env.get_order(Identity::adult("buyer"), &order_id).await;
    assert_eq!(order.body["status"], "paid", "{order:?}");
    env.run_payouts().await;
    let refunds = env.sandbox.transfers();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(
        (refunds[0].destination.as_str(), refunds[0].amount_cents),
        (second.as_str(), total)
    );
    env.assert_audited().await;
}

/// A dispute takes the coins back once, however many of its events arrive; a lost dispute
/// changes nothing more; a won one gives back what the dispute took, once; a refund of the
/// payment seen before its win waits for it, and is booked after it.
#[tokio::test]
async fn a_dispute_of_a_coin_purchase_reverses_it_once() {
    let env = TestEnv::new().await;
    let pi = unique("pi");
    let (session, _) = checkout_payment(&pi, "fan", 700, 999);
    env.call(Func::PaymentsWebhook, env.stripe_signed(&session))
        .await;
    let dispute_id = unique("dp");
    let dispute = |t: &str, status: &str| {
        event(
            t,
            &unique("evt"),
            json!({"id": dispute_id, "payment_intent": pi, "amount": 999, "status": status}),
        )
    };
    let opened = dispute("charge.dispute.created", "needs_response");
    let answers = join_all((0..3).map(|_| {
        let req = env.stripe_signed(&opened);
        async { env.instance().call(Func::PaymentsWebhook, req).await }
    }))
    .await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.body["outcome"] == "reversed:clawed_back_0")
            .count(),
        1,
        "{answers:?}"
    );
    assert_eq!(env.coins("fan").await, 0);
    // Another event of the same dispute, and a refund of the same payment: nothing more.
    let a = env
        .call(
            Func::PaymentsWebhook,
            env.stripe_signed(&dispute("charge.dispute.funds_withdrawn", "needs_response")),
        )
        .await;
    assert_eq!(a.body["status"], "duplicate", "{a:?}");
    let refunded = event(
        "charge.refunded",
        &unique("evt"),
        json!({"payment_intent": pi, "amount_refunded": 999}),
    );
    // Stripe refunds no payment a dispute withdrew: a refund seen over the open dispute came
    // after a win not delivered yet, so Stripe is asked to retry it.
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&refunded))
        .await;
    assert_eq!((a.status, a.code()), (503, "busy"), "{a:?}");
    let lost = env
        .call(
            Func::PaymentsWebhook,
            env.stripe_signed(&dispute("charge.dispute.closed", "lost")),
        )
        .await;
    assert_eq!(lost.body["outcome"], "dispute_lost");
    assert_eq!(env.balance(AccountKind::PlatformCash, &pi).await, 0);
    // Won after all: the dispute's `closed` and `funds_reinstated` events, each delivered three
    // times at once, give the coins and the cash back once.
    let closed = dispute("charge.dispute.closed", "won");
    let reinstated = dispute("charge.dispute.funds_reinstated", "won");
    let answers = join_all((0..6).map(|i| {
        let req = env.stripe_signed(if i % 2 == 0 { &closed } else { &reinstated });
        async { env.instance().call(Func::PaymentsWebhook, req).await }
    }))
    .await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let outcomes: Vec<_> = answers.iter().map(|a| a.body["outcome"].clone()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "reinstated").count(),
        1,
        "{answers:?}"
    );
    assert_eq!(env.coins("fan").await, 700);
    assert_eq!(env.balance(AccountKind::PlatformCash, &pi).await, 999);
    env.assert_audited().await;
    // The refund's retry, after the win: booked, a round of its own.
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&refunded))
        .await;
    assert_eq!(a.body["outcome"], "reversed:clawed_back_0", "{a:?}");
    assert_eq!(env.coins("fan").await, 0);
    assert_eq!(env.balance(AccountKind::PlatformCash, &pi).await, 0);
    env.assert_audited().await;
}

/// A dispute for a payment whose event has not arrived marks it: the late payment credits
/// nothing. A refund made in Stripe's dashboard of an order reverses the order.
#[tokio::test]
async fn a_dispute_before_its_payment_and_a_dashboard_refund_are_booked() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let pi = unique("pi");
    let early = event(
        "charge.dispute.created",
        &unique("evt"),
        json!({"id": unique("dp"), "payment_intent": pi, "amount": 999}),
    );
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&early))
        .await;
    assert_eq!(a.body["outcome"], "purchase_not_seen", "{a:?}");
    let (session, _) = checkout_payment(&pi, "fan", 700, 999);
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&session))
        .await;
    assert_eq!(a.body["outcome"], "charged_back_before_purchase", "{a:?}");
    assert_eq!(env.coins("fan").await, 0);

    let product = env
        .create_product(
            "s",
            json!({"title": "Cap", "price_cents": 2_500, "stock": 2}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            "buyer",
            json!({"lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    let order_pi = unique("pi");
    let paid = event(
        "payment_intent.succeeded",
        &unique("evt"),
        json!({"id": order_pi, "amount_received": total,
            "metadata": {"livepay_kind": "order", "order_id": order_id}}),
    );
    env.call(Func::PaymentsWebhook, env.stripe_signed(&paid))
        .await;
    let refunded = event(
        "charge.refunded",
        &unique("evt"),
        json!({"payment_intent": order_pi, "amount": total, "amount_refunded": total}),
    );
    let a = env
        .call(Func::PaymentsWebhook, env.stripe_signed(&refunded))
        .await;
    assert_eq!(a.body["outcome"], "order_reversed", "{a:?}");
    assert_eq!(env.stock(&product).await, 2, "the stock is back");
    assert!(
        env.sandbox.transfers().is_empty(),
        "Stripe repaid the buyer, not livepay"
    );
    env.assert_audited().await;
}

/// livepay's refund, left `processing` by Stripe, is failed by Stripe's `refund.failed` (the
/// attempt named in its metadata) and stays owed to the buyer; a refund that Stripe confirms is
/// finished by `refund.updated`.
#[tokio::test]
async fn a_refund_that_stripe_fails_is_failed_by_its_event_and_one_it_confirms_succeeds() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Cup", "price_cents": 1_200, "stock": 5}),
        )
        .await;
    let mut refund_ids = Vec::new();
    for buyer in ["b1", "b2"] {
        let (order_id, total) = env
            .placed(
                buyer,
                json!({"lines": [{"product_id": product, "quantity": 1}]}),
            )
            .await;
        let paid = event(
            "payment_intent.succeeded",
            &unique("evt"),
            json!({"id": unique("pi"), "amount_received": total,
                "metadata": {"livepay_kind": "order", "order_id": order_id}}),
        );
        env.call(Func::PaymentsWebhook, env.stripe_signed(&paid))
            .await;
        let refunded = env
            .order_action(
                Identity::seller("s"),
                &order_id,
                "refund",
                json!({"reason": "damaged"}),
            )
            .await;
        refund_ids.push(
            refunded.body["refund"]["refund_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    env.sandbox
        .script([SandboxBehavior::TimeOut, SandboxBehavior::TimeOut]);
    env.run_payouts().await;
    let answer = |t: &str, refund_id: &str, status: &str| {
        event(
            t,
            &unique("evt"),
            json!({"id": unique("re"), "status": status,
                "failure_reason": "expired_or_canceled_card",
                "metadata": {"livepay_refund_id": refund_id}}),
        )
    };
    let failed = env
        .call(
            Func::PaymentsWebhook,
            env.stripe_signed(&answer("refund.failed", &refund_ids[0], "failed")),
        )
        .await;
    assert_eq!(failed.body["outcome"], "failed", "{failed:?}");
    let pending = env
        .call(
            Func::PaymentsWebhook,
            env.stripe_signed(&answer("refund.updated", &refund_ids[1], "pending")),
        )
        .await;
    assert_eq!(pending.body["outcome"], "refund_pending", "{pending:?}");
    let confirmed = env
        .call(
            Func::PaymentsWebhook,
            env.stripe_signed(&answer("refund.updated", &refund_ids[1], "succeeded")),
        )
        .await;
    assert_eq!(confirmed.body["outcome"], "succeeded", "{confirmed:?}");
    let refunds = env
        .call(
            Func::ShopApi,
            Req::get("/v1/me/refunds", "GET /v1/me/refunds").identity(Identity::adult("b1")),
        )
        .await;
    let first = &refunds.body["refunds"][0];
    assert_eq!(
        (first["status"].as_str(), first["reason"].as_str()),
        (Some("failed"), Some("expired_or_canceled_card"))
    );
    assert_eq!(env.balance(AccountKind::RefundOwed, "b1").await, 1_200);
    assert_eq!(env.balance(AccountKind::RefundOwed, "b2").await, 0);
    env.assert_audited().await;
}

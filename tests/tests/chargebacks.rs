//! Chargebacks that reach earnings: a stolen card's coins, gifted to an accomplice, come back
//! from the creator's pending earnings inside the hold and as a debt after it; the purchase's
//! cash goes back to the provider; a purchase delivered after its chargeback credits nothing;
//! an order chargeback reverses the order without repaying the buyer twice; a dispute the
//! platform wins gives back what its chargeback took, once.

use livepay::domain::ledger::AccountKind;
use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::{Func, Identity, TestEnv};
use serde_json::{json, Value};
use time::Duration;

/// One day's hold; a crown (20,000 coins) earns its creator 10,000 diamonds ($50).
async fn held_env() -> TestEnv {
    let mut settings = PAYOUT_SETTINGS.to_vec();
    settings.push(("GIFT_HOLD_SECONDS", "86400"));
    TestEnv::with_settings(&settings).await
}

fn purchase(id: &str, user: &str, coins: u64, cents: u64) -> Value {
    json!({"id": id, "type": "coins.purchased",
        "data": {"user_id": user, "coins": coins, "amount_cents": cents}})
}

fn chargeback(id: &str, user: &str, coins: u64, cents: u64, purchase_id: &str) -> Value {
    json!({"id": id, "type": "payment.charged_back",
        "data": {"user_id": user, "coins": coins, "amount_cents": cents,
            "purchase_event_id": purchase_id}})
}

fn won(id: &str, chargeback_id: &str, named: (&str, &str)) -> Value {
    let mut data = json!({"chargeback_event_id": chargeback_id});
    data[named.0] = json!(named.1);
    json!({"id": id, "type": "chargeback.won", "data": data})
}

async fn webhook(env: &TestEnv, body: &Value) -> Value {
    let a = env.call(Func::PaymentsWebhook, env.webhook(body)).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

/// `user` sends `crowns` crowns on `creator`'s stream, and they settle.
async fn gift_crowns(env: &TestEnv, user: &str, creator: &str, crowns: u64) {
    let stream = env.open_stream(creator).await;
    let a = env
        .gift(
            Identity::adult(user),
            &stream,
            &format!("k-{}", ulid::Ulid::new()),
            json!({"gift_id": "crown", "count": crowns}),
        )
        .await;
    assert_eq!(a.status, 201, "{a:?}");
    let messages = env.drain_settlement_queue().await;
    assert!(env.settle(&messages).await.is_empty());
}

/// The platform's balance at the provider, as the ledger has it (the world outside's accounts,
/// negated: what came in through the provider less what went out to it and through it), is
/// what the test itself sent the provider to do.
async fn assert_bank(env: &TestEnv, expected_cents: i64) {
    let snapshot = env.app.store.audit_snapshot().await.unwrap();
    let outside: i64 = snapshot
        .accounts
        .iter()
        .filter(|(a, _, _)| {
            matches!(
                a.kind,
                AccountKind::PaymentProvider
                    | AccountKind::PaidOut
                    | AccountKind::SellerPaidOut
                    | AccountKind::AgencyPaidOut
            )
        })
        .map(|(_, _, b)| *b)
        .sum();
    assert_eq!(-outside, expected_cents);
}

/// Inside the hold: the thief's crowns were gifted and settled pending; the chargeback takes
/// the accomplice's pending earnings back, so nothing is ever payable, and the purchase's cash
/// goes back to the provider.
#[tokio::test]
async fn a_stolen_card_charged_back_inside_the_hold_takes_back_the_pending_earnings() {
    let env = held_env().await;
    webhook(&env, &purchase("pur_1", "thief", 40_500, 59_900)).await;
    gift_crowns(&env, "thief", "accomplice", 2).await;
    let b = env.creator_balance("accomplice").await;
    assert_eq!(b["diamonds_pending"], 20_000, "{b}");

    let ack = webhook(&env, &chargeback("cb_1", "thief", 40_500, 59_900, "pur_1")).await;
    assert_eq!(ack["outcome"], "reversed:clawed_back_20000", "{ack}");
    assert_eq!(env.coins("thief").await, 0);
    let b = env.creator_balance("accomplice").await;
    assert_eq!(
        (&b["diamonds_pending"], &b["diamonds_owed"]),
        (&json!(0), &json!(0)),
        "{b}"
    );
    // The hold ends with nothing in it: nothing is released, nothing can be paid.
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 0);
    let paid = env.request_payout("accomplice", "p1", 5_000).await;
    assert_eq!(paid.status, 402, "{paid:?}");
    // The platform keeps its share's loss, and only that: 40,500 coins, 500 from the wallet,
    // 20,000 from the creator, 20,000 the platform's share.
    assert_eq!(
        env.balance(AccountKind::ChargebackLoss, "cb_1").await,
        -20_000
    );
    assert_eq!(env.balance(AccountKind::PlatformCash, "pur_1").await, 0);
    assert_eq!(
        env.balance(AccountKind::PaymentProvider, "cb_1").await,
        59_900
    );
    // Bought 59,900, all of it charged back.
    assert_bank(&env, 0).await;
    env.assert_audited().await;
}

/// After the hold: the accomplice was paid out within the day; the chargeback becomes their
/// debt, which their next released earnings pay off first, and the statement explains it.
#[tokio::test]
async fn a_stolen_card_charged_back_after_the_hold_is_a_debt_paid_off_from_the_next_gifts() {
    let env = held_env().await;
    webhook(&env, &purchase("pur_2", "thief", 20_000, 29_900)).await;
    gift_crowns(&env, "thief", "accomplice", 1).await;
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 10_000);
    let paid = env.request_payout("accomplice", "p1", 5_000).await;
    assert_eq!(paid.status, 202, "{paid:?}");
    assert!(env.run_payouts().await.is_empty());

    let ack = webhook(&env, &chargeback("cb_2", "thief", 20_000, 29_900, "pur_2")).await;
    assert_eq!(ack["outcome"], "reversed:clawed_back_10000", "{ack}");
    let b = env.creator_balance("accomplice").await;
    assert_eq!(b["diamonds_owed"], 10_000, "{b}");
    assert_eq!(b["payable_cents"], 0, "{b}");
    assert_eq!(env.balance(AccountKind::PlatformCash, "pur_2").await, 0);
    assert_eq!(
        env.balance(AccountKind::PaymentProvider, "cb_2").await,
        29_900
    );

    // An honest fan's three crowns: 30,000 diamonds pending, of which 10,000 pay the debt.
    env.buy_coins("fan", 60_000).await;
    gift_crowns(&env, "fan", "accomplice", 3).await;
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 30_000);
    let b = env.creator_balance("accomplice").await;
    assert_eq!(
        (&b["diamonds_owed"], &b["diamonds_available"]),
        (&json!(0), &json!(20_000)),
        "{b}"
    );
    let kinds: Vec<_> = env
        .statement("accomplice", 50)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        kinds.contains(&"chargeback_clawback".to_owned())
            && kinds.contains(&"clawback_recovery".to_owned()),
        "{kinds:?}"
    );
    // Bought 29,900 and 84,942 (60,000 coins at 99 cents per 70), 29,900 charged back, $50 paid.
    assert_bank(&env, 29_900 + 84_942 - 29_900 - 5_000).await;
    env.assert_audited().await;
}

/// The named fields of the balance of the agency `owner` owns.
async fn agency_balance(env: &TestEnv, owner: &str, fields: &[&str]) -> Vec<u64> {
    let b = env.agency_get(owner, "balance").await;
    fields.iter().map(|f| b[*f].as_u64().unwrap()).collect()
}

async fn agency_entry_kinds(env: &TestEnv, owner: &str) -> Vec<String> {
    env.statement_of(Identity::user(owner), "agencies", 50)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A stolen card's crowns gifted to a creator with an agency (half the creator's share,
/// funded by the platform): the chargeback takes back the agency's cut as well as the creator's,
/// from the agency's share of the creator while held and as the agency's debt once paid out;
/// the dispute won gives both back, the debt staying for the agency's next payout to pay off.
#[tokio::test]
async fn a_chargeback_takes_back_the_agency_cut_and_a_won_dispute_gives_it_back() {
    let env = held_env().await;
    let agency = env.create_agency("cb-guild-owner").await;
    env.attached_from_now("guild-streamer", &agency, 5_000, "platform")
        .await;
    webhook(&env, &purchase("pur_ag", "thief", 60_500, 89_900)).await;
    // The first two crowns' cut (10,000 diamonds) is released and paid out to the agency ($50).
    gift_crowns(&env, "thief", "guild-streamer", 2).await;
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 30_000);
    let payout = env
        .call(
            Func::CreatorsApi,
            livepay_tests::Req::post("/v1/agencies/me/payouts", "POST /v1/agencies/me/payouts")
                .identity(Identity::user("cb-guild-owner"))
                .key("agency-payout")
                .json(json!({"amount_cents": 5_000})),
        )
        .await;
    assert_eq!(payout.status, 202, "{payout:?}");
    assert!(env.run_payouts().await.is_empty());
    // The third is still held, the agency's cut in its share of the creator.
    gift_crowns(&env, "thief", "guild-streamer", 1).await;
    assert_eq!(
        agency_balance(
            &env,
            "cb-guild-owner",
            &["diamonds_pending", "diamonds_available"]
        )
        .await,
        [5_000, 0]
    );

    let ack = webhook(
        &env,
        &chargeback("cb_ag", "thief", 60_500, 89_900, "pur_ag"),
    )
    .await;
    // The creator's shares (30,000) and the cuts (15,000).
    assert_eq!(ack["outcome"], "reversed:clawed_back_45000", "{ack}");
    assert_eq!(
        agency_balance(
            &env,
            "cb-guild-owner",
            &["diamonds_pending", "diamonds_available", "diamonds_owed"]
        )
        .await,
        [0, 0, 10_000]
    );
    let c = env.creator_balance("guild-streamer").await;
    assert_eq!(
        (&c["diamonds_pending"], &c["diamonds_available"]),
        (&json!(0), &json!(0)),
        "{c}"
    );
    // What the cuts were the platform's to fund is back: its loss is only its own share.
    assert_eq!(
        env.balance(AccountKind::ChargebackLoss, "cb_ag").await,
        -(60_000 - 45_000)
    );
    let kinds = agency_entry_kinds(&env, "cb-guild-owner").await;
    assert!(
        kinds.contains(&"chargeback_clawback".to_owned()),
        "{kinds:?}"
    );
    env.assert_audited().await;

    let won = webhook(
        &env,
        &won("won_ag", "cb_ag", ("purchase_event_id", "pur_ag")),
    )
    .await;
    assert_eq!(won["outcome"], "reinstated", "{won}");
    assert_eq!(
        agency_balance(
            &env,
            "cb-guild-owner",
            &[
                "diamonds_pending",
                "diamonds_available",
                "diamonds_owed",
                "payable_cents"
            ]
        )
        .await,
        [0, 15_000, 10_000, 2_500]
    );
    assert_eq!(env.balance(AccountKind::ChargebackLoss, "cb_ag").await, 0);
    // Bought 89,900; charged back and returned; $50 paid out.
    assert_bank(&env, 89_900 - 5_000).await;
    // An honest fan's two crowns: the cut their release brings pays the agency's debt first.
    env.buy_coins("fan", 40_000).await;
    gift_crowns(&env, "fan", "guild-streamer", 2).await;
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 30_000);
    assert_eq!(
        agency_balance(
            &env,
            "cb-guild-owner",
            &["diamonds_available", "diamonds_owed", "payable_cents"]
        )
        .await,
        [15_000, 0, 7_500]
    );
    let kinds = agency_entry_kinds(&env, "cb-guild-owner").await;
    assert!(kinds.contains(&"clawback_recovery".to_owned()), "{kinds:?}");
    env.assert_audited().await;
}

/// With no hold an agency's cut still waits in its share of the creator until the next
/// minute's sweep: a chargeback in that minute takes it back from there, not as a debt.
#[tokio::test]
async fn an_unheld_agency_cut_charged_back_before_its_release_comes_back_from_its_share() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let agency = env.create_agency("quick-guild-owner").await;
    env.attached_from_now("quick-streamer", &agency, 5_000, "creator")
        .await;
    webhook(&env, &purchase("pur_q", "thief", 20_000, 29_900)).await;
    gift_crowns(&env, "thief", "quick-streamer", 1).await;
    assert_eq!(
        agency_balance(&env, "quick-guild-owner", &["diamonds_pending"]).await,
        [5_000]
    );
    let ack = webhook(&env, &chargeback("cb_q", "thief", 20_000, 29_900, "pur_q")).await;
    // The creator's 5,000 (available at once) and the agency's 5,000, out of the creator's half.
    assert_eq!(ack["outcome"], "reversed:clawed_back_10000", "{ack}");
    assert_eq!(
        agency_balance(
            &env,
            "quick-guild-owner",
            &["diamonds_pending", "diamonds_owed"]
        )
        .await,
        [0, 0]
    );
    env.set_now(env.now() + Duration::minutes(2));
    assert_eq!(env.sweep().await.diamonds_released, 0);
    assert_eq!(
        env.creator_balance("quick-streamer").await["diamonds_available"],
        0
    );
    env.assert_audited().await;
}

/// The provider's events can come in any order: a chargeback before its purchase marks it, and
/// the purchase then credits nothing; the same purchase is never charged back twice, and a
/// chargeback for more than its purchase is refused and changes nothing.
#[tokio::test]
async fn a_purchase_delivered_after_its_chargeback_credits_nothing() {
    let env = held_env().await;
    let ack = webhook(&env, &chargeback("cb_3", "u", 700, 999, "pur_3")).await;
    assert_eq!(ack["outcome"], "purchase_not_seen", "{ack}");
    let ack = webhook(&env, &purchase("pur_3", "u", 700, 999)).await;
    assert_eq!(ack["outcome"], "charged_back_before_purchase", "{ack}");
    assert_eq!(env.coins("u").await, 0);

    webhook(&env, &purchase("pur_4", "u", 700, 999)).await;
    let too_much = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&chargeback("cb_4", "u", 700, 1_000, "pur_4")),
        )
        .await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (422, "chargeback_exceeds_purchase")
    );
    assert_eq!(
        env.coins("u").await,
        700,
        "a refused chargeback changes nothing"
    );
    let stranger = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&chargeback("cb_4b", "someone-else", 700, 999, "pur_4")),
        )
        .await;
    assert_eq!(
        (stranger.status, stranger.code()),
        (422, "chargeback_user_mismatch")
    );
    // An event that is not a purchase (here another chargeback), or the chargeback itself.
    for (id, names) in [("cb_4c", "cb_3"), ("cb_4d", "cb_4d")] {
        let a = env
            .call(
                Func::PaymentsWebhook,
                env.webhook(&chargeback(id, "u", 700, 999, names)),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (422, "chargeback_not_a_purchase"),
            "{a:?}"
        );
    }
    let first = webhook(&env, &chargeback("cb_5", "u", 700, 999, "pur_4")).await;
    assert_eq!(first["status"], "applied", "{first}");
    let again = webhook(&env, &chargeback("cb_6", "u", 700, 999, "pur_4")).await;
    assert_eq!(again["outcome"], "already_charged_back", "{again}");
    assert_eq!(env.coins("u").await, 0);
    // pur_3 never credited; pur_4 bought and charged back.
    assert_bank(&env, 0).await;
    env.assert_audited().await;
}

/// A won dispute gives back what its chargeback took, wherever it took it from: the wallet's
/// coins, a pending share (back available: the hold waited for this risk), a paid-out share's
/// debt (back available, the debt still paid off first), the platform's loss and the cash.
/// Deliveries at once, of the same event and of another naming the same chargeback, give back
/// once.
#[tokio::test]
async fn a_won_dispute_gives_back_what_its_chargeback_took_once() {
    let env = held_env().await;
    webhook(&env, &purchase("pur_w", "thief", 40_500, 59_900)).await;
    gift_crowns(&env, "thief", "streamer", 1).await;
    env.set_now(env.now() + Duration::days(2));
    assert_eq!(env.sweep().await.diamonds_released, 10_000);
    assert_eq!(
        env.request_payout("streamer", "p1", 5_000).await.status,
        202
    );
    assert!(env.run_payouts().await.is_empty());
    gift_crowns(&env, "thief", "streamer", 1).await;
    let ack = webhook(&env, &chargeback("cb_w", "thief", 40_500, 59_900, "pur_w")).await;
    assert_eq!(ack["outcome"], "reversed:clawed_back_20000", "{ack}");
    let b = env.creator_balance("streamer").await;
    assert_eq!(
        (&b["diamonds_pending"], &b["diamonds_owed"]),
        (&json!(0), &json!(10_000)),
        "{b}"
    );

    let named = ("purchase_event_id", "pur_w");
    let answers = futures::future::join_all((0..6).map(|i| {
        let body = won(if i % 2 == 0 { "won_1" } else { "won_2" }, "cb_w", named);
        let req = env.webhook(&body);
        async { env.instance().call(Func::PaymentsWebhook, req).await }
    }))
    .await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let reinstated = answers
        .iter()
        .filter(|a| a.body["outcome"] == "reinstated")
        .count();
    assert_eq!(reinstated, 1, "{answers:?}");
    assert_eq!(env.coins("thief").await, 500);
    let b = env.creator_balance("streamer").await;
    assert_eq!(
        (
            &b["diamonds_available"],
            &b["diamonds_owed"],
            &b["payable_cents"]
        ),
        (&json!(20_000), &json!(10_000), &json!(5_000)),
        "{b}"
    );
    assert_eq!(env.balance(AccountKind::ChargebackLoss, "cb_w").await, 0);
    assert_eq!(env.balance(AccountKind::PaymentProvider, "cb_w").await, 0);
    assert_eq!(
        env.balance(AccountKind::PlatformCash, "pur_w").await,
        59_900
    );
    let kinds: Vec<_> = env
        .statement("streamer", 50)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(kinds.contains(&"dispute_won".to_owned()), "{kinds:?}");
    // What it gave back leaves as any earnings do: the debt paid off first, the rest paid out.
    assert_eq!(
        env.request_payout("streamer", "p2", 5_000).await.status,
        202
    );
    assert!(env.run_payouts().await.is_empty());
    let b = env.creator_balance("streamer").await;
    assert_eq!(
        (&b["diamonds_available"], &b["diamonds_owed"]),
        (&json!(0), &json!(0)),
        "{b}"
    );
    // Bought 59,900; charged back and returned; $50 paid out twice.
    assert_bank(&env, 59_900 - 5_000 - 5_000).await;
    env.assert_audited().await;

    // The payment is refunded at the provider after the win: a new round, taken again.
    let again = webhook(&env, &chargeback("cb_w2", "thief", 40_500, 59_900, "pur_w")).await;
    assert_eq!(again["outcome"], "reversed:clawed_back_20000", "{again}");
    assert_eq!(env.coins("thief").await, 0);
    assert_eq!(env.balance(AccountKind::PlatformCash, "pur_w").await, 0);
    let late = webhook(&env, &won("won_6", "cb_w", named)).await;
    assert_eq!(
        late["outcome"], "unchanged:reversed_by_another_event",
        "{late}"
    );
    assert_bank(&env, -5_000 - 5_000).await;
    env.assert_audited().await;

    // A win for a chargeback that took what cannot be given back: the payment it marked had
    // not arrived, and credited nothing when it did.
    let before = webhook(&env, &chargeback("cb_x", "u", 700, 999, "pur_x")).await;
    assert_eq!(before["outcome"], "purchase_not_seen", "{before}");
    let a = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&won("won_3", "cb_x", ("purchase_event_id", "pur_x"))),
        )
        .await;
    assert_eq!((a.status, a.code()), (422, "not_booked"), "{a:?}");
    // A win before its chargeback: the chargeback then takes nothing, and the payment stands.
    let first = webhook(&env, &won("won_4", "cb_y", ("purchase_event_id", "pur_y"))).await;
    assert_eq!(first["outcome"], "unchanged:nothing_taken", "{first}");
    let opened = webhook(&env, &chargeback("cb_y", "u", 700, 999, "pur_y")).await;
    assert_eq!(opened["outcome"], "already_won", "{opened}");
    let paid = webhook(&env, &purchase("pur_y", "u", 700, 999)).await;
    assert_eq!(paid["status"], "applied", "{paid}");
    assert_eq!(env.coins("u").await, 700);
    let both = json!({"id": "won_5", "type": "chargeback.won",
        "data": {"chargeback_event_id": "cb_w", "purchase_event_id": "pur_w", "order_id": "o"}});
    let a = env.call(Func::PaymentsWebhook, env.webhook(&both)).await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{a:?}");
    env.assert_audited().await;
}

/// A buyer who won a dispute was repaid by the provider: the order is reversed as an admin
/// refund would reverse it, but nothing is owed to the buyer and no refund is sent; a second
/// dispute event reverses nothing.
#[tokio::test]
async fn an_order_chargeback_reverses_the_order_without_repaying_the_buyer_twice() {
    let env = held_env().await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Lamp", "price_cents": 2_500, "stock": 3}),
        )
        .await;
    let (order_id, total) = env.paid_order("b", &product).await;
    let dispute = |id: &str, cents: u64| {
        json!({"id": id, "type": "order.charged_back",
            "data": {"order_id": order_id, "amount_cents": cents}})
    };
    let wrong = env
        .call(Func::PaymentsWebhook, env.webhook(&dispute("oc_0", 1)))
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (422, "chargeback_amount_mismatch")
    );
    let ack = webhook(&env, &dispute("oc_1", total)).await;
    assert_eq!(ack["outcome"], "order_reversed", "{ack}");
    let order = env.get_order(Identity::adult("b"), &order_id).await;
    assert_eq!(order.body["status"], "refunded", "{order:?}");
    assert!(order.body.get("refund").is_none(), "{order:?}");
    assert_eq!(env.stock(&product).await, 3, "the stock came back");
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    assert!(env.drain_payout_queue().await.is_empty(), "no refund sent");
    let again = webhook(&env, &dispute("oc_2", total)).await;
    assert_eq!(again["outcome"], "already_charged_back", "{again}");
    assert_bank(&env, 0).await;
    env.assert_audited().await;

    // The platform wins the dispute: the sale stands, and the order is back where the dispute
    // found it, holding its money, and goes on from there.
    let ack = webhook(&env, &won("ow_1", "oc_1", ("order_id", &order_id))).await;
    assert_eq!(ack["outcome"], "order_reinstated:paid", "{ack}");
    let order = env.get_order(Identity::adult("b"), &order_id).await;
    assert_eq!(order.body["status"], "paid", "{order:?}");
    assert_eq!(
        env.balance(AccountKind::Order, &order_id).await,
        i64::try_from(total).unwrap()
    );
    env.ship_and_deliver("s", &order_id).await;
    env.set_now(env.now() + Duration::days(8));
    assert!(env.sweep_and_settle().await.is_empty());
    let order = env.get_order(Identity::adult("b"), &order_id).await;
    assert_eq!(order.body["status"], "completed", "{order:?}");
    // Its units went back with the reversal and were not taken again: nothing counts them twice.
    assert_eq!(env.stock(&product).await, 3);
    // The seller is paid for the sale; the platform's fee stays on the order.
    let seller = env.seller_get("s", "balance").await;
    let fee = env.balance(AccountKind::Order, &order_id).await;
    assert!(fee > 0, "{fee}");
    assert_eq!(
        seller["cents_available"].as_i64().unwrap() + fee,
        i64::try_from(total).unwrap(),
        "{seller}"
    );
    let again = webhook(&env, &won("ow_2", "oc_1", ("order_id", &order_id))).await;
    assert_eq!(again["outcome"], "already_reinstated", "{again}");
    // oc_2 reversed nothing: its win takes nothing back either (and is recorded, should oc_2
    // come again under another id).
    let other = webhook(&env, &won("ow_3", "oc_2", ("order_id", &order_id))).await;
    assert_eq!(other["outcome"], "unchanged:nothing_taken", "{other}");
    assert_bank(&env, i64::try_from(total).unwrap()).await;
    env.assert_audited().await;
}

/// A dispute of an order whose refund exists: a refund not yet sent is superseded (the buyer has
/// their money from the provider; nothing is sent), and one that already succeeded means the
/// provider repaid the buyer twice: booked as the platform's expense, so the books match.
#[tokio::test]
async fn an_order_dispute_after_its_refund_supersedes_it_or_books_the_double_repayment() {
    let env = held_env().await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Vase", "price_cents": 4_000, "stock": 4}),
        )
        .await;
    let mut refunded = Vec::new();
    for buyer in ["b1", "b2"] {
        let (order_id, total) = env.paid_order(buyer, &product).await;
        let a = env
            .order_action(
                Identity::seller("s"),
                &order_id,
                "refund",
                json!({"reason": "broken"}),
            )
            .await;
        assert_eq!(a.body["refund"]["status"], "requested", "{a:?}");
        refunded.push((order_id, total));
    }
    let dispute = |id: &str, order: &(String, u64)| {
        json!({"id": id, "type": "order.charged_back",
            "data": {"order_id": order.0, "amount_cents": order.1}})
    };
    // b2's refund goes through first; b1's is still waiting when b1's dispute lands.
    let messages = env.drain_payout_queue().await;
    let b2 = messages
        .iter()
        .find(|m| m.body.contains("\"buyer_id\":\"b2\""))
        .cloned()
        .unwrap();
    assert!(env.execute_payouts(&[b2]).await.is_empty());
    let ack = webhook(&env, &dispute("od_1", &refunded[0])).await;
    assert_eq!(ack["outcome"], "refund_superseded", "{ack}");
    assert_eq!(env.balance(AccountKind::RefundOwed, "b1").await, 0);
    assert!(env.execute_payouts(&messages).await.is_empty());
    assert_eq!(
        env.sandbox.transfers().len(),
        1,
        "only b2's refund reached the provider"
    );
    let ack = webhook(&env, &dispute("od_2", &refunded[1])).await;
    assert_eq!(ack["outcome"], "repaid_twice", "{ack}");
    let again = webhook(&env, &dispute("od_3", &refunded[1])).await;
    assert_eq!(
        again["outcome"], "already_charged_back",
        "booked once: {again}"
    );
    assert_eq!(
        env.balance(AccountKind::PlatformExpense, "od_2").await,
        -4_000
    );
    // Paid 8,000; b2 refunded 4,000; the provider took 4,000 back for each dispute.
    assert_bank(&env, 8_000 - 4_000 - 4_000 - 4_000).await;
    env.assert_audited().await;

    // Won: the double repayment comes back; a superseded refund is not reopened by it.
    let ack = webhook(&env, &won("odw_2", "od_2", ("order_id", &refunded[1].0))).await;
    assert_eq!(ack["outcome"], "double_repayment_returned", "{ack}");
    let order = env.get_order(Identity::adult("b2"), &refunded[1].0).await;
    assert_eq!(order.body["status"], "refunded", "{order:?}");
    assert_eq!(env.balance(AccountKind::PlatformExpense, "od_2").await, 0);
    let superseded = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&won("odw_1", "od_1", ("order_id", &refunded[0].0))),
        )
        .await;
    assert_eq!((superseded.status, superseded.code()), (422, "not_booked"));
    assert_bank(&env, 8_000 - 4_000 - 4_000).await;
    env.assert_audited().await;
}

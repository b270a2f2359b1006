//! The shop against the emulator: flash sales, limits, expiry racing payment, completion and
//! refunds, and every refusal.

use futures::future::join_all;
use livepay::domain::ledger::AccountKind;
use livepay_tests::{Func, Identity, Req, TestEnv};
use serde_json::json;
use time::Duration;

fn one(product_id: &str, quantity: u64) -> serde_json::Value {
    json!({"lines": [{"product_id": product_id, "quantity": quantity}]})
}

#[tokio::test]
async fn flash_sale_200_concurrent_orders_for_50_units() {
    let env = TestEnv::new().await;
    let product = env
        .create_product(
            "seller-1",
            json!({"title": "Flash deal", "price_cents": 999, "stock": 50}),
        )
        .await;
    // 200 at the same instant: some may be answered `503 busy` (Retry-After), which a client
    // retries with the same key, as the API asks.
    let orders = (0..200).map(|i| {
        let (env, product) = (&env, &product);
        async move {
            for _ in 0..20 {
                let a = env
                    .place_order(&format!("buyer-{i}"), "flash", one(product, 1))
                    .await;
                if a.status != 503 {
                    return a;
                }
            }
            panic!("order {i} still busy after 20 tries");
        }
    });
    let answers = join_all(orders).await;
    let placed = answers.iter().filter(|a| a.status == 201).count();
    let sold_out: Vec<_> = answers
        .iter()
        .filter(|a| a.status == 409 && a.code() == "out_of_stock")
        .collect();
    let other: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 201 && a.code() != "out_of_stock")
        .collect();
    println!(
        "flash sale: {placed} placed (201), {} out_of_stock (409), other: {other:?}",
        sold_out.len(),
    );
    assert_eq!((placed, sold_out.len()), (50, 150));
    assert!(sold_out
        .iter()
        .all(|a| a.body["error"]["product_id"] == product.as_str()));
    assert_eq!(env.stock(&product).await, 0);
}

#[tokio::test]
async fn an_order_whose_last_line_is_out_of_stock_takes_nothing() {
    let env = TestEnv::new().await;
    let mut products = Vec::new();
    for stock in [5, 5, 1] {
        products.push(
            env.create_product(
                "seller-1",
                json!({"title": "Thing", "price_cents": 100, "stock": stock}),
            )
            .await,
        );
    }
    let lines: Vec<_> = products
        .iter()
        .map(|p| json!({"product_id": p, "quantity": 2}))
        .collect();
    let a = env
        .place_order("buyer", "multi", json!({ "lines": lines }))
        .await;
    assert_eq!((a.status, a.code()), (409, "out_of_stock"), "{a:?}");
    assert_eq!(a.body["error"]["product_id"], products[2].as_str());
    for (p, stock) in products.iter().zip([5, 5, 1]) {
        assert_eq!(env.stock(p).await, stock);
    }
    // The key did not take: the same key with a possible order goes through.
    let lines: Vec<_> = products[..2]
        .iter()
        .map(|p| json!({"product_id": p, "quantity": 2}))
        .collect();
    let ok = env
        .place_order("buyer", "multi-2", json!({ "lines": lines }))
        .await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert_eq!(env.stock(&products[0]).await, 3);
}

#[tokio::test]
async fn a_per_buyer_limit_holds_across_concurrent_orders() {
    let env = TestEnv::new().await;
    let product = env
        .create_product(
            "seller-1",
            json!({"title": "Limited", "price_cents": 500, "stock": 100, "per_buyer_limit": 2}),
        )
        .await;
    let orders = (0..5).map(|i| {
        let (env, product) = (&env, &product);
        async move {
            env.place_order("buyer", &format!("k{i}"), one(product, 1))
                .await
        }
    });
    let answers = join_all(orders).await;
    let statuses: Vec<_> = answers.iter().map(|a| (a.status, a.code())).collect();
    assert_eq!(
        answers.iter().filter(|a| a.status == 201).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.status == 422 && a.code() == "per_buyer_limit_exceeded")
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(env.stock(&product).await, 98);
    // Another buyer has their own limit; one order above the limit is refused outright.
    let other = env.place_order("other", "o1", one(&product, 3)).await;
    assert_eq!(
        (other.status, other.code()),
        (422, "per_buyer_limit_exceeded")
    );
    // A cancelled order gives its units back to the buyer's limit.
    let first = answers.iter().find(|a| a.status == 201).unwrap();
    let order_id = first.body["order_id"].as_str().unwrap();
    let cancelled = env
        .order_action(Identity::adult("buyer"), order_id, "cancel", json!({}))
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{cancelled:?}");
    let again = env.place_order("buyer", "k-again", one(&product, 1)).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(env.stock(&product).await, 98);
}

#[tokio::test]
async fn a_payment_is_judged_by_when_it_was_made_not_when_its_webhook_arrived() {
    let env = TestEnv::new().await;
    let product = env
        .create_product(
            "seller-1",
            json!({"title": "Lamp", "price_cents": 700, "stock": 10}),
        )
        .await;
    let start = env.now();
    let (made_in_time, total) = env.placed("buyer-1", one(&product, 1)).await;
    let (made_late, _) = env.placed("buyer-2", one(&product, 1)).await;
    let (unpaid, _) = env.placed("buyer-3", one(&product, 1)).await;
    let paid = |order: &str, made: time::OffsetDateTime| {
        json!({"id": format!("evt_{order}"), "type": "order.paid", "created": made.unix_timestamp(),
            "data": {"order_id": order, "amount_cents": total}})
    };
    // Both webhooks arrive after the 15-minute window, inside the 5-minute grace.
    env.set_now(start + Duration::seconds(960));
    let a = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&paid(&made_in_time, start + Duration::seconds(600))),
        )
        .await;
    assert_eq!(a.body["outcome"], "order_paid", "{a:?}");
    let b = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&paid(&made_late, start + Duration::seconds(950))),
        )
        .await;
    assert_eq!(b.body["outcome"], "owed_back_to_buyer:expired", "{b:?}");
    // Inside the grace the sweeper leaves the unpaid order alone; after it, the order expires.
    assert_eq!(env.sweep().await.orders_expired, 0);
    env.set_now(start + Duration::seconds(900 + 300 + 1));
    assert_eq!(env.sweep().await.orders_expired, 2);
    for (order, status) in [
        (&made_in_time, "paid"),
        (&made_late, "expired"),
        (&unpaid, "expired"),
    ] {
        let o = env.get_order(Identity::admin("ops"), order).await;
        assert_eq!(o.body["status"], status, "{o:?}");
    }
    env.assert_conserved().await;
}

#[tokio::test]
async fn expiry_cancel_and_a_late_payment_race_and_release_stock_once() {
    let env = TestEnv::new().await;
    let product = env
        .create_product(
            "seller-1",
            json!({"title": "Racy", "price_cents": 700, "stock": 30, "per_buyer_limit": 10}),
        )
        .await;
    let start = env.now();
    let mut orders = Vec::new();
    for i in 0..5 {
        orders.push(env.placed(&format!("buyer-{i}"), one(&product, 3)).await);
    }
    assert_eq!(env.stock(&product).await, 15);
    // Past the 15-minute window and its 5-minute grace for late webhooks: the sweeper, the
    // buyers' cancels and the payments all race.
    env.set_now(start + Duration::seconds(900 + 300 + 1));
    let cancels = orders.iter().enumerate().map(|(i, (id, _))| {
        env.order_action(
            Identity::adult(&format!("buyer-{i}")),
            id,
            "cancel",
            json!({}),
        )
    });
    let payments = orders.iter().map(|(id, total)| env.pay_order(id, *total));
    let (cancels, payments, _) = futures::join!(join_all(cancels), join_all(payments), env.sweep());
    assert!(payments.iter().all(|a| a.status == 200), "{payments:?}");
    // Late: whoever won, the order could not take the payment.
    for p in &payments {
        let outcome = p.body["outcome"].as_str().unwrap_or_default();
        assert!(
            outcome == "owed_back_to_buyer:expired" || outcome == "owed_back_to_buyer:cancelled",
            "{p:?}"
        );
    }
    for c in &cancels {
        assert!(
            c.status == 200 || (c.status, c.code()) == (409, "order_not_cancellable"),
            "{c:?}"
        );
    }
    env.sweep().await;
    // Every unit came back exactly once.
    assert_eq!(env.stock(&product).await, 30);
    for (i, (id, total)) in orders.iter().enumerate() {
        let buyer = format!("buyer-{i}");
        let o = env.get_order(Identity::adult(&buyer), id).await;
        let status = o.body["status"].as_str().unwrap();
        assert!(status == "expired" || status == "cancelled", "{o:?}");
        assert_eq!(o.body["owed_back_cents"], *total);
        assert_eq!(
            env.balance(AccountKind::RefundOwed, &buyer).await,
            *total as i64
        );
        assert_eq!(env.balance(AccountKind::Order, id).await, 0);
    }
    env.assert_conserved().await;
}

/// The guard behind the race above, made deterministic: a change decided on an order as it was
/// before another change committed is refused, and releases nothing.
#[tokio::test]
async fn a_change_decided_on_a_stale_order_is_refused() {
    use livepay::domain::shop::OrderStatus;
    use livepay::store::orders::{order_moved, OrderChange, SweepAfter};
    let env = TestEnv::new().await;
    let product = env
        .create_product("s", json!({"title": "One", "price_cents": 100, "stock": 4}))
        .await;
    let (order_id, _) = env.placed("b", one(&product, 4)).await;
    let stale = env.app.store.order(&order_id).await.unwrap().unwrap();
    let cancelled = env
        .order_action(Identity::adult("b"), &order_id, "cancel", json!({}))
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    // An expiry decided on the stale read: still `pending_payment` as far as it knows.
    let mut tx = livepay::store::Tx::new();
    let at = "2099-01-01T00:00:00Z";
    env.app
        .store
        .add_order_change(
            &mut tx,
            OrderChange {
                to: Some(OrderStatus::Expired),
                sweep: SweepAfter::Done,
                ..OrderChange::new(&stale, at)
            },
        )
        .unwrap();
    env.app.store.add_order_release(&mut tx, &stale);
    let err = tx
        .commit(env.app.store.client())
        .await
        .expect_err("the stale change must not commit");
    assert!(order_moved(&err, &stale), "{err:?}");
    assert_eq!(env.stock(&product).await, 4);
}

/// Seller "s", creator "c" streaming, buyer "b": an order of 3 × $19.99 at 15 % commission.
async fn delivered_order(env: &TestEnv) -> (String, String, u64) {
    let stream = env.open_stream("c").await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Lamp", "price_cents": 1999, "stock": 10, "affiliate_rate_bps": 1500}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            "b",
            json!({"lines": [{"product_id": product, "quantity": 3}], "stream_id": stream}),
        )
        .await;
    let paid = env.pay_order(&order_id, total).await;
    assert_eq!(paid.body["outcome"], "order_paid", "{paid:?}");
    env.ship_and_deliver("s", &order_id).await;
    (order_id, product, total)
}

#[tokio::test]
async fn a_completed_order_splits_its_total_to_the_cent_exactly_once() {
    let env = TestEnv::new().await;
    let delivered = env.now();
    let (order_id, product, total) = delivered_order(&env).await;
    assert_eq!(total, 5997);
    // Inside the seller's hold nothing moves.
    env.set_now(delivered + Duration::days(6));
    assert!(env.sweep_and_settle().await.is_empty());
    assert_eq!(env.balance(AccountKind::SellerProceeds, "s").await, 0);

    env.set_now(delivered + Duration::days(7) + Duration::seconds(1));
    let swept = env.sweep().await;
    assert_eq!(swept.orders_due_for_completion, 1);
    let records = env.drain_settlement_queue().await;
    assert_eq!(records.len(), 1);
    assert!(env.settle(&records).await.is_empty());
    // A redelivery and the next sweep change nothing.
    assert!(env.settle(&records).await.is_empty());
    assert!(env.sweep_and_settle().await.is_empty());

    let fee = env.balance(AccountKind::Order, &order_id).await;
    let proceeds = env.balance(AccountKind::SellerProceeds, "s").await;
    let commission = env.balance(AccountKind::CommissionPending, "c").await;
    println!("order {total}: seller {proceeds} + creator {commission} + platform fee {fee}");
    assert_eq!((fee, commission), (359, 899)); // floor(6 %), floor(15 %)
    assert_eq!(proceeds + commission + fee, total as i64);
    let o = env.get_order(Identity::seller("s"), &order_id).await;
    assert_eq!(o.body["status"], "completed");
    assert_eq!(env.creator_balance("c").await["cents_pending"], 899);

    // The commission's own hold (15 days after delivery) ends; the sweeper releases it.
    env.set_now(delivered + Duration::days(15) + Duration::hours(1));
    let swept = env.sweep().await;
    assert_eq!((swept.holds_released, swept.cents_released), (1, 899));
    let balance = env.creator_balance("c").await;
    assert_eq!(
        (
            balance["cents_pending"].as_i64(),
            balance["cents_available"].as_i64()
        ),
        (Some(0), Some(899))
    );
    // Completed: the seller may no longer refund; the stock stays sold.
    let refused = env
        .order_action(
            Identity::seller("s"),
            &order_id,
            "refund",
            json!({"reason": "late"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "invalid_transition")
    );
    assert_eq!(env.stock(&product).await, 7);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_refund_before_completion_reverses_everything() {
    let env = TestEnv::new().await;
    let start = env.now();
    let (order_id, product, total) = delivered_order(&env).await;
    let buyer_refund = env
        .order_action(
            Identity::adult("b"),
            &order_id,
            "refund",
            json!({"reason": "broken"}),
        )
        .await;
    assert_eq!(buyer_refund.status, 403, "{buyer_refund:?}");
    let refunded = env
        .order_action(
            Identity::seller("s"),
            &order_id,
            "refund",
            json!({"reason": "arrived broken"}),
        )
        .await;
    assert_eq!(refunded.body["status"], "refunded", "{refunded:?}");
    assert_eq!(refunded.body["refund_reason"], "arrived broken");
    assert_eq!(env.stock(&product).await, 10);
    assert_eq!(
        env.balance(AccountKind::RefundOwed, "b").await,
        total as i64
    );
    assert_eq!(env.balance(AccountKind::Order, &order_id).await, 0);
    // The hold would have ended: nothing completes, nobody is credited.
    env.set_now(start + Duration::days(30));
    assert!(env.sweep_and_settle().await.is_empty());
    assert_eq!(env.balance(AccountKind::SellerProceeds, "s").await, 0);
    let creator = env.creator_balance("c").await;
    assert_eq!(
        (
            creator["cents_pending"].as_i64(),
            creator["cents_available"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let twice = env
        .order_action(
            Identity::seller("s"),
            &order_id,
            "refund",
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_transition"));
    env.assert_conserved().await;
}

/// A completed order disputed takes the sale's money back from the seller (a debt) and the
/// creator's held commission; the platform wins the dispute and gives both back — the seller's
/// available (their debt stays and is paid off first, so nothing is paid twice), the commission
/// into its return window — and the order can still be refunded.
#[tokio::test]
async fn a_won_dispute_of_a_completed_order_gives_the_seller_and_the_creator_their_shares_back() {
    let env = TestEnv::new().await;
    let start = env.now();
    let (order_id, _, total) = delivered_order(&env).await;
    env.set_now(start + Duration::days(8));
    assert!(env.sweep_and_settle().await.is_empty());
    let proceeds = env.balance(AccountKind::SellerProceeds, "s").await;
    let fee = env.balance(AccountKind::Order, &order_id).await;
    let event = |id: &str, kind: &str, data| json!({"id": id, "type": kind, "data": data});
    let disputed = event(
        "ocd_1",
        "order.charged_back",
        json!({"order_id": order_id, "amount_cents": total}),
    );
    let a = env
        .call(Func::PaymentsWebhook, env.webhook(&disputed))
        .await;
    assert_eq!(a.body["outcome"], "order_reversed", "{a:?}");
    let commission = 899;
    let owed = total as i64 - commission;
    assert_eq!(env.balance(AccountKind::SellerClawback, "s").await, -owed);

    let won = event(
        "ocw_1",
        "chargeback.won",
        json!({"chargeback_event_id": "ocd_1", "order_id": order_id}),
    );
    let a = env.call(Func::PaymentsWebhook, env.webhook(&won)).await;
    assert_eq!(a.body["outcome"], "order_reinstated:completed", "{a:?}");
    let o = env.get_order(Identity::seller("s"), &order_id).await;
    assert_eq!(o.body["status"], "completed", "{o:?}");
    // Back inside its return window, which has a week to run.
    assert_eq!(
        env.balance(AccountKind::CommissionPending, "c").await,
        commission
    );
    assert_eq!(env.balance(AccountKind::SellerClawback, "s").await, -owed);
    assert_eq!(
        env.balance(AccountKind::SellerProceeds, "s").await,
        proceeds + owed
    );
    assert_eq!(env.balance(AccountKind::Order, &order_id).await, fee);
    let seller = env.seller_get("s", "balance").await;
    assert_eq!(seller["cents_owed"], owed, "{seller}");
    env.assert_audited().await;
    // The reinstated order is an order like any other: an admin can still refund it.
    let refund = env
        .order_action(
            Identity::admin("ops"),
            &order_id,
            "refund",
            json!({"reason": "goodwill"}),
        )
        .await;
    assert_eq!(refund.body["status"], "refunded", "{refund:?}");
    assert!(env.run_payouts().await.is_empty());
    env.assert_audited().await;
}

#[tokio::test]
async fn an_admin_refund_after_completion_claws_back_the_held_commission_and_the_sellers_next_proceeds(
) {
    let env = TestEnv::new().await;
    let start = env.now();
    let (first, product, total) = delivered_order(&env).await;
    env.set_now(start + Duration::days(8));
    assert!(env.sweep_and_settle().await.is_empty());
    let proceeds = env.balance(AccountKind::SellerProceeds, "s").await;
    assert!(proceeds > 0);
    let admin = env
        .order_action(
            Identity::admin("ops"),
            &first,
            "refund",
            json!({"reason": "fraud"}),
        )
        .await;
    assert_eq!(admin.body["status"], "refunded", "{admin:?}");
    // The creator's commission is still inside its hold: it comes back from there; the seller
    // owes the rest.
    let commission = 899;
    assert_eq!(env.balance(AccountKind::CommissionPending, "c").await, 0);
    assert_eq!(
        env.balance(AccountKind::SellerClawback, "s").await,
        -(total as i64 - commission)
    );
    assert_eq!(
        env.balance(AccountKind::RefundOwed, "b").await,
        total as i64
    );
    // Available proceeds are never touched (never negative); the goods are not restocked.
    assert_eq!(
        env.balance(AccountKind::SellerProceeds, "s").await,
        proceeds
    );
    assert_eq!(env.stock(&product).await, 7);
    // The seller's next completed order pays the clawback off first.
    let (second, _) = env
        .placed(
            "b2",
            json!({"lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    assert_eq!(
        env.pay_order(&second, 1999).await.body["outcome"],
        "order_paid"
    );
    env.order_action(
        Identity::seller("s"),
        &second,
        "fulfillment",
        json!({"status": "delivered"}),
    )
    .await;
    env.set_now(start + Duration::days(16));
    assert!(env.sweep_and_settle().await.is_empty());
    let no_affiliate_proceeds = 1999 - 119; // 6 % fee, no stream
    assert_eq!(
        env.balance(AccountKind::SellerClawback, "s").await,
        -(total as i64 - commission) + no_affiliate_proceeds
    );
    // The emptied hold released nothing.
    assert_eq!(env.creator_balance("c").await["cents_available"], 0);
    assert_eq!(
        env.balance(AccountKind::SellerProceeds, "s").await,
        proceeds
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn placing_an_order_is_one_transaction_once_the_products_are_known() {
    let env = TestEnv::new().await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Mug", "price_cents": 1200, "stock": 10}),
        )
        .await;
    env.calls.take();
    let cold = env.place_order("b", "cold", one(&product, 1)).await;
    assert_eq!(cold.status, 201, "{cold:?}");
    let cold_calls = env.calls.take();
    let warm = env.place_order("b", "warm", one(&product, 1)).await;
    assert_eq!(warm.status, 201, "{warm:?}");
    let warm_calls = env.calls.take();
    println!("place-order DynamoDB calls: cold container {cold_calls:?}, warm {warm_calls:?}");
    assert_eq!(
        cold_calls,
        [
            ("BatchGetItem".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 1)
        ]
        .into()
    );
    assert_eq!(warm_calls, [("TransactWriteItems".to_owned(), 1)].into());
    // A replay answers from the idempotency record with the same order.
    let replay = env.place_order("b", "warm", one(&product, 1)).await;
    assert_eq!((replay.status, replay.replayed), (201, true));
    assert_eq!(replay.body, warm.body);
    assert_eq!(env.stock(&product).await, 8);
}

#[tokio::test]
async fn bad_orders_and_strangers_are_refused_and_change_nothing() {
    let env = TestEnv::new().await;
    let p1 = env
        .create_product("s1", json!({"title": "A", "price_cents": 100, "stock": 5}))
        .await;
    let p2 = env
        .create_product("s2", json!({"title": "B", "price_cents": 100, "stock": 5}))
        .await;
    let many: Vec<_> = (0..51)
        .map(|i| json!({"product_id": format!("p{i}"), "quantity": 1}))
        .collect();
    for (body, status, code) in [
        (
            json!({"lines": [{"product_id": p1, "quantity": 1}, {"product_id": p2, "quantity": 1}]}),
            400,
            "mixed_sellers",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": 1}, {"product_id": p1, "quantity": 1}]}),
            400,
            "invalid_request",
        ),
        (json!({"lines": []}), 400, "invalid_request"),
        (json!({ "lines": many }), 400, "invalid_request"),
        (
            json!({"lines": [{"product_id": p1, "quantity": 0}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": 1001}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": -1}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": 1, "price_cents": 1}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"lines": [{"product_id": "nope", "quantity": 1}]}),
            404,
            "product_not_found",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": 1}], "stream_id": "st_nope"}),
            404,
            "stream_not_found",
        ),
        (
            json!({"lines": [{"product_id": p1, "quantity": 6}]}),
            409,
            "out_of_stock",
        ),
    ] {
        let a = env
            .place_order("b", &format!("bad-{}", ulid::Ulid::new()), body.clone())
            .await;
        assert_eq!((a.status, a.code()), (status, code), "{body} → {a:?}");
    }
    let no_key = env
        .call(
            Func::PlaceOrder,
            Req::post("/v1/orders", "POST /v1/orders")
                .identity(Identity::adult("b"))
                .json(one(&p1, 1)),
        )
        .await;
    assert_eq!(no_key.code(), "idempotency_key_required");
    let anonymous = env
        .call(
            Func::PlaceOrder,
            Req::post("/v1/orders", "POST /v1/orders")
                .key("k")
                .json(one(&p1, 1)),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!((env.stock(&p1).await, env.stock(&p2).await), (5, 5));
}

#[tokio::test]
async fn only_sellers_create_products_and_only_their_owner_adjusts_stock() {
    let env = TestEnv::new().await;
    let p1 = env
        .create_product("s1", json!({"title": "A", "price_cents": 100, "stock": 5}))
        .await;
    let not_seller = env
        .call(
            Func::ShopApi,
            Req::post("/v1/products", "POST /v1/products")
                .identity(Identity::adult("b"))
                .key("p")
                .json(json!({"title": "X", "price_cents": 1, "stock": 1})),
        )
        .await;
    assert_eq!(not_seller.status, 403);
    for body in [
        json!({"title": "X", "price_cents": 0, "stock": 1}),
        json!({"title": "X", "price_cents": 1, "stock": -1}),
        json!({"title": "X", "price_cents": 1, "stock": 1, "affiliate_rate_bps": 8001}),
        json!({"title": " ", "price_cents": 1, "stock": 1}),
    ] {
        let a = env
            .call(
                Func::ShopApi,
                Req::post("/v1/products", "POST /v1/products")
                    .identity(Identity::seller("s1"))
                    .key(&ulid::Ulid::new().to_string())
                    .json(body.clone()),
            )
            .await;
        assert_eq!(a.status, 400, "{body} → {a:?}");
    }
    let stock = |who: Identity, delta: i64| {
        env.call(
            Func::ShopApi,
            Req::post(
                &format!("/v1/products/{p1}/stock"),
                "POST /v1/products/{product_id}/stock",
            )
            .path_param("product_id", &p1)
            .identity(who)
            .key(&ulid::Ulid::new().to_string())
            .json(json!({ "delta": delta })),
        )
    };
    assert_eq!(stock(Identity::seller("s2"), 5).await.status, 403);
    let negative = stock(Identity::seller("s1"), -6).await;
    assert_eq!(
        (negative.status, negative.code()),
        (409, "stock_would_go_negative")
    );
    assert_eq!(stock(Identity::seller("s1"), 0).await.status, 400);
    let more = stock(Identity::seller("s1"), 7).await;
    assert_eq!(
        (more.status, more.body["stock_available"].as_u64()),
        (200, Some(12))
    );
    let read = env
        .call(
            Func::ShopApi,
            Req::get(
                &format!("/v1/products/{p1}"),
                "GET /v1/products/{product_id}",
            )
            .path_param("product_id", &p1)
            .identity(Identity::user("anyone")),
        )
        .await;
    assert_eq!(read.body["stock_available"], 12);
}

#[tokio::test]
async fn each_party_may_take_only_its_own_steps_and_stray_payments_are_owed_back() {
    let env = TestEnv::new().await;
    let p1 = env
        .create_product("s1", json!({"title": "A", "price_cents": 100, "stock": 5}))
        .await;
    let (order_id, total) = env.placed("b", one(&p1, 2)).await;
    assert_eq!(
        env.get_order(Identity::adult("stranger"), &order_id)
            .await
            .status,
        404
    );
    assert_eq!(
        env.get_order(Identity::seller("s1"), &order_id)
            .await
            .status,
        200
    );
    assert_eq!(
        env.get_order(Identity::admin("ops"), &order_id)
            .await
            .status,
        200
    );
    let ship_unpaid = env
        .order_action(
            Identity::seller("s1"),
            &order_id,
            "fulfillment",
            json!({"status": "shipped"}),
        )
        .await;
    assert_eq!(
        (ship_unpaid.status, ship_unpaid.code()),
        (409, "invalid_transition")
    );
    let bad_status = env
        .order_action(
            Identity::seller("s1"),
            &order_id,
            "fulfillment",
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!(bad_status.status, 400);
    assert_eq!(
        env.order_action(Identity::seller("s1"), &order_id, "cancel", json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        env.order_action(
            Identity::adult("b"),
            &order_id,
            "fulfillment",
            json!({"status": "shipped"})
        )
        .await
        .status,
        403
    );
    // A wrong amount does not pay the order; it is owed back.
    let wrong = env.pay_order(&order_id, total - 1).await;
    assert_eq!(wrong.body["outcome"], "owed_back_to_buyer:amount_mismatch");
    let paid = env.pay_order(&order_id, total).await;
    assert_eq!(paid.body["outcome"], "order_paid");
    let cancel_paid = env
        .order_action(Identity::adult("b"), &order_id, "cancel", json!({}))
        .await;
    assert_eq!(
        (cancel_paid.status, cancel_paid.code()),
        (409, "order_not_cancellable")
    );
    // Paying twice owes the second payment back.
    let twice = env.pay_order(&order_id, total).await;
    assert_eq!(twice.body["outcome"], "owed_back_to_buyer:paid");
    assert_eq!(
        env.balance(AccountKind::RefundOwed, "b").await,
        (2 * total - 1) as i64
    );
    let unknown = env.pay_order("ord_nope", 100).await;
    assert_eq!((unknown.status, unknown.code()), (404, "order_not_found"));
    let o = env.get_order(Identity::adult("b"), &order_id).await;
    assert_eq!(
        (
            o.body["status"].as_str(),
            o.body["owed_back_cents"].as_u64()
        ),
        (Some("paid"), Some(2 * total - 1))
    );
    env.assert_conserved().await;
}

/// The seller and an admin refund one order at once, on two instances: one refund, and the
/// other is told the order moved on (`409`), never a `500`.
#[tokio::test]
async fn two_refunds_of_one_order_at_once_are_one_refund_and_one_409() {
    let env = TestEnv::new().await;
    let other = env.instance();
    let product = env
        .create_product("s", json!({"title": "Mat", "price_cents": 900, "stock": 3}))
        .await;
    for round in 0..3 {
        let (order_id, _) = env.paid_order("b", &product).await;
        let body = json!({"reason": "double click"});
        let (a, b) = futures::join!(
            env.order_action(Identity::seller("s"), &order_id, "refund", body.clone()),
            other.order_action(Identity::admin("ad"), &order_id, "refund", body),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {a:?} {b:?}");
        let loser = if a.status == 409 { &a } else { &b };
        assert_eq!(loser.code(), "invalid_transition", "{loser:?}");
    }
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 2_700);
    assert!(
        env.run_payouts().await.is_empty(),
        "three refunds, each paid"
    );
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    env.assert_audited().await;
}

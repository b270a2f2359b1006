//! AWS calls per operation, counted on the real request path by the SDK interceptor
//! (`tests/src/calls.rs`): settlement per gift and a payout from request to paid. The gift and
//! order hot paths have their own exact tests (`gifts::a_warm_gift_is_one_transaction_and_one_message`,
//! `shop::placing_an_order_is_one_transaction_once_the_products_are_known`).
//!
//! `scripts/test -E 'binary(round_trips)' --no-capture` prints the `round-trips:` lines.

use std::collections::BTreeMap;

use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::{Identity, TestEnv};
use serde_json::json;

fn total(calls: &BTreeMap<String, usize>) -> usize {
    calls.values().sum()
}

#[tokio::test]
async fn settlement_costs_a_fraction_of_a_call_per_gift() {
    let env = TestEnv::new().await;
    let stream = env.open_stream("c").await;
    let viewers = 10;
    let gifts_each = 9;
    for v in 0..viewers {
        env.buy_coins(&format!("v{v}"), 100).await;
        for g in 0..gifts_each {
            let a = env
                .gift(
                    Identity::adult(&format!("v{v}")),
                    &stream,
                    &format!("g{v}-{g}"),
                    json!({"gift_id": "rose", "count": 1}),
                )
                .await;
            assert_eq!(a.status, 201, "{a:?}");
        }
    }
    let gifts = viewers * gifts_each;
    let messages = env.drain_settlement_queue().await;
    assert_eq!(messages.len(), gifts);
    env.calls.take();
    assert!(env.settle(&messages).await.is_empty());
    let calls = env.calls.take();
    let per_gift = total(&calls) as f64 / gifts as f64;
    println!("round-trips: settle {gifts} gifts from {viewers} viewers to one creator: {calls:?} = {per_gift:.2} calls per gift");
    // Only transactions of up to 100 items, each carrying many gifts with the creator's balance
    // and leaderboard increments, and one read each of the stream and the creator's agency
    // stints: measured 5 for 90 gifts; a call per gift would be 18 times that.
    assert!(per_gift <= 0.06, "{calls:?}");
}

#[tokio::test]
async fn a_payout_is_a_handful_of_calls_from_request_to_paid() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    env.fund_creator("c", 100).await;
    env.calls.take();
    let a = env.request_payout("c", "k", 5_000).await;
    assert_eq!(a.status, 202, "{a:?}");
    let request = env.calls.take();
    let messages = env.drain_payout_queue().await;
    env.calls.take();
    assert!(env.execute_payouts(&messages).await.is_empty());
    let execute = env.calls.take();
    println!("round-trips: payout request {request:?}; executor {execute:?}");
    // Request: the two payable balances and the creator's chargeback debt read, one
    // transaction, one message.
    assert_eq!(total(&request), 5, "{request:?}");
    // Executor: read the payout, mark it processing, record the outcome with its money.
    assert_eq!(total(&execute), 3, "{execute:?}");
}

#[tokio::test]
async fn init_opens_each_connection_with_one_call_unless_told_not_to() {
    let env = TestEnv::new().await;
    env.calls.take();
    env.app
        .warm_up(&[env.queue.as_ref(), env.payouts.as_ref()])
        .await;
    let expected = BTreeMap::from([
        ("DescribeEndpoints".to_owned(), 1),
        ("GetQueueAttributes".to_owned(), 2),
    ]);
    assert_eq!(env.calls.take(), expected);

    let cold = TestEnv::with_settings(&[("WARM_UP_CONNECTIONS", "false")]).await;
    cold.calls.take();
    cold.app.warm_up(&[cold.queue.as_ref()]).await;
    assert_eq!(cold.calls.take(), BTreeMap::new());
}

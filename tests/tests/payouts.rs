//! Payouts against the emulator: requests under concurrency, the executor over an unreliable
//! provider, failures with reasons, limits, scheduled and stranded payouts, and the statement.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use livepay::domain::ledger::AccountKind;
use livepay::domain::payouts::Payee;
use livepay::jobs::payout_run;
use livepay::provider::sandbox::SandboxBehavior;
use livepay::provider::Rail;
use livepay::queue::payout_run::{RunPiece, RunQueue};
use livepay::queue::payouts::payout_group;
use livepay::store::sweep::SWEEP_SHARDS;
use livepay_tests::payouts::{sqs_event, PayoutMessage, PAYOUT_SETTINGS};
use livepay_tests::{Func, Identity, Req, TestEnv};
use serde_json::{json, Value};
use time::Duration;

async fn payout_env() -> TestEnv {
    TestEnv::with_settings(&PAYOUT_SETTINGS).await
}

fn status_of<'a>(payouts: &'a [Value], payout_id: &str) -> &'a Value {
    payouts
        .iter()
        .find(|p| p["payout_id"] == payout_id)
        .unwrap_or_else(|| panic!("payout {payout_id} is listed: {payouts:?}"))
}

#[tokio::test]
async fn twenty_concurrent_requests_of_60_dollars_against_300_accept_exactly_five() {
    let env = payout_env().await;
    env.fund_creator("c", 300).await;
    assert_eq!(env.creator_balance("c").await["payable_cents"], 30_000);
    let requests = (0..20).map(|i| {
        let env = &env;
        async move { env.request_payout("c", &format!("p{i}"), 6_000).await }
    });
    let answers = join_all(requests).await;
    let accepted = answers.iter().filter(|a| a.status == 202).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 402 && a.code() == "insufficient_available_balance")
        .count();
    println!("payout race: {accepted} accepted (202), {refused} refused (402)");
    assert_eq!((accepted, refused), (5, 15), "{answers:?}");
    let b = env.creator_balance("c").await;
    assert_eq!(b["diamonds_available"], 0);
    assert_eq!(b["payable_cents"], 0);
    assert_eq!(b["cents_in_payout"], 30_000);
    assert_eq!(env.payouts_of("c").await.len(), 5);
    assert_eq!(env.drain_payout_queue().await.len(), 5);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_lost_response_redelivered_three_times_is_looked_up_and_paid_once() {
    let env = payout_env().await;
    env.fund_creator("c", 100).await;
    let a = env.request_payout("c", "k", 6_000).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("requested"))
    );
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    let messages = env.drain_payout_queue().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].group, payout_group(&Payee::creator("c")));
    env.sandbox
        .script([SandboxBehavior::SucceedButLoseResponse]);
    env.sandbox.lose_lookups(2);
    // The first delivery pays but hears nothing; the next two find the payout processing, ask
    // the provider what it made, and get no answer either: the message comes back each time.
    for delivery in 1..=3 {
        let failed = env.execute_payouts(&messages).await;
        assert_eq!(
            failed,
            [messages[0].message_id.clone()],
            "delivery {delivery}"
        );
        let payouts = env.payouts_of("c").await;
        assert_eq!(status_of(&payouts, &payout_id)["status"], "processing");
    }
    // The third redelivery's look-up finds the transfer; any later one changes nothing.
    assert!(env.execute_payouts(&messages).await.is_empty());
    assert!(env.execute_payouts(&messages).await.is_empty());
    let transfers = env.sandbox.transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(transfers[0].idempotency_key, payout_id);
    assert_eq!(transfers[0].amount_cents, 6_000);
    assert_eq!(
        env.sandbox.calls(),
        [payout_id.as_str()],
        "sent once, never again"
    );
    assert_eq!(env.sandbox.lookups(), 3);
    let payouts = env.payouts_of("c").await;
    let paid = status_of(&payouts, &payout_id);
    assert_eq!(paid["status"], "paid");
    assert!(paid["settled_at"].is_string());
    let b = env.creator_balance("c").await;
    assert_eq!(
        (b["cents_in_payout"].as_i64(), b["cents_paid_out"].as_i64()),
        (Some(0), Some(6_000))
    );
    assert_eq!(b["payable_cents"], 4_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_permanent_failure_gives_a_reason_and_the_money_back() {
    let env = payout_env().await;
    env.fund_creator("c", 100).await;
    let a = env.request_payout("c", "first", 6_000).await;
    assert_eq!(a.status, 202, "{a:?}");
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    env.sandbox.script([SandboxBehavior::FailPermanently(
        "The destination account is closed.".into(),
    )]);
    assert!(env.run_payouts().await.is_empty(), "a failure is an answer");
    let payouts = env.payouts_of("c").await;
    let failed = status_of(&payouts, &payout_id);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["reason"], "The destination account is closed.");
    let b = env.creator_balance("c").await;
    assert_eq!(b["diamonds_available"], 20_000, "every diamond is back");
    assert_eq!(
        (b["payable_cents"].as_i64(), b["cents_in_payout"].as_i64()),
        (Some(10_000), Some(0))
    );
    env.assert_conserved().await;
    // The creator can ask again; the failed payout gave its share of the daily cap back too.
    let again = env.request_payout("c", "second", 10_000).await;
    assert_eq!(again.status, 202, "{again:?}");
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.creator_balance("c").await["cents_paid_out"], 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn an_account_under_review_holds_the_payout_with_a_reason() {
    let env = payout_env().await;
    env.fund_creator("c", 50).await;
    let a = env.request_payout("c", "k", 5_000).await;
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    env.sandbox
        .script([SandboxBehavior::UnderReview("Account under review".into())]);
    assert!(env.run_payouts().await.is_empty());
    let payouts = env.payouts_of("c").await;
    let held = status_of(&payouts, &payout_id);
    assert_eq!(
        (held["status"].as_str(), held["reason"].as_str()),
        (Some("held"), Some("Account under review"))
    );
    assert_eq!(env.creator_balance("c").await["cents_in_payout"], 5_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn limits_are_422_insufficient_is_402_and_refusals_change_nothing() {
    let env = payout_env().await;
    env.fund_creator("c", 1_100).await;
    let before = env.creator_balance("c").await;
    for (key, amount, status, code) in [
        ("low", 4_999, 422, "below_minimum"),
        ("huge", 100_001, 422, "daily_payout_cap"),
        ("more", 110_001, 422, "daily_payout_cap"),
    ] {
        let a = env.request_payout("c", key, amount).await;
        assert_eq!((a.status, a.code()), (status, code), "{amount}: {a:?}");
    }
    assert_eq!(env.creator_balance("c").await, before);
    env.assert_conserved().await;
    assert_eq!(env.request_payout("c", "a", 60_000).await.status, 202);
    let over = env.request_payout("c", "b", 45_000).await;
    assert_eq!((over.status, over.code()), (422, "daily_payout_cap"));
    let left = env.creator_balance("c").await;
    assert_eq!(left["payable_cents"], 50_000);
    assert_eq!(left["cents_in_payout"], 60_000);
    env.assert_conserved().await;
    // The cap is per UTC day.
    env.set_now(env.now() + Duration::days(1));
    assert_eq!(env.request_payout("c", "b", 45_000).await.status, 202);
    let broke = env.request_payout("c", "c", 6_000).await;
    assert_eq!(
        (broke.status, broke.code()),
        (402, "insufficient_available_balance")
    );
    // Bad bodies are 400 and name the field.
    for body in [
        r#"{"amount_cents":0}"#,
        r#"{"amount_cents":-5}"#,
        r#"{"amount_cents":"60"}"#,
        "{}",
    ] {
        let a = env
            .call(
                Func::CreatorsApi,
                Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts")
                    .identity(Identity::creator("c"))
                    .key(&format!("bad-{body}"))
                    .raw_body(body),
            )
            .await;
        assert_eq!(a.status, 400, "{body}: {a:?}");
    }
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_retried_request_replays_and_pays_once() {
    let env = payout_env().await;
    env.fund_creator("c", 100).await;
    let first = env.request_payout("c", "same", 10_000).await;
    let second = env.request_payout("c", "same", 10_000).await;
    assert_eq!(first.status, 202);
    assert!(second.replayed);
    assert_eq!(first.body, second.body);
    assert_eq!(env.payouts_of("c").await.len(), 1);
}

#[tokio::test]
async fn the_weekly_run_requests_every_creator_over_the_minimum_once() {
    let env = payout_env().await;
    env.fund_creator("rich", 300).await;
    env.fund_creator("capped", 1_100).await;
    env.fund_creator("small", 50).await;
    // "small" pays out $50 on their own: nothing is left for the run.
    assert_eq!(env.request_payout("small", "own", 5_000).await.status, 202);
    let report = payout_run::schedule(&env.app, &env.payouts).await.unwrap();
    assert_eq!(
        (report.requested, report.requested_cents),
        (2, 130_000),
        "{report:?}"
    );
    assert_eq!(report.below_minimum, 1);
    // A second run the same week requests nothing again: "capped" has this week's payout, "rich"
    // has nothing left, and "small", empty at the first run, is not even looked at.
    let again = payout_run::schedule(&env.app, &env.payouts).await.unwrap();
    assert_eq!(
        (
            again.payees,
            again.requested,
            again.skipped,
            again.below_minimum
        ),
        (2, 0, 1, 1),
        "{again:?}"
    );
    assert_eq!(env.creator_balance("capped").await["payable_cents"], 10_000);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.creator_balance("rich").await["cents_paid_out"], 30_000);
    assert_eq!(
        env.creator_balance("capped").await["cents_paid_out"],
        100_000
    );
    // Only "capped" still has money available.
    let third = payout_run::schedule(&env.app, &env.payouts).await.unwrap();
    assert_eq!((third.payees, third.skipped), (1, 1), "{third:?}");
    env.assert_conserved().await;
}

#[tokio::test]
async fn the_weekly_run_fans_out_in_pieces_that_each_request_their_payees_once() {
    let env = payout_env().await;
    let creators: Vec<String> = (0..20).map(|i| format!("fan-{i:02}")).collect();
    for c in &creators {
        env.fund_creator(c, 100).await;
    }
    let runs = RunQueue::new(env.sqs.clone(), env.env["PAYOUT_RUN_QUEUE_URL"].clone());
    let run_queue = || env.receive(&env.env["PAYOUT_RUN_QUEUE_URL"], true);
    let started = payout_run::start(&env.app, &runs, None).await.unwrap();
    let mut pieces: Vec<RunPiece> = run_queue()
        .await
        .iter()
        .map(|m| RunPiece::parse(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!((started, pieces.len()), (SWEEP_SHARDS as usize, started));
    // Pieces of one payee each: every shard's list is followed to its end, page after page.
    let (mut done, mut requested) = (0, 0);
    while let Some(piece) = pieces.pop() {
        let (report, next) = payout_run::run_piece(&env.app, &env.payouts, &piece, 1)
            .await
            .unwrap();
        assert!(report.payees <= 1, "{report:?}");
        (done, requested) = (done + 1, requested + report.requested);
        pieces.extend(next);
    }
    assert_eq!(requested, creators.len());
    assert!(done > creators.len(), "{done} pieces");
    assert_eq!(env.drain_payout_queue().await.len(), creators.len());

    // The same week's run again, as its queue delivers it, with a message it cannot read: the
    // pieces request nothing twice, send their successors, and only the unreadable one fails.
    payout_run::start(&env.app, &runs, None).await.unwrap();
    env.sqs
        .send_message()
        .queue_url(&env.env["PAYOUT_RUN_QUEUE_URL"])
        .message_body(r#"{"type":"payout_run.piece","version":7}"#)
        .send()
        .await
        .unwrap();
    let (mut delivered, mut failed) = (0, Vec::new());
    loop {
        let batch: Vec<PayoutMessage> = run_queue().await.iter().map(PayoutMessage::from).collect();
        if batch.is_empty() {
            break;
        }
        delivered += batch.len();
        let response = payout_run::run_pieces(&env.app, &env.payouts, &runs, sqs_event(&batch))
            .await
            .unwrap();
        failed.extend(
            response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier),
        );
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(delivered, SWEEP_SHARDS as usize + 1);
    assert!(env.drain_payout_queue().await.is_empty());
    for c in &creators {
        assert_eq!(env.payouts_of(c).await.len(), 1, "{c}");
        assert_eq!(env.creator_balance(c).await["payable_cents"], 0, "{c}");
    }
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_piece_with_a_payee_it_could_not_pay_comes_back_and_holds_its_successor() {
    let env = payout_env().await;
    let creators = ["stuck-creator", "fine-creator"];
    for c in creators {
        env.fund_creator(c, 100).await;
    }
    let runs = RunQueue::new(env.sqs.clone(), env.env["PAYOUT_RUN_QUEUE_URL"].clone());
    let run_queue = || env.receive(&env.env["PAYOUT_RUN_QUEUE_URL"], true);
    // Scheduled on a Monday, delivered (retried) the next Monday: still the first week's run.
    let monday = time::macros::datetime!(2026-12-07 06:00 UTC);
    env.set_now(monday + Duration::days(7));
    payout_run::start(&env.app, &runs, Some(monday.unix_timestamp()))
        .await
        .unwrap();
    let batch: Vec<PayoutMessage> = run_queue().await.iter().map(PayoutMessage::from).collect();
    let weeks: std::collections::BTreeSet<String> = batch
        .iter()
        .map(|m| RunPiece::parse(&m.body).unwrap().week)
        .collect();
    assert_eq!(weeks, ["2026-W50".to_owned()].into());
    // One payee's balance cannot be read (an item a bug or an operator garbled).
    let stuck = livepay::domain::ledger::AccountId::earnings("stuck-creator");
    env.app
        .store
        .client()
        .update_item()
        .table_name(&env.env["LEDGER_TABLE"])
        .key("pk", AttributeValue::S(format!("ACCT#{stuck}")))
        .key("sk", AttributeValue::S("A".into()))
        .update_expression("SET balance = :garbled")
        .expression_attribute_values(":garbled", AttributeValue::S("garbled".into()))
        .send()
        .await
        .unwrap();
    let response = payout_run::run_pieces(&env.app, &env.payouts, &runs, sqs_event(&batch))
        .await
        .unwrap();
    // Its piece comes back to be retried (and, failing on, to rest on the alarmed DLQ), so
    // the payee is not skipped for a week; the other payees are paid.
    assert_eq!(response.batch_item_failures.len(), 1, "{response:?}");
    assert!(env.payouts_of("stuck-creator").await.is_empty());
    assert_eq!(env.payouts_of("fine-creator").await.len(), 1);
}

#[tokio::test]
async fn a_payout_whose_message_was_lost_is_sent_again_by_the_sweeper() {
    let env = payout_env().await;
    env.fund_creator("c", 100).await;
    assert_eq!(env.request_payout("c", "k", 6_000).await.status, 202);
    assert_eq!(env.drain_payout_queue().await.len(), 1, "lost on purpose");
    assert_eq!(
        env.sweep().await.payouts_resent,
        0,
        "not before the grace period"
    );
    env.set_now(env.now() + Duration::minutes(11));
    assert_eq!(env.sweep().await.payouts_resent, 1);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.creator_balance("c").await["cents_paid_out"], 6_000);
    env.set_now(env.now() + Duration::minutes(30));
    assert_eq!(
        env.sweep().await.payouts_resent,
        0,
        "a paid payout is never re-sent"
    );
    env.assert_conserved().await;
}

/// Creator "c" with gift earnings, two orders' commissions (one refunded after completion while
/// its commission was held), the released commission, a paid $60 payout and a $50 one in flight.
/// Returns the refunded order's id.
async fn creator_with_a_full_history(env: &TestEnv) -> String {
    let start = env.now();
    env.fund_creator("c", 100).await;
    // Two orders sold on the creator's stream at 20 % commission; one is refunded after
    // completion, while its commission is still held.
    let stream = env.open_stream("c").await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Lamp", "price_cents": 10_000, "stock": 10, "affiliate_rate_bps": 2_000}),
        )
        .await;
    let mut orders = Vec::new();
    for buyer in ["b1", "b2"] {
        let line = json!({"lines": [{"product_id": product, "quantity": 1}], "stream_id": stream});
        let (order_id, total) = env.placed(buyer, line).await;
        assert_eq!(
            env.pay_order(&order_id, total).await.body["outcome"],
            "order_paid"
        );
        let delivered = env
            .order_action(
                Identity::seller("s"),
                &order_id,
                "fulfillment",
                json!({"status": "delivered"}),
            )
            .await;
        assert_eq!(delivered.body["status"], "delivered", "{delivered:?}");
        orders.push(order_id);
    }
    env.set_now(start + Duration::days(8));
    assert!(env.sweep_and_settle().await.is_empty());
    assert_eq!(env.creator_balance("c").await["cents_pending"], 4_000);
    let refund = env
        .order_action(
            Identity::admin("ops"),
            &orders[1],
            "refund",
            json!({"reason": "damaged"}),
        )
        .await;
    assert_eq!(refund.body["status"], "refunded", "{refund:?}");
    env.set_now(start + Duration::days(16));
    assert_eq!(env.sweep().await.cents_released, 2_000);
    // Two payouts: $60 (the $20 commission first, then 8,000 diamonds) is paid; $50 is in flight.
    assert_eq!(env.request_payout("c", "first", 6_000).await.status, 202);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.request_payout("c", "second", 5_000).await.status, 202);
    orders.swap_remove(1)
}

#[tokio::test]
async fn the_statement_explains_every_balance_entry_by_entry() {
    let env = payout_env().await;
    let refunded = creator_with_a_full_history(&env).await;
    let balance = env.creator_balance("c").await;
    assert_eq!(balance["diamonds_available"], 2_000);
    assert_eq!(balance["cents_in_payout"], 5_000);
    assert_eq!(balance["cents_paid_out"], 6_000);
    let entries = env.statement("c", 3).await;
    for field in [
        "diamonds_pending",
        "diamonds_available",
        "cents_pending",
        "cents_available",
        "cents_in_payout",
        "cents_paid_out",
    ] {
        let mine: Vec<&Value> = entries.iter().filter(|e| e["balance"] == field).collect();
        let sum: i64 = mine.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
        assert_eq!(sum, balance[field].as_i64().unwrap(), "{field}: {mine:?}");
        let last = mine
            .last()
            .map_or(0, |e| e["balance_after"].as_i64().unwrap());
        assert_eq!(last, sum, "{field}");
        assert!(
            mine.iter().all(|e| e["balance_after"].as_i64() >= Some(0)),
            "{field}: {mine:?}"
        );
    }
    let kinds: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "gift_earnings",
        "affiliate_commission",
        "commission_clawback",
        "hold_release",
        "payout_request",
        "payout_paid",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    let clawback = entries
        .iter()
        .find(|e| e["kind"] == "commission_clawback")
        .unwrap();
    assert_eq!(
        (clawback["amount"].as_i64(), clawback["ref"].as_str()),
        (Some(-2_000), Some(refunded.as_str()))
    );
    println!(
        "statement: {} entries explain every balance of {balance}",
        entries.len()
    );
    env.assert_conserved().await;
}

/// The next page of `who`'s statement after `cursor` (one entry a page).
async fn statement_page(env: &TestEnv, who: &str, cursor: &str) -> livepay_tests::Answer {
    env.call(
        Func::CreatorsApi,
        Req::get("/v1/creators/me/statement", "GET /v1/creators/me/statement")
            .query("limit", "1")
            .query("cursor", cursor)
            .identity(Identity::creator(who)),
    )
    .await
}

#[tokio::test]
async fn a_forged_or_edited_cursor_is_400_and_another_payees_too() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let env = payout_env().await;
    env.fund_creator("c", 300).await;
    assert_eq!(env.request_payout("c", "p1", 6_000).await.status, 202);
    let first = statement_page(&env, "c", "").await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    assert_eq!(statement_page(&env, "c", &cursor).await.status, 200);

    // The cursor carries the running balances the next page starts from: raised by a million,
    // with its tag kept, it is refused rather than believed.
    let (payload, tag) = cursor.split_once('.').expect("a sealed cursor");
    let mut opened: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for balance in opened["balances"].as_object_mut().unwrap().values_mut() {
        *balance = json!(balance.as_i64().unwrap() + 1_000_000);
    }
    let edited = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(opened.to_string()));
    for forged in [edited.as_str(), "not-a-cursor", payload] {
        let a = statement_page(&env, "c", forged).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{forged}: {a:?}"
        );
    }
    // Nor is one payee's cursor another's.
    let a = statement_page(&env, "other", &cursor).await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{a:?}");
}

#[tokio::test]
async fn only_creators_have_balances_statements_and_payouts() {
    let env = payout_env().await;
    let routes = [
        Req::get("/v1/creators/me/balance", "GET /v1/creators/me/balance"),
        Req::get("/v1/creators/me/statement", "GET /v1/creators/me/statement"),
        Req::get("/v1/creators/me/payouts", "GET /v1/creators/me/payouts"),
        Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts")
            .key("k")
            .json(json!({"amount_cents": 5_000})),
    ];
    for req in routes {
        let a = env
            .call(Func::CreatorsApi, req.identity(Identity::adult("viewer")))
            .await;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{a:?}");
    }
}

/// Found by the simulation: a retry after the key's record expired answered 500 for ever
/// (the payout's own record is keyed by its day, so only its transfers saw the repeat).
#[tokio::test]
async fn a_key_reused_after_its_record_expired_is_refused_not_an_error() {
    let env = payout_env().await;
    env.fund_creator("c", 100).await;
    let first = env.request_payout("c", "k", 5_000).await;
    assert_eq!(first.status, 202, "{first:?}");
    env.set_now(env.now() + Duration::days(3));
    let again = env.request_payout("c", "k", 5_000).await;
    assert_eq!(
        (again.status, again.code()),
        (422, "idempotency_key_reused"),
        "{again:?}"
    );
    assert_eq!(env.payouts_of("c").await.len(), 1);
    assert_eq!(env.creator_balance("c").await["cents_in_payout"], 5_000);
    env.assert_conserved().await;
}

/// Seller "s" sells one unit at `price_cents` to each of three buyers; each order is paid and
/// delivered (the seller's hold starts now). Returns the order ids.
async fn three_delivered_orders(env: &TestEnv, price_cents: u64) -> Vec<String> {
    let product = env
        .create_product(
            "s",
            json!({"title": "Lamp", "price_cents": price_cents, "stock": 10}),
        )
        .await;
    let mut orders = Vec::new();
    for buyer in ["b1", "b2", "b3"] {
        let (order_id, _) = env.paid_order(buyer, &product).await;
        let a = env
            .order_action(
                Identity::seller("s"),
                &order_id,
                "fulfillment",
                json!({"status": "delivered"}),
            )
            .await;
        assert_eq!(a.body["status"], "delivered", "{a:?}");
        orders.push(order_id);
    }
    orders
}

/// Sellers are paid by the same machine as creators: three completed orders make the seller's
/// available balance, the weekly run pays it out through the provider, and the statement
/// explains every cent.
#[tokio::test]
async fn a_seller_with_three_completed_orders_is_paid_by_the_weekly_run() {
    let env = payout_env().await;
    let start = env.now();
    let mut orders = three_delivered_orders(&env, 2_500).await;
    // 6 % fee: $23.50 of each $25 order is the seller's, pending until the hold ends.
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(
        (
            balance["cents_pending"].as_i64(),
            balance["cents_available"].as_i64()
        ),
        (Some(7_050), Some(0)),
        "{balance}"
    );
    env.set_now(start + Duration::days(7) + Duration::seconds(1));
    assert!(env.sweep_and_settle().await.is_empty());
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(
        (
            balance["cents_pending"].as_i64(),
            balance["cents_available"].as_i64()
        ),
        (Some(0), Some(7_050)),
        "{balance}"
    );

    let report = payout_run::schedule(&env.app, &env.payouts).await.unwrap();
    assert_eq!(
        (report.requested, report.requested_cents),
        (1, 7_050),
        "{report:?}"
    );
    let messages = env.drain_payout_queue().await;
    assert_eq!(messages[0].group, payout_group(&Payee::seller("s")));
    assert!(env.execute_payouts(&messages).await.is_empty());
    let transfers = env.sandbox.transfers();
    assert_eq!(
        (
            transfers.len(),
            transfers[0].destination.as_str(),
            transfers[0].amount_cents
        ),
        (1, "s", 7_050)
    );
    let payouts = env.seller_get("s", "payouts").await;
    assert_eq!(payouts["payouts"][0]["status"], "paid", "{payouts}");
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(
        (
            balance["cents_available"].as_i64(),
            balance["cents_in_payout"].as_i64(),
            balance["cents_paid_out"].as_i64(),
            balance["cents_owed"].as_i64()
        ),
        (Some(0), Some(0), Some(7_050), Some(0))
    );
    // The seller is no creator: the creator routes refuse them, and their money is not there.
    assert_eq!(env.creator_balance("s").await["cents_paid_out"], 0);

    let entries = env.statement_of(Identity::seller("s"), "sellers", 2).await;
    let explained: Vec<(&str, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["balance"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut proceeds: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "order_proceeds")
        .map(|e| e["ref"].as_str().unwrap())
        .collect();
    proceeds.sort_unstable();
    orders.sort_unstable();
    assert_eq!(
        proceeds, orders,
        "one entry per completed order: {explained:?}"
    );
    for field in ["cents_available", "cents_in_payout", "cents_paid_out"] {
        let mine: Vec<&Value> = entries.iter().filter(|e| e["balance"] == field).collect();
        let sum: i64 = mine.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
        assert_eq!(
            sum,
            balance[field].as_i64().unwrap(),
            "{field}: {explained:?}"
        );
        let last = mine
            .last()
            .map_or(0, |e| e["balance_after"].as_i64().unwrap());
        assert_eq!(last, sum, "{field}");
    }
    assert!(explained.contains(&("cents_available", "payout_request", -7_050)));
    assert!(explained.contains(&("cents_paid_out", "payout_paid", 7_050)));
    env.assert_audited().await;
}

/// An admin's call on a held payout (`release` or `return`) with a fresh key.
async fn admin_exit(
    env: &TestEnv,
    payout_id: &str,
    exit: &str,
    body: Value,
) -> livepay_tests::Answer {
    let path = format!("/v1/admin/payouts/{payout_id}/{exit}");
    env.call(
        Func::CreatorsApi,
        Req::post(
            &path,
            &format!("POST /v1/admin/payouts/{{payout_id}}/{exit}"),
        )
        .path_param("payout_id", payout_id)
        .identity(Identity::admin("boss"))
        .key(&format!("{exit}-{}", ulid::Ulid::new()))
        .json(body),
    )
    .await
}

/// Held payouts have two exits, each recording the admin and why: released, the payout goes to
/// the provider again under a new key (after a look-up) and is paid once; returned, it fails with
/// the reason and gives back its money and its share of the day's cap.
#[tokio::test]
async fn held_payouts_are_released_and_paid_or_returned_with_actor_and_reason() {
    let mut settings = PAYOUT_SETTINGS.to_vec();
    settings.push(("PAYOUT_DAILY_CAP_CENTS", "11000"));
    let env = TestEnv::with_settings(&settings).await;
    env.fund_creator("c", 200).await;
    let review = || SandboxBehavior::UnderReview("identity check pending".into());
    env.sandbox.script([review(), review()]);
    let first = env.request_payout("c", "first", 6_000).await;
    let second = env.request_payout("c", "second", 5_000).await;
    let (first, second) = (
        first.body["payout_id"].as_str().unwrap().to_owned(),
        second.body["payout_id"].as_str().unwrap().to_owned(),
    );
    assert!(env.run_payouts().await.is_empty());
    let capped = env.request_payout("c", "third", 5_000).await;
    assert_eq!(capped.code(), "daily_payout_cap", "{capped:?}");

    let listed = env
        .call(
            Func::CreatorsApi,
            Req::get("/v1/admin/payouts", "GET /v1/admin/payouts")
                .query("status", "held")
                .identity(Identity::admin("boss")),
        )
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["more"], false);
    let held = listed.body["payouts"].as_array().unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held
        .iter()
        .all(|p| p["reason"] == "identity check pending" && p["payee_id"] == "c"));

    let lookups = env.sandbox.lookups();
    let released = admin_exit(&env, &first, "release", json!({"note": "KYC passed"})).await;
    assert_eq!(
        (released.status, released.body["status"].as_str()),
        (200, Some("requested")),
        "{released:?}"
    );
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(
        env.sandbox.lookups(),
        lookups + 1,
        "a release is looked up before it is sent"
    );
    let transfers = env.sandbox.transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(
        (
            transfers[0].reference.as_str(),
            transfers[0].idempotency_key.clone()
        ),
        (first.as_str(), format!("{first}~release-1"))
    );

    let returned = admin_exit(&env, &second, "return", json!({"reason": "account closed"})).await;
    assert_eq!(
        (
            returned.status,
            returned.body["status"].as_str(),
            returned.body["reason"].as_str()
        ),
        (200, Some("failed"), Some("account closed")),
        "{returned:?}"
    );
    assert_eq!(returned.body["admin_id"], "boss");
    // The released payout's record keeps the provider's hold reason.
    let items = env.all_items().await;
    let record = items
        .iter()
        .map(|(_, item)| item)
        .find(|item| item.get("payout_id").and_then(|v| v.as_s().ok()) == Some(&first))
        .expect("the released payout is stored");
    assert_eq!(
        record["hold_reason"].as_s().unwrap(),
        "identity check pending"
    );
    // Neither exit applies twice, and an unknown payout is 404.
    let again = admin_exit(&env, &first, "return", json!({"reason": "x"})).await;
    assert_eq!((again.status, again.code()), (409, "invalid_transition"));
    let unknown = admin_exit(&env, "po_nope", "release", json!({"note": "x"})).await;
    assert_eq!((unknown.status, unknown.code()), (404, "payout_not_found"));
    let blank = admin_exit(&env, &second, "return", json!({"reason": " "})).await;
    assert_eq!(blank.status, 400);

    let payouts = env.payouts_of("c").await;
    assert_eq!(status_of(&payouts, &first)["status"], "paid");
    assert_eq!(status_of(&payouts, &second)["status"], "failed");
    let b = env.creator_balance("c").await;
    assert_eq!(
        (
            b["cents_in_payout"].as_i64(),
            b["cents_paid_out"].as_i64(),
            b["payable_cents"].as_i64()
        ),
        (Some(0), Some(6_000), Some(14_000))
    );
    // The returned payout's share of today's cap is back.
    assert_eq!(env.request_payout("c", "fourth", 5_000).await.status, 202);
    assert!(env.run_payouts().await.is_empty());

    let entries = env.statement("c", 50).await;
    let by_admin: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["admin_id"] == "boss")
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["admin_note"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        by_admin.contains(&("payout_returned", "account closed")),
        "{by_admin:?}"
    );
    assert!(
        by_admin.contains(&("payout_paid", "KYC passed")),
        "{by_admin:?}"
    );
    env.assert_audited().await;
}

/// A correction is one transfer between two plain balances, in the statements it touches, with
/// the admin and the reason; one that would overdraw changes nothing.
#[tokio::test]
async fn an_admin_correction_is_a_transfer_in_the_statement_and_never_overdraws() {
    let env = payout_env().await;
    let correct = |body: Value| {
        env.call(
            Func::CreatorsApi,
            Req::post("/v1/admin/corrections", "POST /v1/admin/corrections")
                .identity(Identity::admin("boss"))
                .key(&format!("fix-{}", ulid::Ulid::new()))
                .json(body),
        )
    };
    let credit = correct(
        json!({"debit": "platform-expense:goodwill", "credit": "seller:s",
        "amount": 1_250, "unit": "cents", "reason": "shipping refund"}),
    )
    .await;
    assert_eq!(credit.status, 201, "{credit:?}");
    assert_eq!(credit.body["admin_id"], "boss");
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(balance["cents_available"], 1_250);
    let overdraw = correct(
        json!({"debit": "seller:s", "credit": "platform-expense:goodwill",
        "amount": 1_251, "unit": "cents", "reason": "too much"}),
    )
    .await;
    assert_eq!(
        (overdraw.status, overdraw.code()),
        (422, "would_overdraw"),
        "{overdraw:?}"
    );
    for (body, code) in [
        (
            json!({"debit": "order:o1", "credit": "seller:s", "amount": 1, "unit": "cents", "reason": "r"}),
            "account_not_correctable",
        ),
        (
            json!({"debit": "platform-cash:x", "credit": "seller:s", "amount": 1, "unit": "coins", "reason": "r"}),
            "unit_mismatch",
        ),
        (
            json!({"debit": "nope", "credit": "seller:s", "amount": 1, "unit": "cents", "reason": "r"}),
            "invalid_request",
        ),
        (
            json!({"debit": "platform-cash:x", "credit": "seller:s", "amount": 0, "unit": "cents", "reason": "r"}),
            "invalid_request",
        ),
    ] {
        assert_eq!(correct(body.clone()).await.code(), code, "{body}");
    }
    let not_admin = env
        .call(
            Func::CreatorsApi,
            Req::post("/v1/admin/corrections", "POST /v1/admin/corrections")
                .identity(Identity::seller("s"))
                .key("k")
                .json(json!({"debit": "platform-cash:x", "credit": "seller:s", "amount": 1, "unit": "cents", "reason": "r"})),
        )
        .await;
    assert_eq!(not_admin.status, 403);
    assert_eq!(
        env.seller_get("s", "balance").await["cents_available"],
        1_250
    );
    // Between accounts without statements, the transfer itself keeps who and why.
    let wiped = correct(
        json!({"debit": "chargeback-loss:goodwill", "credit": "wallet:b",
        "amount": 300, "unit": "coins", "reason": "courtesy credit"}),
    )
    .await;
    assert_eq!(wiped.status, 201, "{wiped:?}");
    let id = wiped.body["correction_id"].as_str().unwrap();
    let items = env.all_items().await;
    let record = items
        .iter()
        .map(|(_, item)| item)
        .find(|item| item["pk"].as_s().ok() == Some(&format!("XFER#correction:{id}")))
        .expect("the correction's transfer is stored");
    assert_eq!(record["admin_id"].as_s().unwrap(), "boss");
    assert_eq!(record["admin_note"].as_s().unwrap(), "courtesy credit");
    let entries = env.statement_of(Identity::seller("s"), "sellers", 10).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (
            entries[0]["kind"].as_str(),
            entries[0]["amount"].as_i64(),
            entries[0]["admin_id"].as_str(),
            entries[0]["admin_note"].as_str()
        ),
        (
            Some("correction"),
            Some(1_250),
            Some("boss"),
            Some("shipping refund")
        )
    );
    env.assert_audited().await;
}

/// A refund after completion is a seller debt: a payout pays it off from the available proceeds
/// first, in its own transaction, and draws only the rest — the buyer's money is never paid out
/// to the seller.
#[tokio::test]
async fn a_sellers_payout_pays_off_their_clawback_first() {
    let env = payout_env().await;
    let start = env.now();
    let orders = three_delivered_orders(&env, 5_000).await;
    env.set_now(start + Duration::days(7) + Duration::seconds(1));
    assert!(env.sweep_and_settle().await.is_empty());
    let refunded = env
        .order_action(
            Identity::admin("boss"),
            &orders[0],
            "refund",
            json!({"reason": "never arrived"}),
        )
        .await;
    assert_eq!(refunded.body["status"], "refunded", "{refunded:?}");
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(
        (
            balance["cents_available"].as_i64(),
            balance["cents_owed"].as_i64()
        ),
        (Some(14_100), Some(5_000)),
        "{balance}"
    );
    let all = env
        .call(
            Func::CreatorsApi,
            Req::post("/v1/sellers/me/payouts", "POST /v1/sellers/me/payouts")
                .identity(Identity::seller("s"))
                .key("all")
                .json(json!({"amount_cents": 14_100})),
        )
        .await;
    assert_eq!(
        (all.status, all.code()),
        (402, "insufficient_available_balance"),
        "{all:?}"
    );
    let report = payout_run::schedule(&env.app, &env.payouts).await.unwrap();
    assert_eq!(
        (report.requested, report.requested_cents),
        (1, 9_100),
        "{report:?}"
    );
    assert!(env.run_payouts().await.is_empty());
    let balance = env.seller_get("s", "balance").await;
    assert_eq!(
        (
            balance["cents_available"].as_i64(),
            balance["cents_owed"].as_i64(),
            balance["cents_paid_out"].as_i64()
        ),
        (Some(0), Some(0), Some(9_100)),
        "{balance}"
    );
    let entries = env.statement_of(Identity::seller("s"), "sellers", 20).await;
    let payoff: Vec<(&str, i64)> = entries
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().contains("clawback_recovery"))
        .map(|e| {
            (
                e["balance"].as_str().unwrap(),
                e["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(payoff.contains(&("clawback_balance", 5_000)), "{payoff:?}");
    env.assert_audited().await;
}

/// `GET /v1/me/refunds` as `buyer`.
async fn refunds_of(env: &TestEnv, buyer: &str) -> Vec<Value> {
    let a = env
        .call(
            Func::ShopApi,
            Req::get("/v1/me/refunds", "GET /v1/me/refunds").identity(Identity::adult(buyer)),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body["refunds"].as_array().unwrap().clone()
}

/// A seller's refund moves money only when the provider confirms it: the refund is asked once
/// through a timeout, a lost answer and a look-up, `refund-owed` is 0 afterwards, and the buyer
/// and the seller see it on the order.
#[tokio::test]
async fn a_refunded_orders_money_reaches_the_buyer_through_the_provider_once() {
    let env = payout_env().await;
    let product = env
        .create_product(
            "s",
            json!({"title": "Mug", "price_cents": 1_800, "stock": 5}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            "b",
            json!({"lines": [{"product_id": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(env.pay_order(&order_id, total).await.status, 200);
    let refunded = env
        .order_action(
            Identity::seller("s"),
            &order_id,
            "refund",
            json!({"reason": "out of stock after all"}),
        )
        .await;
    assert_eq!(refunded.body["status"], "refunded", "{refunded:?}");
    assert_eq!(
        refunded.body["refund"]["status"], "requested",
        "{refunded:?}"
    );
    let refund_id = refunded.body["refund"]["refund_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 3_600);

    let messages = env.drain_payout_queue().await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].group.starts_with("refund_"), "{messages:?}");
    env.sandbox.script([
        SandboxBehavior::TimeOut,
        SandboxBehavior::SucceedButLoseResponse,
    ]);
    // Timed out, then made but unanswered: the refund stays processing, the money owed; its
    // message is acknowledged (it waits in the sweep index), delivered again here all the same.
    for delivery in 1..=2 {
        assert!(
            env.execute_payouts(&messages).await.is_empty(),
            "delivery {delivery}"
        );
        assert_eq!(refunds_of(&env, "b").await[0]["status"], "processing");
    }
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 3_600);
    // The third delivery looks it up, finds it, and records it; later ones change nothing.
    assert!(env.execute_payouts(&messages).await.is_empty());
    assert!(env.execute_payouts(&messages).await.is_empty());
    let made = env.sandbox.transfers();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        (
            made[0].rail,
            made[0].reference.as_str(),
            made[0].amount_cents
        ),
        (Rail::Refund, refund_id.as_str(), 3_600)
    );
    assert!(
        made[0].destination.starts_with("evt_"),
        "the payment that paid the order: {made:?}"
    );
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    let listed = refunds_of(&env, "b").await;
    assert_eq!(
        (
            listed.len(),
            listed[0]["status"].as_str(),
            listed[0]["order_id"].as_str()
        ),
        (1, Some("succeeded"), Some(order_id.as_str()))
    );
    for who in [Identity::adult("b"), Identity::seller("s")] {
        let order = env.get_order(who, &order_id).await;
        assert_eq!(order.body["refund"]["status"], "succeeded", "{order:?}");
    }
    env.assert_audited().await;
}

/// A payment that arrives after its order expired is owed back, and refunded through the
/// provider without anyone asking: the refund of that very payment.
#[tokio::test]
async fn a_late_payment_for_an_expired_order_is_refunded_automatically() {
    let env = payout_env().await;
    let start = env.now();
    let product = env
        .create_product(
            "s",
            json!({"title": "Mug", "price_cents": 1_800, "stock": 5}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            "b",
            json!({"lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    env.set_now(start + Duration::hours(2));
    let late = env.pay_order(&order_id, total).await;
    assert_eq!(
        late.body["outcome"], "owed_back_to_buyer:expired",
        "{late:?}"
    );
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 1_800);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    let listed = refunds_of(&env, "b").await;
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["amount_cents"].as_u64()
        ),
        (Some("succeeded"), Some(1_800))
    );
    let made = env.sandbox.transfers();
    assert_eq!((made.len(), made[0].rail), (1, Rail::Refund));
    let order = env.get_order(Identity::adult("b"), &order_id).await;
    assert_eq!(order.body["refund"]["refund_id"], listed[0]["refund_id"]);
    env.sweep().await;
    env.assert_audited().await;
}

/// A paid order of `cents`, refunded by its seller: the refund's id.
async fn refunded_order(env: &TestEnv, buyer: &str, cents: u64) -> String {
    let product = env
        .create_product(
            "s",
            json!({"title": "Cup", "price_cents": cents, "stock": 5}),
        )
        .await;
    let (order_id, _) = env.paid_order(buyer, &product).await;
    let refunded = env
        .order_action(
            Identity::seller("s"),
            &order_id,
            "refund",
            json!({"reason": "damaged"}),
        )
        .await;
    refunded.body["refund"]["refund_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{refunded:?}"))
        .to_owned()
}

/// A refund the provider settles later: it stays `processing` while the provider has not said,
/// the sweeper sends it again once its message is gone, and the provider's `refund.succeeded`
/// finishes it; a later confirmation changes nothing.
#[tokio::test]
async fn a_refund_the_provider_confirms_later_is_finished_by_its_webhook_or_the_sweeper() {
    let env = payout_env().await;
    let first = refunded_order(&env, "b", 1_200).await;
    env.sandbox.script([SandboxBehavior::TimeOut]);
    assert!(env.run_payouts().await.is_empty(), "acknowledged: it waits");
    assert_eq!(refunds_of(&env, "b").await[0]["status"], "processing");
    let confirm = |id: &str, refund_id: &str| json!({"id": id, "type": "refund.succeeded", "data": {"refund_id": refund_id}});
    let ack = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&confirm("ev_r1", &first)),
        )
        .await;
    assert_eq!(ack.body["outcome"], "succeeded", "{ack:?}");
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    let again = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&confirm("ev_r2", &first)),
        )
        .await;
    assert_eq!(again.body["outcome"], "unchanged:succeeded", "{again:?}");
    let unknown = env
        .call(
            Func::PaymentsWebhook,
            env.webhook(&confirm("ev_r3", "rf_nope")),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "refund_not_found"));

    // Unsettled, a processing refund is the sweeper's to send again once the grace has passed.
    let second = refunded_order(&env, "b2", 1_500).await;
    env.sandbox.script([SandboxBehavior::TimeOut]);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(env.sweep().await.refunds_resent, 0, "not before the grace");
    env.set_now(env.now() + Duration::hours(1));
    assert_eq!(env.sweep().await.refunds_resent, 1);
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(refunds_of(&env, "b2").await[0]["status"], "succeeded");
    let made: Vec<_> = env.sandbox.transfers();
    assert_eq!(
        made.iter().filter(|t| t.reference == second).count(),
        1,
        "{made:?}"
    );
    env.assert_audited().await;
}

/// A failed refund keeps its money owed until an admin retries it: asked again under a new key,
/// paid once, and the admin and their note are on the record.
#[tokio::test]
async fn a_failed_refund_is_retried_by_an_admin_and_paid_once() {
    let env = payout_env().await;
    let refund_id = refunded_order(&env, "b", 2_000).await;
    env.sandbox
        .script([SandboxBehavior::FailPermanently("card closed".into())]);
    assert!(env.run_payouts().await.is_empty());
    let listed = refunds_of(&env, "b").await;
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["reason"].as_str()),
        (Some("failed"), Some("card closed"))
    );
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 2_000);
    let retry = |key: &str| {
        Req::post(
            &format!("/v1/admin/refunds/{refund_id}/retry"),
            "POST /v1/admin/refunds/{refund_id}/retry",
        )
        .path_param("refund_id", &refund_id)
        .identity(Identity::admin("ops-1"))
        .key(key)
        .json(json!({"note": "buyer gave a new card"}))
    };
    let a = env.call(Func::CreatorsApi, retry("r1")).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("requested")),
        "{a:?}"
    );
    // A late failure of the first attempt is not the retry's.
    let late = json!({"id": "ev_late", "type": "refund.failed",
        "data": {"refund_id": refund_id, "reason": "card closed"}});
    let late = env.call(Func::PaymentsWebhook, env.webhook(&late)).await;
    assert_eq!(late.body["outcome"], "unchanged:stale_attempt", "{late:?}");
    let twice = env.call(Func::CreatorsApi, retry("r2")).await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_transition"));
    assert!(env.run_payouts().await.is_empty());
    assert_eq!(refunds_of(&env, "b").await[0]["status"], "succeeded");
    assert_eq!(env.balance(AccountKind::RefundOwed, "b").await, 0);
    let made = env.sandbox.transfers();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0].reference, format!("{refund_id}~retry-1"));
    let stored = env
        .app
        .store
        .refund_by_id(&refund_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.admin.map(|a| (a.by, a.note)),
        Some(("ops-1".into(), "buyer gave a new card".into()))
    );
    env.assert_audited().await;
}

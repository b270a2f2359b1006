//! The event fixtures under functions/*/events/ (for `cargo lambda invoke --data-file`) are what
//! the functions accept, and do what docs/operations.md and docs/events.md say.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use livepay::jobs::payout_run::{self, Trigger};
use livepay::queue::payout_run::RunQueue;
use livepay_tests::TestEnv;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../functions/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn the_poison_batch_fixture_reports_both_records_as_failed() {
    let env = TestEnv::new().await;
    let event: SqsEvent =
        serde_json::from_str(&fixture("settle-payouts/events/poison-batch.json")).unwrap();
    let response = livepay::jobs::settle_payouts::handle(&env.app, event)
        .await
        .unwrap();
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        ids,
        ["0b5c7e8e-poison-not-json", "5d1f3a2b-gift-that-never-was"]
    );
}

#[tokio::test]
async fn the_payout_batch_fixture_names_no_stored_payout_and_is_reported_failed() {
    let env = TestEnv::new().await;
    let event: SqsEvent =
        serde_json::from_str(&fixture("execute-payouts/events/payout-batch.json")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let response = livepay::jobs::payouts::handle(&env.app, &env.sandbox, event, deadline)
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        "7c0e1f2a-payout-of-ana"
    );
    assert!(
        env.sandbox.calls().is_empty(),
        "the provider is never called"
    );
}

#[test]
fn the_scheduled_event_fixture_is_an_eventbridge_event() {
    for path in [
        "sweep-settlements/events/scheduled.json",
        "schedule-payouts/events/scheduled.json",
    ] {
        let event: EventBridgeEvent = serde_json::from_str(&fixture(path)).unwrap();
        assert_eq!(event.detail_type, "Scheduled Event", "{path}");
    }
    let trigger = serde_json::from_str(&fixture("schedule-payouts/events/scheduled.json"));
    assert!(matches!(trigger.unwrap(), Trigger::Weekly(_)));
}

#[tokio::test]
async fn the_run_pieces_fixture_runs_its_piece_and_reports_the_unreadable_one_failed() {
    let env = TestEnv::new().await;
    let runs = RunQueue::new(env.sqs.clone(), env.env["PAYOUT_RUN_QUEUE_URL"].clone());
    let trigger = serde_json::from_str(&fixture("schedule-payouts/events/run-pieces.json"));
    let Trigger::Pieces(event) = trigger.unwrap() else {
        panic!("a batch of pieces")
    };
    let response = payout_run::run_pieces(&env.app, &env.payouts, &runs, event)
        .await
        .unwrap();
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["5e6f7a8b-not-a-piece"]);
}

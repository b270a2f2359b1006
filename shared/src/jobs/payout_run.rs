//! The weekly payout run (`schedule-payouts`): a payout of everything payable (up to the daily
//! cap) for every payee with at least the minimum, through the same [`request`] as the API.
//!
//! The weekly event fans the run out: one piece per shard of the payout run's list goes onto
//! the run's queue ([`start`]). Each piece requests the payouts of up to [`PIECE_PAYEES`]
//! payees and sends the piece after it ([`run_pieces`]), so every invocation is short whatever
//! the number of payees, and each piece is retried, and parked on the DLQ, on its own. A payout
//! id is derived from the payee and the run's week, so a piece done twice (redelivered, or a
//! payee listed on two shards) requests nothing twice.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::payouts::{available, request, RequestError};
use super::settle_payouts::{batch_response, BatchError};
use crate::domain::ids::derived_id;
use crate::domain::payouts::{payable, Payee, PayoutError};
use crate::domain::time::week_key;
use crate::queue::payout_run::{RunPiece, RunQueue, PIECE_VERSION};
use crate::queue::payouts::PayoutQueue;
use crate::queue::QueueError;
use crate::store::sweep::SWEEP_SHARDS;
use crate::store::StoreError;
use crate::App;

/// Payees one piece takes at most: with [`SCHEDULE_CONCURRENCY`] requests at a time, seconds
/// of work, far inside the function's timeout.
pub const PIECE_PAYEES: i32 = 200;
/// Payouts one piece requests at once.
const SCHEDULE_CONCURRENCY: usize = 8;

#[derive(Debug, Default, Serialize)]
pub struct ScheduleReport {
    /// Payees (creators and sellers) listed with an available balance.
    pub payees: usize,
    pub requested: usize,
    pub requested_cents: u64,
    pub below_minimum: usize,
    /// Already requested this week, or today's cap already used.
    pub skipped: usize,
    pub failed: usize,
}

impl ScheduleReport {
    fn add(&mut self, other: &Self) {
        self.payees += other.payees;
        self.requested += other.requested;
        self.requested_cents += other.requested_cents;
        self.below_minimum += other.below_minimum;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// What invokes `schedule-payouts`: the run's queue (a batch of pieces) or the weekly
/// schedule. An SQS event is tried first: a scheduled event has no `Records`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    Pieces(SqsEvent),
    Weekly(Box<EventBridgeEvent>),
}

/// The first piece of every shard: what the weekly event at `now` fans out into.
pub fn first_pieces(now: OffsetDateTime) -> Vec<RunPiece> {
    (0..SWEEP_SHARDS)
        .map(|shard| RunPiece {
            version: PIECE_VERSION,
            week: week_key(now),
            shard,
            after: None,
        })
        .collect()
}

/// `schedule-payouts` on the weekly event: the run's first pieces onto its queue. A send that
/// fails fails the invocation, which Lambda retries: pieces sent twice request nothing twice.
/// The run's week is the one the event was scheduled in (`scheduled_at`, unix seconds), not
/// the one a retried or late delivery lands in, so no retry takes the next week's payout ids.
pub async fn start(
    app: &App,
    runs: &RunQueue,
    scheduled_at: Option<i64>,
) -> Result<usize, QueueError> {
    let at = scheduled_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(|| app.clock.now());
    let pieces = first_pieces(at);
    for piece in &pieces {
        runs.send(piece).await?;
    }
    tracing::info!(pieces = pieces.len(), "payout run started");
    Ok(pieces.len())
}

/// `schedule-payouts` on the run's queue: each piece's payouts requested, then the piece after
/// it sent. A piece whose page cannot be read, one of whose payees' payouts could not be
/// requested, or whose successor cannot be sent is reported failed, so SQS delivers it again.
pub async fn run_pieces(
    app: &App,
    payouts: &PayoutQueue,
    runs: &RunQueue,
    event: SqsEvent,
) -> Result<SqsBatchResponse, BatchError> {
    let mut failed = Vec::new();
    for record in event.records {
        let piece = match RunPiece::parse(record.body.as_deref().unwrap_or_default()) {
            Ok(piece) => piece,
            Err(e) => {
                // Not a message this consumer knows: to the DLQ, after its receives.
                tracing::error!(message_id = ?record.message_id, error = %e, "unreadable run piece");
                failed.push(record.message_id);
                continue;
            }
        };
        let done = match run_piece(app, payouts, &piece, PIECE_PAYEES).await {
            // A payee whose payout could not be requested is not skipped for a week: the whole
            // piece comes back (what it requested already is found requested), and the rest of
            // the shard waits for it, parked with it on the alarmed DLQ if it keeps failing.
            Ok((report, _)) if report.failed > 0 => Err(format!(
                "{} of {} payees' payouts not requested",
                report.failed, report.payees
            )),
            Ok((report, next)) => {
                tracing::info!(shard = piece.shard, week = %piece.week, ?report, "payout run piece");
                match next {
                    Some(next) => runs.send(&next).await.map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = done {
            tracing::warn!(shard = piece.shard, error = %e, "payout run piece to be retried");
            failed.push(record.message_id);
        }
    }
    batch_response(failed)
}

/// Requests the payouts of up to `limit` payees of one piece, and gives the piece after it in
/// its shard, if any.
pub async fn run_piece(
    app: &App,
    queue: &PayoutQueue,
    piece: &RunPiece,
    limit: i32,
) -> Result<(ScheduleReport, Option<RunPiece>), StoreError> {
    let now = app.clock.now();
    let (payees, next) = app
        .store
        .payable_page(piece.shard, piece.after.as_ref(), limit)
        .await?;
    let mut report = ScheduleReport {
        payees: payees.len(),
        ..ScheduleReport::default()
    };
    let results: Vec<_> = futures::stream::iter(payees)
        .map(|payee| async move {
            let result = schedule_one(app, queue, &payee, &piece.week, now).await;
            (payee, result)
        })
        .buffer_unordered(SCHEDULE_CONCURRENCY)
        .collect()
        .await;
    for (payee, result) in results {
        match result {
            Ok(Some(cents)) => {
                report.requested += 1;
                report.requested_cents += cents;
            }
            Ok(None) => report.below_minimum += 1,
            Err(RequestError::Exists(_) | RequestError::Refused(PayoutError::DailyCap { .. })) => {
                report.skipped += 1
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(payee = %payee.key(), error = %e, "scheduled payout not requested");
            }
        }
    }
    let next = next.map(|after| RunPiece {
        after: Some(after),
        ..piece.clone()
    });
    Ok((report, next))
}

/// A whole weekly run in this process, piece after piece: what the fanned-out run does, for
/// the tests and the fault simulation.
pub async fn schedule(app: &App, queue: &PayoutQueue) -> Result<ScheduleReport, StoreError> {
    let mut report = ScheduleReport::default();
    for first in first_pieces(app.clock.now()) {
        let mut piece = Some(first);
        while let Some(current) = piece {
            let (done, next) = run_piece(app, queue, &current, PIECE_PAYEES).await?;
            report.add(&done);
            piece = next;
        }
    }
    tracing::info!(?report, "scheduled payouts");
    Ok(report)
}

async fn schedule_one(
    app: &App,
    queue: &PayoutQueue,
    payee: &Payee,
    week: &str,
    now: OffsetDateTime,
) -> Result<Option<u64>, RequestError> {
    let (balances, _) = available(app, payee).await?;
    let payable = payable(
        balances.drawable_cents(),
        balances.drawable_diamonds(),
        app.config.diamond_value_millicents,
    );
    if payable < app.config.payouts.minimum_cents {
        for kind in [
            Some(payee.kind.cents_source()),
            payee.kind.diamonds_source(),
        ]
        .into_iter()
        .flatten()
        {
            app.store.unlist_if_empty(&payee.account(kind)).await?;
        }
        return Ok(None);
    }
    let amount = payable.min(app.config.payouts.daily_cap_cents);
    let payout_id = derived_id("po", &[&payee.key(), week]);
    request(
        app,
        queue,
        payee,
        amount,
        &payout_id,
        now,
        |tx, _| async move { Ok::<_, RequestError>(tx.commit(app.store.client()).await) },
    )
    .await?;
    Ok(Some(amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weekly_event_and_a_batch_of_pieces_are_told_apart() {
        let weekly = serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-07T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/PayoutSchedule"],
            "detail": {}
        });
        assert!(matches!(
            serde_json::from_value(weekly).unwrap(),
            Trigger::Weekly(_)
        ));
        let pieces = serde_json::json!({"Records": [{
            "messageId": "m-1", "receiptHandle": "r", "body": "{}", "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:PayoutRun", "awsRegion": "us-east-1"
        }]});
        match serde_json::from_value(pieces).unwrap() {
            Trigger::Pieces(event) => assert_eq!(event.records.len(), 1),
            other => panic!("{other:?}"),
        }
    }
}

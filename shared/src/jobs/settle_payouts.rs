//! `settle-payouts`: the settlement queue's consumer. Parses each record (a record that cannot be
//! a settlement is poison: reported failed and logged with its message id, so after
//! maxReceiveCount it lands in the DLQ), settles the batch's gifts together, completes the
//! orders that are due, and reports the records whose work is not finished, so only they come
//! back.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;

use super::orders::{complete, OrderJobError};
use super::settlement::settle;
use crate::domain::settlement::GiftToSettle;
use crate::queue::settlement::SettlementEvent;
use crate::App;

/// Orders completed at once within one batch (each is a read or two and one transaction).
const ORDER_CONCURRENCY: usize = 8;

/// What one record asks for.
enum Work {
    Gift(GiftToSettle),
    CompleteOrder(String),
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Lambda gave a record without a message id, so it cannot be reported on its own; failing
    /// the whole batch brings everything back (settlement is idempotent), while an empty
    /// identifier would do the same silently.
    #[error("{0} unfinished record(s) have no message id; the whole batch will be retried")]
    UnidentifiedRecords(usize),
}

pub async fn handle(app: &App, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
    let mut failed: Vec<Option<String>> = Vec::new();
    let mut gifts = Vec::new();
    let mut messages_of: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    let mut orders: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for record in event.records {
        let id = record.message_id;
        match parse(record.body.as_deref()) {
            Ok(Work::Gift(gift)) => {
                messages_of
                    .entry(gift.gift_txn_id.clone())
                    .or_default()
                    .push(id);
                gifts.push(gift);
            }
            Ok(Work::CompleteOrder(order_id)) => orders.entry(order_id).or_default().push(id),
            Err(reason) => {
                tracing::warn!(message_id = ?id, %reason, "poison settlement message");
                failed.push(id);
            }
        }
    }
    let report = settle(app, &gifts).await;
    for (gift_txn_id, reason) in &report.poison {
        let ids = messages_of.get(gift_txn_id);
        tracing::warn!(%gift_txn_id, message_ids = ?ids, ?reason, "poison settlement message");
    }
    for gift_txn_id in report.failed.iter().chain(report.poison.keys()) {
        failed.extend(messages_of.get(gift_txn_id).into_iter().flatten().cloned());
    }
    let order_results: Vec<(String, Result<_, OrderJobError>)> =
        futures::stream::iter(orders.keys().cloned())
            .map(|order_id| async move {
                let result = complete(app, &order_id).await;
                (order_id, result)
            })
            .buffer_unordered(ORDER_CONCURRENCY)
            .collect()
            .await;
    for (order_id, result) in &order_results {
        let ids = &orders[order_id];
        match result {
            Ok(outcome) => tracing::info!(%order_id, ?outcome, "order completion"),
            Err(OrderJobError::Missing(_)) => {
                tracing::warn!(%order_id, message_ids = ?ids, "poison completion message: no such order");
                failed.extend(ids.iter().cloned());
            }
            Err(e) => {
                tracing::warn!(%order_id, error = %e, "order completion failed; the message comes back");
                failed.extend(ids.iter().cloned());
            }
        }
    }
    tracing::info!(
        records = messages_of
            .values()
            .chain(orders.values())
            .map(Vec::len)
            .sum::<usize>()
            + failed.len(),
        orders = orders.len(),
        settled = report.settled,
        already_settled = report.already_settled,
        boarded = report.boarded,
        failed = failed.len(),
        "settlement batch"
    );
    batch_response(failed)
}

/// The partial batch response reporting `failed` (message ids): never an empty identifier.
pub(crate) fn batch_response(
    mut failed: Vec<Option<String>>,
) -> Result<SqsBatchResponse, BatchError> {
    let unidentified = failed
        .iter()
        .filter(|id| id.as_deref().is_none_or(str::is_empty))
        .count();
    if unidentified > 0 {
        return Err(BatchError::UnidentifiedRecords(unidentified));
    }
    let mut response = SqsBatchResponse::default();
    failed.sort();
    failed.dedup();
    for id in failed.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

fn parse(body: Option<&str>) -> Result<Work, String> {
    let body = body.ok_or("no body")?;
    let event = SettlementEvent::parse(body).map_err(|e| e.to_string())?;
    event.known_version()?;
    match event {
        SettlementEvent::OrderCompletionDue { order_id, .. } => Ok(Work::CompleteOrder(order_id)),
        SettlementEvent::GiftSent {
            gift_txn_id,
            stream_id,
            creator_id,
            sender_id,
            coins,
            sent_at,
            ..
        } => Ok(Work::Gift(GiftToSettle {
            gift_txn_id,
            stream_id,
            creator_id,
            sender_id,
            coins,
            sent_at,
        })),
    }
}

//! `settle-payouts`: the settlement queue's consumer. Parses each record (a record that cannot be
//! a settlement is poison: reported failed and logged with its message id, so after
//! maxReceiveCount it lands in the DLQ), settles the batch's gifts together, and reports the
//! records of gifts that are not finished, so only they come back.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use super::settlement::settle;
use crate::domain::settlement::GiftToSettle;
use crate::queue::settlement::{SettlementEvent, GIFT_SENT_VERSION};
use crate::App;

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
    for record in event.records {
        let id = record.message_id;
        match parse(record.body.as_deref()) {
            Ok(gift) => {
                messages_of
                    .entry(gift.gift_txn_id.clone())
                    .or_default()
                    .push(id);
                gifts.push(gift);
            }
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
    tracing::info!(
        records = messages_of.values().map(Vec::len).sum::<usize>() + failed.len(),
        settled = report.settled,
        already_settled = report.already_settled,
        boarded = report.boarded,
        failed = failed.len(),
        "settlement batch"
    );
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

fn parse(body: Option<&str>) -> Result<GiftToSettle, String> {
    let body = body.ok_or("no body")?;
    match SettlementEvent::parse(body).map_err(|e| e.to_string())? {
        SettlementEvent::GiftSent { version, .. } if version != GIFT_SENT_VERSION => Err(format!(
            "gift.sent version {version} is not {GIFT_SENT_VERSION}"
        )),
        SettlementEvent::GiftSent {
            gift_txn_id,
            stream_id,
            creator_id,
            sender_id,
            coins,
            sent_at,
            ..
        } => Ok(GiftToSettle {
            gift_txn_id,
            stream_id,
            creator_id,
            sender_id,
            coins,
            sent_at,
        }),
    }
}

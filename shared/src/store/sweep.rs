//! The sweep index: a sparse GSI of the ledger table over `sweep_shard` / `sweep_at`, holding
//! exactly the items that still owe work — gifts not yet settled or not yet on the leaderboards
//! (`gift#NN`), pending accounts with a hold to release (`hold#NN`: gift earnings, commissions),
//! orders awaiting payment or their hold after delivery (`order#NN`), requested payouts
//! (`payout#NN`) and creators with a payable balance (`payable#NN`), each due at `sweep_at`. An
//! item leaves the index when its work is done (the attributes are removed in the same update).
//!
//! This module knows the index's keys and due times only; each record's own module reads its
//! items (`from_item`), so the index depends on no record type.
//!
//! The partition key is sharded: every gift passes through the index, and one partition of a GSI
//! takes about 1,000 writes a second, so a single "pending" key would be the hot item DESIGN.md
//! forbids (a throttled GSI throttles the table's writes).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{s, Item};
use super::{sdk_error, Store, StoreError};
use crate::domain::ids::digest;
use crate::telemetry::metric;

pub(crate) const SWEEP_SHARD: &str = "sweep_shard";
pub(crate) const SWEEP_AT: &str = "sweep_at";
/// Shards of each kind: 16 partitions take ~16,000 gifts a second through the index.
pub const SWEEP_SHARDS: u8 = 16;
/// Most due items of one kind one run takes from each shard, oldest first (the shard's pages
/// followed until then): 16 × 250 = 4,000 per kind. What is left stays due for the next run, a
/// minute later; the run's time budget (`jobs::sweep`) bounds what it does with them.
pub const SWEEP_BUDGET_PER_SHARD: usize = 250;

/// `<kind>#NN`: the shard of `id` among the kind's [`SWEEP_SHARDS`] (`sweep_due` reads them all).
fn shard(kind: &str, id: &str) -> String {
    format!("{kind}#{:02}", digest(&[id])[0] % SWEEP_SHARDS)
}

pub(crate) fn gift_sweep_shard(gift_txn_id: &str) -> String {
    shard("gift", gift_txn_id)
}

pub(crate) fn order_sweep_shard(order_id: &str) -> String {
    shard("order", order_id)
}

/// A pending account with holds to release (a creator's gift earnings or commissions).
pub(crate) fn hold_sweep_shard(owner: &str) -> String {
    shard("hold", owner)
}

/// Creators with money in an available balance, for the scheduled payout run.
pub(crate) fn payable_sweep_shard(creator_id: &str) -> String {
    shard("payable", creator_id)
}

/// Payouts held by the provider, listed for an admin's decision (never swept: nothing is due).
pub(crate) fn held_sweep_shard(payout_id: &str) -> String {
    shard("held", payout_id)
}

/// Refunds committed but not yet taken by the executor, re-sent after the grace period.
pub(crate) fn refund_sweep_shard(refund_id: &str) -> String {
    shard("refund", refund_id)
}

/// Payouts committed but not yet taken by the executor, re-sent after the grace period.
pub(crate) fn payout_sweep_shard(payout_id: &str) -> String {
    shard("payout", payout_id)
}

/// What a sweep found due of one kind.
#[derive(Debug)]
pub struct Due<T> {
    pub items: Vec<T>,
    /// Items that could not be read as what the index says they are: logged with their key,
    /// counted (`SweepItemsSkipped`), and left for a person; they never stop the others.
    pub skipped: usize,
    /// Whether a shard had more due than this run's budget.
    pub more: bool,
}

impl Store {
    /// Items of `kind` due by `until` (and from `from`, if given), oldest first per shard, at
    /// most [`SWEEP_BUDGET_PER_SHARD`] from each, each read by `from_item`.
    pub(crate) async fn sweep_due<T>(
        &self,
        kind: &str,
        from: Option<&str>,
        until: &str,
        from_item: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Due<T>, StoreError> {
        let mut due = Due {
            items: Vec::new(),
            skipped: 0,
            more: false,
        };
        for shard in 0..SWEEP_SHARDS {
            let (items, more) = self
                .sweep_shard(&format!("{kind}#{shard:02}"), from, until)
                .await?;
            due.more |= more;
            for item in items {
                match from_item(&item) {
                    Ok(t) => due.items.push(t),
                    Err(e) => {
                        let pk = item.get("pk").and_then(|v| v.as_s().ok());
                        tracing::error!(error = %e, pk = ?pk, kind, "unreadable item in the sweep index; skipped");
                        metrics::counter!(metric::SWEEP_ITEMS_SKIPPED).increment(1);
                        due.skipped += 1;
                    }
                }
            }
        }
        Ok(due)
    }

    /// One shard's due items, following its pages up to the budget; whether more are due.
    async fn sweep_shard(
        &self,
        shard: &str,
        from: Option<&str>,
        until: &str,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut values = HashMap::from([
            (":shard".to_owned(), s(shard)),
            (":until".to_owned(), s(until)),
        ]);
        let condition = match from {
            Some(from) => {
                values.insert(":from".to_owned(), s(from));
                "#shard = :shard AND #at BETWEEN :from AND :until"
            }
            None => "#shard = :shard AND #at <= :until",
        };
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let left = SWEEP_BUDGET_PER_SHARD - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.tables.ledger)
                .index_name(&self.tables.ledger_sweep_index)
                .key_condition_expression(condition)
                .expression_attribute_names("#shard", SWEEP_SHARD)
                .expression_attribute_names("#at", SWEEP_AT)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .limit(i32::try_from(left).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((items, false));
            }
            if items.len() >= SWEEP_BUDGET_PER_SHARD {
                return Ok((items, true));
            }
        }
    }
}

/// The sweep attributes a new gift carries until its work is done (`sent_at` is whole seconds).
pub(crate) fn gift_sweep_attributes(
    gift_txn_id: &str,
    sent_at: &str,
) -> [(String, AttributeValue); 2] {
    [
        (SWEEP_SHARD.to_owned(), s(gift_sweep_shard(gift_txn_id))),
        (SWEEP_AT.to_owned(), s(sent_at)),
    ]
}

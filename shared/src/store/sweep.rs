//! The sweep index: a sparse GSI of the ledger table over `sweep_shard` / `sweep_at`, holding
//! exactly the items that still owe work — gifts not yet settled or not yet on the leaderboards
//! (`gift#NN`), pending accounts with a hold to release (`hold#NN`: gift earnings, commissions),
//! and orders awaiting payment or their hold after delivery (`order#NN`, due at `sweep_at`). An
//! item leaves the index when its work is done (the attributes are removed in the same update).
//!
//! The partition key is sharded: every gift passes through the index, and one partition of a GSI
//! takes about 1,000 writes a second, so a single "pending" key would be the hot item DESIGN.md
//! forbids (a throttled GSI throttles the table's writes).

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{get_n, n, s, Item};
use super::ledger::{AccountEdit, LedgerWrite};
use super::orders::order_from_item;
use super::settlement::{gift_from_item, HOLD_PREFIX};
use super::transaction::Tx;
use super::{sdk_error, Store, StoreError};
use crate::domain::ids::digest;
use crate::domain::ledger::{AccountId, LedgerError, Transfer, TransferKind};
use crate::domain::settlement::{release, GiftToSettle, Hold};
use crate::domain::shop::Order;
use crate::domain::time::sortable;

pub(crate) const SWEEP_SHARD: &str = "sweep_shard";
pub(crate) const SWEEP_AT: &str = "sweep_at";
/// Shards of each kind: 16 partitions take ~16,000 gifts a second through the index.
pub const SWEEP_SHARDS: u8 = 16;
/// Items read per shard per sweep, so one run stays inside its time limit.
pub const SWEEP_PAGE: i32 = 500;

/// `<kind>#NN`: the shard of `id` among the kind's [`SWEEP_SHARDS`] (`sweep_all` reads them all).
fn shard(kind: &str, id: &str) -> String {
    format!("{kind}#{:02}", digest(&[id])[0] % SWEEP_SHARDS)
}

pub(crate) fn gift_sweep_shard(gift_txn_id: &str) -> String {
    shard("gift", gift_txn_id)
}

pub(crate) fn order_sweep_shard(order_id: &str) -> String {
    shard("order", order_id)
}

/// Creators with money in an available balance, for the scheduled payout run.
pub(crate) fn payable_sweep_shard(creator_id: &str) -> String {
    shard("payable", creator_id)
}

/// Payouts committed but not yet taken by the executor, re-sent after the grace period.
pub(crate) fn payout_sweep_shard(payout_id: &str) -> String {
    shard("payout", payout_id)
}

/// A pending account with holds (a creator's gift earnings or commissions), as the sweep index
/// lists it.
#[derive(Debug, Clone)]
pub struct PendingEarnings {
    pub account: AccountId,
    pub version: u64,
    pub holds: Vec<Hold>,
}

/// What adds `amount` to a pending account's hold releasing at `release_at` (sortable).
pub(crate) fn hold_edit(account: &AccountId, release_at: &str, amount: u64) -> AccountEdit {
    AccountEdit {
        add: vec![(format!("{HOLD_PREFIX}{release_at}"), n(amount))],
        // The earliest release keeps its place in the sweep index: holds are added in time
        // order, so the first one set is the first one due.
        set_if_absent: vec![
            (SWEEP_SHARD.into(), s(shard("hold", &account.owner))),
            (SWEEP_AT.into(), s(release_at)),
        ],
        ..AccountEdit::default()
    }
}

/// What takes `amount` back out of a pending account's hold releasing at `release_at`: refused
/// unless the hold still holds that much (a hold already released is not pending money).
pub(crate) fn hold_clawback_edit(release_at: &str, amount: u64) -> AccountEdit {
    let hold = format!("{HOLD_PREFIX}{release_at}");
    AccountEdit {
        add: vec![(hold.clone(), n(-i128::from(amount)))],
        at_least: vec![(hold, amount)],
        ..AccountEdit::default()
    }
}

impl Store {
    /// Gifts that entered the index before `before` and still owe settlement or boards.
    pub async fn unfinished_gifts(&self, before: &str) -> Result<Vec<GiftToSettle>, StoreError> {
        self.sweep_all("gift", before, gift_from_item).await
    }

    /// Pending accounts with a hold due by `now`.
    pub async fn due_holds(&self, now: &str) -> Result<Vec<PendingEarnings>, StoreError> {
        self.sweep_all("hold", now, pending_earnings_from_item)
            .await
    }

    /// Orders whose payment window or hold after delivery ended by `now`.
    pub async fn due_orders(&self, now: &str) -> Result<Vec<Order>, StoreError> {
        self.sweep_all("order", now, order_from_item).await
    }

    /// Every shard of one kind, up to `until`, each item read by `from_item`.
    pub(crate) async fn sweep_all<T>(
        &self,
        kind: &str,
        until: &str,
        from_item: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            for item in self
                .sweep_query(&format!("{kind}#{shard:02}"), until)
                .await?
            {
                out.push(from_item(&item)?);
            }
        }
        Ok(out)
    }

    async fn sweep_query(&self, shard: &str, until: &str) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .index_name(&self.tables.ledger_sweep_index)
            .key_condition_expression("#shard = :shard AND #at <= :until")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":until", s(until))
            .limit(SWEEP_PAGE)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        Ok(out.items.unwrap_or_default())
    }

    /// Moves what is due from a pending account to its available account, pinned to the version
    /// the holds were read at (a concurrent settlement adding a hold makes it fail, and the next
    /// sweep retries). Returns `None` if nothing is due.
    pub fn add_hold_release(
        &self,
        tx: &mut Tx,
        pending: &PendingEarnings,
        now: time::OffsetDateTime,
    ) -> Result<Option<u64>, LedgerError> {
        let r = release(&pending.holds, now);
        if r.released.is_empty() {
            return Ok(None);
        }
        let pending_account = pending.account.clone();
        let available = pending_account
            .kind
            .released_to()
            .map(|kind| AccountId::new(kind, &pending_account.owner))
            .expect("only pending accounts carry holds");
        let mut edit = AccountEdit {
            remove: r
                .released
                .iter()
                .map(|at| format!("{HOLD_PREFIX}{at}"))
                .collect(),
            ..AccountEdit::pinned(pending.version)
        };
        match &r.next {
            Some(next) => edit.set.push((SWEEP_AT.into(), s(next))),
            None => edit.remove.extend([SWEEP_SHARD.into(), SWEEP_AT.into()]),
        }
        let transfers = match r.amount {
            0 => vec![],
            amount => vec![Transfer::new(
                format!("release:{pending_account}:{}", pending.version),
                pending_account.clone(),
                available,
                amount,
                TransferKind::HoldRelease,
                &pending_account.owner,
            )?],
        };
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &transfers,
                at: &sortable(now),
                edits: [(pending_account, edit)].into(),
                ..Default::default()
            },
        )?;
        Ok(Some(r.amount))
    }
}

fn pending_earnings_from_item(item: &Item) -> Result<PendingEarnings, StoreError> {
    let id = super::attrs::get_s(item, "account_id")?;
    let account = AccountId::parse(id)
        .filter(|a| a.kind.released_to().is_some())
        .ok_or_else(|| StoreError::Corrupt(format!("held account {id}")))?;
    let mut holds = Vec::new();
    for (name, value) in item {
        if let Some(release_at) = name.strip_prefix(HOLD_PREFIX) {
            let amount = match value {
                AttributeValue::N(v) => v.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| StoreError::Corrupt(format!("hold {name} is not a number")))?;
            holds.push(Hold {
                release_at: release_at.to_owned(),
                amount,
            });
        }
    }
    Ok(PendingEarnings {
        account,
        version: get_n(item, "version")?,
        holds,
    })
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

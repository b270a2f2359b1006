//! Holds on pending accounts (a creator's gift earnings or commissions inside their hold), and
//! their release when due.
//!
//! A pending account keeps its holds as `hold:<release time>` amounts and is listed in the sweep
//! index (`hold#NN`) at its earliest release. Settlement only ever adds to holds that release in
//! the future, so a release conditioned on the due holds being exactly what it read never
//! collides with a creator who keeps earning: it is pinned to the account's version only when it
//! takes the account off the index (no hold left), so a hold added meanwhile is never dropped.

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{get_n, n, s, Item};
use super::ledger::{AccountEdit, LedgerWrite};
use super::settlement::HOLD_PREFIX;
use super::sweep::{hold_sweep_shard, Due, SWEEP_AT, SWEEP_SHARD};
use super::transaction::Tx;
use super::{Store, StoreError};
use crate::domain::ledger::{AccountId, LedgerError, Transfer, TransferKind};
use crate::domain::settlement::{release, Hold};
use crate::domain::time::sortable;

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
            (SWEEP_SHARD.into(), s(hold_sweep_shard(&account.owner))),
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
    /// Pending accounts with a hold due by `now`, as the (eventually consistent) index lists
    /// them: read each one again with [`Store::pending_earnings`] before releasing.
    pub async fn due_holds(&self, now: &str) -> Result<Due<PendingEarnings>, StoreError> {
        self.sweep_due("hold", None, now, pending_earnings_from_item)
            .await
    }

    /// A pending account's holds as stored now (strongly consistent).
    pub async fn pending_earnings(
        &self,
        account: &AccountId,
    ) -> Result<Option<PendingEarnings>, StoreError> {
        self.account_item(account)
            .await?
            .as_ref()
            .map(pending_earnings_from_item)
            .transpose()
    }

    /// Moves what is due from a pending account to its available account (see the module's
    /// conditions), paying off first what the owner owes (`debt`: their debt account, its
    /// balance and the version read, to which the release is pinned). Returns `None` if nothing
    /// is due.
    pub fn add_hold_release(
        &self,
        tx: &mut Tx,
        pending: &PendingEarnings,
        debt: Option<(&AccountId, i64, u64)>,
        now: time::OffsetDateTime,
    ) -> Result<Option<u64>, LedgerError> {
        let r = release(&pending.holds, now);
        if r.released.is_empty() {
            return Ok(None);
        }
        let pending_account = pending.account.clone();
        let available = pending_account
            .released()
            .expect("only pending accounts carry holds");
        let mut edit = AccountEdit {
            // Each due hold exactly as read: settlement never adds to a hold that is due.
            equals: pending
                .holds
                .iter()
                .filter(|h| r.released.contains(&h.release_at))
                .map(|h| (format!("{HOLD_PREFIX}{}", h.release_at), n(h.amount)))
                .collect(),
            remove: r
                .released
                .iter()
                .map(|at| format!("{HOLD_PREFIX}{at}"))
                .collect(),
            ..AccountEdit::default()
        };
        match &r.next {
            Some(next) => edit.set.push((SWEEP_AT.into(), s(next))),
            None => {
                // Off the index only if no hold was added since the read.
                edit.version = Some(pending.version);
                edit.remove.extend([SWEEP_SHARD.into(), SWEEP_AT.into()]);
            }
        }
        let id = format!("release:{pending_account}:{}", pending.version);
        let owed = debt.map_or(0, |(_, balance, _)| balance.min(0).unsigned_abs());
        let payoff = r.amount.min(owed);
        let mut transfers = Vec::new();
        let mut edits = std::collections::HashMap::new();
        if let (Some((debt, _, version)), true) = (debt, payoff > 0) {
            transfers.push(Transfer::new(
                format!("{id}:payoff"),
                pending_account.clone(),
                debt.clone(),
                payoff,
                TransferKind::ClawbackRecovery,
                &pending_account.owner,
            )?);
            // Pinned, so two releases (or a release and a payout) never pay one debt twice. A
            // debt booked after the read is paid by the next release or payout.
            edits.insert(debt.clone(), AccountEdit::pinned(version));
        }
        if r.amount > payoff {
            transfers.push(Transfer::new(
                id,
                pending_account.clone(),
                available,
                r.amount - payoff,
                TransferKind::HoldRelease,
                &pending_account.owner,
            )?);
        }
        edits.insert(pending_account, edit);
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &transfers,
                at: &sortable(now),
                edits,
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

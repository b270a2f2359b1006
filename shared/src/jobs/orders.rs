//! What time does to orders: an unpaid order expires when its payment window ends (stock and
//! the buyer's limits come back), and a delivered order completes when the seller's hold ends
//! (the seller's proceeds and the creator's commission move out of the order, exactly once).
//!
//! Both are pinned to the order's version: if a payment, a cancel or a refund changed the order
//! meanwhile, the order is read again and the decision made again, so stock is released once
//! and money moves once whoever wins.

use std::collections::HashMap;

use crate::domain::ledger::{AccountId, AccountKind, LedgerError};
use crate::domain::shop::{
    agency_cut, commission_release, completion_due, completion_transfers, split_order, Order,
    OrderStatus,
};
use crate::domain::time::{rfc3339, sortable};
use crate::store::holds::hold_edit;
use crate::store::ledger::AccountEdit;
use crate::store::orders::{order_moved, OrderChange, SweepAfter};
use crate::store::{Role, StoreError, Tx, TxError};
use crate::App;

/// Reads of an order before giving up on it for this run (each retry means another change to
/// the same order just won).
const MAX_ATTEMPTS: usize = 8;

/// What happened to one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This call made the change.
    Changed,
    /// Nothing to do: the order is elsewhere in its life (paid, refunded, completed already).
    Nothing(OrderStatus),
    /// Not due yet (a message arrived early; the sweeper sends another when it is).
    NotDue,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderJobError {
    #[error("no order {0}")]
    Missing(String),
    #[error("order {0} kept changing")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Tx(#[from] TxError),
}

/// Expires `order_id` if it is still unpaid: its units go back, once.
pub async fn expire(app: &App, order_id: &str) -> Result<Outcome, OrderJobError> {
    let now = app.clock.now();
    let at = sortable(now);
    // A payment made inside the window may still be on its way: expire after the grace.
    let due = sortable(now - app.config.shop.payment_grace);
    for _ in 0..MAX_ATTEMPTS {
        let order = read(app, order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            return Ok(Outcome::Nothing(order.status));
        }
        if order.expires_at > due {
            return Ok(Outcome::NotDue);
        }
        let mut tx = Tx::new();
        app.store.add_order_change(
            &mut tx,
            OrderChange {
                to: Some(OrderStatus::Expired),
                sweep: SweepAfter::Done,
                ..OrderChange::new(&order, &at)
            },
        )?;
        app.store.add_order_release(&mut tx, &order);
        match tx.commit(app.store.client()).await {
            Ok(()) => return Ok(Outcome::Changed),
            Err(err) if order_moved(&err, &order) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(OrderJobError::Busy(order_id.to_owned()))
}

async fn read(app: &App, order_id: &str) -> Result<Order, OrderJobError> {
    app.store
        .order(order_id)
        .await?
        .ok_or_else(|| OrderJobError::Missing(order_id.to_owned()))
}

/// Completes `order_id` if it is delivered and the seller's hold has ended: proceeds to the
/// seller (paying off what they owe for earlier refunds first), commission to the creator
/// (pending until its own hold ends), the fee left on the order.
pub async fn complete(app: &App, order_id: &str) -> Result<Outcome, OrderJobError> {
    let now = app.clock.now();
    let at = rfc3339(now);
    let policy = app.config.shop;
    for _ in 0..MAX_ATTEMPTS {
        let order = read(app, order_id).await?;
        if order.status != OrderStatus::Delivered {
            return Ok(Outcome::Nothing(order.status));
        }
        let delivered = delivered_at(&order)?;
        if completion_due(delivered, &policy) > now {
            return Ok(Outcome::NotDue);
        }
        let clawback = AccountId::new(AccountKind::SellerClawback, &order.seller_id);
        let (balance, version) = app.store.account_state(&clawback).await?;
        let debt = balance.min(0).unsigned_abs();

        let split = split_order(&order, policy.platform_fee_bps);
        let cut = match (&order.affiliate_id, order.at(OrderStatus::Paid)) {
            (Some(creator), Some(paid_at)) => {
                let attachments = app.store.attachments(creator).await?;
                agency_cut(&split, attachments.at(paid_at))
            }
            _ => None,
        };
        let release = commission_release(delivered, now, &policy);
        let transfers =
            completion_transfers(&order, &split, debt, release.is_some(), cut.as_ref())?;
        let mut other_edits = HashMap::new();
        if debt > 0 {
            // Pinned, so two completions cannot both pay off the same debt.
            other_edits.insert(clawback, AccountEdit::pinned(version));
        }
        // Each commission landing pending (the creator's, their agency's share) is held until
        // the commission's hold ends.
        if let Some(release) = release {
            for t in transfers
                .iter()
                .filter(|t| t.credit.kind.released_to().is_some())
            {
                let edit = hold_edit(&t.credit, &sortable(release), t.amount);
                other_edits.insert(t.credit.clone(), edit);
            }
        }
        let mut tx = Tx::new();
        app.store.add_order_change(
            &mut tx,
            OrderChange {
                to: Some(OrderStatus::Completed),
                transfers: &transfers,
                sweep: SweepAfter::Done,
                agency_cut: cut.as_ref(),
                other_edits,
                ..OrderChange::new(&order, &at)
            },
        )?;
        match tx.commit(app.store.client()).await {
            Ok(()) => {
                tracing::info!(%order_id, fee = split.fee, commission = split.commission, proceeds = split.proceeds, "order completed");
                return Ok(Outcome::Changed);
            }
            Err(err) if order_moved(&err, &order) => continue,
            // The clawback moved under us (a refund or another completion): read it again.
            Err(TxError::Cancelled(reasons))
                if reasons.iter().all(|c| {
                    c.conflict()
                        || matches!(&c.role, Role::Account(a) if a.kind == AccountKind::SellerClawback)
                }) =>
            {
                continue
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(OrderJobError::Busy(order_id.to_owned()))
}

pub(crate) fn delivered_at(order: &Order) -> Result<time::OffsetDateTime, StoreError> {
    order.delivered_at().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "delivered order {} has no delivery time",
            order.order_id
        ))
    })
}

//! `sweep-settlements`, on a schedule: re-drives gifts committed but still unfinished after the
//! grace period (a crash between commit and enqueue, a lost or dead-lettered message) through
//! the same settlement as the queue consumer — racing it is safe, every step is conditioned —
//! releases held earnings and commissions that are due, expires unpaid orders whose payment
//! window ended, sends delivered orders whose hold ended to the settlement queue, and sends
//! payouts still `requested` after the grace period to the payouts queue again.

use serde::Serialize;
use time::Duration;

use super::orders::{expire, Outcome};
use super::settlement::settle;
use crate::domain::ledger::Unit;
use crate::domain::shop::OrderStatus;
use crate::domain::time::sortable;
use crate::queue::payouts::PayoutQueue;
use crate::queue::settlement::{SettlementEvent, SettlementQueue};
use crate::store::{StoreError, Tx};
use crate::App;

#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    pub unfinished_gifts: usize,
    pub settled: usize,
    pub boarded: usize,
    pub failed: usize,
    pub poison: usize,
    pub holds_released: usize,
    /// Gift earnings released.
    pub diamonds_released: u64,
    /// Commissions released.
    pub cents_released: u64,
    pub orders_expired: usize,
    pub orders_due_for_completion: usize,
    pub orders_failed: usize,
    /// Requested payouts sent to the payouts queue again (their first message may be lost).
    pub payouts_resent: usize,
}

pub async fn sweep(
    app: &App,
    queue: &SettlementQueue,
    payouts: &PayoutQueue,
) -> Result<SweepReport, StoreError> {
    let now = app.clock.now();
    let grace =
        Duration::seconds(i64::try_from(app.config.sweep_grace_seconds).unwrap_or(i64::MAX));
    let cutoff = sortable(now - grace);
    let gifts = app.store.unfinished_gifts(&cutoff).await?;
    let settled = settle(app, &gifts).await;
    for id in settled.failed.iter() {
        tracing::warn!(gift_txn_id = %id, "sweep could not finish a gift; the next run retries");
    }
    for (id, reason) in &settled.poison {
        tracing::error!(gift_txn_id = %id, ?reason, "stored gift cannot be settled");
    }
    let mut report = SweepReport {
        unfinished_gifts: gifts.len(),
        settled: settled.settled,
        boarded: settled.boarded,
        failed: settled.failed.len(),
        poison: settled.poison.len(),
        ..SweepReport::default()
    };
    for pending in app.store.due_holds(&sortable(now)).await? {
        let mut tx = Tx::new();
        let amount = match app.store.add_hold_release(&mut tx, &pending, now) {
            Ok(Some(amount)) => amount,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, account = %pending.account, "cannot build hold release");
                continue;
            }
        };
        // A settlement adding a hold meanwhile moves the version: the next run releases.
        match tx.commit(app.store.client()).await {
            Ok(()) => {
                report.holds_released += 1;
                match pending.account.kind.unit() {
                    Unit::Coins => report.diamonds_released += amount,
                    Unit::Cents => report.cents_released += amount,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, account = %pending.account, "hold release deferred")
            }
        }
    }
    sweep_orders(app, queue, &sortable(now), &mut report).await?;
    for payout in app.store.stranded_payouts(&sortable(now)).await? {
        let next = sortable(now + grace);
        // Moved first: a payout that moved on meanwhile is not sent again.
        match app.store.payout_redriven(&payout, &next).await {
            Ok(true) => match payouts.send(&payout).await {
                Ok(()) => report.payouts_resent += 1,
                Err(e) => {
                    tracing::warn!(payout_id = %payout.payout_id, error = %e, "payout re-send failed; the next run retries")
                }
            },
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(payout_id = %payout.payout_id, error = %e, "payout re-send deferred")
            }
        }
    }
    tracing::info!(?report, "sweep");
    Ok(report)
}

/// Orders due by `now`: unpaid ones expire here (their stock must come back promptly); delivered
/// ones go through the settlement queue like every other settlement. An order stays in the index
/// until its change commits, so a failure here is retried by the next run.
async fn sweep_orders(
    app: &App,
    queue: &SettlementQueue,
    now: &str,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    for order in app.store.due_orders(now).await? {
        match order.status {
            OrderStatus::PendingPayment => match expire(app, &order.order_id).await {
                Ok(Outcome::Changed) => report.orders_expired += 1,
                Ok(_) => {}
                Err(e) => {
                    report.orders_failed += 1;
                    tracing::warn!(order_id = %order.order_id, error = %e, "order expiry deferred");
                }
            },
            OrderStatus::Delivered => {
                match queue
                    .send(&SettlementEvent::order_completion_due(&order.order_id))
                    .await
                {
                    Ok(()) => report.orders_due_for_completion += 1,
                    Err(e) => {
                        report.orders_failed += 1;
                        tracing::warn!(order_id = %order.order_id, error = %e, "completion enqueue deferred");
                    }
                }
            }
            other => {
                tracing::error!(order_id = %order.order_id, status = other.as_str(), "order in the sweep index has nothing due");
            }
        }
    }
    Ok(())
}

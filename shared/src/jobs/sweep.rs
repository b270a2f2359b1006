//! `sweep-settlements`, on a schedule: re-drives gifts committed but still unfinished after the
//! grace period (a crash between commit and enqueue, a lost or dead-lettered message) through
//! the same settlement as the queue consumer — racing it is safe, every step is conditioned —
//! releases held earnings and commissions that are due, expires unpaid orders whose payment
//! window ended, sends delivered orders whose hold ended to the settlement queue, and sends
//! payouts still `requested` after the grace period to the payouts queue again.

use serde::Serialize;
use std::time::Instant;

use time::OffsetDateTime;

use super::orders::{expire, Outcome};
use super::settlement::settle;
use crate::domain::ledger::{AccountId, LedgerError, PayeeKind, Unit};
use crate::domain::payouts::Payout;
use crate::domain::refunds::Refund;
use crate::domain::shop::OrderStatus;
use crate::domain::time::sortable;
use crate::queue::payouts::PayoutQueue;
use crate::queue::settlement::{SettlementEvent, SettlementQueue};
use crate::store::sweep::Due;
use crate::store::transaction::backoff;
use crate::store::{StoreError, Tx, TxError};
use crate::App;

#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    pub unfinished_gifts: usize,
    pub settled: usize,
    pub boarded: usize,
    pub failed: usize,
    pub poison: usize,
    /// Gifts sent after their stream's end plus the grace, refunded.
    pub refunded: usize,
    pub holds_released: usize,
    /// Holds due but not released this run (retried by the next).
    pub holds_deferred: usize,
    /// Gift earnings released.
    pub diamonds_released: u64,
    /// Commissions released.
    pub cents_released: u64,
    pub orders_expired: usize,
    pub orders_due_for_completion: usize,
    pub orders_failed: usize,
    /// Requested payouts sent to the payouts queue again (their first message may be lost).
    pub payouts_resent: usize,
    /// Requested refunds sent to the payouts queue again.
    pub refunds_resent: usize,
    /// Items in the index that could not be read (logged by key, counted in a metric).
    pub skipped: usize,
    /// Whether some kind had more due than one run takes on: the next run continues.
    pub more_due: bool,
    /// Steps that failed as a whole (a read of the index): the others still ran.
    pub failed_steps: Vec<&'static str>,
}

impl SweepReport {
    /// Takes what the index found due of one kind: its unreadable items and whether more is due
    /// go into the report, the items to work on come back.
    fn found<T>(&mut self, due: Due<T>) -> Vec<T> {
        self.skipped += due.skipped;
        self.more_due |= due.more;
        due.items
    }
}

/// Hold releases tried per account and run: each attempt reads the account again.
const HOLD_RELEASE_ATTEMPTS: u32 = 4;

/// How long one run may spend on items, half the sweep's 120 s timeout: a run that has used it
/// starts no further item (what is left stays due, `more_due`), so no run is cut off mid-step
/// and every step gets its turn within a run or the next.
const SWEEP_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn sweep(
    app: &App,
    queue: &SettlementQueue,
    payouts: &PayoutQueue,
) -> Result<SweepReport, SweepError> {
    let now = app.clock.now();
    let mut report = SweepReport::default();
    let deadline = Instant::now() + SWEEP_TIME_BUDGET;
    // Each step on its own: one that fails (its read of the index) does not stop the others.
    let steps = [
        ("gifts", sweep_gifts(app, now, &mut report).await),
        ("holds", sweep_holds(app, now, deadline, &mut report).await),
        (
            "orders",
            sweep_orders(app, queue, now, deadline, &mut report).await,
        ),
        (
            "payouts",
            sweep_payouts(app, payouts, now, deadline, &mut report).await,
        ),
    ];
    for (step, result) in steps {
        if let Err(e) = result {
            tracing::error!(step, error = %e, "sweep step failed; the next run retries it");
            report.failed_steps.push(step);
        }
    }
    tracing::info!(?report, "sweep");
    if report.failed_steps.is_empty() {
        Ok(report)
    } else {
        Err(SweepError::Steps(report.failed_steps.clone()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("sweep steps failed: {0:?}")]
    Steps(Vec<&'static str>),
}

/// Whether the run has used its time; if so, what is left is due for the next run.
fn out_of_time(deadline: Instant, report: &mut SweepReport) -> bool {
    let out = Instant::now() > deadline;
    report.more_due |= out;
    out
}

/// Gifts committed but unfinished after the grace period, through the same settlement as the
/// queue consumer.
async fn sweep_gifts(
    app: &App,
    now: OffsetDateTime,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let cutoff = sortable(now - app.config.sweep_grace());
    let due = app.store.unfinished_gifts(&cutoff).await?;
    let settled = settle(app, &due.items).await;
    for id in settled.failed.iter() {
        tracing::warn!(gift_txn_id = %id, "sweep could not finish a gift; the next run retries");
    }
    for (id, reason) in &settled.poison {
        tracing::error!(gift_txn_id = %id, ?reason, "stored gift cannot be settled");
    }
    report.unfinished_gifts = due.items.len();
    report.settled = settled.settled;
    report.boarded = settled.boarded;
    report.failed = settled.failed.len();
    report.poison = settled.poison.len();
    report.refunded = settled.refunded;
    report.found(due);
    Ok(())
}

/// Held earnings and commissions that are due. The index is eventually consistent, so each
/// account is read again first; a release that lost to a concurrent change reads and tries
/// again (`store::holds` says why a creator who keeps earning never starves it).
async fn sweep_holds(
    app: &App,
    now: OffsetDateTime,
    deadline: Instant,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let due = app.store.due_holds(&sortable(now)).await?;
    for listed in report.found(due) {
        if out_of_time(deadline, report) {
            break;
        }
        match release_hold(app, &listed.account, now).await {
            Ok(Some(amount)) => {
                report.holds_released += 1;
                match listed.account.kind.unit() {
                    Unit::Coins => report.diamonds_released += amount,
                    Unit::Cents => report.cents_released += amount,
                }
            }
            Ok(None) => {}
            Err(e) => {
                report.holds_deferred += 1;
                tracing::warn!(error = %e, account = %listed.account, "hold release deferred to the next run");
            }
        }
    }
    Ok(())
}

async fn release_hold(
    app: &App,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<Option<u64>, ReleaseError> {
    for attempt in 1..=HOLD_RELEASE_ATTEMPTS {
        let Some(pending) = app.store.pending_earnings(account).await? else {
            return Ok(None);
        };
        // What the owner owes in the released unit is paid off first (a creator's chargeback
        // debt, from their next released earnings).
        let debt = account
            .kind
            .released_to()
            .and_then(PayeeKind::paying_debt_from)
            .map(|payee| AccountId::new(payee.debt(), account.payee_owner()));
        let debt_state = match &debt {
            Some(debt) => Some(app.store.account_state(debt).await?),
            None => None,
        };
        let debt = debt.as_ref().zip(debt_state).map(|(a, (b, v))| (a, b, v));
        let mut tx = Tx::new();
        let Some(amount) = app.store.add_hold_release(&mut tx, &pending, debt, now)? else {
            return Ok(None);
        };
        match tx.commit(app.store.client()).await {
            Ok(()) => return Ok(Some(amount)),
            Err(TxError::Cancelled(_)) if attempt < HOLD_RELEASE_ATTEMPTS => backoff(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ReleaseError::KeptMoving)
}

#[derive(Debug, thiserror::Error)]
enum ReleaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the account kept changing")]
    KeptMoving,
}

/// Orders due by `now`: unpaid ones expire here (their stock must come back promptly); delivered
/// ones go through the settlement queue like every other settlement, and come back to the sweep
/// only after the grace period if that message is lost. An order stays in the index until its
/// change commits, so a failure here is retried by a later run.
async fn sweep_orders(
    app: &App,
    queue: &SettlementQueue,
    now: OffsetDateTime,
    deadline: Instant,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let due = app.store.due_orders(&sortable(now)).await?;
    for order in report.found(due) {
        if out_of_time(deadline, report) {
            break;
        }
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
                // Moved first: an order that completed meanwhile is not sent again.
                let next = sortable(now + app.config.sweep_grace());
                let sent = match app.store.order_redriven(&order, &next).await {
                    Ok(true) => queue
                        .send(&SettlementEvent::order_completion_due(&order.order_id))
                        .await
                        .map_err(|e| e.to_string()),
                    Ok(false) => continue,
                    Err(e) => Err(e.to_string()),
                };
                match sent {
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

/// A payout or refund still `requested` or `processing` after the grace period: its message may
/// be lost, or spent (the DLQ) before the provider settled it.
enum Stranded {
    Payout(Payout),
    Refund(Refund),
}

/// Payouts and refunds still unsettled after the grace period, sent to the executor again (which
/// looks a `processing` one up at the provider before anything is sent).
async fn sweep_payouts(
    app: &App,
    payouts: &PayoutQueue,
    now: OffsetDateTime,
    deadline: Instant,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let until = sortable(now);
    let stranded_payouts = app.store.stranded_payouts(&until).await?;
    let stranded_refunds = app.store.stranded_refunds(&until).await?;
    let mut stranded: Vec<Stranded> = report
        .found(stranded_payouts)
        .into_iter()
        .map(Stranded::Payout)
        .collect();
    stranded.extend(
        report
            .found(stranded_refunds)
            .into_iter()
            .map(Stranded::Refund),
    );
    let next = sortable(now + app.config.sweep_grace());
    for item in stranded {
        if out_of_time(deadline, report) {
            break;
        }
        // Moved first: a record that moved on meanwhile is not sent again.
        let (id, redriven) = match &item {
            Stranded::Payout(p) => (&p.payout_id, app.store.payout_redriven(p, &next).await),
            Stranded::Refund(r) => (&r.refund_id, app.store.refund_redriven(r, &next).await),
        };
        match redriven {
            Ok(true) => {
                let sent = match &item {
                    Stranded::Payout(p) => payouts.send(p).await,
                    Stranded::Refund(r) => payouts.send_refund(r).await,
                };
                match (sent, &item) {
                    (Ok(()), Stranded::Payout(_)) => report.payouts_resent += 1,
                    (Ok(()), Stranded::Refund(_)) => report.refunds_resent += 1,
                    (Err(e), _) => {
                        tracing::warn!(%id, error = %e, "money-out re-send failed; the next run retries")
                    }
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(%id, error = %e, "money-out re-send deferred"),
        }
    }
    Ok(())
}

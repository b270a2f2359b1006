//! `sweep-settlements`, on a schedule: re-drives gifts committed but still unfinished after the
//! grace period (a crash between commit and enqueue, a lost or dead-lettered message) through
//! the same settlement as the queue consumer — racing it is safe, every step is conditioned —
//! and releases creators' held earnings that are due.

use serde::Serialize;
use time::Duration;

use super::settlement::settle;
use crate::domain::time::sortable;
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
    pub diamonds_released: u64,
}

pub async fn sweep(app: &App) -> Result<SweepReport, StoreError> {
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
                tracing::error!(error = %e, creator_id = %pending.creator_id, "cannot build hold release");
                continue;
            }
        };
        // A settlement adding a hold meanwhile moves the version: the next run releases.
        match tx.commit(app.store.client()).await {
            Ok(()) => {
                report.holds_released += 1;
                report.diamonds_released += amount;
            }
            Err(e) => {
                tracing::warn!(error = %e, creator_id = %pending.creator_id, "hold release deferred")
            }
        }
    }
    tracing::info!(?report, "sweep");
    Ok(report)
}

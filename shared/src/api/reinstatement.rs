//! A `chargeback.won` (Stripe's `charge.dispute.closed` as `won`): what the chargeback took is
//! given back once (`domain::reinstatement`), in the same transaction as the event's record and
//! the chargeback's marker, which records who gave it back.

use std::collections::HashMap;

use crate::domain::ledger::AccountId;
use crate::domain::payments::ChargebackWon;
use crate::domain::reinstatement::{reinstate_order, win, Taken, Win};
use crate::domain::shop::{commission_release, completion_due, OrderStatus, ShopError};
use crate::domain::time::sortable;
use crate::http::{record_business_id, ApiError};
use crate::store::chargebacks::{untrace_edits, Charged};
use crate::store::holds::hold_edit;
use crate::store::ledger::LedgerWrite;
use crate::store::orders::{OrderChange, SweepAfter};
use crate::store::Tx;
use crate::App;

/// Adds the reinstatement of `e`'s chargeback to `tx`, and says what it did. The marker is the
/// exactly-once guard: two events of one won dispute, or a retry, find it given back.
pub(super) async fn reinstate(
    app: &App,
    tx: &mut Tx,
    won: (&str, &str),
    e: &ChargebackWon,
    pinned: &mut Vec<AccountId>,
) -> Result<String, ApiError> {
    let charged = Charged::from(&e.of);
    let marker = app.store.chargeback(charged).await?;
    let (marker, taken) = match win(marker.as_ref(), &e.chargeback_event_id) {
        Win::GiveBack(marker, taken) => (marker, taken),
        Win::Unchanged(why) => return Ok(why.to_owned()),
        Win::MarkWonFirst { replaces } => {
            // A payment may not have arrived yet; an order is placed before anything pays it.
            if let Charged::Order(order_id) = charged {
                app.store
                    .order(order_id)
                    .await?
                    .ok_or(ShopError::OrderNotFound)?;
            }
            app.store
                .add_won_first(tx, charged, &e.chargeback_event_id, won, replaces);
            return Ok("unchanged:nothing_taken".to_owned());
        }
        Win::NotBooked => {
            return Err(ApiError::NotBooked(format!(
                "chargeback {} took what a win cannot give back as it was taken (a payment \
                 disputed before it arrived, or an order refund the dispute superseded): \
                 docs/runbook.md, Stripe events livepay does not book",
                e.chargeback_event_id
            )))
        }
    };
    app.store.add_reinstatement(tx, charged, marker, won);
    match charged {
        Charged::Purchase(_) => {
            let transfers = taken.given_back(won.0, false)?;
            app.store.add_ledger_write(
                tx,
                LedgerWrite {
                    transfers: &transfers,
                    at: won.1,
                    edits: untrace_edits(&taken.traced),
                    ..Default::default()
                },
            )?;
            Ok("reinstated".to_owned())
        }
        Charged::Order(order_id) => {
            reinstate_an_order(app, tx, won.0, order_id, taken, pinned).await
        }
    }
}

/// The order back where the dispute found it: a delivered one due for completion again, a
/// commission taken from its return window back in it.
async fn reinstate_an_order(
    app: &App,
    tx: &mut Tx,
    won_event_id: &str,
    order_id: &str,
    taken: &Taken,
    pinned: &mut Vec<AccountId>,
) -> Result<String, ApiError> {
    let order = app
        .store
        .order(order_id)
        .await?
        .ok_or(ShopError::OrderNotFound)?;
    record_business_id(&order.order_id);
    pinned.push(order.account());
    // A reversed order is refunded, and nothing but this moves a refunded order on.
    if order.status != OrderStatus::Refunded {
        return Err(ApiError::Internal(format!(
            "order {order_id} was charged back but is {}",
            order.status.as_str()
        )));
    }
    let now = app.clock.now();
    let policy = &app.config.shop;
    let release = order
        .delivered_at()
        .and_then(|delivered| commission_release(delivered, now, policy));
    let back = reinstate_order(taken, &order, won_event_id, release.is_some())?;
    let mut other_edits = HashMap::new();
    if let Some(release) = release {
        for (pending, amount) in &back.commission_holds {
            let edit = hold_edit(pending, &sortable(release), *amount);
            other_edits.insert(pending.clone(), edit);
        }
    }
    let sweep = match (back.status, order.delivered_at()) {
        (Some(OrderStatus::Delivered), Some(delivered)) => {
            SweepAfter::DueAt(sortable(completion_due(delivered, policy)))
        }
        _ => SweepAfter::Done,
    };
    // Orders keep their steps' times sortable.
    let at = sortable(now);
    app.store.add_order_change(
        tx,
        OrderChange {
            back_to: back.status,
            transfers: &back.transfers,
            sweep,
            other_edits,
            ..OrderChange::new(&order, &at)
        },
    )?;
    Ok(match back.status {
        Some(status) => format!("order_reinstated:{}", status.as_str()),
        None => "double_repayment_returned".to_owned(),
    })
}

//! A `chargeback.won` (Stripe's `charge.dispute.closed` as `won`): what the chargeback took is
//! given back once (`domain::reinstatement`), in the same transaction as the event's record and
//! the chargeback's marker, which records who gave it back.

use crate::domain::ledger::AccountId;
use crate::domain::payments::ChargebackWon;
use crate::domain::shop::{OrderStatus, ShopError};
use crate::domain::time::sortable;
use crate::http::{record_business_id, ApiError};
use crate::store::chargebacks::{untrace_edits, Charged};
use crate::store::ledger::LedgerWrite;
use crate::store::orders::{OrderChange, SweepAfter};
use crate::store::Tx;
use crate::App;

/// Adds the reinstatement of `e`'s chargeback to `tx`, and says what it did. The marker is the
/// exactly-once guard: two events of one won dispute, or a retry, find it given back.
pub(super) async fn reinstate(
    app: &App,
    tx: &mut Tx,
    (won_event_id, at): (&str, &str),
    e: &ChargebackWon,
    pinned: &mut Vec<AccountId>,
) -> Result<String, ApiError> {
    let charged = Charged::from(&e.of);
    let not_booked = |why: &str| {
        ApiError::NotBooked(format!(
            "{why}: nothing to give back for chargeback {} (docs/runbook.md, Stripe events \
             livepay does not book)",
            e.chargeback_event_id
        ))
    };
    let Some(marker) = app.store.chargeback(charged).await? else {
        return Err(not_booked("no chargeback of it was booked"));
    };
    // Another event reversed it (a dashboard refund before the dispute): this dispute took
    // nothing, so its win gives nothing back.
    if marker.event_id != e.chargeback_event_id {
        return Ok("unchanged:reversed_by_another_event".to_owned());
    }
    if marker.reinstated_by.is_some() {
        return Ok("already_reinstated".to_owned());
    }
    let Some(taken) = &marker.taken else {
        return Err(not_booked(
            "it took nothing that can be given back (a payment disputed before it arrived, or a \
             refund the dispute superseded)",
        ));
    };
    app.store
        .add_reinstatement(tx, charged, &marker, (won_event_id, at));
    match charged {
        Charged::Purchase(_) => {
            let transfers = taken.given_back(won_event_id)?;
            app.store.add_ledger_write(
                tx,
                LedgerWrite {
                    transfers: &transfers,
                    at,
                    edits: untrace_edits(&taken.traced),
                    ..Default::default()
                },
            )?;
            Ok("reinstated".to_owned())
        }
        Charged::Order(order_id) => {
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
            let fee_bps = app.config.shop.platform_fee_bps;
            let transfers = taken.order_given_back(&order, won_event_id, fee_bps)?;
            let restored = taken.restores_sale();
            // Orders keep their steps' times sortable.
            let at = sortable(app.clock.now());
            app.store.add_order_change(
                tx,
                OrderChange {
                    to: restored.then_some(OrderStatus::Completed),
                    transfers: &transfers,
                    sweep: SweepAfter::Done,
                    ..OrderChange::new(&order, &at)
                },
            )?;
            Ok(match restored {
                true => "order_reinstated",
                false => "double_repayment_returned",
            }
            .to_owned())
        }
    }
}

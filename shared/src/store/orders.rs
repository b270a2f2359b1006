//! Orders, in the ledger table: an order's record is its own ledger account (`order:<id>`), the
//! way a gift's is, so payment, completion and refund move money and change the order's status
//! in one conditioned update of one item.
//!
//! Every change is pinned to the order's version as it was read: of two racing changes (expiry,
//! cancel, a payment) exactly one commits, and the loser re-reads and decides again. While an
//! order awaits payment or its hold after delivery, it sits in the sweep index (`order#NN`,
//! `sweep_at` = when it is due), which is how expiry and completion are driven by time. From
//! payment until it completes or is refunded, an order carries `open_seller`
//! (`<seller>#NN`, one of 16 shards by order id), which puts it in the sparse `open_orders`
//! index: a seller's pending proceeds, read without any per-seller item written by every
//! payment, and a flash sale's payments spread over 16 index partitions, not one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{get_n, get_s, key, n, opt_n, opt_s, s, Item};
use super::ledger::{account_pk, ACCOUNT_SK};
use super::ledger::{AccountEdit, LedgerWrite, TransferRecords};
use super::products::Units;
use super::settlement::AGENCY_ID;
use super::sweep::{order_sweep_shard, Due, SWEEP_AT, SWEEP_SHARD};
use super::transaction::{Role, Tx, TxError};
use super::{Store, StoreError};
use crate::domain::agencies::Funding;
use crate::domain::ledger::{AccountId, AccountKind, LedgerError, Transfer};
use crate::domain::refunds::Refund;
use crate::domain::shop::{AgencyCut, Order, OrderLine, OrderStatus};

/// On a completed order whose creator's agency took a cut: the cut, and whose share funded it.
const AGENCY_CENTS: &str = "agency_cents";
const AGENCY_FUNDED_BY: &str = "agency_funded_by";
/// Set when a refund after completion gave a platform-funded cut back to the order's fee.
const AGENCY_CUT_RETURNED: &str = "agency_cut_returned_at";

/// The attribute that lists a paid, open order under its seller (the `open_orders` index).
const OPEN_SELLER: &str = "open_seller";
/// On an order a won dispute brought back after its reversal had released its units.
const UNITS_RELEASED: &str = "units_released";
/// Open orders read for one seller's pending balance: a flash sale's worth, and then some.
pub const MAX_OPEN_ORDERS_READ: usize = 10_000;
/// Index partitions one seller's open orders spread over.
const OPEN_SHARDS: u8 = 16;

fn open_shard(seller_id: &str, order_id: &str) -> String {
    let shard = crate::domain::ids::digest(&[order_id])[0] % OPEN_SHARDS;
    format!("{seller_id}#{shard:02}")
}

/// What a change does to the order's place in the sweep index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepAfter {
    Unchanged,
    /// Due for the sweeper at this (sortable) time.
    DueAt(String),
    /// Nothing left for the sweeper to do.
    Done,
}

/// One change to an order: a new status and when, the money it moves, and the other accounts
/// it pins.
#[derive(Debug)]
pub struct OrderChange<'a> {
    pub order: &'a Order,
    pub to: Option<OrderStatus>,
    /// Back to a status it had, keeping when that step happened (a won dispute's order).
    pub back_to: Option<OrderStatus>,
    pub at: &'a str,
    pub transfers: &'a [Transfer],
    pub sweep: SweepAfter,
    pub refund_reason: Option<&'a str>,
    /// A payment owed back to the buyer, shown on the order.
    pub owed_back_cents: u64,
    /// The payment event that paid the order.
    pub paid_by: Option<&'a str>,
    /// A refund this change starts (written in the same transaction), shown on the order.
    pub refund: Option<&'a Refund>,
    /// The agency's cut a completion books: kept on the order, and on the creator's
    /// statement entry.
    pub agency_cut: Option<&'a AgencyCut>,
    /// A refund gives the platform-funded cut back to the order's fee.
    pub agency_cut_returned: bool,
    pub other_edits: HashMap<AccountId, AccountEdit>,
}

impl<'a> OrderChange<'a> {
    pub fn new(order: &'a Order, at: &'a str) -> Self {
        Self {
            order,
            to: None,
            back_to: None,
            at,
            transfers: &[],
            sweep: SweepAfter::Unchanged,
            refund_reason: None,
            owed_back_cents: 0,
            paid_by: None,
            refund: None,
            agency_cut: None,
            agency_cut_returned: false,
            other_edits: HashMap::new(),
        }
    }
}

impl Store {
    /// Opens the order's account (balance 0) as its record, due for expiry at `expires_at`.
    pub fn add_new_order(&self, tx: &mut Tx, order: &Order) -> Result<(), LedgerError> {
        let mut record = HashMap::from([
            ("order_id".to_owned(), s(&order.order_id)),
            ("buyer_id".to_owned(), s(&order.buyer_id)),
            ("seller_id".to_owned(), s(&order.seller_id)),
            ("lines".to_owned(), lines_value(&order.lines)),
            ("total_cents".to_owned(), n(order.total_cents)),
            ("status".to_owned(), s(order.status.as_str())),
            ("placed_at".to_owned(), s(&order.placed_at)),
            ("expires_at".to_owned(), s(&order.expires_at)),
            (
                SWEEP_SHARD.to_owned(),
                s(order_sweep_shard(&order.order_id)),
            ),
            (SWEEP_AT.to_owned(), s(&order.expires_at)),
        ]);
        for (name, value) in [
            ("stream_id", &order.stream_id),
            ("affiliate_id", &order.affiliate_id),
        ] {
            if let Some(v) = value {
                record.insert(name.to_owned(), s(v));
            }
        }
        self.add_ledger_write(
            tx,
            LedgerWrite {
                at: &order.placed_at,
                opened: HashMap::from([(order.account(), record)]),
                ..Default::default()
            },
        )
    }

    /// A seller's paid orders that have not completed or been refunded (at most
    /// `MAX_OPEN_ORDERS_READ`; `true` when there were more).
    pub async fn open_orders(&self, seller_id: &str) -> Result<(Vec<Order>, bool), StoreError> {
        let shards = (0..OPEN_SHARDS).map(|shard| async move {
            let mut pages = self
                .client
                .query()
                .table_name(&self.tables.ledger)
                .index_name(&self.tables.ledger_open_orders_index)
                .key_condition_expression("#seller = :seller")
                .expression_attribute_names("#seller", OPEN_SELLER)
                .expression_attribute_values(":seller", s(format!("{seller_id}#{shard:02}")))
                .into_paginator()
                .items()
                .send();
            let mut orders = Vec::new();
            while let Some(item) = pages.next().await {
                if orders.len() == MAX_OPEN_ORDERS_READ / usize::from(OPEN_SHARDS) {
                    return Ok((orders, true));
                }
                orders.push(order_from_item(
                    &item.map_err(|e| super::sdk_error("Query", e))?,
                )?);
            }
            Ok::<_, StoreError>((orders, false))
        });
        let mut open = Vec::new();
        let mut more = false;
        for shard in futures::future::try_join_all(shards).await? {
            open.extend(shard.0);
            more |= shard.1;
        }
        Ok((open, more))
    }

    /// Orders whose payment window or hold after delivery ended by `now`.
    pub async fn due_orders(&self, now: &str) -> Result<Due<Order>, StoreError> {
        self.sweep_due("order", None, now, order_from_item).await
    }

    /// Moves a delivered order's next turn in the sweep to `next` once its completion was sent
    /// to the settlement queue, so the sweeper does not send it again every minute; `false` if
    /// the order moved on (completed) meanwhile. If the message is lost, `next` brings it back.
    pub async fn order_redriven(&self, order: &Order, next: &str) -> Result<bool, StoreError> {
        let account = AccountId::order(&order.order_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(key(account_pk(&account), ACCOUNT_SK)))
            .update_expression("SET #at = :next")
            .condition_expression("version = :version AND attribute_exists(#at)")
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":version", n(order.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(super::sdk_error("UpdateItem", e)),
        }
    }

    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.account_item(&AccountId::order(order_id))
            .await?
            .as_ref()
            .map(order_from_item)
            .transpose()
    }

    /// Adds `change` to `tx`, pinned to the order's version.
    pub fn add_order_change(
        &self,
        tx: &mut Tx,
        change: OrderChange<'_>,
    ) -> Result<(), LedgerError> {
        let mut edit = AccountEdit::pinned(change.order.version);
        if let Some(to) = change.to {
            edit.set.push(("status".into(), s(to.as_str())));
            edit.set.push((format!("{}_at", to.as_str()), s(change.at)));
            match to {
                OrderStatus::Paid => edit.set.push((
                    OPEN_SELLER.into(),
                    s(open_shard(&change.order.seller_id, &change.order.order_id)),
                )),
                OrderStatus::Completed | OrderStatus::Refunded => {
                    edit.remove.push(OPEN_SELLER.into())
                }
                _ => {}
            }
        }
        if let Some(back) = change.back_to {
            edit.set.push(("status".into(), s(back.as_str())));
            edit.remove
                .extend(["refund_reason".into(), "refunded_at".into()]);
            // Reversed before it completed, its units went back, and they are not taken again.
            if back != OrderStatus::Completed {
                edit.set
                    .push((UNITS_RELEASED.into(), AttributeValue::Bool(true)));
            }
            match back {
                OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered => {
                    edit.set.push((
                        OPEN_SELLER.into(),
                        s(open_shard(&change.order.seller_id, &change.order.order_id)),
                    ))
                }
                _ => edit.remove.push(OPEN_SELLER.into()),
            }
        }
        match change.sweep {
            SweepAfter::Unchanged => {}
            SweepAfter::DueAt(at) => {
                edit.set.push((
                    SWEEP_SHARD.into(),
                    s(order_sweep_shard(&change.order.order_id)),
                ));
                edit.set.push((SWEEP_AT.into(), s(at)));
            }
            SweepAfter::Done => edit.remove.extend([SWEEP_SHARD.into(), SWEEP_AT.into()]),
        }
        if let Some(reason) = change.refund_reason {
            edit.set.push(("refund_reason".into(), s(reason)));
        }
        if change.owed_back_cents > 0 {
            edit.add
                .push(("owed_back_cents".into(), n(change.owed_back_cents)));
        }
        if let Some(event_id) = change.paid_by {
            edit.set.push(("payment_event_id".into(), s(event_id)));
        }
        if let Some(refund) = change.refund {
            edit.set.push(("refund_id".into(), s(&refund.refund_id)));
            edit.set
                .push(("refund_created_at".into(), s(&refund.created_at)));
        }
        if change.agency_cut_returned {
            edit.set.push((AGENCY_CUT_RETURNED.into(), s(change.at)));
        }
        let mut entry_notes = HashMap::new();
        if let (Some(cut), Some(creator)) = (change.agency_cut, &change.order.affiliate_id) {
            edit.set.extend([
                (AGENCY_ID.into(), s(&cut.agency_id)),
                (AGENCY_CENTS.into(), n(cut.cents)),
                (AGENCY_FUNDED_BY.into(), s(cut.funded_by.as_str())),
            ]);
            let notes = Item::from([
                (AGENCY_ID.to_owned(), s(&cut.agency_id)),
                ("agency_cut".to_owned(), n(cut.cents)),
            ]);
            // The creator's entry is on whichever commission account the commission landed.
            for kind in [AccountKind::CommissionPending, AccountKind::Commission] {
                entry_notes.insert(AccountId::new(kind, creator), notes.clone());
            }
        }
        let mut edits = change.other_edits;
        edits.insert(change.order.account(), edit);
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: change.transfers,
                at: change.at,
                edits,
                records: TransferRecords::Items,
                entry_notes,
                ..Default::default()
            },
        )
    }

    /// Puts the order's units back: stock, and the buyer's limits.
    pub fn add_order_release(&self, tx: &mut Tx, order: &Order) {
        if order.units_released {
            return;
        }
        for line in &order.lines {
            self.add_stock_release(tx, &line.product_id, line.quantity);
        }
        self.add_buyer_limit_release(tx, &order.seller_id, &order.buyer_id, &order_units(order));
    }
}

/// Whether a cancelled commit failed because the order moved on meanwhile (another change to it
/// won), or only because concurrent transactions conflicted: read the order again and decide
/// again. Once the order's own condition failed, whatever else failed with it does not matter:
/// the items keyed by the order (its refund's transfers and record) collide only because the
/// other change made them first, and the new decision sees that.
pub fn order_moved(err: &TxError, order: &Order) -> bool {
    let TxError::Cancelled(reasons) = err else {
        return false;
    };
    let account = Role::Account(order.account());
    reasons
        .iter()
        .any(|c| c.role == account && c.condition_failed())
        || (!reasons.is_empty() && reasons.iter().all(|c| c.conflict()))
}

/// The order's lines as units held against the buyer's limits.
pub fn order_units(order: &Order) -> Vec<Units<'_>> {
    order
        .lines
        .iter()
        .map(|l| Units {
            product_id: &l.product_id,
            quantity: l.quantity,
            limit: l.per_buyer_limit,
        })
        .collect()
}

fn lines_value(lines: &[OrderLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|l| {
                let mut m = HashMap::from([
                    ("product_id".to_owned(), s(&l.product_id)),
                    ("quantity".to_owned(), n(l.quantity)),
                    ("unit_price_cents".to_owned(), n(l.unit_price_cents)),
                    ("affiliate_rate_bps".to_owned(), n(l.affiliate_rate_bps)),
                ]);
                if let Some(limit) = l.per_buyer_limit {
                    m.insert("per_buyer_limit".into(), n(limit));
                }
                AttributeValue::M(m)
            })
            .collect(),
    )
}

fn lines_from(item: &Item) -> Result<Vec<OrderLine>, StoreError> {
    let corrupt = || StoreError::Corrupt("order lines".into());
    let list = item
        .get("lines")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(corrupt)?;
    list.iter()
        .map(|v| {
            let m = v.as_m().map_err(|_| corrupt())?;
            Ok(OrderLine {
                product_id: get_s(m, "product_id")?.to_owned(),
                quantity: get_n(m, "quantity")?,
                unit_price_cents: get_n(m, "unit_price_cents")?,
                affiliate_rate_bps: get_n(m, "affiliate_rate_bps")?,
                per_buyer_limit: opt_n(m, "per_buyer_limit")?,
            })
        })
        .collect()
}

pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    let status = OrderStatus::parse(status)
        .ok_or_else(|| StoreError::Corrupt(format!("order status {status}")))?;
    // Every step but the first records when it happened as `<status>_at`.
    let history = OrderStatus::ALL
        .into_iter()
        .filter(|st| *st != OrderStatus::PendingPayment)
        .filter_map(|st| opt_s(item, &format!("{}_at", st.as_str())).map(|at| (st, at)))
        .collect();
    Ok(Order {
        order_id: get_s(item, "order_id")?.to_owned(),
        buyer_id: get_s(item, "buyer_id")?.to_owned(),
        seller_id: get_s(item, "seller_id")?.to_owned(),
        stream_id: opt_s(item, "stream_id"),
        affiliate_id: opt_s(item, "affiliate_id"),
        lines: lines_from(item)?,
        total_cents: get_n(item, "total_cents")?,
        status,
        placed_at: get_s(item, "placed_at")?.to_owned(),
        expires_at: get_s(item, "expires_at")?.to_owned(),
        history,
        refund_reason: opt_s(item, "refund_reason"),
        owed_back_cents: opt_n(item, "owed_back_cents")?.unwrap_or(0),
        payment_event_id: opt_s(item, "payment_event_id"),
        refund: opt_s(item, "refund_id").zip(opt_s(item, "refund_created_at")),
        units_released: item.contains_key(UNITS_RELEASED),
        agency_cut: agency_cut_from(item)?,
        version: get_n(item, "version")?,
    })
}

/// The agency's cut a completion booked on the order, if any.
fn agency_cut_from(item: &Item) -> Result<Option<AgencyCut>, StoreError> {
    let Some(agency_id) = opt_s(item, AGENCY_ID) else {
        return Ok(None);
    };
    let funded_by = get_s(item, AGENCY_FUNDED_BY)?;
    Ok(Some(AgencyCut {
        agency_id,
        returned: item.contains_key(AGENCY_CUT_RETURNED),
        cents: get_n(item, AGENCY_CENTS)?,
        funded_by: Funding::parse(funded_by)
            .ok_or_else(|| StoreError::Corrupt(format!("agency funding {funded_by}")))?,
    }))
}

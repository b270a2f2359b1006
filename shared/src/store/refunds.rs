//! Buyer refunds, in the ledger table:
//! - `REFUNDS#<buyer>` / `<created_at>#<refund_id>`: a refund, newest last; while `requested`
//!   it sits in the sweep index (`refund#NN`), so a refund whose queue message was lost is sent
//!   again. It carries `releases` = 0, so the payout machine's status steps
//!   (`Store::marked_processing`, `Store::redriven`) apply to it unchanged.
//!
//! A refund is written in the same transaction as the credit to `refund-owed` it pays out, and
//! every status change is conditioned on the status it was decided from, in the same
//! transaction as the money it moves.

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_n, get_s, key, n, opt_n, opt_s, s, Item};
use super::ledger::LedgerWrite;
use super::payouts::{Resend, SAME_ATTEMPT};
use super::sweep::{refund_sweep_shard, Due, SWEEP_AT, SWEEP_SHARD};
use super::transaction::{put_new, Role, Tx};
use super::{Store, StoreError};
use crate::domain::admin::AdminAction;
use crate::domain::ledger::LedgerError;
use crate::domain::payouts::ProviderOutcome;
use crate::domain::refunds::{Refund, RefundStatus};

/// Refunds listed at most for one buyer (newest first).
pub const MAX_REFUNDS_LISTED: i32 = 200;

/// Where a refund is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundKey {
    pub buyer_id: String,
    pub sort_key: String,
}

impl RefundKey {
    pub fn new(buyer_id: &str, created_at: &str, refund_id: &str) -> Self {
        Self {
            buyer_id: buyer_id.to_owned(),
            sort_key: format!("{created_at}#{refund_id}"),
        }
    }

    pub fn of(refund: &Refund) -> Self {
        Self::new(&refund.buyer_id, &refund.created_at, &refund.refund_id)
    }

    pub(crate) fn item_key(&self) -> Item {
        key(format!("REFUNDS#{}", self.buyer_id), &self.sort_key)
    }
}

impl Store {
    /// The refund's record, due for a re-send by the sweeper at `redrive_at`.
    pub fn add_new_refund(&self, tx: &mut Tx, refund: &Refund, redrive_at: &str) {
        let mut item = RefundKey::of(refund).item_key();
        item.extend([
            ("refund_id".to_owned(), s(&refund.refund_id)),
            ("buyer_id".to_owned(), s(&refund.buyer_id)),
            ("amount_cents".to_owned(), n(refund.amount_cents)),
            ("payment_ref".to_owned(), s(&refund.payment_ref)),
            ("status".to_owned(), s(refund.status.as_str())),
            ("created_at".to_owned(), s(&refund.created_at)),
            ("releases".to_owned(), n(0)),
            (
                SWEEP_SHARD.to_owned(),
                s(refund_sweep_shard(&refund.refund_id)),
            ),
            (SWEEP_AT.to_owned(), s(redrive_at)),
        ]);
        if let Some(order_id) = &refund.order_id {
            item.insert("order_id".to_owned(), s(order_id));
        }
        tx.push(
            Role::Refund(refund.refund_id.clone()),
            put_new(&self.tables.ledger, item),
        );
        // The provider's confirmations name the refund by its id alone.
        let mut locator = refund_locator(&refund.refund_id);
        locator.extend([
            ("buyer_id".to_owned(), s(&refund.buyer_id)),
            ("created_at".to_owned(), s(&refund.created_at)),
        ]);
        tx.push(
            Role::Refund(refund.refund_id.clone()),
            put_new(&self.tables.ledger, locator),
        );
    }

    /// A refund found by its id alone.
    pub async fn refund_by_id(&self, refund_id: &str) -> Result<Option<Refund>, StoreError> {
        let Some(item) = self
            .get_item(&self.tables.ledger, refund_locator(refund_id))
            .await?
        else {
            return Ok(None);
        };
        let key = RefundKey::new(
            get_s(&item, "buyer_id")?,
            get_s(&item, "created_at")?,
            refund_id,
        );
        self.refund(&key).await
    }

    pub async fn refund(&self, key: &RefundKey) -> Result<Option<Refund>, StoreError> {
        self.get_item(&self.tables.ledger, key.item_key())
            .await?
            .as_ref()
            .map(refund_from_item)
            .transpose()
    }

    /// `requested` → `processing`, once: false if the refund had moved on. The sweeper sends it
    /// again at `redrive_at` if it is still unsettled.
    pub async fn mark_refund_processing(
        &self,
        refund: &Refund,
        redrive_at: &str,
    ) -> Result<bool, StoreError> {
        self.marked_processing(RefundKey::of(refund).item_key(), refund.retries, redrive_at)
            .await
    }

    /// Records the provider's answer for a refund in `processing` (or, for a chargeback that
    /// repaid the buyer instead, in `requested` or `failed`: `refund.status` as read), with the
    /// money it moves.
    pub fn add_refund_outcome(
        &self,
        tx: &mut Tx,
        refund: &Refund,
        outcome: &ProviderOutcome,
        at: &str,
    ) -> Result<(), LedgerError> {
        let mut sets = vec!["#status = :to", "settled_at = :at"];
        let mut update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(RefundKey::of(refund).item_key()))
            .condition_expression(SAME_ATTEMPT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":to", s(RefundStatus::of(outcome).as_str()))
            .expression_attribute_values(":from", s(refund.status.as_str()))
            .expression_attribute_values(":releases", n(refund.retries))
            .expression_attribute_values(":at", s(at))
            .return_values_on_condition_check_failure(OnFail::AllOld);
        if let Some(reason) = Refund::reason_of(outcome) {
            sets.push("reason = :reason");
            update = update.expression_attribute_values(":reason", s(reason));
        }
        if let ProviderOutcome::Paid { provider_ref } = outcome {
            sets.push("provider_ref = :ref");
            update = update.expression_attribute_values(":ref", s(provider_ref));
        }
        let update = update
            .update_expression(format!("SET {} REMOVE #shard, #at", sets.join(", ")))
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Refund(refund.refund_id.clone()),
            TransactWriteItem::builder().update(update).build(),
        );
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &refund.outcome_transfers(outcome)?,
                at,
                ..Default::default()
            },
        )
    }

    /// `failed` → `requested` by an admin: asked again under a new key (`Refund::attempt_key`),
    /// back in the sweep index until the executor takes it. The failure's reason is kept as
    /// `failed_reason`; the money never moved, so nothing else changes.
    pub fn add_refund_retry(
        &self,
        tx: &mut Tx,
        refund: &Refund,
        admin: &AdminAction,
        redrive_at: &str,
    ) {
        self.add_resend(
            tx,
            Resend {
                key: RefundKey::of(refund).item_key(),
                role: Role::Refund(refund.refund_id.clone()),
                from: RefundStatus::Failed.as_str(),
                releases: refund.retries,
                shard: refund_sweep_shard(&refund.refund_id),
                kept_reason: "failed_reason",
            },
            admin,
            redrive_at,
        );
    }

    /// A buyer's refunds, newest first.
    pub async fn refunds_of(&self, buyer_id: &str) -> Result<Vec<Refund>, StoreError> {
        let pk = format!("REFUNDS#{buyer_id}");
        self.newest_first(&pk, MAX_REFUNDS_LISTED, refund_from_item)
            .await
    }

    /// Requested or processing refunds due for re-sending by `now` (their message may have been
    /// lost, or the provider not have settled them yet).
    pub async fn stranded_refunds(&self, now: &str) -> Result<Due<Refund>, StoreError> {
        self.sweep_due("refund", None, now, refund_from_item).await
    }

    /// Moves a still-unsettled refund's next re-send to `next`; false if it has moved on.
    pub async fn refund_redriven(&self, refund: &Refund, next: &str) -> Result<bool, StoreError> {
        self.redriven(RefundKey::of(refund).item_key(), next).await
    }
}

fn refund_locator(refund_id: &str) -> Item {
    key(format!("REFUNDID#{refund_id}"), "K")
}

pub(crate) fn refund_from_item(item: &Item) -> Result<Refund, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Refund {
        refund_id: get_s(item, "refund_id")?.to_owned(),
        buyer_id: get_s(item, "buyer_id")?.to_owned(),
        order_id: opt_s(item, "order_id"),
        amount_cents: get_n(item, "amount_cents")?,
        payment_ref: get_s(item, "payment_ref")?.to_owned(),
        status: RefundStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("refund status {status}")))?,
        reason: opt_s(item, "reason"),
        created_at: get_s(item, "created_at")?.to_owned(),
        settled_at: opt_s(item, "settled_at"),
        provider_ref: opt_s(item, "provider_ref"),
        retries: opt_n(item, "releases")?.unwrap_or(0),
        admin: super::payouts::admin_from_item(item),
    })
}

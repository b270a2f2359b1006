//! Settling gifts in the ledger table.
//!
//! A gift account moves through three states, each a conditioned update of its one item:
//! `pending` (written by send-gift, listed in the sweep index) → `settled` (the creator's share
//! moved out, in one transaction with up to 98 other gifts of the same creator and the creator's
//! earnings account) → boards applied (leaderboards credited, and the item leaves the sweep
//! index). Each step's condition makes it happen once, whoever runs it and however often.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_n, get_s, key, n, opt_s, s, Item};
use super::holds::hold_edit;
use super::ledger::{account_pk, AccountEdit, LedgerWrite, TransferRecords, ACCOUNT_SK};
use super::sweep::{Due, SWEEP_AT, SWEEP_SHARD};
use super::transaction::{Role, Tx};
use super::{Store, StoreError};
use crate::domain::ledger::{AccountId, LedgerError, Transfer, TransferKind};
use crate::domain::settlement::{GiftToSettle, Landing, SettlementChunk};
use crate::domain::time::sortable;

/// A gift account's `settlement` attribute.
pub const SETTLEMENT_PENDING: &str = "pending";
pub const SETTLEMENT_SETTLED: &str = "settled";
/// Sent after its stream's end plus the grace: the coins went back to the sender.
pub const SETTLEMENT_REFUNDED: &str = "refunded";
/// On a settled gift whose creator share landed pending: the hold it is in.
pub(crate) const RELEASE_AT: &str = "release_at";
/// The version a gift account has from its opening until it is settled.
const UNSETTLED_VERSION: u64 = 1;
/// Prefix of the attributes on a creator's pending earnings that hold amounts by release time.
pub(crate) const HOLD_PREFIX: &str = "hold:";
/// On a settled gift, and on its creator's statement entry: the agency its time gave a cut to.
pub(crate) const AGENCY_ID: &str = "agency_id";
/// On a settled gift: the agency's cut of it.
pub(crate) const AGENCY_SHARE: &str = "agency_share";
/// On a settled gift: the hold its agency cut is in (the creator's, or the next minute's).
pub(crate) const AGENCY_RELEASE_AT: &str = "agency_release_at";

/// What the stored gift says about a gift a message named, when settling it did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredGift {
    /// No such gift: the message references nothing.
    Missing,
    /// The stored gift disagrees with the message (creator, coins, ...): the message is garbled.
    Mismatch,
    /// Settled before (a redelivery, or the sweeper won the race).
    Settled { boards_pending: bool },
    /// Refunded before: it was sent after its stream's end plus the grace.
    Refunded,
}

impl Store {
    /// The gifts' settlement and the creator's earnings, in one transaction.
    pub fn add_gift_settlement(
        &self,
        tx: &mut Tx,
        chunk: &SettlementChunk,
        at: &str,
    ) -> Result<(), LedgerError> {
        let mut edits = HashMap::new();
        for (gift, split) in &chunk.gifts {
            let mut set = vec![
                ("settlement".into(), s(SETTLEMENT_SETTLED)),
                ("settled_at".into(), s(at)),
                ("creator_share".into(), n(split.creator)),
                ("platform_share".into(), n(split.platform)),
            ];
            if let (Some(agency_id), Some((_, release_at))) = (&chunk.agency_id, &chunk.agency_hold)
            {
                set.extend([
                    (AGENCY_ID.into(), s(agency_id)),
                    (AGENCY_SHARE.into(), n(split.agency)),
                    (AGENCY_RELEASE_AT.into(), s(sortable(*release_at))),
                ]);
            }
            // Where its share waits, so a chargeback can take it back from that hold.
            if let Landing::Pending { release_at } = &chunk.landing {
                set.push((RELEASE_AT.into(), s(sortable(*release_at))));
            }
            let edit = AccountEdit {
                equals: claimed_facts(gift),
                set,
                ..AccountEdit::pinned(UNSETTLED_VERSION)
            };
            edits.insert(AccountId::pending_gift(&gift.gift_txn_id), edit);
        }
        let creator = chunk.creator_account();
        let creator_hold = match &chunk.landing {
            Landing::Pending { release_at } => Some((creator.clone(), *release_at)),
            Landing::Available => None,
        };
        let holds = [
            (creator_hold, chunk.creator_total()),
            (chunk.agency_hold.clone(), chunk.agency_total()),
        ];
        for (hold, total) in holds {
            if let (Some((account, release_at)), true) = (hold, total > 0) {
                let edit = hold_edit(&account, &sortable(release_at), total);
                edits.insert(account, edit);
            }
        }
        // The creator's entry says what their agency took of the batch, funded either way.
        let entry_notes = chunk
            .agency_id
            .as_ref()
            .map(|agency_id| {
                let notes = Item::from([
                    (AGENCY_ID.to_owned(), s(agency_id)),
                    ("agency_cut".to_owned(), n(chunk.agency_total())),
                ]);
                HashMap::from([(creator, notes)])
            })
            .unwrap_or_default();
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &chunk.transfers,
                at,
                edits,
                records: TransferRecords::OnDebitAccount,
                entry_notes,
                ..Default::default()
            },
        )
    }

    /// A gift sent after its stream's end plus the grace (`domain::streams::gift_counts`): all
    /// its coins back to the sender, and the gift leaves the sweep index. Pinned to the unsettled
    /// version, so it happens once and never after a settlement.
    pub fn add_late_gift_refund(
        &self,
        tx: &mut Tx,
        gift: &GiftToSettle,
        at: &str,
    ) -> Result<(), LedgerError> {
        let account = AccountId::pending_gift(&gift.gift_txn_id);
        let refund = Transfer::new(
            format!("{}/refund", gift.gift_txn_id),
            account.clone(),
            AccountId::wallet(&gift.sender_id),
            gift.coins,
            TransferKind::LateGiftRefund,
            &gift.gift_txn_id,
        )?;
        let edit = AccountEdit {
            equals: claimed_facts(gift),
            set: vec![
                ("settlement".into(), s(SETTLEMENT_REFUNDED)),
                ("settled_at".into(), s(at)),
            ],
            remove: vec![SWEEP_SHARD.into(), SWEEP_AT.into()],
            ..AccountEdit::pinned(UNSETTLED_VERSION)
        };
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &[refund],
                at,
                edits: HashMap::from([(account, edit)]),
                records: TransferRecords::OnDebitAccount,
                ..Default::default()
            },
        )
    }

    /// Marks settled gifts as credited to the leaderboards; the board increments go in the same
    /// transaction (`add_board_increment`). Fails for a gift whose boards were applied already.
    pub fn add_boards_applied(&self, tx: &mut Tx, gift_txn_id: &str, at: &str) {
        let account = AccountId::pending_gift(gift_txn_id);
        let update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(key(account_pk(&account), ACCOUNT_SK)))
            .update_expression("SET boards_applied_at = :at REMOVE #shard, #sweep_at")
            .condition_expression("settlement = :settled AND attribute_exists(#shard)")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#sweep_at", SWEEP_AT)
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":settled", s(SETTLEMENT_SETTLED))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Account(account),
            TransactWriteItem::builder().update(update).build(),
        );
    }
}

impl Store {
    /// Gifts that entered the sweep index before `before` and still owe settlement or boards.
    pub async fn unfinished_gifts(&self, before: &str) -> Result<Due<GiftToSettle>, StoreError> {
        self.sweep_due("gift", None, before, gift_from_item).await
    }

    /// Gifts sent from `from` to `until` (both included) that still owe settlement or boards.
    pub async fn unfinished_gifts_between(
        &self,
        from: &str,
        until: &str,
    ) -> Result<Due<GiftToSettle>, StoreError> {
        self.sweep_due("gift", Some(from), until, gift_from_item)
            .await
    }
}

/// Every fact the message claims, as conditions on the stored gift.
fn claimed_facts(g: &GiftToSettle) -> Vec<(String, aws_sdk_dynamodb::types::AttributeValue)> {
    vec![
        ("creator_id".into(), s(&g.creator_id)),
        ("stream_id".into(), s(&g.stream_id)),
        ("sender_id".into(), s(&g.sender_id)),
        ("coins".into(), n(g.coins)),
        ("sent_at".into(), s(&g.sent_at)),
    ]
}

/// Explains a failed condition on a gift account from the item as it was (`ALL_OLD`).
pub fn stored_gift(claimed: &GiftToSettle, old: Option<&Item>) -> Result<StoredGift, StoreError> {
    let Some(old) = old else {
        return Ok(StoredGift::Missing);
    };
    let stored = gift_from_item(old)?;
    if &stored != claimed {
        return Ok(StoredGift::Mismatch);
    }
    let version: u64 = get_n(old, "version")?;
    let state = opt_s(old, "settlement");
    if state.as_deref() == Some(SETTLEMENT_REFUNDED) && version != UNSETTLED_VERSION {
        return Ok(StoredGift::Refunded);
    }
    let settled = state.as_deref() == Some(SETTLEMENT_SETTLED);
    if !settled || version == UNSETTLED_VERSION {
        return Err(StoreError::Corrupt(format!(
            "gift {} failed its settlement condition but is not settled",
            claimed.gift_txn_id
        )));
    }
    Ok(StoredGift::Settled {
        boards_pending: old.contains_key(SWEEP_SHARD),
    })
}

/// A stored gift account, as the settlement message would describe it.
pub(crate) fn gift_from_item(item: &Item) -> Result<GiftToSettle, StoreError> {
    Ok(GiftToSettle {
        gift_txn_id: get_s(item, "gift_txn_id")?.to_owned(),
        stream_id: get_s(item, "stream_id")?.to_owned(),
        creator_id: get_s(item, "creator_id")?.to_owned(),
        sender_id: get_s(item, "sender_id")?.to_owned(),
        coins: get_n(item, "coins")?,
        sent_at: get_s(item, "sent_at")?.to_owned(),
    })
}

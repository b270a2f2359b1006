//! A sent gift: one transaction of sender debit, gift record (its own pending account) and
//! transfer. Nothing in it is shared with another viewer's gift (see `domain::streams`).

use std::collections::HashMap;

use super::attrs::{n, s};
use super::ledger::LedgerWrite;
use super::settlement::SETTLEMENT_PENDING;
use super::sweep::gift_sweep_attributes;
use super::transaction::Tx;
use super::wallets::debit_pin;
use super::Store;
use crate::domain::gifts::SentGift;
use crate::domain::ledger::{AccountId, LedgerError};
use crate::domain::wallet::WalletDebit;

impl Store {
    pub fn add_sent_gift(
        &self,
        tx: &mut Tx,
        gift: &SentGift,
        debit: &WalletDebit,
    ) -> Result<(), LedgerError> {
        let mut record = HashMap::from([
            ("gift_txn_id".to_owned(), s(&gift.gift_txn_id)),
            ("stream_id".to_owned(), s(&gift.stream_id)),
            ("creator_id".to_owned(), s(&gift.creator_id)),
            ("sender_id".to_owned(), s(&gift.sender_id)),
            ("gift_id".to_owned(), s(&gift.gift_id)),
            ("count".to_owned(), n(gift.count)),
            ("coins".to_owned(), n(gift.coins)),
            ("sent_at".to_owned(), s(&gift.sent_at)),
            ("settlement".to_owned(), s(SETTLEMENT_PENDING)),
        ]);
        record.extend(gift_sweep_attributes(&gift.gift_txn_id, &gift.sent_at));
        let transfers = [gift.transfer()];
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &transfers,
                at: &gift.sent_at,
                opened: HashMap::from([(AccountId::pending_gift(&gift.gift_txn_id), record)]),
                edits: HashMap::from([(AccountId::wallet(&gift.sender_id), debit_pin(debit))]),
                ..Default::default()
            },
        )
    }
}

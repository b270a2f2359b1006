//! Wallet items: a viewer's coin account plus spend counters and their own cap.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_n, key, n, opt_n, opt_s, s, Item};
use super::ledger::{account_pk, version_condition, AccountEdit, ACCOUNT_SK};
use super::transaction::{Role, Tx};
use super::{Store, StoreError};
use crate::domain::ledger::AccountId;
use crate::domain::wallet::{WalletDebit, WalletState};

/// Wallet snapshots remembered per warm container: a viewer's gifts usually arrive in bursts,
/// and remembering the wallet after each gift lets the next one skip its read (the commit is
/// pinned to the snapshot's version).
pub(crate) type Snapshots = super::snapshots::Snapshots<WalletState>;

impl Store {
    /// The wallet as stored now (strongly consistent); an unknown user has an empty wallet.
    pub async fn wallet(&self, user_id: &str) -> Result<WalletState, StoreError> {
        let item = self.account_item(&AccountId::wallet(user_id)).await?;
        let state = item
            .as_ref()
            .map(wallet_from_item)
            .transpose()?
            .unwrap_or_default();
        self.remember_wallet(user_id, state.clone());
        Ok(state)
    }

    /// A recent snapshot of the wallet: remembered in this container, else read.
    pub async fn wallet_snapshot(&self, user_id: &str) -> Result<WalletState, StoreError> {
        match self.wallet_snapshots.get(user_id) {
            Some(state) => Ok(state),
            None => self.wallet(user_id).await,
        }
    }

    pub fn remember_wallet(&self, user_id: &str, state: WalletState) {
        self.wallet_snapshots.put(user_id, state);
    }

    /// Sets the viewer's own daily cap, pinned to the snapshot the decision was made on.
    pub fn add_own_daily_cap(&self, tx: &mut Tx, user_id: &str, version: u64, cap: u64) {
        let account = AccountId::wallet(user_id);
        let mut values = HashMap::from([
            (":id".to_owned(), s(account.to_string())),
            (":unit".to_owned(), s(account.kind.unit().as_str())),
            (":zero".to_owned(), n(0)),
            (":one".to_owned(), n(1)),
            (":cap".to_owned(), n(cap)),
        ]);
        let condition = version_condition(version, &mut values);
        let update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(key(account_pk(&account), ACCOUNT_SK)))
            .update_expression(
                "SET own_daily_cap = :cap, account_id = if_not_exists(account_id, :id), \
                 #unit = if_not_exists(#unit, :unit), balance = if_not_exists(balance, :zero) \
                 ADD version :one",
            )
            .condition_expression(condition)
            .expression_attribute_names("#unit", "unit")
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Account(account),
            TransactWriteItem::builder().update(update).build(),
        );
    }
}

/// The pin a gift's debit puts on the sender's wallet: its version, and the new spend counters.
pub(crate) fn debit_pin(debit: &WalletDebit) -> AccountEdit {
    AccountEdit {
        set: vec![
            ("spend_day".into(), s(&debit.window.day)),
            ("spent_day".into(), n(debit.spent_day_after)),
            ("spend_week".into(), s(&debit.window.week)),
            ("spent_week".into(), n(debit.spent_week_after)),
        ],
        ..AccountEdit::pinned(debit.expected_version)
    }
}

pub(crate) fn wallet_from_item(item: &Item) -> Result<WalletState, StoreError> {
    let balance: i64 = get_n(item, "balance")?;
    Ok(WalletState {
        balance: u64::try_from(balance)
            .map_err(|_| StoreError::Corrupt(format!("wallet balance {balance} is negative")))?,
        version: get_n(item, "version")?,
        spend_day: opt_s(item, "spend_day"),
        spent_day: opt_n(item, "spent_day")?.unwrap_or(0),
        spend_week: opt_s(item, "spend_week"),
        spent_week: opt_n(item, "spent_week")?.unwrap_or(0),
        own_daily_cap: opt_n(item, "own_daily_cap")?,
    })
}

/// The wallet as a failed condition found it, if that item is the wallet.
pub fn wallet_from_failure(old: Option<&Item>) -> Result<WalletState, StoreError> {
    old.map(wallet_from_item)
        .transpose()
        .map(Option::unwrap_or_default)
}

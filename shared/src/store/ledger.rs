//! Ledger items: accounts and transfers, written into a [`Tx`] together with whatever else the
//! business operation commits, so money moves in the same transaction as its reason.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{key, n, s, Item};
use super::transaction::{Role, Tx};
use super::{Store, StoreError};
use crate::domain::ledger::{postings, AccountId, LedgerError, Transfer};

pub(crate) const ACCOUNT_SK: &str = "A";
const TRANSFER_SK: &str = "T";

pub(crate) fn account_pk(account: &AccountId) -> String {
    format!("ACCT#{account}")
}

/// An account update that must find the account at `version` (optimistic concurrency for
/// decisions made on a snapshot), and sets `extra` attributes alongside the balance.
#[derive(Debug, Clone)]
pub struct Pin {
    pub version: u64,
    pub extra: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
}

/// What one commit does to the ledger.
#[derive(Debug, Default)]
pub struct LedgerWrite<'a> {
    pub transfers: &'a [Transfer],
    pub at: &'a str,
    /// Accounts this commit creates (a Put that fails if the account exists), with their extra
    /// attributes. A pending gift is one: its record and its account are the same item.
    pub opened: HashMap<AccountId, Item>,
    pub pinned: HashMap<AccountId, Pin>,
}

impl Store {
    /// Adds the transfers and the net balance change of every account they touch to `tx`.
    /// Accounts that may not go negative get the condition `balance >= debit` in the same
    /// transaction: no overdraft under any concurrency, and no read needed to enforce it.
    pub fn add_ledger_write(&self, tx: &mut Tx, w: LedgerWrite<'_>) -> Result<(), LedgerError> {
        let table = &self.tables.ledger;
        for p in postings(w.transfers)? {
            let item = match w.opened.get(&p.account) {
                Some(extra) => open_account(table, &p.account, p.delta, extra),
                None => update_account(table, &p.account, p.delta, w.pinned.get(&p.account)),
            };
            tx.push(Role::Account(p.account), item);
        }
        for t in w.transfers {
            tx.push(Role::Transfer(t.id.clone()), put_transfer(table, t, w.at));
        }
        Ok(())
    }

    /// Every account item's balance, summed per unit: the conservation audit (must be all zero).
    pub async fn balance_totals(&self) -> Result<HashMap<String, i128>, StoreError> {
        let mut totals = HashMap::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.tables.ledger)
            .filter_expression("sk = :a")
            .expression_attribute_values(":a", s(ACCOUNT_SK))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| super::sdk_error("Scan", e))?;
            let unit = super::attrs::get_s(&item, "unit")?.to_owned();
            let balance: i64 = super::attrs::get_n(&item, "balance")?;
            *totals.entry(unit).or_default() += i128::from(balance);
        }
        Ok(totals)
    }
}

fn open_account(table: &str, account: &AccountId, delta: i64, extra: &Item) -> TransactWriteItem {
    assert!(
        delta >= 0 || account.kind.may_go_negative(),
        "opening {account} with {delta} would overdraw it"
    );
    let mut item = key(account_pk(account), ACCOUNT_SK);
    item.extend(extra.clone());
    item.insert("account_id".into(), s(account.to_string()));
    item.insert("unit".into(), s(account.kind.unit().as_str()));
    item.insert("balance".into(), n(delta));
    item.insert("version".into(), n(1));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(OnFail::AllOld)
        .build()
        .expect("table, item and condition are set");
    TransactWriteItem::builder().put(put).build()
}

fn update_account(
    table: &str,
    account: &AccountId,
    delta: i64,
    pin: Option<&Pin>,
) -> TransactWriteItem {
    let mut sets = vec![
        "account_id = if_not_exists(account_id, :id)".to_owned(),
        "#unit = if_not_exists(#unit, :unit)".to_owned(),
    ];
    let mut conditions = Vec::new();
    let mut values = HashMap::from([
        (":id".to_owned(), s(account.to_string())),
        (":unit".to_owned(), s(account.kind.unit().as_str())),
        (":delta".to_owned(), n(delta)),
        (":one".to_owned(), n(1)),
    ]);
    if delta < 0 && !account.kind.may_go_negative() {
        conditions.push("balance >= :need".to_owned());
        values.insert(":need".into(), n(delta.unsigned_abs()));
    }
    if let Some(pin) = pin {
        conditions.push(version_condition(pin.version, &mut values));
        for (name, value) in &pin.extra {
            sets.push(format!("{name} = :x_{name}"));
            values.insert(format!(":x_{name}"), value.clone());
        }
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(account_pk(account), ACCOUNT_SK)))
        .update_expression(format!(
            "SET {} ADD balance :delta, version :one",
            sets.join(", ")
        ))
        .set_condition_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
        .expression_attribute_names("#unit", "unit")
        .set_expression_attribute_values(Some(values))
        .return_values_on_condition_check_failure(OnFail::AllOld)
        .build()
        .expect("table, key and expression are set");
    TransactWriteItem::builder().update(update).build()
}

/// `version = :v`, or "never written" for version 0.
pub(crate) fn version_condition(version: u64, values: &mut Item) -> String {
    if version == 0 {
        "attribute_not_exists(version)".to_owned()
    } else {
        values.insert(":v".into(), n(version));
        "version = :v".to_owned()
    }
}

fn put_transfer(table: &str, t: &Transfer, at: &str) -> TransactWriteItem {
    let mut item = key(format!("XFER#{}", t.id), TRANSFER_SK);
    item.extend([
        ("transfer_id".to_owned(), s(&t.id)),
        ("debit".to_owned(), s(t.debit.to_string())),
        ("credit".to_owned(), s(t.credit.to_string())),
        ("unit".to_owned(), s(t.unit().as_str())),
        ("amount".to_owned(), n(t.amount)),
        ("kind".to_owned(), s(t.kind.as_str())),
        ("reference".to_owned(), s(&t.reference)),
        ("at".to_owned(), s(at)),
    ]);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("table, item and condition are set");
    TransactWriteItem::builder().put(put).build()
}

impl Store {
    /// One account's balance as stored now (0 for an account never written).
    pub async fn account_balance(&self, account: &AccountId) -> Result<i64, StoreError> {
        match self.account_item(account).await? {
            Some(item) => super::attrs::get_n(&item, "balance"),
            None => Ok(0),
        }
    }

    /// The account's item, strongly consistent; `None` if it was never written.
    pub(crate) async fn account_item(
        &self,
        account: &AccountId,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(key(account_pk(account), ACCOUNT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("GetItem", e))?;
        Ok(out.item)
    }
}

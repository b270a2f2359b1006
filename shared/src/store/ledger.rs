//! Ledger items: accounts and transfers, written into a [`Tx`] together with whatever else the
//! business operation commits, so money moves in the same transaction as its reason.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{key, n, s, Item};
use super::sweep::{payable_sweep_shard, SWEEP_AT, SWEEP_SHARD};
use super::transaction::{put_new, Role, Tx};
use super::{Store, StoreError};
use crate::domain::admin::AdminAction;
use crate::domain::ledger::{postings, AccountId, LedgerError, Transfer};
use crate::domain::payouts::Payee;

pub(crate) const ACCOUNT_SK: &str = "A";
const TRANSFER_SK: &str = "T";
/// Prefix of a transfer record's attributes on its debit account (`xfer_transfer_id`, ...).
pub(crate) const RECORD_PREFIX: &str = "xfer_";

pub(crate) fn account_pk(account: &AccountId) -> String {
    format!("ACCT#{account}")
}

/// What a commit does to an account besides changing its balance: conditions the account must
/// meet (a version for decisions made on a snapshot, attribute values a message claimed), and
/// attributes written alongside. An account with an edit is written even when its balance does
/// not change, so the conditions are always checked.
#[derive(Debug, Clone, Default)]
pub struct AccountEdit {
    /// Optimistic concurrency: the account must be at this version (0: never written).
    pub version: Option<u64>,
    pub equals: Vec<(String, AttributeValue)>,
    /// Numbers that must be at least this much (and exist).
    pub at_least: Vec<(String, u64)>,
    pub set: Vec<(String, AttributeValue)>,
    pub set_if_absent: Vec<(String, AttributeValue)>,
    /// Numbers added to (created at 0 if absent).
    pub add: Vec<(String, AttributeValue)>,
    pub remove: Vec<String>,
}

impl AccountEdit {
    pub fn pinned(version: u64) -> Self {
        Self {
            version: Some(version),
            ..Self::default()
        }
    }
}

/// Where a commit records its transfers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransferRecords {
    /// One `XFER#<id>` item per transfer, refused if the id exists: the id's uniqueness is the
    /// exactly-once guard.
    #[default]
    Items,
    /// As attributes of the transfer's debit account, which must carry a version edit (so the
    /// record is written once): `xfer_*` for the first transfer from it, `xfer2_*`, `xfer3_*`, …
    /// for the next ones of the commit. Settlement uses it: the gift account is the record (of
    /// the creator's share and the agency's cut), and no item is spent on it.
    OnDebitAccount,
}

/// What one commit does to the ledger.
#[derive(Debug, Default)]
pub struct LedgerWrite<'a> {
    pub transfers: &'a [Transfer],
    pub at: &'a str,
    /// Accounts this commit creates (a Put that fails if the account exists), with their extra
    /// attributes, whether or not a transfer moves anything into them yet. A pending gift is
    /// one, and so is a placed order: its record and its account are the same item.
    pub opened: HashMap<AccountId, Item>,
    pub edits: HashMap<AccountId, AccountEdit>,
    pub records: TransferRecords,
    /// The admin behind this commit, if one is: on every statement entry it writes.
    pub admin: Option<&'a AdminAction>,
    /// More attributes for the statement entry of an account (a settlement's agency cut on the
    /// creator's entry).
    pub entry_notes: HashMap<AccountId, Item>,
}

impl Store {
    /// Adds the transfers and the net balance change of every account they touch to `tx`.
    /// Accounts that may not go negative get the condition `balance >= debit` in the same
    /// transaction: no overdraft under any concurrency, and no read needed to enforce it.
    pub fn add_ledger_write(&self, tx: &mut Tx, mut w: LedgerWrite<'_>) -> Result<(), LedgerError> {
        let table = &self.tables.ledger;
        if w.records == TransferRecords::OnDebitAccount {
            let mut recorded: HashMap<&AccountId, usize> = HashMap::new();
            for t in w.transfers {
                let edit = w.edits.get_mut(&t.debit).filter(|e| e.version.is_some());
                let edit = edit.unwrap_or_else(|| {
                    panic!(
                        "transfer {} recorded on {}, which is not pinned",
                        t.id, t.debit
                    )
                });
                let nth = recorded.entry(&t.debit).or_default();
                *nth += 1;
                assert!(
                    *nth > 1
                        || !edit
                            .set
                            .iter()
                            .any(|(name, _)| name.starts_with(RECORD_PREFIX)),
                    "{} already carries a transfer record",
                    t.debit
                );
                let prefix = match *nth {
                    1 => RECORD_PREFIX.to_owned(),
                    n => format!("xfer{n}_"),
                };
                let record = transfer_attributes(t, w.at).into_iter();
                edit.set
                    .extend(record.map(|(name, v)| (format!("{prefix}{name}"), v)));
            }
        }
        let mut touched = std::collections::HashSet::new();
        for p in postings(w.transfers)? {
            let item = match w.opened.get(&p.account) {
                Some(extra) => open_account(table, &p.account, p.delta, extra),
                None => update_account(table, &p.account, p.delta, w.edits.get(&p.account), w.at),
            };
            if p.account.kind.statement_balance().is_some() {
                let mut entry = statement_entry(&p.account, p.delta, w.transfers, w.at, w.admin);
                if let Some(notes) = w.entry_notes.get(&p.account) {
                    entry.extend(notes.clone());
                }
                tx.push(
                    Role::StatementEntry(p.account.clone()),
                    put_new(table, entry),
                );
            }
            touched.insert(p.account.clone());
            tx.push(Role::Account(p.account), item);
        }
        // Accounts opened or edited without a posting are written too (sorted: a stable order).
        for (account, extra) in untouched(&w.opened, &touched) {
            tx.push(
                Role::Account(account.clone()),
                open_account(table, account, 0, extra),
            );
        }
        for (account, edit) in untouched(&w.edits, &touched) {
            tx.push(
                Role::Account(account.clone()),
                update_account(table, account, 0, Some(edit), w.at),
            );
        }
        if w.records == TransferRecords::Items {
            for t in w.transfers {
                tx.push(
                    Role::Transfer(t.id.clone()),
                    put_transfer(table, t, w.at, w.admin),
                );
            }
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

fn untouched<'m, V>(
    map: &'m HashMap<AccountId, V>,
    touched: &std::collections::HashSet<AccountId>,
) -> Vec<(&'m AccountId, &'m V)> {
    let mut rest: Vec<_> = map.iter().filter(|(a, _)| !touched.contains(*a)).collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    rest
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
    put_new(table, item)
}

fn update_account(
    table: &str,
    account: &AccountId,
    delta: i64,
    edit: Option<&AccountEdit>,
    at: &str,
) -> TransactWriteItem {
    let mut sets = vec![
        "account_id = if_not_exists(account_id, :id)".to_owned(),
        "#unit = if_not_exists(#unit, :unit)".to_owned(),
    ];
    let mut names = HashMap::from([("#unit".to_owned(), "unit".to_owned())]);
    let mut values = HashMap::new();
    // A credit to a payable balance lists the creator for the scheduled payout run (the
    // run takes accounts that are empty again off the list).
    if delta > 0 && account.kind.payable() {
        sets.push("#ps = if_not_exists(#ps, :ps), #pa = if_not_exists(#pa, :pa)".to_owned());
        names.insert("#ps".into(), SWEEP_SHARD.into());
        names.insert("#pa".into(), SWEEP_AT.into());
        values.insert(":ps".into(), s(payable_sweep_shard(&account.owner)));
        values.insert(":pa".into(), s(at));
    }
    let mut adds = vec!["balance :delta".to_owned(), "version :one".to_owned()];
    let mut removes = Vec::new();
    let mut conditions = Vec::new();
    values.extend([
        (":id".to_owned(), s(account.to_string())),
        (":unit".to_owned(), s(account.kind.unit().as_str())),
        (":delta".to_owned(), n(delta)),
        (":one".to_owned(), n(1)),
    ]);
    if delta < 0 && !account.kind.may_go_negative() {
        conditions.push("balance >= :need".to_owned());
        values.insert(":need".into(), n(delta.unsigned_abs()));
    }
    if let Some(edit) = edit {
        if let Some(version) = edit.version {
            conditions.push(version_condition(version, &mut values));
        }
        // Every edited attribute goes through a placeholder: names may hold any character.
        let mut placeholder = |name: &str, value: &AttributeValue| {
            let i = names.len();
            names.insert(format!("#e{i}"), name.to_owned());
            values.insert(format!(":e{i}"), value.clone());
            (format!("#e{i}"), format!(":e{i}"))
        };
        for (name, value) in &edit.equals {
            let (name, value) = placeholder(name, value);
            conditions.push(format!("{name} = {value}"));
        }
        for (name, least) in &edit.at_least {
            let (name, value) = placeholder(name, &n(least));
            conditions.push(format!("{name} >= {value}"));
        }
        for (name, value) in &edit.set {
            let (name, value) = placeholder(name, value);
            sets.push(format!("{name} = {value}"));
        }
        for (name, value) in &edit.set_if_absent {
            let (name, value) = placeholder(name, value);
            sets.push(format!("{name} = if_not_exists({name}, {value})"));
        }
        for (name, value) in &edit.add {
            let (name, value) = placeholder(name, value);
            adds.push(format!("{name} {value}"));
        }
        for name in &edit.remove {
            let i = names.len();
            names.insert(format!("#e{i}"), name.clone());
            removes.push(format!("#e{i}"));
        }
    }
    let mut expression = format!("SET {} ADD {}", sets.join(", "), adds.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(account_pk(account), ACCOUNT_SK)))
        .update_expression(expression)
        .set_condition_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
        .set_expression_attribute_names(Some(names))
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

/// A payee's statement: one partition per payee, so a user who both creates and sells has two.
pub(crate) fn statement_pk(payee: &Payee) -> String {
    format!("STMT#{}", payee.key())
}

/// One statement entry: what one commit did to one of a payee's balances, and why (the
/// transfers' kinds and references). Entries are per commit, not per transfer, so a settlement
/// batch of 98 gifts costs its creator one entry, as it costs one balance write.
///
/// The sort key orders a creator's entries by when they were written (nanoseconds of the
/// writer's clock, then randomness for uniqueness); `balance_after` is the running sum in that
/// order. Every posting to such an account writes its entry in the same transaction, so the
/// entries always sum exactly to the balance.
fn statement_entry(
    account: &AccountId,
    delta: i64,
    transfers: &[Transfer],
    at: &str,
    admin: Option<&AdminAction>,
) -> Item {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let entry_id = format!(
        "{nanos:020}-{}-{:08x}",
        account.kind.prefix(),
        ulid::Ulid::new().random() as u32
    );
    let mine: Vec<&Transfer> = transfers
        .iter()
        .filter(|t| &t.debit == account || &t.credit == account)
        .collect();
    let mut kinds: Vec<&str> = mine.iter().map(|t| t.kind.as_str()).collect();
    kinds.dedup();
    let mut refs: Vec<AttributeValue> = mine.iter().map(|t| s(&t.reference)).collect();
    refs.dedup();
    let (book, _) = account
        .kind
        .statement_balance()
        .expect("only accounts on a statement get entries");
    let mut item = key(
        statement_pk(&Payee::new(book, account.payee_owner())),
        &entry_id,
    );
    item.extend([
        ("account".to_owned(), s(account.to_string())),
        ("amount".to_owned(), n(delta)),
        ("kind".to_owned(), s(kinds.join(","))),
        ("refs".to_owned(), AttributeValue::L(refs)),
        ("at".to_owned(), s(at)),
    ]);
    if let Some(admin) = admin {
        item.extend(admin_attributes(admin));
    }
    item
}

/// A transfer's record: the attributes of its `XFER#` item.
fn transfer_attributes(t: &Transfer, at: &str) -> [(&'static str, AttributeValue); 8] {
    [
        ("transfer_id", s(&t.id)),
        ("debit", s(t.debit.to_string())),
        ("credit", s(t.credit.to_string())),
        ("unit", s(t.unit().as_str())),
        ("amount", n(t.amount)),
        ("kind", s(t.kind.as_str())),
        ("reference", s(&t.reference)),
        ("at", s(at)),
    ]
}

/// A transfer's own item; an admin's commit names the admin and why on it, so the record lasts
/// whether or not the accounts it touches have statements.
fn put_transfer(
    table: &str,
    t: &Transfer,
    at: &str,
    admin: Option<&AdminAction>,
) -> TransactWriteItem {
    let mut item = key(format!("XFER#{}", t.id), TRANSFER_SK);
    item.extend(
        transfer_attributes(t, at)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    if let Some(admin) = admin {
        item.extend(admin_attributes(admin));
    }
    put_new(table, item)
}

/// Who and why, as stored on an item an admin's action wrote.
pub(crate) fn admin_attributes(admin: &AdminAction) -> [(String, AttributeValue); 2] {
    [
        ("admin_id".to_owned(), s(&admin.by)),
        ("admin_note".to_owned(), s(&admin.note)),
    ]
}

impl Store {
    /// One account's balance as stored now (0 for an account never written).
    pub async fn account_balance(&self, account: &AccountId) -> Result<i64, StoreError> {
        match self.account_item(account).await? {
            Some(item) => super::attrs::get_n(&item, "balance"),
            None => Ok(0),
        }
    }

    /// One account's balance and version as stored now (`(0, 0)` for one never written), for a
    /// commit pinned to what was read.
    pub async fn account_state(&self, account: &AccountId) -> Result<(i64, u64), StoreError> {
        match self.account_item(account).await? {
            Some(item) => Ok((
                super::attrs::get_n(&item, "balance")?,
                super::attrs::get_n(&item, "version")?,
            )),
            None => Ok((0, 0)),
        }
    }

    /// The account's item, strongly consistent; `None` if it was never written.
    pub(crate) async fn account_item(
        &self,
        account: &AccountId,
    ) -> Result<Option<Item>, StoreError> {
        self.get_item(&self.tables.ledger, key(account_pk(account), ACCOUNT_SK))
            .await
    }
}

//! One `TransactWriteItems`, with each item tagged by the role it plays, so a cancellation can be
//! explained per role (which condition failed, and the item as it was).

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem,
};

use super::attrs::Item;
use super::{sdk_error, StoreError};
use crate::domain::ledger::AccountId;

/// DynamoDB's limit on items in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Account(AccountId),
    Transfer(String),
    Idempotency,
    Stream,
    WebhookEvent,
    /// A leaderboard entry: the board's key and the user.
    Board(String, String),
    /// A product's stock.
    Product(String),
    /// A buyer's units held of one seller's limited products.
    BuyerLimits,
    /// The statement entry of a posting to this account.
    StatementEntry(AccountId),
    Payout(String),
    /// A creator's payouts of one day, against the daily cap.
    PayoutDay,
}

/// A Put that creates `item` and fails (returning what is there) if its key exists: how every
/// record whose id must be unique is written.
pub(crate) fn put_new(table: &str, item: Item) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(OnFail::AllOld)
        .build()
        .expect("table, item and condition are set");
    TransactWriteItem::builder().put(put).build()
}

/// Why one item of a cancelled transaction failed.
#[derive(Debug, Clone)]
pub struct Cancellation {
    pub role: Role,
    /// DynamoDB's code: `ConditionalCheckFailed`, `TransactionConflict`, ... (never `None`).
    pub code: String,
    /// The item as it was, for condition failures (`ReturnValuesOnConditionCheckFailure`).
    pub old: Option<Item>,
}

impl Cancellation {
    pub fn condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }

    pub fn conflict(&self) -> bool {
        self.code == "TransactionConflict"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<Cancellation>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TxError {
    /// The failure of the item playing `role`, if that item failed.
    pub fn failure(&self, role: &Role) -> Option<&Cancellation> {
        match self {
            TxError::Cancelled(reasons) => reasons.iter().find(|c| &c.role == role),
            TxError::Store(_) => None,
        }
    }

    /// Whether the item playing `role` failed its condition.
    pub fn condition_failed(&self, role: &Role) -> bool {
        self.failure(role)
            .is_some_and(Cancellation::condition_failed)
    }

    /// Whether only concurrent transactions got in the way: worth trying again as it was.
    pub fn only_conflicts(&self) -> bool {
        matches!(self, TxError::Cancelled(reasons) if !reasons.is_empty() && reasons.iter().all(Cancellation::conflict))
    }
}

#[derive(Debug, Default)]
pub struct Tx {
    items: Vec<(Role, TransactWriteItem)>,
}

impl Tx {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, role: Role, item: TransactWriteItem) {
        self.items.push((role, item));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub async fn commit(self, client: &aws_sdk_dynamodb::Client) -> Result<(), TxError> {
        assert!(
            !self.items.is_empty() && self.items.len() <= MAX_TRANSACTION_ITEMS,
            "a transaction holds 1..={MAX_TRANSACTION_ITEMS} items, not {}",
            self.items.len()
        );
        let (roles, items): (Vec<Role>, Vec<TransactWriteItem>) = self.items.into_iter().unzip();
        let result = client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
        else {
            return Err(sdk_error("TransactWriteItems", err).into());
        };
        let reasons = e
            .cancellation_reasons()
            .iter()
            .zip(roles)
            .filter_map(|(reason, role)| {
                let code = reason.code().unwrap_or("None");
                (code != "None").then(|| Cancellation {
                    role,
                    code: code.to_owned(),
                    old: reason.item().cloned(),
                })
            })
            .collect();
        Err(TxError::Cancelled(reasons))
    }
}

/// Waits before retrying a transaction that conflicted with another: 25 ms, 50 ms, 100 ms ...
/// (capped at 1.6 s) with jitter, so racing writers spread out.
pub async fn backoff(attempt: u32) {
    let base = 25u64 << attempt.min(6);
    let jitter = u64::from(ulid::Ulid::new().random() as u16) % base;
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}

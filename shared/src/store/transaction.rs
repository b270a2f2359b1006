//! One `TransactWriteItems`, with each item tagged by the role it plays, so a cancellation can be
//! explained per role (which condition failed, and the item as it was), and the one retry policy
//! for contention: a transaction cancelled only because other transactions were touching its
//! items (`TransactionConflict`) or because DynamoDB throttled it did nothing, so it is sent again
//! as it is, after a jittered, growing pause, up to [`CONTENTION_ATTEMPTS`] times. What is still
//! contended after that is [`TxError::Contended`], which callers answer `503 busy`, never as a
//! business refusal.

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
    /// A stream (its record), by id.
    Stream(String),
    /// A match (its record).
    Match(String),
    WebhookEvent,
    /// A leaderboard entry: the board's key and the user.
    Board(String, String),
    /// A product (its record).
    Product(String),
    /// One shard of a product's stock.
    Stock(String, u32),
    /// A buyer's units held of one seller's limited products.
    BuyerLimits,
    /// The statement entry of a posting to this account.
    StatementEntry(AccountId),
    Payout(String),
    /// A buyer's refund (its record).
    Refund(String),
    /// The marker that a coin purchase (its event id) was charged back.
    Chargeback(String),
    /// A creator's payouts of one day, against the daily cap.
    PayoutDay,
    /// A payee's connected account (the payee's id), or whose an account is (its `acct_…`).
    PayoutAccount(String),
    /// An agency (its record), by id.
    Agency(String),
    /// The marker of the agency a user owns, by the owner's id.
    AgencyOwner(String),
    /// A creator's attachments to agencies, by the creator's id.
    Attachments(String),
    /// The record that a creator is an agency's: the agency's id, the creator's.
    AgencyMember(String, String),
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

/// Why one item of a cancelled transaction failed. Its `Debug` (which errors and logs print)
/// names the role and the code only: the item as it was holds wallets, orders and stored
/// responses, which stay out of logs.
#[derive(Clone)]
pub struct Cancellation {
    pub role: Role,
    /// DynamoDB's code: `ConditionalCheckFailed`, `TransactionConflict`, ... (never `None`).
    pub code: String,
    /// The item as it was, for condition failures (`ReturnValuesOnConditionCheckFailure`).
    pub old: Option<Item>,
}

impl std::fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.role, self.code)
    }
}

impl Cancellation {
    pub fn condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }

    pub fn conflict(&self) -> bool {
        self.code == "TransactionConflict"
    }

    /// Contention rather than a verdict on the item: another transaction held it, or DynamoDB
    /// throttled it. The same transaction may commit when sent again.
    pub fn contention(&self) -> bool {
        matches!(
            self.code.as_str(),
            "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded"
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<Cancellation>),
    /// Still cancelled by contention alone after every attempt the retry policy allows.
    #[error("transaction still contended after {CONTENTION_ATTEMPTS} attempts: {0:?}")]
    Contended(Vec<Cancellation>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TxError {
    /// The failure of the item playing `role`, if that item failed.
    pub fn failure(&self, role: &Role) -> Option<&Cancellation> {
        match self {
            TxError::Cancelled(reasons) | TxError::Contended(reasons) => {
                reasons.iter().find(|c| &c.role == role)
            }
            TxError::Store(_) => None,
        }
    }

    /// Whether the item playing `role` failed its condition.
    pub fn condition_failed(&self, role: &Role) -> bool {
        self.failure(role)
            .is_some_and(Cancellation::condition_failed)
    }

    /// Whether only contention got in the way: worth sending again as it was.
    fn only_contention(&self) -> bool {
        match self {
            TxError::Cancelled(reasons) => {
                !reasons.is_empty() && reasons.iter().all(Cancellation::contention)
            }
            TxError::Store(StoreError::Throttled { .. } | StoreError::Contended { .. }) => true,
            TxError::Contended(_) | TxError::Store(_) => false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Tx {
    items: Vec<(Role, TransactWriteItem)>,
    /// Send once and report contention ([`TxError::Contended`]) instead of sending again: for a
    /// caller that can do better than wait, such as an order that can take its units from
    /// another stock shard.
    report_contention: bool,
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

    /// See [`Tx::report_contention`](Tx): contention comes back at once, as `Contended`.
    pub fn report_contention(&mut self) {
        self.report_contention = true;
    }

    /// Commits, sending the transaction again while only contention cancels it (the module's
    /// retry policy).
    pub async fn commit(self, client: &aws_sdk_dynamodb::Client) -> Result<(), TxError> {
        assert!(
            !self.items.is_empty() && self.items.len() <= MAX_TRANSACTION_ITEMS,
            "a transaction holds 1..={MAX_TRANSACTION_ITEMS} items, not {}",
            self.items.len()
        );
        let (roles, items): (Vec<Role>, Vec<TransactWriteItem>) = self.items.into_iter().unzip();
        let mut attempt = 1;
        loop {
            let err = match send(client, &roles, items.clone()).await {
                Ok(()) => return Ok(()),
                Err(err) if err.only_contention() => err,
                Err(err) => return Err(err),
            };
            if attempt == CONTENTION_ATTEMPTS || self.report_contention {
                tracing::warn!(error = %err, "transaction still contended; giving up");
                return Err(match err {
                    TxError::Cancelled(reasons) => TxError::Contended(reasons),
                    other => other,
                });
            }
            backoff(attempt).await;
            attempt += 1;
        }
    }
}

async fn send(
    client: &aws_sdk_dynamodb::Client,
    roles: &[Role],
    items: Vec<TransactWriteItem>,
) -> Result<(), TxError> {
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
                role: role.clone(),
                code: code.to_owned(),
                old: reason.item().cloned(),
            })
        })
        .collect();
    Err(TxError::Cancelled(reasons))
}

/// How long one request may spend deciding again after other writers won (each of its commits
/// also waits out contention, above) before it answers `503 busy`: half the HTTP functions' 10 s
/// timeout, so the answer is always ours, never a timeout.
pub const CONTENTION_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The attempts (1, 2, ...) of a decision that concurrent writers may invalidate: at most `max`,
/// and none begun after [`CONTENTION_BUDGET`] has passed since the first.
pub fn attempts(max: u32) -> impl Iterator<Item = u32> {
    let started = std::time::Instant::now();
    (1..=max).take_while(move |n| *n == 1 || started.elapsed() < CONTENTION_BUDGET)
}

/// Sends of one transaction under contention before it is given up as [`TxError::Contended`]:
/// with [`backoff`]'s pauses that is at most ~2.5 s, inside API Gateway's 29 s and every
/// function's timeout, and enough for a few writers of one item to take turns.
pub const CONTENTION_ATTEMPTS: u32 = 8;

/// The pause before retry `attempt` (1, 2, ...) of anything that lost to a concurrent writer:
/// a random time in [base/2, base), base = 20 ms × 2^attempt capped at 640 ms, so racing
/// writers spread out instead of colliding again in step.
pub async fn backoff(attempt: u32) {
    let base = 20u64 << attempt.clamp(1, 5);
    let jitter = u64::from(ulid::Ulid::new().random() as u16) % (base / 2);
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::attrs::{key, s};

    #[test]
    fn a_cancellation_prints_its_role_and_code_never_the_item_it_carries() {
        let mut wallet = key("ACCT#wallet:fan", "A");
        wallet.insert(
            "stored_response".into(),
            s("{\"email\":\"fan@example.com\"}"),
        );
        let reasons = vec![Cancellation {
            role: Role::Account(AccountId::wallet("fan")),
            code: "ConditionalCheckFailed".into(),
            old: Some(wallet),
        }];
        for printed in [
            format!("{}", TxError::Cancelled(reasons.clone())),
            format!("{:?}", TxError::Contended(reasons)),
        ] {
            assert!(printed.contains("ConditionalCheckFailed"), "{printed}");
            assert!(
                printed.contains("Wallet") && printed.contains("fan"),
                "{printed}"
            );
            assert!(!printed.contains("example.com"), "{printed}");
        }
    }
}

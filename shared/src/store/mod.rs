//! DynamoDB adapters: the only code that builds items, keys and expressions.
//!
//! Item shapes (pk / sk):
//! - ledger table: `ACCT#<account>` / `A` an account (wallets, gifts and pending earnings carry
//!   extra attributes; a settled gift carries its settlement transfer as `xfer_*`);
//!   `XFER#<transfer>` / `T` a transfer; `EVENT#<provider event>` / `E` a webhook event that took
//!   effect; payouts, their daily totals and statement entries, see [`payouts`]. GSI `sweep`
//!   (`sweep_shard` / `sweep_at`): unfinished work, see [`sweep`].
//! - commerce table: `STREAM#<stream>` / `S` a stream; `BOARD#<board>#<shard>` / `U#<user>` a
//!   gifter's coins on a leaderboard. GSI `boards` (`board` / `coins`): each shard's entries
//!   ranked, see [`boards`].
//!   Agencies and creators' attachments to them, see [`agencies`].
//! - idempotency table: `<sha256(caller, route, key)>` / `K` a completed request, TTL `expires_at`.

pub mod agencies;
mod attrs;
pub mod audit;
pub mod boards;
pub mod chargebacks;
pub mod gifts;
pub mod holds;
pub mod idempotency;
pub mod ledger;
pub mod matches;
pub mod orders;
pub mod payments;
pub mod payout_accounts;
pub mod payouts;
pub mod products;
pub mod refunds;
pub mod settlement;
mod snapshots;
pub mod streams;
pub mod sweep;
pub mod transaction;
pub mod wallets;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use attrs::Item;
pub use transaction::{Cancellation, Role, Tx, TxError};

/// Table names, from the environment the infra code sets.
#[derive(Debug, Clone)]
pub struct Tables {
    pub ledger: String,
    pub commerce: String,
    pub idempotency: String,
    /// The ledger table's sparse GSI of unfinished work (`store::sweep`).
    pub ledger_sweep_index: String,
    /// Sparse: paid orders not yet completed or refunded, by seller.
    pub ledger_open_orders_index: String,
    /// Keys only: each gift account by its sender and time (`store::chargebacks`).
    pub ledger_sender_gifts_index: String,
    /// The commerce table's GSI ranking each leaderboard's entries by coins (`store::boards`).
    pub commerce_boards_index: String,
}

#[derive(Clone)]
pub struct Store {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) tables: Tables,
    pub(crate) wallet_snapshots: wallets::Snapshots,
    pub(crate) product_snapshots: snapshots::Snapshots<crate::domain::shop::Product>,
    pub(crate) stream_snapshots: streams::Snapshots,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, tables: Tables) -> Self {
        Self {
            client,
            tables,
            wallet_snapshots: wallets::Snapshots::default(),
            product_snapshots: snapshots::Snapshots::default(),
            stream_snapshots: snapshots::Snapshots::default(),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Opens the connection with a call that reads no data (DescribeEndpoints; IAM grants it to
    /// every function). A failure only means the first request opens the connection itself.
    pub(crate) async fn warm_up(&self) {
        if let Err(e) = self.client.describe_endpoints().send().await {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "cannot warm up DynamoDB");
        }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// One item, strongly consistent; `None` if it does not exist.
    pub(crate) async fn get_item(
        &self,
        table: &str,
        key: Item,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }
}

/// What can go wrong talking to DynamoDB, kept apart so callers can decide: a throttle is worth
/// retrying later (503), anything else is our fault (500). Condition failures are not errors
/// here: they come back as [`TxError::Cancelled`] with per-item reasons.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB is throttling {op}: {message}")]
    Throttled { op: &'static str, message: String },
    /// A single-item write to an item an ongoing transaction holds (`TransactionConflictException`).
    #[error("{op} met an ongoing transaction on its item: {message}")]
    Contended { op: &'static str, message: String },
    #[error("DynamoDB {op} failed: {message}")]
    Failed { op: &'static str, message: String },
    #[error("stored item is not what this code wrote: {0}")]
    Corrupt(String),
}

pub(crate) fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &'static str,
    err: SdkError<E>,
) -> StoreError {
    let code = err.code().unwrap_or_default().to_owned();
    // The error chain's messages, never its `Debug`: that carries the raw response, and a
    // failed condition's response carries the stored item (no stored contents in logs).
    let message = match err.message() {
        Some(m) => format!("{code}: {m}"),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
    };
    if matches!(
        code.as_str(),
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    ) {
        StoreError::Throttled { op, message }
    } else if code == "TransactionConflictException" {
        StoreError::Contended { op, message }
    } else {
        StoreError::Failed { op, message }
    }
}

//! livepay's shared crate: every function is a thin `main` over this.
//!
//! - [`domain`]: pure rules (ledger, gifts, wallets, streams, payments); no AWS types.
//! - [`store`]: DynamoDB adapters, the only code that knows item shapes and expressions.
//! - [`queue`]: SQS adapters, the only code that knows message formats.
//! - [`provider`]: payout providers (sandbox, Stripe-Connect-style HTTP).
//! - [`http`]: API Gateway glue: claims → caller, errors → responses, idempotency.
//! - [`api`]: one module per function: parse, decide (domain), commit (store).

pub mod api;
pub mod config;
pub mod domain;
pub mod http;
pub mod input;
pub mod jobs;
pub mod provider;
pub mod queue;
pub mod store;
pub mod telemetry;

use std::sync::Arc;

use time::OffsetDateTime;

pub use config::Config;

/// Where "now" comes from; tests pin it (day rollover, signature staleness).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// What every function's handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    pub config: Config,
    pub store: store::Store,
    pub clock: Arc<dyn Clock>,
}

impl App {
    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client, clock: Arc<dyn Clock>) -> Self {
        let store = store::Store::new(dynamodb, config.tables.clone());
        Self {
            config,
            store,
            clock,
        }
    }

    /// Configuration and AWS clients from the environment (`AWS_ENDPOINT_URL` points them at the
    /// local emulator).
    pub async fn from_env() -> Result<(Self, aws_config::SdkConfig), config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        warm_up(&dynamodb).await;
        Ok((Self::new(config, dynamodb, Arc::new(SystemClock)), sdk))
    }
}

/// Opens DynamoDB's connection during init (DNS, TCP, TLS, credentials, signing), so the first
/// request does not pay for it. DescribeEndpoints reads no data; a failure only means the first
/// request opens the connection itself.
async fn warm_up(dynamodb: &aws_sdk_dynamodb::Client) {
    if let Err(e) = dynamodb.describe_endpoints().send().await {
        tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "cannot warm up DynamoDB");
    }
}

pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

//! Money-out providers: where a payout's or a refund's money actually leaves. A small trait with
//! two implementations — [`sandbox::SandboxProvider`] for local use and tests (told how to
//! behave) and [`http::HttpProvider`] for a Stripe-style API.
//!
//! Every call carries an idempotency key, so a repeated call for the same money (a timeout, a
//! lost response, a redelivered message) pays once while the provider keeps the key. An answer
//! that does not say what happened is [`Unsettled`]: the executor leaves the record in
//! `processing`, and before it sends again it asks the provider whether the money already left
//! ([`MoneyOutProvider::find`]), so nothing depends on how long the provider keeps its keys
//! (DESIGN.md invariant 9).

pub mod http;
pub mod sandbox;

use std::future::Future;
use std::time::Instant;

use crate::domain::payouts::ProviderOutcome;

/// How money leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rail {
    /// A transfer to a payee's payout account (a payout).
    Transfer,
    /// Money back to the payment it came from (a buyer's refund).
    Refund,
}

/// One movement of money out, as the provider is asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Disbursement<'a> {
    pub rail: Rail,
    /// The record's own id (payout or refund id): the provider's reference, by which
    /// [`MoneyOutProvider::find`] finds what was made for it.
    pub reference: &'a str,
    /// Sent as `Idempotency-Key`: the reference, or a new key per admin release (a provider
    /// replays the answer it gave a key, and a release must be asked afresh).
    pub idempotency_key: &'a str,
    /// The payee's payout account (transfers), or the payment being refunded (refunds).
    pub destination: &'a str,
    pub amount_cents: u64,
}

/// The provider did not say what happened (timeout, lost connection, 5xx, 429, a request with
/// this key still running, an answer without the provider's own error body): ask again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome unknown: {0}")]
pub struct Unsettled(pub String);

pub trait MoneyOutProvider: Send + Sync {
    /// Sends `d`, giving up by `deadline` (the caller's own time limit, less a margin).
    fn send(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> impl Future<Output = Result<ProviderOutcome, Unsettled>> + Send;

    /// Whether a transfer's destination is the payee's connected account (Stripe Connect,
    /// `store::payout_accounts`) rather than the payee's id.
    fn pays_connected_accounts(&self) -> bool {
        false
    }

    /// What the provider made for `d.reference`, if anything: `Ok(None)` only when the provider
    /// answered that nothing exists.
    fn find(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> impl Future<Output = Result<Option<ProviderOutcome>, Unsettled>> + Send;
}

/// Stripe's API.
pub const STRIPE_API_URL: &str = "https://api.stripe.com";

/// The provider a deployment configured: `PAYOUT_PROVIDER=stripe` (with
/// `PAYOUT_API_KEY_SECRET_ARN`, the secret holding a Stripe secret key), `http` (the same calls
/// to `PAYOUT_API_URL`) or `sandbox` (with `PAYOUT_SANDBOX_BEHAVIOR`, and only on a stage that
/// says it moves no money, `LIVEPAY_TEST_STAGE=true`). There is no default: a deployment that
/// forgot would otherwise mark payouts paid that never left.
pub enum Provider {
    Sandbox(sandbox::SandboxProvider),
    Http(Box<http::HttpProvider>),
}

impl Provider {
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{required_env, secret, ConfigError};
        let env = |name: &str| std::env::var(name).ok();
        let key = || secret(sdk, &env, "PAYOUT_API_KEY_SECRET_ARN");
        match required_env("PAYOUT_PROVIDER")?.as_str() {
            "sandbox" if env("LIVEPAY_TEST_STAGE").as_deref() != Some("true") => {
                Err(ConfigError::Invalid {
                    name: "PAYOUT_PROVIDER",
                    reason: "sandbox moves no money: only a test stage (LIVEPAY_TEST_STAGE=true) \
                             may use it"
                        .into(),
                })
            }
            "sandbox" => {
                let behavior = env("PAYOUT_SANDBOX_BEHAVIOR").unwrap_or_default();
                sandbox::SandboxBehavior::parse(&behavior)
                    .map(|b| Provider::Sandbox(sandbox::SandboxProvider::new(b)))
                    .ok_or(ConfigError::Invalid {
                        name: "PAYOUT_SANDBOX_BEHAVIOR",
                        reason: format!("one of {}", sandbox::SandboxBehavior::NAMES.join(", ")),
                    })
            }
            "http" => Ok(Provider::Http(Box::new(http::HttpProvider::new(
                required_env("PAYOUT_API_URL")?,
                key().await?,
            )?))),
            // Stripe itself, unless PAYOUT_API_URL points elsewhere (a stand-in).
            "stripe" => Ok(Provider::Http(Box::new(
                http::HttpProvider::new(
                    required_env("PAYOUT_API_URL").unwrap_or_else(|_| STRIPE_API_URL.to_owned()),
                    key().await?,
                )?
                .to_connected_accounts(),
            ))),
            _ => Err(ConfigError::Invalid {
                name: "PAYOUT_PROVIDER",
                reason: "one of stripe, http or sandbox".into(),
            }),
        }
    }
}

impl MoneyOutProvider for Provider {
    fn pays_connected_accounts(&self) -> bool {
        match self {
            Provider::Sandbox(p) => p.pays_connected_accounts(),
            Provider::Http(p) => p.pays_connected_accounts(),
        }
    }

    async fn send(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> Result<ProviderOutcome, Unsettled> {
        match self {
            Provider::Sandbox(p) => p.send(d, deadline).await,
            Provider::Http(p) => p.send(d, deadline).await,
        }
    }

    async fn find(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> Result<Option<ProviderOutcome>, Unsettled> {
        match self {
            Provider::Sandbox(p) => p.find(d, deadline).await,
            Provider::Http(p) => p.find(d, deadline).await,
        }
    }
}

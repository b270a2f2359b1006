//! Payout providers: where a payout's money actually leaves. A small trait with two
//! implementations — [`sandbox::SandboxProvider`] for local use and tests (told how to behave)
//! and [`http::HttpProvider`] for a Stripe-Connect-style transfer API.
//!
//! Every call carries the payout id as its idempotency key: the executor may call again for the
//! same payout (a timeout, a lost response, a redelivered message) and the provider must pay
//! once. An answer that does not say what happened is [`Unsettled`]: the executor leaves the
//! payout in `processing` and its message comes back.

pub mod http;
pub mod sandbox;

use std::future::Future;
use std::time::Instant;

use crate::domain::payouts::ProviderOutcome;

/// One transfer to a creator's payout account.
#[derive(Debug, Clone, Copy)]
pub struct TransferRequest<'a> {
    /// Also the idempotency key.
    pub payout_id: &'a str,
    pub creator_id: &'a str,
    pub amount_cents: u64,
}

/// The provider did not say what happened (timeout, lost connection, 5xx, 429, a request with
/// this key still running): ask again later with the same key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payout outcome unknown: {0}")]
pub struct Unsettled(pub String);

pub trait PayoutProvider: Send + Sync {
    /// Pays `req`, giving up by `deadline` (the caller's own time limit, less a margin).
    fn transfer(
        &self,
        req: &TransferRequest<'_>,
        deadline: Instant,
    ) -> impl Future<Output = Result<ProviderOutcome, Unsettled>> + Send;
}

/// The provider a deployment configured: `PAYOUT_PROVIDER=http` (with `PAYOUT_API_URL` and
/// `PAYOUT_API_KEY`) or `sandbox` (with `PAYOUT_SANDBOX_BEHAVIOR`). There is no default: a
/// deployment that forgot would otherwise mark payouts paid that never left.
pub enum Provider {
    Sandbox(sandbox::SandboxProvider),
    Http(Box<http::HttpProvider>),
}

impl Provider {
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        use crate::config::{required_env, ConfigError};
        match required_env("PAYOUT_PROVIDER")?.as_str() {
            "sandbox" => {
                let behavior = std::env::var("PAYOUT_SANDBOX_BEHAVIOR").unwrap_or_default();
                sandbox::SandboxBehavior::parse(&behavior)
                    .map(|b| Provider::Sandbox(sandbox::SandboxProvider::new(b)))
                    .ok_or(ConfigError::Invalid {
                        name: "PAYOUT_SANDBOX_BEHAVIOR",
                        reason: format!("one of {}", sandbox::SandboxBehavior::NAMES.join(", ")),
                    })
            }
            "http" => Ok(Provider::Http(Box::new(http::HttpProvider::new(
                required_env("PAYOUT_API_URL")?,
                required_env("PAYOUT_API_KEY")?,
            )?))),
            _ => Err(ConfigError::Invalid {
                name: "PAYOUT_PROVIDER",
                reason: "either sandbox or http".into(),
            }),
        }
    }
}

impl PayoutProvider for Provider {
    async fn transfer(
        &self,
        req: &TransferRequest<'_>,
        deadline: Instant,
    ) -> Result<ProviderOutcome, Unsettled> {
        match self {
            Provider::Sandbox(p) => p.transfer(req, deadline).await,
            Provider::Http(p) => p.transfer(req, deadline).await,
        }
    }
}

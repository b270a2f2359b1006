//! livepay's shared crate: every function is a thin `main` over this.
//!
//! - [`domain`]: pure rules (ledger, gifts, wallets, streams, payments); no AWS types.
//! - [`store`]: DynamoDB adapters, the only code that knows item shapes and expressions.
//! - [`queue`]: SQS adapters, the only code that knows message formats.
//! - [`provider`]: payout providers (sandbox, Stripe-Connect-style HTTP).
//! - [`secrets`]: Secrets Manager, read at cold start and cached for a bounded time.
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
pub mod secrets;
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
    /// local emulator). No connection is opened yet: see [`App::warm_up`].
    pub async fn from_env() -> Result<(Self, aws_config::SdkConfig), config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_sdk_config().await?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        Ok((Self::new(config, dynamodb, Arc::new(SystemClock)), sdk))
    }

    /// Opens DynamoDB's connection, and `queues`', during init (DNS, TCP, TLS, credentials,
    /// signing), so the first request does not pay for it. All at once: init waits for the
    /// slowest connection, not for the sum. `WARM_UP_CONNECTIONS=false` skips it.
    pub async fn warm_up(&self, queues: &[&queue::Queue]) {
        if self.config.warm_up_connections {
            let queues = futures::future::join_all(queues.iter().map(|q| q.warm_up()));
            tokio::join!(self.store.warm_up(), queues);
        }
    }
}

/// The certificate authorities every AWS endpoint chains to (Amazon Trust Services).
const AMAZON_TRUST_SERVICES: &str = include_str!("../certs/amazon-trust-services.pem");

/// The AWS SDK's configuration, with an HTTPS client that trusts Amazon Trust Services' roots
/// only. The SDK's default trusts the system store, which it reads and parses in full during
/// init (here 146 files, 2.2 ms of a 10 ms init; `scripts/bench-cold-start`) to talk to
/// endpoints that all chain to these five. Anything in between that re-signs TLS (an
/// intercepting proxy) needs its CA added to `shared/certs/amazon-trust-services.pem`.
pub async fn aws_sdk_config() -> Result<aws_config::SdkConfig, config::ConfigError> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust = TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes());
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| config::ConfigError::Tls(e.to_string()))?;
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context)
        .build_https();
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await)
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::{pem::PemObject, CertificateDer};

    #[test]
    fn aws_clients_trust_the_five_amazon_trust_services_roots() {
        let certs = CertificateDer::pem_slice_iter(super::AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        assert_eq!(roots.add_parsable_certificates(certs.clone()), (5, 0));
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            let holds =
                |der: &CertificateDer| der.windows(name.len()).any(|w| w == name.as_bytes());
            assert!(certs.iter().any(holds), "{name} is missing");
        }
    }
}

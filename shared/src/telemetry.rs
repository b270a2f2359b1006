//! Logs and metrics, the same way in every function.
//!
//! - Logs: JSON lines (CloudWatch parses them). Every line of an invocation carries its span:
//!   the request id, the function, `cold_start` (the process's first invocation) and, once a
//!   handler records it, the business id.
//! - Metrics: CloudWatch embedded metric format (EMF) documents, written to stdout after each
//!   invocation, namespace [`NAMESPACE`], dimension `function`. CloudWatch Logs turns them into
//!   metrics: no PutMetricData call, nothing on the request path. Names are in [`metric`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use lambda_runtime::{service_fn, LambdaEvent};
use metrics_cloudwatch_embedded::Collector;
use serde::{de::DeserializeOwned, Serialize};
use tracing::{field, Instrument};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const NAMESPACE: &str = "livepay";

/// Metric names: the infra's alarms and dashboard use the same ones (`infra/lib/observability.ts`).
pub mod metric {
    /// Count: gifts committed by send-gift (replays excluded).
    pub const GIFTS_SENT: &str = "GiftsSent";
    /// Count: coins those gifts spent.
    pub const COINS_SPENT: &str = "CoinsSpent";
    /// Count: gifts whose creator share moved in a settlement invocation.
    pub const GIFTS_SETTLED: &str = "GiftsSettled";
    /// Seconds: per settlement invocation, from the oldest gift it settled being sent to now.
    pub const SETTLEMENT_LAG: &str = "SettlementLagSeconds";
    /// Count: payout requests accepted.
    pub const PAYOUTS_REQUESTED: &str = "PayoutsRequested";
    /// Count: payouts the provider paid, and payouts that failed for good (money returned).
    pub const PAYOUTS_PAID: &str = "PayoutsPaid";
    pub const PAYOUTS_FAILED: &str = "PayoutsFailed";
    /// Count: the process's first invocation.
    pub const COLD_STARTS: &str = "ColdStarts";
    /// Count: items in the sweep index the sweeper could not read (skipped, logged by key).
    pub const SWEEP_ITEMS_SKIPPED: &str = "SweepItemsSkipped";
    pub const ALL: [&str; 9] = [
        GIFTS_SENT,
        COINS_SPENT,
        GIFTS_SETTLED,
        SETTLEMENT_LAG,
        PAYOUTS_REQUESTED,
        PAYOUTS_PAID,
        PAYOUTS_FAILED,
        COLD_STARTS,
        SWEEP_ITEMS_SKIPPED,
    ];
}

static FUNCTION: OnceLock<&'static str> = OnceLock::new();
static METRICS: OnceLock<&'static Collector> = OnceLock::new();
static COLD: AtomicBool = AtomicBool::new(true);

/// Installs the JSON log subscriber and the EMF metrics recorder, for `function` (the binary's
/// name). Safe to call twice. `RUST_LOG` filters by level and target (`info`,
/// `warn,livepay=debug`; default `info`): `Targets` rather than `EnvFilter`, whose regex engine
/// was a sixth of livepay's own code size in every binary.
pub fn init(function: &'static str) {
    let _ = FUNCTION.set(function);
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .without_time(), // Lambda stamps every line already.
        )
        .with(filter)
        .try_init();
    if let Ok(collector) = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("function", function)
        .init()
    {
        let _ = METRICS.set(collector);
    }
}

/// The function's name, as given to [`init`].
pub fn function() -> &'static str {
    FUNCTION.get().copied().unwrap_or("unknown")
}

/// True for the process's first invocation only (each invocation asks once).
pub fn take_cold_start() -> bool {
    let cold = COLD.swap(false, Ordering::Relaxed);
    if cold {
        metrics::counter!(metric::COLD_STARTS).increment(1);
    }
    cold
}

/// Writes the metrics gathered since the last flush, as EMF lines on stdout.
pub fn flush() {
    if let Err(e) = flush_to(std::io::stdout().lock()) {
        tracing::warn!(error = %e, "cannot write metrics");
    }
}

/// Writes the metrics gathered since the last flush as EMF lines (nothing before [`init`]).
pub fn flush_to(out: impl std::io::Write) -> std::io::Result<()> {
    METRICS
        .get()
        .map_or(Ok(()), |collector| collector.flush(out))
}

/// Runs an HTTP function: each invocation's metrics are flushed when it answers. Its log span
/// is `http::serve`'s.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, Infallible>> + Send,
{
    lambda_http::run(lambda_http::service_fn(|req| {
        let answer = handler(req);
        async move {
            let out = answer.await;
            flush();
            out
        }
    }))
    .await
}

/// Runs a queue or schedule function: each invocation runs under a span with its request id,
/// the function and `cold_start`, and its metrics are flushed when it returns.
pub async fn run_job<E, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned,
    R: Serialize,
    F: Fn(LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_runtime::Error>>,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<E>| {
        let span = tracing::info_span!(
            "invocation",
            request_id = %event.context.request_id,
            function = function(),
            cold_start = take_cold_start(),
            business_id = field::Empty,
        );
        // Boxed: the sweeper's future is deep enough to overflow the compiler's layout limit.
        let answer = Box::pin(handler(event));
        async move {
            let out = answer.await;
            flush();
            out
        }
        .instrument(span)
    }))
    .await
}

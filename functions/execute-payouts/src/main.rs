//! `execute-payouts`: the FIFO payouts queue's consumer; pays each payout through the configured
//! provider, within this invocation's deadline (see `livepay::jobs::payouts`).

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent};
use livepay::provider::Provider;

/// The time an invocation takes when the runtime reports none left (see below).
const LOCAL_RUNTIME_BUDGET: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let provider = Provider::from_env(&sdk).await?;
    app.warm_up(&[]).await;
    let (app, provider) = (&app, &provider);
    livepay::telemetry::run_job(|event: LambdaEvent<SqsEvent>| async move {
        // Lambda always gives time left; `cargo lambda watch` (the local stack) reports a
        // deadline already past (seen: every provider call got 0 ms). There, take the function's
        // own timeout (PAYOUT_CONSUMER_TIMEOUT in the infra code).
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .ok()
            .filter(|left| !left.is_zero())
            .unwrap_or(LOCAL_RUNTIME_BUDGET);
        livepay::jobs::payouts::handle(app, provider, event.payload, Instant::now() + left)
            .await
            .map_err(Error::from)
    })
    .await
}

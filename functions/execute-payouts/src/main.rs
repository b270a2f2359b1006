//! `execute-payouts`: the FIFO payouts queue's consumer; pays each payout through the configured
//! provider, within this invocation's deadline (see `livepay::jobs::payouts`).

use std::time::{Instant, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent};
use livepay::provider::Provider;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    let provider = Provider::from_env()?;
    app.warm_up(&[]).await;
    let (app, provider) = (&app, &provider);
    livepay::telemetry::run_job(|event: LambdaEvent<SqsEvent>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        livepay::jobs::payouts::handle(app, provider, event.payload, Instant::now() + left)
            .await
            .map_err(Error::from)
    })
    .await
}

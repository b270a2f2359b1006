//! `schedule-payouts`: weekly, requests a payout for every creator with at least the minimum
//! available (see `livepay::jobs::payouts::schedule`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent};
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    app.warm_up(&[payouts.as_ref()]).await;
    let (app, payouts) = (&app, &payouts);
    livepay::telemetry::run_job(|_: LambdaEvent<EventBridgeEvent>| async move {
        livepay::jobs::payouts::schedule(app, payouts)
            .await
            .map_err(Error::from)
    })
    .await
}

//! `sweep-settlements`: on a schedule, finishes stranded gifts, releases due holds, expires
//! unpaid orders, sends due orders to settlement and stranded payouts to the payouts queue
//! (see `livepay::jobs::sweep`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent};
use livepay::queue::payouts::PayoutQueue;
use livepay::queue::settlement::SettlementQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let queue = SettlementQueue::from_env(&sdk)?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    app.warm_up(&[queue.as_ref(), payouts.as_ref()]).await;
    let (app, queue, payouts) = (&app, &queue, &payouts);
    livepay::telemetry::run_job(|_: LambdaEvent<EventBridgeEvent>| async move {
        livepay::jobs::sweep::sweep(app, queue, payouts)
            .await
            .map_err(Error::from)
    })
    .await
}

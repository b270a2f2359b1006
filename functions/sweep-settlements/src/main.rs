//! `sweep-settlements`: on a schedule, finishes stranded gifts, releases due holds, expires
//! unpaid orders and sends due orders to settlement (see `livepay::jobs::sweep`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use livepay::queue::settlement::SettlementQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, sdk) = livepay::App::from_env().await?;
    let queue = SettlementQueue::from_env(&sdk)?;
    let (app, queue) = (&app, &queue);
    run(service_fn(|_: LambdaEvent<EventBridgeEvent>| async move {
        livepay::jobs::sweep::sweep(app, queue)
            .await
            .map_err(Error::from)
    }))
    .await
}

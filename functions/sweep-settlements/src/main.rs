//! `sweep-settlements`: on a schedule, finishes stranded gifts, releases due holds, expires
//! unpaid orders and sends due orders to settlement (see `livepay::jobs::sweep`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use livepay::config::required_env;
use livepay::queue::settlement::SettlementQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, sdk) = livepay::App::from_env().await?;
    let queue = SettlementQueue::new(
        livepay::aws_sdk_sqs_client(&sdk),
        required_env("SETTLEMENT_QUEUE_URL")?,
    );
    let (app, queue) = (&app, &queue);
    run(service_fn(|_: LambdaEvent<EventBridgeEvent>| async move {
        livepay::jobs::sweep::sweep(app, queue)
            .await
            .map_err(Error::from)
    }))
    .await
}

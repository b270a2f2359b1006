//! `sweep-settlements`: on a schedule, finishes stranded gifts and releases due holds (see
//! `livepay::jobs::sweep`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    let app = &app;
    run(service_fn(|_: LambdaEvent<EventBridgeEvent>| async move {
        livepay::jobs::sweep::sweep(app).await.map_err(Error::from)
    }))
    .await
}

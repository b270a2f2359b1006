//! `settle-payouts`: the settlement queue's consumer (see `livepay::jobs::settle_payouts`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    app.warm_up(&[]).await;
    let app = &app;
    livepay::telemetry::run_job(|event: LambdaEvent<SqsEvent>| async move {
        livepay::jobs::settle_payouts::handle(app, event.payload)
            .await
            .map_err(Error::from)
    })
    .await
}

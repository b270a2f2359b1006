//! `send-gift`: `POST /v1/streams/{stream_id}/gifts` (see `livepay::api::send_gift`).

use lambda_http::{run, service_fn, Error};
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
    run(service_fn(|req| {
        livepay::api::send_gift::handle(&app, &queue, req)
    }))
    .await
}

//! `send-gift`: `POST /v1/streams/{stream_id}/gifts` (see `livepay::api::send_gift`).

use lambda_http::Error;
use livepay::queue::settlement::SettlementQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let queue = SettlementQueue::from_env(&sdk)?;
    app.warm_up(&[queue.as_ref()]).await;
    livepay::telemetry::run_http(|req| livepay::api::send_gift::handle(&app, &queue, req)).await
}

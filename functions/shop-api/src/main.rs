//! `shop-api`: products, and orders after placement: read, cancel, fulfillment, refund (see
//! `livepay::api::shop`).

use lambda_http::Error;
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    app.warm_up(&[payouts.as_ref()]).await;
    livepay::telemetry::run_http(|req| livepay::api::shop::handle(&app, &payouts, req)).await
}

//! `shop-api`: products, and orders after placement: read, cancel, fulfillment, refund (see
//! `livepay::api::shop`).

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    app.warm_up(&[]).await;
    livepay::telemetry::run_http(|req| livepay::api::shop::handle(&app, req)).await
}

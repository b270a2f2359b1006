//! `shop-api`: products, and orders after placement: read, cancel, fulfillment, refund (see
//! `livepay::api::shop`).

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    run(service_fn(|req| livepay::api::shop::handle(&app, req))).await
}

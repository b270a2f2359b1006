//! `wallet-api`: `GET /v1/gifts`, `GET /v1/wallet`, `PUT /v1/wallet/limits`.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    run(service_fn(|req| livepay::api::wallet::handle(&app, req))).await
}

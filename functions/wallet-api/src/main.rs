//! `wallet-api`: `GET /v1/gifts`, `GET /v1/wallet`, `PUT /v1/wallet/limits`.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    app.warm_up(&[]).await;
    livepay::telemetry::run_http(|req| livepay::api::wallet::handle(&app, req)).await
}

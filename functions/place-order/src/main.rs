//! `place-order`: `POST /v1/orders` (see `livepay::api::place_order`).

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    app.warm_up(&[]).await;
    livepay::telemetry::run_http(|req| livepay::api::place_order::handle(&app, req)).await
}

//! `payments-webhook`: `POST /v1/webhooks/payments`, signed by the payment provider.

use lambda_http::Error;
use livepay::config::required_env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    let secret = required_env("LIVEPAY_WEBHOOK_SECRET")?;
    app.warm_up(&[]).await;
    livepay::telemetry::run_http(|req| livepay::api::payments::handle(&app, secret.as_bytes(), req))
        .await
}

//! `payments-webhook`: `POST /v1/webhooks/payments`, signed by the payment provider, and
//! `POST /v1/webhooks/stripe`, signed by Stripe.

use lambda_http::Error;
use livepay::config::WebhookSecrets;
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let secrets = WebhookSecrets::from_env(&sdk).await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    app.warm_up(&[payouts.as_ref()]).await;
    livepay::telemetry::run_http(|req| {
        livepay::api::payments::handle(&app, &secrets, &payouts, req)
    })
    .await
}

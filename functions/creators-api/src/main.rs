//! `creators-api`: a creator's balance, statement and payouts, and weekly top-gifter boards.

use lambda_http::Error;
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    let cursor_key = livepay::config::secret(
        &sdk,
        &|name| std::env::var(name).ok(),
        "STATEMENT_CURSOR_KEY_SECRET_ARN",
    )
    .await?;
    app.warm_up(&[payouts.as_ref()]).await;
    livepay::telemetry::run_http(|req| {
        livepay::api::creators::handle(&app, &payouts, &cursor_key, req)
    })
    .await
}

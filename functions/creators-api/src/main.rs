//! `creators-api`: a creator's balance, statement and payouts, and weekly top-gifter boards.

use lambda_http::{run, service_fn, Error};
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, sdk) = livepay::App::from_env().await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    run(service_fn(|req| {
        livepay::api::creators::handle(&app, &payouts, req)
    }))
    .await
}

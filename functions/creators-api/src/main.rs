//! `creators-api`: `GET /v1/creators/me/balance`, `GET /v1/creators/{creator_id}/leaderboard/weekly`.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    run(service_fn(|req| livepay::api::creators::handle(&app, req))).await
}

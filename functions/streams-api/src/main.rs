//! `streams-api`: `POST /v1/streams`, `POST /v1/streams/{stream_id}/end`, a room's guests, LIVE
//! matches and the stream's leaderboard.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, _) = livepay::App::from_env().await?;
    app.warm_up(&[]).await;
    livepay::telemetry::run_http(|req| livepay::api::streams::handle(&app, req)).await
}

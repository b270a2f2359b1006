//! `streams-api`: `POST /v1/streams`, `POST /v1/streams/{stream_id}/end`.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    run(service_fn(|req| livepay::api::streams::handle(&app, req))).await
}

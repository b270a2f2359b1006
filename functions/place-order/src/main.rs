//! `place-order`: `POST /v1/orders` (see `livepay::api::place_order`).

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init();
    let (app, _) = livepay::App::from_env().await?;
    run(service_fn(|req| {
        livepay::api::place_order::handle(&app, req)
    }))
    .await
}

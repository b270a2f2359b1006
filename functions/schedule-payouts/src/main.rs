//! `schedule-payouts`: weekly, fans the payout run out onto its queue, and, as that queue's
//! consumer, requests each piece's payouts (see `livepay::jobs::payout_run`).

use lambda_runtime::{Error, LambdaEvent};
use livepay::jobs::payout_run::{self, Trigger};
use livepay::queue::payout_run::RunQueue;
use livepay::queue::payouts::PayoutQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    livepay::telemetry::init(env!("CARGO_PKG_NAME"));
    let (app, sdk) = livepay::App::from_env().await?;
    let payouts = PayoutQueue::from_env(&sdk)?;
    let runs = RunQueue::from_env(&sdk)?;
    app.warm_up(&[payouts.as_ref(), runs.as_ref()]).await;
    let (app, payouts, runs) = (&app, &payouts, &runs);
    livepay::telemetry::run_job(|event: LambdaEvent<Trigger>| async move {
        match event.payload {
            Trigger::Pieces(pieces) => payout_run::run_pieces(app, payouts, runs, pieces)
                .await
                .map(|response| {
                    serde_json::to_value(response).expect("a batch response serializes")
                })
                .map_err(Error::from),
            Trigger::Weekly(scheduled) => {
                tracing::info!(scheduled_at = ?scheduled.time, "weekly payout run");
                payout_run::start(app, runs, scheduled.time.map(|t| t.timestamp()))
                    .await
                    .map(|pieces| serde_json::json!({ "pieces": pieces }))
                    .map_err(Error::from)
            }
        }
    })
    .await
}

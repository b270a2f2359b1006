//! `POST /v1/webhooks/payments`: signed, each event id at most once.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::ledger::{AccountId, Transfer};
use crate::domain::payments::{
    chargeback_transfers, coin_purchase_transfers, verify_signature, PaymentEvent, WebhookEnvelope,
};
use crate::domain::time::rfc3339;
use crate::domain::wallet::chargeback_split;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::store::ledger::{AccountEdit, LedgerWrite};
use crate::store::{Role, Tx, TxError};
use crate::App;

#[derive(Debug, Serialize)]
struct Ack<'a> {
    event_id: &'a str,
    /// `applied` the first time, `duplicate` for every repeat.
    status: &'static str,
}

pub async fn handle(
    app: &App,
    secret: &[u8],
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| webhook(app, secret, r)).await
}

async fn webhook(app: &App, secret: &[u8], req: ApiRequest) -> Result<ApiResponse, ApiError> {
    verify_signature(
        secret,
        req.header("livepay-signature"),
        &req.body,
        app.clock.now().unix_timestamp(),
    )?;
    let envelope: WebhookEnvelope = req.json()?;
    let event_type = envelope.event_type.clone();
    let (event_id, event) = PaymentEvent::parse(envelope)?;
    record_business_id(&event_id);
    let body_sha = hex::encode(crate::domain::ids::digest(&[&String::from_utf8_lossy(
        &req.body,
    )]));

    for _ in 0..MAX_PINNED_ATTEMPTS {
        let now = rfc3339(app.clock.now());
        let (transfers, pin) = match &event {
            PaymentEvent::CoinsPurchased(e) => (coin_purchase_transfers(&event_id, e)?, None),
            PaymentEvent::ChargedBack(e) => {
                let wallet = app.store.wallet(&e.user_id).await?;
                let (from_wallet, from_loss) = chargeback_split(wallet.balance, e.coins);
                let pin = (from_wallet > 0).then(|| {
                    (
                        AccountId::wallet(&e.user_id),
                        AccountEdit::pinned(wallet.version),
                    )
                });
                (
                    chargeback_transfers(&event_id, &e.user_id, from_wallet, from_loss)?,
                    pin,
                )
            }
        };
        let mut tx = Tx::new();
        app.store
            .add_webhook_event(&mut tx, &event_id, &event_type, &body_sha, &now);
        app.store.add_ledger_write(
            &mut tx,
            LedgerWrite {
                transfers: &transfers,
                at: &now,
                edits: pin.into_iter().collect(),
                ..Default::default()
            },
        )?;
        match tx.commit(app.store.client()).await {
            Ok(()) => return Ok(ack(&event_id, "applied")),
            Err(err)
                if err
                    .failure(&Role::WebhookEvent)
                    .is_some_and(|f| f.condition_failed()) =>
            {
                return Ok(ack(&event_id, "duplicate"));
            }
            // The same event arriving concurrently, or the wallet moving under a chargeback.
            Err(err) if retryable(&err, &transfers) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("event {event_id} kept conflicting")))
}

fn retryable(err: &TxError, transfers: &[Transfer]) -> bool {
    let TxError::Cancelled(reasons) = err else {
        return false;
    };
    reasons.iter().all(|c| {
        c.conflict() || matches!(&c.role, Role::Account(a) if transfers.iter().any(|t| &t.debit == a) && c.condition_failed())
    })
}

fn ack(event_id: &str, status: &'static str) -> ApiResponse {
    ApiResponse::json(200, &Ack { event_id, status })
}

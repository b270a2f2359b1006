//! `POST /v1/webhooks/payments`: signed, each event id at most once. Coin purchases credit
//! wallets, chargebacks take coins back, and order payments pay an order — or, when the order
//! can no longer take them, are booked as owed back to the buyer (never lost).

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::MAX_PINNED_ATTEMPTS;
use crate::store::transaction::attempts;
use std::collections::HashMap;

use crate::domain::ledger::AccountId;
use crate::domain::payments::{
    chargeback_transfers, coin_purchase_transfers, event_time, verify_signature, PaymentEvent,
    WebhookEnvelope,
};
use crate::domain::refunds::payment_refund;
use crate::domain::shop::{
    payment_outcome, payment_transfer, OrderStatus, PaymentOutcome, ShopError,
};
use crate::domain::time::{rfc3339, sortable};
use crate::domain::wallet::chargeback_split;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::queue::payouts::PayoutQueue;
use crate::store::ledger::{AccountEdit, LedgerWrite};
use crate::store::orders::{OrderChange, SweepAfter};
use crate::store::{Role, Tx, TxError};
use crate::App;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Ack<'a> {
    event_id: &'a str,
    /// `applied` the first time, `duplicate` for every repeat.
    status: &'static str,
    /// For an order payment: `order_paid`, or `owed_back_to_buyer:<why>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
}

pub async fn handle(
    app: &App,
    secret: &[u8],
    queue: &PayoutQueue,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| webhook(app, secret, queue, r)).await
}

#[utoipa::path(post, path = "/v1/webhooks/payments", tag = "webhooks",
    params(("Livepay-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>")),
    request_body = crate::domain::payments::WebhookEnvelope,
    responses((status = 200, body = Ack), (status = 400, body = crate::http::ErrorBody),
        (status = 401, description = "invalid_signature, stale_signature", body = crate::http::ErrorBody), (status = 503, body = crate::http::ErrorBody)))]
async fn webhook(
    app: &App,
    secret: &[u8],
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let signed_at = verify_signature(
        secret,
        req.header("livepay-signature"),
        &req.body,
        app.clock.now().unix_timestamp(),
    )?;
    let envelope: WebhookEnvelope = req.json()?;
    let created = envelope.created;
    let event_type = envelope.event_type.clone();
    let (event_id, event) = PaymentEvent::parse(envelope)?;
    record_business_id(&event_id);
    let body_sha = hex::encode(crate::domain::ids::digest(&[&String::from_utf8_lossy(
        &req.body,
    )]));

    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let now = app.clock.now();
        let at = rfc3339(now);
        let mut tx = Tx::new();
        app.store
            .add_webhook_event(&mut tx, &event_id, &event_type, &body_sha, &at);
        // Accounts read for this attempt: if one moved before the commit, read and decide again.
        let mut pinned = Vec::new();
        let mut outcome = None;
        let mut refund = None;
        match &event {
            PaymentEvent::CoinsPurchased(e) => {
                let transfers = coin_purchase_transfers(&event_id, e)?;
                app.store.add_ledger_write(
                    &mut tx,
                    LedgerWrite {
                        transfers: &transfers,
                        at: &at,
                        ..Default::default()
                    },
                )?;
            }
            PaymentEvent::ChargedBack(e) => {
                let wallet = app.store.wallet(&e.user_id).await?;
                let (from_wallet, from_loss) = chargeback_split(wallet.balance, e.coins);
                let transfers =
                    chargeback_transfers(&event_id, &e.user_id, from_wallet, from_loss)?;
                let mut edits = HashMap::new();
                if from_wallet > 0 {
                    let account = AccountId::wallet(&e.user_id);
                    edits.insert(account.clone(), AccountEdit::pinned(wallet.version));
                    pinned.push(account);
                }
                app.store.add_ledger_write(
                    &mut tx,
                    LedgerWrite {
                        transfers: &transfers,
                        at: &at,
                        edits,
                        ..Default::default()
                    },
                )?;
            }
            PaymentEvent::OrderPaid(e) => {
                let order = app
                    .store
                    .order(&e.order_id)
                    .await?
                    .ok_or(ShopError::OrderNotFound)?;
                let at = sortable(now);
                let paid_at = time::OffsetDateTime::from_unix_timestamp(event_time(
                    created,
                    signed_at,
                    now.unix_timestamp(),
                ))
                .map_or_else(|_| at.clone(), sortable);
                let decided = payment_outcome(&order, e.amount_cents, &paid_at);
                let transfers = [payment_transfer(
                    &event_id,
                    &order,
                    e.amount_cents,
                    &decided,
                )?];
                // Money owed back leaves through the provider: a refund of that payment.
                if let PaymentOutcome::OweBack(_) = decided {
                    let owed = payment_refund(&event_id, &order, e.amount_cents, &at);
                    let redrive_at = sortable(now + app.config.sweep_grace());
                    app.store.add_new_refund(&mut tx, &owed, &redrive_at);
                    refund = Some(owed);
                }
                let change = match decided {
                    PaymentOutcome::Accept => OrderChange {
                        to: Some(OrderStatus::Paid),
                        sweep: SweepAfter::Done,
                        paid_by: Some(&event_id),
                        ..OrderChange::new(&order, &at)
                    },
                    PaymentOutcome::OweBack(_) => OrderChange {
                        owed_back_cents: e.amount_cents,
                        refund: refund.as_ref(),
                        ..OrderChange::new(&order, &at)
                    },
                };
                app.store.add_order_change(
                    &mut tx,
                    OrderChange {
                        transfers: &transfers,
                        ..change
                    },
                )?;
                record_business_id(&order.order_id);
                pinned.push(order.account());
                outcome = Some(match decided {
                    PaymentOutcome::Accept => "order_paid".to_owned(),
                    PaymentOutcome::OweBack(why) => format!("owed_back_to_buyer:{why}"),
                });
            }
        }
        match tx.commit(app.store.client()).await {
            Ok(()) => {
                if let Some(refund) = &refund {
                    super::shop::send_refund(queue, refund).await;
                }
                return Ok(ack(&event_id, "applied", outcome));
            }
            Err(err) if err.condition_failed(&Role::WebhookEvent) => {
                return Ok(ack(&event_id, "duplicate", None));
            }
            // The same event arriving concurrently, or what it read moving under it.
            Err(err) if retryable(&err, &pinned) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("event {event_id} kept conflicting")))
}

fn retryable(err: &TxError, pinned: &[AccountId]) -> bool {
    let TxError::Cancelled(reasons) = err else {
        return false;
    };
    reasons.iter().all(|c| {
        c.conflict()
            || (c.condition_failed() && matches!(&c.role, Role::Account(a) if pinned.contains(a)))
    })
}

fn ack(event_id: &str, status: &'static str, outcome: Option<String>) -> ApiResponse {
    ApiResponse::json(
        200,
        &Ack {
            event_id,
            status,
            outcome,
        },
    )
}

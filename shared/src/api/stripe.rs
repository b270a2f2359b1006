//! `POST /v1/webhooks/stripe`: Stripe's events, verified as Stripe documents (`Stripe-Signature`
//! over `"<t>.<raw body>"`, any `v1` under the current or the previous endpoint secret, 300 s),
//! read as `domain::stripe` reads them, and applied through the same path as the
//! provider-neutral webhook (`payments::apply`), so a Stripe payment follows every rule an
//! `order.paid` or a `coins.purchased` does. What livepay does not act on is answered `200`
//! `ignored` (Stripe retries anything else for days). A dispute Stripe closes as won gives back
//! what its opening took (`api::reinstatement`).

use super::payments::{ack, apply, verified, Delivery};
use super::MAX_PINNED_ATTEMPTS;
use crate::config::WebhookSecrets;
use crate::domain::chargebacks::ChargebackError;
use crate::domain::payments::{
    ChargebackWon, ChargedBack, ChargedBackOf, CoinsPurchased, OrderChargedBack, OrderPaid,
    PaymentEvent, RefundAnswered,
};
use crate::domain::payouts::PayoutStatus;
use crate::domain::refunds::order_refund_id;
use crate::domain::shop::ShopError;
use crate::domain::stripe::{coins_for, Meaning, Purchase, RefundState, StripeEvent};
use crate::domain::time::sortable;
use crate::http::{record_business_id, ApiError, ApiRequest, ApiResponse};
use crate::queue::payouts::PayoutQueue;
use crate::store::chargebacks::Recorded;
use crate::store::transaction::attempts;
use crate::store::{Role, Tx};
use crate::App;

#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "webhooks",
    operation_id = "stripe_webhook",
    params(("Stripe-Signature" = String, Header,
        description = "t=<unix seconds>,v1=<hex HMAC-SHA256(endpoint secret, \"<t>.<raw body>\")>[,v1=…]")),
    request_body(content = serde_json::Value,
        description = "A Stripe event object (https://docs.stripe.com/api/events/object)"),
    responses((status = 200, body = super::payments::Ack),
        (status = 400, description = "invalid_request, livemode_mismatch", body = crate::http::ErrorBody),
        (status = 401, description = "invalid_signature, stale_signature", body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody), (status = 503, body = crate::http::ErrorBody)))]
pub async fn webhook(
    app: &App,
    secrets: &WebhookSecrets,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let signed_at = verified(
        &secrets.stripe,
        req.header("stripe-signature"),
        &req.body,
        app.clock.now(),
    )
    .await?;
    let event = StripeEvent::parse(&req.body)?;
    record_business_id(&event.id);
    if event.livemode != secrets.stripe_livemode {
        return Err(ApiError::LivemodeMismatch {
            event: event.livemode,
            endpoint: secrets.stripe_livemode,
        });
    }
    let (key, payment_event) = match event.meaning()? {
        Meaning::Ignored(why) => return Ok(ack(&event.id, "ignored", Some(why.to_owned()))),
        Meaning::Paid {
            payment_intent,
            amount_cents,
            purchase,
        } => {
            let paid = match purchase {
                Purchase::Coins { user_id, coins } => {
                    PaymentEvent::CoinsPurchased(CoinsPurchased {
                        user_id,
                        coins,
                        amount_cents,
                    })
                }
                Purchase::Order { order_id } => PaymentEvent::OrderPaid(OrderPaid {
                    order_id,
                    amount_cents,
                }),
            };
            // The PaymentIntent takes effect, once: its other event is a duplicate.
            (payment_intent, paid)
        }
        Meaning::Dispute {
            won: Some(false), ..
        } => {
            // Lost: what the dispute took was reversed when it opened.
            return Ok(ack(&event.id, "ignored", Some("dispute_lost".to_owned())));
        }
        Meaning::Dispute {
            dispute_id,
            payment_intent,
            amount_cents,
            won: Some(true),
        } => {
            // What the dispute reversed, found as its opening found it.
            let of = match reversal(app, &payment_intent, amount_cents, Taken::Dispute).await? {
                Reversal::Book(PaymentEvent::OrderChargedBack(o)) => {
                    ChargedBackOf::Order(o.order_id)
                }
                Reversal::Book(_) => ChargedBackOf::Purchase(payment_intent),
                Reversal::Ours => {
                    return Err(ApiError::Internal(format!(
                        "dispute {dispute_id} was taken for a refund of livepay's"
                    )))
                }
            };
            let won = ChargebackWon {
                chargeback_event_id: dispute_id.clone(),
                of,
            };
            // Its `closed` and its `funds_reinstated` events give back once.
            (
                format!("{dispute_id}/won"),
                PaymentEvent::ChargebackWon(won),
            )
        }
        Meaning::Dispute {
            dispute_id,
            payment_intent,
            amount_cents,
            won: None,
        } => match reversal(app, &payment_intent, amount_cents, Taken::Dispute).await? {
            // One dispute reverses once, whichever of its events arrive.
            Reversal::Book(reversal) => (dispute_id, reversal),
            Reversal::Ours => {
                return Err(ApiError::Internal(format!(
                    "dispute {dispute_id} was taken for a refund of livepay's"
                )))
            }
        },
        Meaning::ChargeRefunded {
            payment_intent,
            amount_refunded,
        } => match reversal(app, &payment_intent, amount_refunded, Taken::Refund).await? {
            Reversal::Book(reversal) => (event.id.clone(), reversal),
            Reversal::Ours => {
                return Ok(ack(
                    &event.id,
                    "ignored",
                    Some("refunded_by_livepay".into()),
                ))
            }
        },
        Meaning::RefundAnswered {
            attempt,
            refund,
            state,
        } => {
            let (succeeded, reason) = match state {
                RefundState::Succeeded => (true, None),
                RefundState::Failed(reason) => (false, Some(reason)),
            };
            let answer = RefundAnswered {
                refund_id: attempt,
                reason,
                provider_ref: Some(refund),
            };
            (
                event.id.clone(),
                PaymentEvent::RefundAnswered(answer, succeeded),
            )
        }
        Meaning::Account {
            account,
            payouts_enabled,
        } => return account_updated(app, &event, &account, payouts_enabled).await,
        Meaning::TransferReversed {
            transfer,
            payout_id,
            amount_reversed,
        } => {
            let reversed = (transfer.as_str(), payout_id.as_str(), amount_reversed);
            return transfer_reversed(app, &event, reversed).await;
        }
    };
    let delivery = Delivery {
        event_id: &key,
        created: event.created,
        signed_at,
        body: &req.body,
    };
    match apply(app, queue, &delivery, &payment_event).await {
        Ok((status, outcome)) => Ok(ack(&event.id, status, outcome)),
        // Another deployment's refund on the same Stripe account: not ours to answer, and a
        // 404 would have Stripe retry it for days.
        Err(ApiError::RefundNotFound) => Ok(ack(
            &event.id,
            "ignored",
            Some("refund_not_livepays".into()),
        )),
        Err(e) => Err(e),
    }
}

/// How money went back on a payment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Taken {
    Dispute,
    Refund,
}

/// What money going back on a payment does.
enum Reversal {
    Book(PaymentEvent),
    /// A refund livepay made itself: its own `refund.*` events answer it.
    Ours,
}

/// What takes back `cents` of the payment `payment_intent`: a chargeback of its coins (in
/// proportion) or of the order it paid. A payment not seen yet is marked, so that if it comes
/// it credits nothing.
async fn reversal(
    app: &App,
    payment_intent: &str,
    cents: u64,
    taken: Taken,
) -> Result<Reversal, ApiError> {
    let coins = |user_id: String, coins: u64| {
        PaymentEvent::ChargedBack(ChargedBack {
            user_id,
            coins,
            amount_cents: Some(cents),
            purchase_event_id: Some(payment_intent.to_owned()),
            by_refund: taken == Taken::Refund,
        })
    };
    Ok(Reversal::Book(
        match app.store.purchase(payment_intent).await? {
            Recorded::Purchase(p) => coins(
                p.user_id.unwrap_or_default(),
                coins_for(cents, p.coins, p.cents),
            ),
            Recorded::OrderPayment(order_id) => {
                let order = app
                    .store
                    .order(&order_id)
                    .await?
                    .ok_or(ShopError::OrderNotFound)?;
                let paid_it = order.payment_event_id.as_deref() == Some(payment_intent);
                let own_refund = order
                    .refund
                    .as_ref()
                    .is_some_and(|(id, _)| *id == order_refund_id(&order.order_id));
                match (paid_it, taken) {
                // livepay's own refund of the order, or of a payment it owed back.
                (true, Taken::Refund) if own_refund => return Ok(Reversal::Ours),
                (false, Taken::Refund) => return Ok(Reversal::Ours),
                (true, _) => PaymentEvent::OrderChargedBack(OrderChargedBack {
                    order_id,
                    amount_cents: cents,
                    by_refund: taken == Taken::Refund,
                }),
                // A payment the order could not take is owed back by a refund of its own; a
                // dispute of it is not the order's to reverse.
                (false, Taken::Dispute) => {
                    return Err(ApiError::NotBooked(format!(
                        "a dispute of {payment_intent}, a payment order {order_id} did not take                          (owed back to the buyer): check its refund before booking a correction"
                    )))
                }
            }
            }
            // Not seen (yet): only the marker is written — `charge_back` stops at the missing
            // purchase before it reads the user or the coins.
            Recorded::Nothing => coins(String::new(), 0),
            Recorded::Other => return Err(ChargebackError::NotAPurchase.into()),
        },
    ))
}

/// `account.updated`: whether the payee's connected account can be paid now.
async fn account_updated(
    app: &App,
    event: &StripeEvent,
    account: &str,
    payouts_enabled: bool,
) -> Result<ApiResponse, ApiError> {
    let Some(payee_id) = app.store.account_owner(account).await? else {
        return Ok(ack(
            &event.id,
            "ignored",
            Some("account_not_a_payee".into()),
        ));
    };
    record_business_id(&payee_id);
    let created = event
        .created
        .unwrap_or_else(|| app.clock.now().unix_timestamp());
    let changed = app
        .store
        .set_payouts_enabled(&payee_id, account, payouts_enabled, created)
        .await?;
    let outcome = match (changed, payouts_enabled) {
        (false, _) => "unchanged:stale_or_replaced",
        (true, true) => "payouts_enabled",
        (true, false) => "payouts_disabled",
    };
    Ok(ack(&event.id, "applied", Some(outcome.to_owned())))
}

/// `transfer.reversed`: the part of a payout's transfer Stripe took back, not booked yet, goes
/// from paid out back to the payee's available cents, once (`Payout::reversal_transfer`).
async fn transfer_reversed(
    app: &App,
    event: &StripeEvent,
    (transfer, payout_id, amount_reversed): (&str, &str, u64),
) -> Result<ApiResponse, ApiError> {
    record_business_id(payout_id);
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let Some(payout) = app.store.payout_by_id(payout_id).await? else {
            return Ok(ack(
                &event.id,
                "ignored",
                Some("not_a_livepay_payout".into()),
            ));
        };
        match payout.status {
            PayoutStatus::Paid => {}
            // The executor has not recorded the transfer yet: Stripe retries in a moment.
            s if s.in_flight() => {
                return Err(ApiError::Busy(format!(
                    "payout {payout_id} is still being paid"
                )))
            }
            other => {
                let why = format!("payout_{}", other.as_str());
                return Ok(ack(&event.id, "ignored", Some(why)));
            }
        }
        // The payout's own transfer only: one named by another id is not this payout's money.
        if payout.provider_ref.as_deref() != Some(transfer) {
            return Ok(ack(
                &event.id,
                "ignored",
                Some("not_the_payouts_transfer".into()),
            ));
        }
        let Some(reversal) = payout.reversal_transfer(amount_reversed)? else {
            return Ok(ack(&event.id, "duplicate", Some("already_booked".into())));
        };
        let mut tx = Tx::new();
        let at = sortable(app.clock.now());
        let total = amount_reversed.min(payout.amount_cents);
        app.store
            .add_payout_reversal(&mut tx, &payout, total, &reversal, &at)?;
        match tx.commit(app.store.client()).await {
            Ok(()) => {
                let what = format!("reversed_{}_cents", reversal.amount);
                return Ok(ack(&event.id, "applied", Some(what)));
            }
            // Another delivery booked it, or the payout moved: read again.
            Err(err) if err.condition_failed(&Role::Payout(payout_id.to_owned())) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("payout {payout_id} kept changing")))
}

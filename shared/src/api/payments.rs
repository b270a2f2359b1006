//! `POST /v1/webhooks/payments`: signed, each event id at most once. Coin purchases credit
//! wallets, chargebacks take coins back (and a won one gives them back), and order payments pay
//! an order — or, when the order can no longer take them, are booked as owed back to the buyer
//! (never lost).

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::MAX_PINNED_ATTEMPTS;
use crate::store::transaction::attempts;
use std::collections::HashMap;

use super::reinstatement::reinstate;
use super::shop::{add_order_reversal, RepaidBy};
use crate::config::WebhookSecrets;
use crate::domain::chargebacks::{
    attribute, check_against_purchase, Attribution, ChargebackError, Earner, Reversal, SpentGift,
};
use crate::domain::ledger::{AccountId, AccountKind, Transfer, TransferKind};
use crate::domain::payments::{
    coin_purchase_transfers, event_time, verify_signature, ChargedBack, PaymentEvent,
    SignatureError, WebhookEnvelope,
};
use crate::domain::payouts::ProviderOutcome;
use crate::domain::refunds::{order_refund_id, payment_refund, Refund, RefundStatus};
use crate::domain::reinstatement::{opening, Opening, Taken};
use crate::domain::settlement::Hold;
use crate::domain::shop::{
    payment_outcome, payment_transfer, Order, OrderStatus, PaymentOutcome, ShopError,
};
use crate::domain::time::{rfc3339, sortable};
use crate::domain::wallet::chargeback_split;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::queue::payouts::PayoutQueue;
use crate::secrets::Secret;
use crate::store::chargebacks::{attribution_edits, Charged, Recorded};
use crate::store::ledger::{AccountEdit, LedgerWrite};
use crate::store::orders::{OrderChange, SweepAfter};
use crate::store::payments::Subject;
use crate::store::refunds::RefundKey;
use crate::store::{Role, Tx, TxError};
use crate::App;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Ack<'a> {
    event_id: &'a str,
    /// `applied` the first time, `duplicate` for every repeat; from Stripe, `ignored` for an
    /// event livepay does not act on (its type, or a payment that is not livepay's).
    status: &'static str,
    /// What the event did, where it can differ: for an order payment `order_paid` or
    /// `owed_back_to_buyer:<why>`; for a purchase `charged_back_before_purchase`; for a
    /// chargeback `reversed:clawed_back_<diamonds>`, `already_charged_back` or
    /// `purchase_not_seen` (`already_won` when its win came first); for an order chargeback
    /// `order_reversed`, `already_refunded` or `nothing_to_reverse:<status>`; for a won
    /// chargeback `reinstated`, `order_reinstated:<status>`, `double_repayment_returned`,
    /// `already_reinstated`, `unchanged:reversed_by_another_event` or `unchanged:nothing_taken`;
    /// for a refund's answer `succeeded`, `failed` or `unchanged:<status>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
}

pub async fn handle(
    app: &App,
    secrets: &WebhookSecrets,
    queue: &PayoutQueue,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "POST /v1/webhooks/payments" => webhook(app, &secrets.payments, queue, r).await,
            "POST /v1/webhooks/stripe" => super::stripe::webhook(app, secrets, queue, r).await,
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

#[utoipa::path(post, path = "/v1/webhooks/payments", tag = "webhooks",
    operation_id = "payments_webhook",
    params(("Livepay-Signature" = String, Header,
        description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>")),
    request_body = crate::domain::payments::WebhookEnvelope,
    responses(
        (status = 200, body = Ack),
        (status = 400, body = crate::http::ErrorBody),
        (status = 401, description = "invalid_signature, stale_signature",
            body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
async fn webhook(
    app: &App,
    secret: &Secret,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let signed_at = verified(
        secret,
        req.header("livepay-signature"),
        &req.body,
        app.clock.now(),
    )
    .await?;
    let envelope: WebhookEnvelope = req.json()?;
    let created = envelope.created;
    let (event_id, event) = PaymentEvent::parse(envelope)?;
    record_business_id(&event_id);
    let delivery = Delivery {
        event_id: &event_id,
        created,
        signed_at,
        body: &req.body,
    };
    let (status, outcome) = apply(app, queue, &delivery, &event).await?;
    Ok(ack(&event_id, status, outcome))
}

/// When `header` signed `body`, checked against `secret`'s values (read again early when none
/// matches: see `secrets`).
pub(super) async fn verified(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
    now: time::OffsetDateTime,
) -> Result<i64, SignatureError> {
    let check = |values: &[&[u8]]| verify_signature(values, header, body, now.unix_timestamp());
    secret
        .verify(now, check, |e| *e == SignatureError::Invalid)
        .await
}

/// A verified delivery of a provider's event.
pub(super) struct Delivery<'a> {
    /// What takes effect at most once: the event's id, or for a payment the provider's payment
    /// (a Stripe PaymentIntent), however many events announce it.
    pub event_id: &'a str,
    /// When the provider says it happened (unix seconds).
    pub created: Option<i64>,
    /// When the delivery was signed (unix seconds).
    pub signed_at: i64,
    pub body: &'a [u8],
}

/// Applies `event` at most once per `d.event_id`: `applied` (with what it did, where that can
/// differ) the first time, `duplicate` after.
pub(super) async fn apply(
    app: &App,
    queue: &PayoutQueue,
    d: &Delivery<'_>,
    event: &PaymentEvent,
) -> Result<(&'static str, Option<String>), ApiError> {
    let (event_id, created, signed_at) = (d.event_id, d.created, d.signed_at);
    let body_sha = hex::encode(crate::domain::ids::digest(&[&String::from_utf8_lossy(
        d.body,
    )]));

    // A payment learns it was charged back first from its own transaction's check (no read
    // on every payment), and then records only that it came.
    let mut charged_back_first = false;
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let now = app.clock.now();
        let at = rfc3339(now);
        let mut tx = Tx::new();
        let subject = match event {
            PaymentEvent::CoinsPurchased(e) => Some(Subject::User(&e.user_id)),
            PaymentEvent::OrderPaid(e) => Some(Subject::Order(&e.order_id)),
            _ => None,
        };
        app.store
            .add_webhook_event(&mut tx, (event_id, event.kind()), subject, &body_sha, &at);
        // Accounts read for this attempt: if one moved before the commit, read and decide again.
        let mut pinned = Vec::new();
        let mut outcome = None;
        let mut refund = None;
        match event {
            PaymentEvent::CoinsPurchased(e) => {
                // Charged back before it arrived: it credits nothing (the provider took the
                // money back already).
                if charged_back_first {
                    outcome = Some("charged_back_before_purchase".to_owned());
                } else {
                    app.store.add_not_charged_back(&mut tx, event_id);
                    let transfers = coin_purchase_transfers(event_id, e)?;
                    app.store.add_ledger_write(
                        &mut tx,
                        LedgerWrite {
                            transfers: &transfers,
                            at: &at,
                            ..Default::default()
                        },
                    )?;
                }
            }
            PaymentEvent::ChargedBack(e) => {
                outcome = charge_back(app, &mut tx, event_id, e, &at, &mut pinned).await?;
            }
            PaymentEvent::RefundAnswered(e, succeeded) => {
                // The provider names the attempt it answers (the key it was asked under).
                let (refund_id, attempt) = Refund::parse_attempt_key(&e.refund_id);
                let refund = app
                    .store
                    .refund_by_id(refund_id)
                    .await?
                    .ok_or(ApiError::RefundNotFound)?;
                record_business_id(&refund.refund_id);
                // Only the attempt waiting on the provider takes its answer; the executor may
                // have recorded it first (a look-up), and then this changes nothing. A late
                // answer to an earlier attempt is not this attempt's.
                outcome = Some(match refund.status {
                    _ if refund.retries != attempt => "unchanged:stale_attempt".to_owned(),
                    RefundStatus::Processing => {
                        let answer = e.outcome(*succeeded, event_id);
                        app.store
                            .add_refund_outcome(&mut tx, &refund, &answer, &at)?;
                        RefundStatus::of(&answer).as_str().to_owned()
                    }
                    other => format!("unchanged:{}", other.as_str()),
                });
            }
            PaymentEvent::OrderChargedBack(e) => {
                let order = app
                    .store
                    .order(&e.order_id)
                    .await?
                    .ok_or(ShopError::OrderNotFound)?;
                record_business_id(&order.order_id);
                pinned.push(order.account());
                // One dispute per order reverses it (until a win ends its round): another event
                // for it changes nothing.
                let charged = Charged::Order(&order.order_id);
                let previous = app.store.chargeback(charged).await?;
                outcome = Some(match opening(previous.as_ref(), event_id, e.by_refund) {
                    Opening::Unchanged(why) => why.to_owned(),
                    Opening::WaitForWin => return Err(wait_for_win(event_id)),
                    Opening::Reverse { replaces } => {
                        // A dispute racing a commission's release: read again.
                        if let Some(creator) = &order.affiliate_id {
                            pinned.push(AccountId::new(AccountKind::CommissionPending, creator));
                            pinned.extend(
                                order.agency_cut.as_ref().map(|c| c.account(creator, true)),
                            );
                        }
                        let reversed =
                            reverse_order(app, &mut tx, event_id, &order, e.amount_cents);
                        let (what, reversed) = reversed.await?;
                        if let OrderReversal::Reversed(taken) = reversed {
                            let marked = (event_id, at.as_str(), e.by_refund);
                            app.store.add_chargeback_marker(
                                &mut tx,
                                charged,
                                marked,
                                taken.as_ref(),
                                replaces,
                            );
                        }
                        what
                    }
                });
            }
            PaymentEvent::ChargebackWon(e) => {
                let won = (event_id, at.as_str());
                outcome = Some(reinstate(app, &mut tx, won, e, &mut pinned).await?);
            }
            // Disputed before it arrived (a Stripe dispute for a payment not seen yet): the
            // order is not paid by money the provider took back.
            PaymentEvent::OrderPaid(_) if charged_back_first => {
                outcome = Some("charged_back_before_payment".to_owned());
            }
            PaymentEvent::OrderPaid(e) => {
                app.store.add_not_charged_back(&mut tx, event_id);
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
                    event_id,
                    &order,
                    e.amount_cents,
                    &decided,
                )?];
                // Money owed back leaves through the provider: a refund of that payment.
                if let PaymentOutcome::OweBack(_) = decided {
                    let owed = payment_refund(event_id, &order, e.amount_cents, &at);
                    let redrive_at = sortable(now + app.config.sweep_grace());
                    app.store.add_new_refund(&mut tx, &owed, &redrive_at);
                    refund = Some(owed);
                }
                let change = match decided {
                    PaymentOutcome::Accept => OrderChange {
                        to: Some(OrderStatus::Paid),
                        sweep: SweepAfter::Done,
                        paid_by: Some(event_id),
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
                return Ok(("applied", outcome));
            }
            Err(err) if err.condition_failed(&Role::WebhookEvent) => {
                return Ok(("duplicate", None));
            }
            Err(err)
                if matches!(
                    event,
                    PaymentEvent::CoinsPurchased(_) | PaymentEvent::OrderPaid(_)
                ) && err.condition_failed(&Role::Chargeback(event_id.to_owned())) =>
            {
                charged_back_first = true;
                continue;
            }
            // The same event arriving concurrently, or what it read moving under it.
            Err(err) if retryable(&err, &pinned) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("event {event_id} kept conflicting")))
}

fn wait_for_win(event_id: &str) -> ApiError {
    ApiError::Busy(format!(
        "{event_id} refunds a payment whose dispute is open here: its win has not arrived yet"
    ))
}

fn retryable(err: &TxError, pinned: &[AccountId]) -> bool {
    let TxError::Cancelled(reasons) = err else {
        return false;
    };
    // A chargeback's marker written (or given back) meanwhile: read again, and find it. What
    // else failed with it did so because the same winner wrote it first (a won dispute's
    // transfers, delivered under two event ids).
    if reasons
        .iter()
        .any(|c| c.condition_failed() && matches!(c.role, Role::Chargeback(_)))
    {
        return true;
    }
    // A refund's answer recorded by its executor: read again, and find it.
    reasons.iter().all(|c| {
        c.conflict()
            || (c.condition_failed()
                && match &c.role {
                    Role::Account(a) => pinned.contains(a),
                    Role::Refund(_) => true,
                    _ => false,
                })
    })
}

/// A chargeback of a coin purchase (`domain::chargebacks`). What it decided on is pinned: the
/// wallet, the gifts it traced and the creators' pending earnings it took from.
async fn charge_back(
    app: &App,
    tx: &mut Tx,
    event_id: &str,
    e: &ChargedBack,
    at: &str,
    pinned: &mut Vec<AccountId>,
) -> Result<Option<String>, ApiError> {
    let mut cash = None;
    let mut since = None;
    let mut marker = None;
    if let Some((purchase_id, cents)) = e.purchase() {
        if purchase_id == event_id {
            return Err(ChargebackError::NotAPurchase.into());
        }
        // The purchase is read before the marker: a chargeback commits both at once, so with
        // no marker seen after it, the purchase's balances were read before any reversal. After
        // a round a win ended, it is read again: its balances are at least that win's.
        let mut recorded = app.store.purchase(purchase_id).await?;
        let charged = Charged::Purchase(purchase_id);
        let previous = app.store.chargeback(charged).await?;
        let replaces = match opening(previous.as_ref(), event_id, e.by_refund) {
            Opening::Unchanged(why) => return Ok(Some(why.to_owned())),
            Opening::WaitForWin => return Err(wait_for_win(event_id)),
            Opening::Reverse { replaces } => replaces,
        };
        if replaces.is_some() {
            recorded = app.store.purchase(purchase_id).await?;
        }
        let purchase = match recorded {
            Recorded::Purchase(purchase) => purchase,
            Recorded::Other | Recorded::OrderPayment(_) => {
                return Err(ChargebackError::NotAPurchase.into())
            }
            Recorded::Nothing => {
                // Nothing was credited, and the marker makes sure nothing will be — unless
                // the purchase commits before it does: then this reads again.
                let marked = (event_id, at, e.by_refund);
                app.store
                    .add_chargeback_marker(tx, charged, marked, None, replaces);
                app.store.add_purchase_not_seen(tx, purchase_id);
                return Ok(Some("purchase_not_seen".to_owned()));
            }
        };
        marker = Some((charged, replaces.cloned()));
        if purchase.user_id.as_ref().is_some_and(|u| *u != e.user_id) {
            return Err(ChargebackError::UserMismatch.into());
        }
        check_against_purchase((purchase.coins, purchase.cents), e.coins, cents)?;
        cash = Some((purchase_id, cents));
        // Whole seconds: gifts' times are, and this bound must not pass over the same second.
        let second = purchase
            .received_at
            .get(..19)
            .unwrap_or(&purchase.received_at);
        since = Some(second.to_owned());
    }
    let wallet = app.store.wallet(&e.user_id).await?;
    let (from_wallet, spent) = chargeback_split(wallet.balance, e.coins);
    let mut earnings = Earnings::default();
    let attribution = match since {
        // An older body names no purchase: its spent coins stay the platform's loss.
        Some(since) if spent > 0 => {
            let (gifts, settling) = app.store.spent_gifts(&e.user_id, &since).await?;
            // Its share is not where it will be yet: the provider retries in a moment.
            if settling {
                return Err(ApiError::Busy(format!(
                    "gifts {} sent since the purchase are still settling",
                    e.user_id
                )));
            }
            earnings = earners_earnings(app, &gifts).await?;
            let hold = |pending: &AccountId, release_at: &str| {
                earnings
                    .holds
                    .get(pending)
                    .and_then(|holds| holds.iter().find(|h| h.release_at == release_at))
                    .map_or(0, |h| h.amount)
            };
            let available = |account: &AccountId| {
                earnings
                    .available
                    .get(account)
                    .map_or(0, |(b, _)| u64::try_from(*b).unwrap_or(0))
            };
            attribute(spent, &gifts, hold, available)
        }
        _ => Attribution::default(),
    };
    let transfers = Reversal {
        event_id,
        user_id: &e.user_id,
        coins: e.coins,
        from_wallet,
        attribution: &attribution,
        cash,
    }
    .transfers()?;
    let versions = earnings
        .available
        .iter()
        .map(|(account, (_, version))| (account.clone(), *version))
        .collect();
    let mut edits = attribution_edits(&attribution, &versions);
    if from_wallet > 0 {
        edits.insert(
            AccountId::wallet(&e.user_id),
            AccountEdit::pinned(wallet.version),
        );
    }
    pinned.extend(edits.keys().cloned());
    if let Some((charged, replaces)) = marker {
        let taken = Taken::new(&transfers, &attribution.gifts);
        let marked = (event_id, at, e.by_refund);
        app.store
            .add_chargeback_marker(tx, charged, marked, Some(&taken), replaces.as_ref());
    }
    app.store.add_ledger_write(
        tx,
        LedgerWrite {
            transfers: &transfers,
            at,
            edits,
            ..Default::default()
        },
    )?;
    Ok(cash.map(|_| format!("reversed:clawed_back_{}", attribution.clawed())))
}

/// The traced gifts' earners' earnings as stored now (creators', their agencies'): each pending
/// account's holds, and each available account's balance and version.
#[derive(Default)]
struct Earnings {
    holds: HashMap<AccountId, Vec<Hold>>,
    available: HashMap<AccountId, (i64, u64)>,
}

async fn earners_earnings(app: &App, gifts: &[SpentGift]) -> Result<Earnings, ApiError> {
    let mut earners = std::collections::BTreeSet::new();
    for g in gifts {
        earners.insert(Earner::Creator(g.creator_id.clone()));
        if let Some(a) = &g.agency {
            earners.insert(Earner::Agency {
                agency_id: a.agency_id.clone(),
                creator_id: g.creator_id.clone(),
            });
        }
    }
    let pending: std::collections::BTreeSet<AccountId> =
        earners.iter().map(Earner::pending).collect();
    let available: std::collections::BTreeSet<AccountId> =
        earners.iter().map(Earner::available).collect();
    let holds = pending.into_iter().map(|account| async move {
        let held = app.store.pending_earnings(&account).await?;
        Ok::<_, ApiError>((account, held.map(|p| p.holds).unwrap_or_default()))
    });
    let states = available.into_iter().map(|account| async move {
        let state = app.store.account_state(&account).await?;
        Ok::<_, ApiError>((account, state))
    });
    let (holds, states) = futures::try_join!(
        futures::future::try_join_all(holds),
        futures::future::try_join_all(states),
    )?;
    Ok(Earnings {
        holds: holds.into_iter().collect(),
        available: states.into_iter().collect(),
    })
}

/// An `order.charged_back`: the provider repaid the buyer, so the order is reversed as an admin
/// refund would reverse it, with its money going to the provider instead of owed to the buyer.
/// An order whose refund (of ours) exists is not reversed again: a refund not yet sent, or
/// failed, is superseded (the buyer has their money: its owed money goes to the provider); one
/// with the provider now is waited for (503: the provider retries); one that succeeded means the
/// provider repaid the buyer twice, booked as the platform's expense so the books match the bank.
async fn reverse_order(
    app: &App,
    tx: &mut Tx,
    event_id: &str,
    order: &Order,
    amount_cents: u64,
) -> Result<(String, OrderReversal), ApiError> {
    let now = app.clock.now();
    let at = sortable(now);
    // The order's own refund: a refund of another payment it could not take is that
    // payment's business, not this dispute's.
    let own = order
        .refund
        .as_ref()
        .filter(|(id, _)| *id == order_refund_id(&order.order_id));
    if let Some((refund_id, created_at)) = own {
        let key = RefundKey::new(&order.buyer_id, created_at, refund_id);
        let refund = app.store.refund(&key).await?.ok_or_else(|| {
            ApiError::Internal(format!("order {} names a missing refund", order.order_id))
        })?;
        let outcome = match refund.status {
            RefundStatus::Processing => {
                return Err(ApiError::Busy(format!(
                    "order {}'s refund is with the provider",
                    order.order_id
                )))
            }
            RefundStatus::Requested | RefundStatus::Failed => {
                let repaid = ProviderOutcome::Paid {
                    provider_ref: event_id.to_owned(),
                };
                app.store.add_refund_outcome(tx, &refund, &repaid, &at)?;
                // Given back, the buyer's refund would be owed again: not reinstated.
                return Ok((
                    "refund_superseded".to_owned(),
                    OrderReversal::Reversed(None),
                ));
            }
            RefundStatus::Succeeded => {
                let twice = Transfer::new(
                    format!("{event_id}/repaid-twice"),
                    AccountId::outside(AccountKind::PlatformExpense, event_id),
                    AccountId::outside(AccountKind::PaymentProvider, event_id),
                    amount_cents,
                    TransferKind::ChargebackCash,
                    event_id,
                )?;
                let transfers = [twice];
                app.store.add_ledger_write(
                    tx,
                    LedgerWrite {
                        transfers: &transfers,
                        at: &at,
                        ..Default::default()
                    },
                )?;
                let taken = Taken::new(&transfers, &[]);
                ("repaid_twice", taken)
            }
        };
        return Ok((
            outcome.0.to_owned(),
            OrderReversal::Reversed(Some(outcome.1)),
        ));
    }
    if order.status == OrderStatus::Refunded {
        return Ok(("already_refunded".to_owned(), OrderReversal::Nothing));
    }
    let Ok(booking) = order.status.refund(true) else {
        return Ok((
            format!("nothing_to_reverse:{}", order.status.as_str()),
            OrderReversal::Nothing,
        ));
    };
    if amount_cents != order.total_cents {
        return Err(ChargebackError::OrderAmount {
            asked: amount_cents,
            total: order.total_cents,
        }
        .into());
    }
    let transfers = add_order_reversal(
        app,
        tx,
        (order, booking),
        RepaidBy::Chargeback(event_id),
        "charged_back",
        now,
        &at,
    )?;
    let taken = Taken::new(&transfers, &[]);
    Ok((
        "order_reversed".to_owned(),
        OrderReversal::Reversed(Some(taken)),
    ))
}

/// What an order's dispute did: nothing, or a reversal (with what a won dispute gives back).
enum OrderReversal {
    Nothing,
    Reversed(Option<Taken>),
}

pub(super) fn ack(event_id: &str, status: &'static str, outcome: Option<String>) -> ApiResponse {
    ApiResponse::json(
        200,
        &Ack {
            event_id,
            status,
            outcome,
        },
    )
}

//! `POST /v1/orders`: the shop's hot path. One `TransactWriteItems` reserves every line's stock
//! (each conditioned on enough being left), holds the units against the buyer's per-buyer limits,
//! checks the stream, opens the order and stores the idempotency record: all or nothing. The
//! products' prices come from this container's memory when it has seen them (they never change),
//! else from one `BatchGetItem`.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::shop::order_view;
use super::MAX_PINNED_ATTEMPTS;
use crate::domain::shop::{
    affiliate, expires_at, price_lines, validate_lines, LineRequest, Order, OrderStatus, ShopError,
};
use crate::domain::streams::StreamId;
use crate::domain::time::sortable;
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::store::orders::order_units;
use crate::store::products::{limit_exceeded, Units};
use crate::store::transaction::backoff;
use crate::store::{Role, Tx, TxError};
use crate::App;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlaceOrderBody {
    lines: Vec<LineBody>,
    stream_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LineBody {
    product_id: String,
    quantity: u64,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| place_order(app, r)).await
}

#[utoipa::path(post, path = "/v1/orders", tag = "shop", security(("jwt" = [])),
    params(("Idempotency-Key" = String, Header, description = "1-255 characters; same key and body replay the first answer")), request_body = PlaceOrderBody,
    responses((status = 201, body = super::shop::OrderView), (status = 401, description = "no token, a bad one, or unusable claims", body = crate::http::Unauthorized), (status = 404, body = crate::http::ErrorBody), (status = 503, description = "busy; retry with the same key", body = crate::http::ErrorBody), (status = 400, description = "malformed body or Idempotency-Key missing", body = crate::http::ErrorBody), (status = 409, description = "idempotency_in_progress, or the state forbids it", body = crate::http::ErrorBody), (status = 422, description = "idempotency_key_reused, or a business limit", body = crate::http::ErrorBody)))]
async fn place_order(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: PlaceOrderBody = req.json()?;
    let lines: Vec<LineRequest> = body
        .lines
        .into_iter()
        .map(|l| LineRequest {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();
    validate_lines(&lines)?;
    let stream = match &body.stream_id {
        Some(id) => Some(StreamId::parse(id).ok_or(ApiError::StreamNotFound)?),
        None => None,
    };
    let ids: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
    let products = app.store.products_for_order(&ids).await?;
    let (seller_id, priced, total_cents) = price_lines(&lines, &products)?;

    let now = app.clock.now();
    let stream_creator = stream.as_ref().map(StreamId::creator_id);
    let order = Order {
        order_id: idem.derived_id("ord"),
        affiliate_id: affiliate(stream_creator.as_deref(), &caller.user_id, &seller_id),
        buyer_id: caller.user_id.clone(),
        seller_id,
        stream_id: stream.as_ref().map(|s| s.as_str().to_owned()),
        lines: priced,
        total_cents,
        status: OrderStatus::PendingPayment,
        placed_at: sortable(now),
        expires_at: sortable(expires_at(now, &app.config.shop)),
        history: Vec::new(),
        refund_reason: None,
        owed_back_cents: 0,
        version: 1,
    };
    record_business_id(&order.order_id);
    let units = order_units(&order);
    let response = ApiResponse::json(201, &order_view(&order));

    for attempt in 1..=MAX_PINNED_ATTEMPTS {
        let mut tx = Tx::new();
        for line in &order.lines {
            app.store
                .add_stock_reservation(&mut tx, &line.product_id, line.quantity);
        }
        app.store
            .add_buyer_limit_hold(&mut tx, &order.seller_id, &order.buyer_id, &units);
        if let (Some(stream_id), Some(creator)) = (&order.stream_id, &stream_creator) {
            app.store
                .add_stream_exists_check(&mut tx, stream_id, creator);
        }
        app.store.add_new_order(&mut tx, &order)?;
        let err = match idem.commit(app, tx, response.clone(), now).await? {
            Ok(response) => return Ok(response),
            Err(err) => err,
        };
        let refusal = refusal(&err, &order, &units);
        match refusal {
            Some(refusal) => return idem.replay_or(&app.store, now, refusal).await,
            // Only conflicts with concurrent orders (a flash sale): try again shortly.
            None if err.only_conflicts() => backoff(attempt.min(6) as u32).await,
            None => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!(
        "order {} kept conflicting with others",
        order.order_id
    )))
}

/// Why the order's transaction was refused, from the items that failed their conditions.
fn refusal(err: &TxError, order: &Order, units: &[Units<'_>]) -> Option<ApiError> {
    if err.condition_failed(&Role::Stream) {
        return Some(ApiError::StreamNotFound);
    }
    if let Some(f) = err
        .failure(&Role::BuyerLimits)
        .filter(|f| f.condition_failed())
    {
        let over = limit_exceeded(units, f.old.as_ref())?;
        return Some(
            ShopError::PerBuyerLimitExceeded {
                product_id: over.product_id.to_owned(),
                limit: over.limit.unwrap_or(0),
            }
            .into(),
        );
    }
    for line in &order.lines {
        if err.condition_failed(&Role::Product(line.product_id.clone())) {
            return Some(
                ShopError::OutOfStock {
                    product_id: line.product_id.clone(),
                }
                .into(),
            );
        }
    }
    // The order exists although the key's record does not (it expired): the same key again.
    if err.condition_failed(&Role::Account(order.account())) {
        return Some(ApiError::IdempotencyKeyReused);
    }
    None
}

//! `POST /v1/orders`: the shop's hot path. One `TransactWriteItems` reserves every line's stock
//! (each conditioned on enough being left), holds the units against the buyer's per-buyer limits,
//! opens the order and stores the idempotency record: all or nothing. The products' prices come
//! from this container's memory when it has seen them (they never change), else from one
//! `BatchGetItem`. The stream an order names is checked on a plain read this container may
//! remember, never inside the transaction: a flash sale on a stream would otherwise collide on
//! the stream item (DESIGN.md invariant 7).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::shop::order_view;
use super::MAX_PINNED_ATTEMPTS;
use crate::domain::shop::{
    affiliate, expires_at, price_lines, validate_lines, LineRequest, Order, OrderStatus, Product,
    ShopError,
};
use crate::domain::stock::{preferred_shard, take_plan};
use crate::domain::streams::StreamId;
use crate::domain::time::{seconds, sortable};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::store::orders::order_units;
use crate::store::products::{limit_exceeded, Units};
use crate::store::transaction::{attempts, backoff, CONTENTION_ATTEMPTS, MAX_TRANSACTION_ITEMS};
use crate::store::{Role, Tx, TxError};
use crate::App;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlaceOrderBody {
    /// 1 to 50 lines (`MAX_ORDER_LINES`), each product on one line only.
    #[schema(min_items = 1, max_items = 50)]
    lines: Vec<LineBody>,
    /// The stream the order is placed through, if any (`404 stream_not_found` for one that is
    /// not live or not a stream id).
    stream_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LineBody {
    /// Not blank, at most 128 bytes (`MAX_ID_BYTES`); `404 product_not_found` for an unknown one.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    product_id: String,
    /// 1 to 1,000 (`MAX_LINE_QUANTITY`).
    #[schema(minimum = 1, maximum = 1_000)]
    quantity: u64,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| place_order(app, r)).await
}

#[utoipa::path(post, path = "/v1/orders", tag = "shop", security(("jwt" = [])),
    request_body = PlaceOrderBody,
    responses(
        (status = 201, body = super::shop::OrderView),
        (status = 404, body = crate::http::ErrorBody)))]
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
    if let (Some(stream), Some(creator)) = (&stream, &stream_creator) {
        let max_age = seconds(app.config.streams.cache_seconds);
        let stored = app
            .store
            .recent_stream(stream.as_str(), now, max_age)
            .await?;
        if !matches!(stored, Some(s) if &s.creator_id == creator) {
            return Err(ApiError::StreamNotFound);
        }
    }
    let order = Order {
        agency_cut: None,
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
        payment_event_id: None,
        refund: None,
        units_released: false,
        version: 1,
    };
    record_business_id(&order.order_id);
    let units = order_units(&order);
    let response = ApiResponse::json(201, &order_view(&order, None));

    // Each line takes its units from the shard the order's id picks; a shard that cannot cover
    // its take makes the line read every shard and plan again (`domain::stock`).
    let mut takes: Vec<Vec<(u32, u64)>> = order
        .lines
        .iter()
        .map(|l| vec![(preferred(&order, &products[&l.product_id]), l.quantity)])
        .collect();
    for attempt in attempts(MAX_PINNED_ATTEMPTS) {
        let mut tx = Tx::new();
        // A shard another order holds is no reason to wait: take from another one.
        tx.report_contention();
        for (line, take) in order.lines.iter().zip(&takes) {
            for (shard, quantity) in take {
                app.store
                    .add_stock_take(&mut tx, &line.product_id, *shard, *quantity);
            }
        }
        app.store
            .add_buyer_limit_hold(&mut tx, &order.seller_id, &order.buyer_id, &units);
        app.store.add_new_order(&mut tx, &order)?;
        if tx.len() > MAX_TRANSACTION_ITEMS - 1 {
            // Lines split over so many shards that they no longer fit one transaction.
            return Err(ApiError::Busy(format!(
                "order {} spans too many stock shards",
                order.order_id
            )));
        }
        let err = match idem.commit(app, tx, response.clone(), now).await? {
            Ok(response) => return Ok(response),
            Err(err) => err,
        };
        if let Some(refusal) = refusal(&err, &order, &units) {
            return idem.replay_or(&app.store, now, refusal).await;
        }
        // A line whose shard ran short or was held by another order reads every shard and plans
        // again, starting one shard further on each time.
        let mut replanned = false;
        let mut retake = false;
        for (line, take) in order.lines.iter().zip(takes.iter_mut()) {
            let failures: Vec<_> = take
                .iter()
                .filter_map(|(shard, _)| err.failure(&Role::Stock(line.product_id.clone(), *shard)))
                .collect();
            if failures.is_empty() {
                continue;
            }
            retake = true;
            let product = &products[&line.product_id];
            // Where this attempt looks first: a different shard each time, and for each order.
            let start = preferred_shard(
                &format!("{}/{attempt}", order.order_id),
                product.stock_shards,
            );
            if failures.iter().all(|f| f.contention()) && take.len() == 1 {
                // Only held by another order: it likely still has units; try another shard
                // before spending a read on all of them.
                let plan = vec![(start, line.quantity)];
                replanned |= plan != *take;
                *take = plan;
                continue;
            }
            let units = app.store.stock(product).await?;
            let Some(plan) = take_plan(&units, line.quantity, start) else {
                let out = ShopError::OutOfStock {
                    product_id: line.product_id.clone(),
                };
                return idem.replay_or(&app.store, now, out.into()).await;
            };
            // The same shard again (the last units are there): wait for its holder first.
            replanned |= plan != *take;
            *take = plan;
        }
        match err {
            // Another shard now, after the shortest pause: racing orders must not spin.
            TxError::Contended(_) if replanned => backoff(1).await,
            _ if replanned => {}
            // Contention on the same shards, or elsewhere (the buyer's own limits): the same
            // plan, after a growing pause.
            TxError::Contended(_) => backoff(attempt.min(CONTENTION_ATTEMPTS)).await,
            _ if retake => backoff(attempt.min(CONTENTION_ATTEMPTS)).await,
            err => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!(
        "order {} kept finding its stock shards taken",
        order.order_id
    )))
}

fn preferred(order: &Order, product: &Product) -> u32 {
    preferred_shard(&order.order_id, product.stock_shards)
}

/// Why the order's transaction was refused, from the items that failed their conditions.
fn refusal(err: &TxError, order: &Order, units: &[Units<'_>]) -> Option<ApiError> {
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
    // The order exists although the key's record does not (it expired): the same key again.
    if err.condition_failed(&Role::Account(order.account())) {
        return Some(ApiError::IdempotencyKeyReused);
    }
    None
}

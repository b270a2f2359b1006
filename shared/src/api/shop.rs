//! `shop-api`: products (create, read, adjust stock), everything after an order is placed
//! (read, cancel, fulfillment, refund — a refund through the provider, `domain::refunds`), and
//! a buyer's refunds. Placing an order is `place-order` ([`super::place_order`]).

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::ledger::{Transfer, TransferKind};
use crate::domain::refunds::{order_refund, Refund};
use crate::domain::shop::{
    commission_clawback, completion_due, refund_transfers, validate_stock_delta, Order,
    OrderStatus, Product, RefundBooking, Repayer, ShopError, MAX_ID_BYTES, MAX_REFUND_REASON_BYTES,
    MAX_STOCK,
};
use crate::domain::stock::{adjustment, shard_count};
use crate::domain::time::{rfc3339, sortable};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse, Caller, Role};
use crate::input::{bounded_str, InvalidInput};
use crate::jobs::orders::delivered_at;
use crate::queue::payouts::PayoutQueue;
use crate::store::holds::hold_clawback_edit;
use crate::store::orders::{order_moved, OrderChange, SweepAfter};
use crate::store::refunds::RefundKey;
use crate::store::transaction::{attempts, backoff};
use crate::store::{Role as TxRole, Tx};
use crate::App;

pub async fn handle(
    app: &App,
    queue: &PayoutQueue,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "POST /v1/products" => create_product(app, r).await,
            "GET /v1/products/{product_id}" => get_product(app, r).await,
            "POST /v1/products/{product_id}/stock" => adjust_stock(app, r).await,
            "GET /v1/orders/{order_id}" => get_order(app, r).await,
            "POST /v1/orders/{order_id}/cancel" => cancel(app, queue, r).await,
            "POST /v1/orders/{order_id}/fulfillment" => fulfill(app, queue, r).await,
            "POST /v1/orders/{order_id}/refund" => refund(app, queue, r).await,
            "GET /v1/me/refunds" => list_refunds(app, r).await,
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProductBody {
    /// Not blank, at most 200 bytes (`MAX_PRODUCT_TITLE_BYTES`).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
    /// 1 to `MAX_PRICE_CENTS`.
    #[schema(minimum = 1, maximum = 10_000_000)]
    price_cents: u64,
    /// 0 to `MAX_STOCK`.
    #[schema(maximum = 1_000_000_000)]
    stock: u64,
    /// Units one buyer may hold, 1 to `MAX_STOCK`; no limit if absent.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    per_buyer_limit: Option<u64>,
    /// The commission of a creator whose stream sells it: 0 to `MAX_AFFILIATE_RATE_BPS`.
    #[serde(default)]
    #[schema(maximum = 8_000)]
    affiliate_rate_bps: u64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StockBody {
    /// Units to add (or, negative, remove): not 0, at most `MAX_STOCK` either way.
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000)]
    delta: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FulfillmentBody {
    status: FulfillmentStatus,
}

/// The states a seller moves an order to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum FulfillmentStatus {
    Shipped,
    Delivered,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Not blank, at most 500 bytes (`MAX_REFUND_REASON_BYTES`).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// `cancel` takes no fields; an empty body or `{}` both mean "cancel it".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProductView<'a> {
    product_id: &'a str,
    seller_id: &'a str,
    title: &'a str,
    price_cents: u64,
    stock_available: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_buyer_limit: Option<u64>,
    affiliate_rate_bps: u64,
    created_at: &'a str,
}

impl<'a> ProductView<'a> {
    /// The product with the units its shards hold together.
    fn new(p: &'a Product, stock_available: u64) -> Self {
        Self {
            product_id: &p.product_id,
            seller_id: &p.seller_id,
            title: &p.title,
            price_cents: p.price_cents,
            stock_available,
            per_buyer_limit: p.per_buyer_limit,
            affiliate_rate_bps: p.affiliate_rate_bps,
            created_at: &p.created_at,
        }
    }
}

/// An order as API.md shows it, plus when each step happened (`paid_at`, ...), the stream and
/// affiliate it was bought through, and any payment owed back to the buyer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView<'a> {
    order_id: &'a str,
    buyer_id: &'a str,
    seller_id: &'a str,
    status: &'static str,
    lines: Vec<OrderLineView<'a>>,
    total_cents: u64,
    placed_at: &'a str,
    expires_at: &'a str,
    owed_back_cents: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affiliate_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipped_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refunded_at: Option<&'a str>,
    /// The latest refund of the order (or of a payment it could not take), once one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund: Option<RefundView<'a>>,
}

/// A refund as its buyer and the order's parties see it (API.md "Money out").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundView<'a> {
    refund_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<&'a str>,
    amount_cents: u64,
    /// `requested`, `processing`, `succeeded` or `failed`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    settled_at: Option<&'a str>,
}

impl<'a> From<&'a Refund> for RefundView<'a> {
    fn from(r: &'a Refund) -> Self {
        Self {
            refund_id: &r.refund_id,
            order_id: r.order_id.as_deref(),
            amount_cents: r.amount_cents,
            status: r.status.as_str(),
            reason: r.reason.as_deref(),
            created_at: &r.created_at,
            settled_at: r.settled_at.as_deref(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OrderLineView<'a> {
    product_id: &'a str,
    quantity: u64,
    unit_price_cents: u64,
    affiliate_rate_bps: u64,
}

pub fn order_view<'a>(o: &'a Order, refund: Option<&'a Refund>) -> OrderView<'a> {
    let at = |status: OrderStatus| {
        o.history
            .iter()
            .rev()
            .find(|(s, _)| *s == status)
            .map(|(_, at)| at.as_str())
    };
    OrderView {
        order_id: &o.order_id,
        buyer_id: &o.buyer_id,
        seller_id: &o.seller_id,
        status: o.status.as_str(),
        lines: o
            .lines
            .iter()
            .map(|l| OrderLineView {
                product_id: &l.product_id,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
                affiliate_rate_bps: l.affiliate_rate_bps,
            })
            .collect(),
        total_cents: o.total_cents,
        placed_at: &o.placed_at,
        expires_at: &o.expires_at,
        owed_back_cents: o.owed_back_cents,
        stream_id: o.stream_id.as_deref(),
        affiliate_id: o.affiliate_id.as_deref(),
        refund_reason: o.refund_reason.as_deref(),
        paid_at: at(OrderStatus::Paid),
        shipped_at: at(OrderStatus::Shipped),
        delivered_at: at(OrderStatus::Delivered),
        completed_at: at(OrderStatus::Completed),
        cancelled_at: at(OrderStatus::Cancelled),
        expired_at: at(OrderStatus::Expired),
        refunded_at: at(OrderStatus::Refunded),
        refund: refund.map(RefundView::from),
    }
}

#[utoipa::path(post, path = "/v1/products", tag = "shop", security(("jwt" = [])),
    request_body = CreateProductBody,
    responses(
        (status = 201, body = ProductView),
        (status = 403, description = "a role or ownership missing", body = crate::http::ErrorBody)))]
async fn create_product(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Seller)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: CreateProductBody = req.json()?;
    let title = Product::validate_new(
        &body.title,
        body.price_cents,
        body.stock,
        body.per_buyer_limit,
        body.affiliate_rate_bps,
    )?;
    let now = app.clock.now();
    let product = Product {
        product_id: idem.derived_id("prod"),
        seller_id: caller.user_id.clone(),
        title,
        price_cents: body.price_cents,
        stock_shards: shard_count(body.stock),
        per_buyer_limit: body.per_buyer_limit,
        affiliate_rate_bps: body.affiliate_rate_bps,
        created_at: rfc3339(now),
    };
    record_business_id(&product.product_id);
    let mut tx = Tx::new();
    app.store.add_new_product(&mut tx, &product, body.stock);
    let response = ApiResponse::json(201, &ProductView::new(&product, body.stock));
    match idem.commit(app, tx, response, now).await? {
        Ok(response) => Ok(response),
        // The product exists but the key's record expired: the same key asked again.
        Err(err) if err.failure(&TxRole::Product(product.product_id)).is_some() => {
            Err(ApiError::IdempotencyKeyReused)
        }
        Err(err) => Err(err.into()),
    }
}

/// Whether a shard of the product's stock moved since it was read (an order took from it).
fn stock_moved(err: &crate::store::TxError, product_id: &str) -> bool {
    let crate::store::TxError::Cancelled(reasons) = err else {
        return false;
    };
    reasons
        .iter()
        .any(|c| matches!(&c.role, TxRole::Stock(p, _) if p == product_id))
}

fn product_id(req: &ApiRequest) -> Result<&str, ApiError> {
    let id = req.path_param("product_id")?;
    bounded_str("product_id", id, MAX_ID_BYTES)
        .map_err(|_| ShopError::ProductNotFound(id.to_owned()))?;
    record_business_id(id);
    Ok(id)
}

#[utoipa::path(get, path = "/v1/products/{product_id}", tag = "shop", security(("jwt" = [])),
    params(("product_id" = String, Path, description = "a product id (`404 product_not_found` for any other)")),
    responses(
        (status = 200, body = ProductView),
        (status = 404, body = crate::http::ErrorBody)))]
async fn get_product(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let id = product_id(&req)?;
    let product = app
        .store
        .product(id)
        .await?
        .ok_or_else(|| ShopError::ProductNotFound(id.to_owned()))?;
    let stock = app.store.stock(&product).await?.iter().sum();
    Ok(ApiResponse::json(200, &ProductView::new(&product, stock)))
}

#[utoipa::path(post, path = "/v1/products/{product_id}/stock", tag = "shop",
    security(("jwt" = [])),
    params(("product_id" = String, Path, description = "a product id (`404 product_not_found` for any other)")),
    request_body = StockBody,
    responses(
        (status = 200, body = ProductView),
        (status = 403, description = "a role or ownership missing", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn adjust_stock(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    // Owning the product is not enough: a seller whose role was withdrawn may not sell on.
    caller.require(Role::Seller)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: StockBody = req.json()?;
    let delta = validate_stock_delta(body.delta)?;
    let id = product_id(&req)?;
    let now = app.clock.now();
    for attempt in attempts(MAX_PINNED_ATTEMPTS) {
        let refusal = |e: ApiError| idem.replay_or(&app.store, now, e);
        let Some(product) = app.store.product(id).await? else {
            return refusal(ShopError::ProductNotFound(id.to_owned()).into()).await;
        };
        if product.seller_id != caller.user_id {
            return refusal(ApiError::Forbidden(
                "only the product's seller can change its stock".into(),
            ))
            .await;
        }
        let seen = app.store.stock(&product).await?;
        let after = seen
            .iter()
            .sum::<u64>()
            .checked_add_signed(delta)
            .filter(|s| *s <= MAX_STOCK);
        let (Some(after), Some(changes)) = (after, adjustment(&seen, delta)) else {
            let refused = if delta < 0 {
                ShopError::StockWouldGoNegative {
                    product_id: id.to_owned(),
                }
                .into()
            } else {
                InvalidInput::new("delta", format!("stock may not exceed {MAX_STOCK}")).into()
            };
            return refusal(refused).await;
        };
        let mut tx = Tx::new();
        app.store.add_stock_adjustment(&mut tx, id, &changes);
        let response = ApiResponse::json(200, &ProductView::new(&product, after));
        match idem.commit(app, tx, response, now).await? {
            Ok(response) => return Ok(response),
            // Orders took what it meant to take since it was read: read again.
            Err(err) if stock_moved(&err, id) => {
                backoff(attempt).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("stock of {id} kept changing")))
}

/// Who the caller is to an order. A stranger learns nothing, not even that it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Party {
    buyer: bool,
    seller: bool,
    admin: bool,
}

fn party(order: &Order, caller: &Caller) -> Result<Party, ApiError> {
    let p = Party {
        buyer: order.buyer_id == caller.user_id,
        // As for stock, the seller acts only while holding the seller role.
        seller: order.seller_id == caller.user_id && caller.has(Role::Seller),
        admin: caller.has(Role::Admin),
    };
    if p.buyer || p.seller || p.admin {
        Ok(p)
    } else {
        Err(ShopError::OrderNotFound.into())
    }
}

fn order_id(req: &ApiRequest) -> Result<&str, ApiError> {
    let id = req.path_param("order_id")?;
    bounded_str("order_id", id, MAX_ID_BYTES).map_err(|_| ShopError::OrderNotFound)?;
    record_business_id(id);
    Ok(id)
}

#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "shop", security(("jwt" = [])),
    params(("order_id" = String, Path, description = "an order id (`404 order_not_found` for any other)")),
    responses(
        (status = 200, body = OrderView),
        (status = 404, body = crate::http::ErrorBody)))]
async fn get_order(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let order = app
        .store
        .order(order_id(&req)?)
        .await?
        .ok_or(ShopError::OrderNotFound)?;
    party(&order, &caller)?;
    let refund = match &order.refund {
        Some((refund_id, created_at)) => {
            let key = RefundKey::new(&order.buyer_id, created_at, refund_id);
            app.store.refund(&key).await?
        }
        None => None,
    };
    Ok(ApiResponse::json(200, &order_view(&order, refund.as_ref())))
}

/// Hands a committed refund to the executor; if the send is lost, the sweeper sends it.
pub(crate) async fn send_refund(queue: &PayoutQueue, refund: &Refund) {
    if let Err(e) = queue.send_refund(refund).await {
        tracing::warn!(refund_id = %refund.refund_id, error = %e, "refund enqueue failed; the sweeper sends it");
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct RefundsView<'a> {
    refunds: Vec<RefundView<'a>>,
}

/// `GET /v1/me/refunds`: the caller's refunds as a buyer, newest first.
#[utoipa::path(get, path = "/v1/me/refunds", tag = "shop", security(("jwt" = [])),
    responses(
        (status = 200, body = RefundsView)))]
async fn list_refunds(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let refunds = app.store.refunds_of(&caller.user_id).await?;
    let refunds = refunds.iter().map(RefundView::from).collect();
    Ok(ApiResponse::json(200, &RefundsView { refunds }))
}

/// What a request decided to do to an order: the transaction, and the order as it will be.
struct Decision {
    tx: Tx,
    after: Order,
    /// A refund the change starts: sent to the payouts queue once committed.
    refund: Option<Refund>,
}

/// Reads the order, lets `decide` build the change, and commits it with the idempotency record;
/// if the order moved meanwhile (a payment, the sweeper, another request), decides again on the
/// order as it now is. A refusal is first checked against the key: a retry of a request that
/// succeeded gets its answer replayed, not the refusal its own success causes.
async fn change_order<F>(
    app: &App,
    queue: &PayoutQueue,
    req: &ApiRequest,
    decide: F,
) -> Result<ApiResponse, ApiError>
where
    F: Fn(&Order, Party, &str) -> Result<Decision, ApiError>,
{
    let caller = req.caller()?;
    let idem = Idempotency::from_request(req, &caller)?;
    let id = order_id(req)?;
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let now = app.clock.now();
        let at = sortable(now);
        let Some(order) = app.store.order(id).await? else {
            return Err(ShopError::OrderNotFound.into());
        };
        let decision = party(&order, &caller).and_then(|p| decide(&order, p, &at));
        let Decision { tx, after, refund } = match decision {
            Ok(d) => d,
            Err(refusal) => return idem.replay_or(&app.store, now, refusal).await,
        };
        let response = ApiResponse::json(200, &order_view(&after, refund.as_ref()));
        match idem.commit(app, tx, response, now).await? {
            Ok(response) => {
                if let (Some(refund), false) = (&refund, response.replayed) {
                    send_refund(queue, refund).await;
                }
                return Ok(response);
            }
            Err(err) if order_moved(&err, &order) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("order {id} kept changing")))
}

/// The order after moving to `to` at `at`.
fn moved(order: &Order, to: OrderStatus, at: &str) -> Order {
    let mut after = order.clone();
    after.status = to;
    after.history.push((to, at.to_owned()));
    after.version += 1;
    after
}

#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "shop",
    security(("jwt" = [])),
    params(("order_id" = String, Path, description = "an order id (`404 order_not_found` for any other)")),
    request_body(content = Option<CancelBody>, description = "empty, or {}"),
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "a role or ownership missing", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn cancel(app: &App, queue: &PayoutQueue, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    if !req.body.iter().all(u8::is_ascii_whitespace) {
        let _: CancelBody = req.json()?;
    }
    change_order(app, queue, &req, |order, party, at| {
        if !party.buyer {
            return Err(ApiError::Forbidden(
                "only the buyer can cancel an order".into(),
            ));
        }
        if order.status != OrderStatus::PendingPayment {
            return Err(ShopError::NotCancellable(order.status).into());
        }
        let mut tx = Tx::new();
        app.store.add_order_change(
            &mut tx,
            OrderChange {
                to: Some(OrderStatus::Cancelled),
                sweep: SweepAfter::Done,
                ..OrderChange::new(order, at)
            },
        )?;
        app.store.add_order_release(&mut tx, order);
        Ok(Decision {
            refund: None,
            tx,
            after: moved(order, OrderStatus::Cancelled, at),
        })
    })
    .await
}

#[utoipa::path(post, path = "/v1/orders/{order_id}/fulfillment", tag = "shop",
    security(("jwt" = [])),
    params(("order_id" = String, Path, description = "an order id (`404 order_not_found` for any other)")),
    request_body = FulfillmentBody,
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "a role or ownership missing", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn fulfill(app: &App, queue: &PayoutQueue, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let body: FulfillmentBody = req.json()?;
    let to = match body.status {
        FulfillmentStatus::Shipped => OrderStatus::Shipped,
        FulfillmentStatus::Delivered => OrderStatus::Delivered,
    };
    let policy = app.config.shop;
    let now = app.clock.now();
    change_order(app, queue, &req, |order, party, at| {
        if !party.seller {
            return Err(ApiError::Forbidden(
                "only the order's seller can fulfil it".into(),
            ));
        }
        order.status.fulfill(to)?;
        // Delivery starts the hold; the sweeper completes the order when it ends.
        let sweep = match to {
            OrderStatus::Delivered => SweepAfter::DueAt(sortable(completion_due(now, &policy))),
            _ => SweepAfter::Unchanged,
        };
        let mut tx = Tx::new();
        app.store.add_order_change(
            &mut tx,
            OrderChange {
                to: Some(to),
                sweep,
                ..OrderChange::new(order, at)
            },
        )?;
        Ok(Decision {
            refund: None,
            tx,
            after: moved(order, to, at),
        })
    })
    .await
}

#[utoipa::path(post, path = "/v1/orders/{order_id}/refund", tag = "shop",
    security(("jwt" = [])),
    params(("order_id" = String, Path, description = "an order id (`404 order_not_found` for any other)")),
    request_body = RefundBody,
    responses(
        (status = 200, body = OrderView),
        (status = 403, description = "a role or ownership missing", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn refund(app: &App, queue: &PayoutQueue, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let body: RefundBody = req.json()?;
    bounded_str("reason", &body.reason, MAX_REFUND_REASON_BYTES)?;
    let reason = body.reason.trim();
    let now = app.clock.now();
    change_order(app, queue, &req, |order, party, at| {
        if !(party.seller || party.admin) {
            return Err(ApiError::Forbidden(
                "only the seller or an admin can refund an order".into(),
            ));
        }
        let booking = order.status.refund(party.admin)?;
        let refund = order_refund(order, at);
        let mut tx = Tx::new();
        add_order_reversal(
            app,
            &mut tx,
            (order, booking),
            RepaidBy::Refund(&refund),
            reason,
            now,
            at,
        )?;
        let mut after = moved(order, OrderStatus::Refunded, at);
        after.refund_reason = Some(reason.to_owned());
        after.refund = Some((refund.refund_id.clone(), refund.created_at.clone()));
        Ok(Decision {
            tx,
            after,
            refund: Some(refund),
        })
    })
    .await
}

/// How a reversed order's buyer gets their money.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RepaidBy<'a> {
    /// A refund of ours, started in the same transaction.
    Refund(&'a Refund),
    /// The provider, already: a chargeback (its event id).
    Chargeback(&'a str),
}

/// An order reversed in `tx`: its money back from where `booking` says, to whoever repays the
/// buyer, in the transfers returned. The order becomes `refunded` with `reason`; stock comes
/// back only from an order that had not completed.
pub(crate) fn add_order_reversal(
    app: &App,
    tx: &mut Tx,
    (order, booking): (&Order, RefundBooking),
    repaid: RepaidBy<'_>,
    reason: &str,
    now: time::OffsetDateTime,
    at: &str,
) -> Result<Vec<Transfer>, ApiError> {
    let clawback = match booking {
        RefundBooking::AgainstSeller => {
            commission_clawback(order, delivered_at(order)?, now, &app.config.shop)
        }
        RefundBooking::FromOrder => None,
    };
    let (repayer, refund) = match repaid {
        RepaidBy::Refund(refund) => (Repayer::Platform, Some(refund)),
        RepaidBy::Chargeback(event_id) => (Repayer::Provider(event_id), None),
    };
    let transfers = refund_transfers(order, booking, clawback.as_ref(), repayer)?;
    let mut other_edits = HashMap::new();
    // Each pending commission a clawback takes from keeps what its hold still holds.
    let clawed: Vec<&Transfer> = transfers
        .iter()
        .filter(|t| t.kind == TransferKind::CommissionClawback)
        .collect();
    if let Some(c) = &clawback {
        for t in &clawed {
            let edit = hold_clawback_edit(&sortable(c.release), t.amount);
            other_edits.insert(t.debit.clone(), edit);
        }
    }
    // A platform-funded cut taken back is the order's fee again.
    let agency_cut_returned = clawed.iter().any(|t| t.credit == order.account());
    app.store.add_order_change(
        tx,
        OrderChange {
            to: Some(OrderStatus::Refunded),
            transfers: &transfers,
            sweep: SweepAfter::Done,
            refund_reason: Some(reason),
            refund,
            agency_cut_returned,
            other_edits,
            ..OrderChange::new(order, at)
        },
    )?;
    if booking == RefundBooking::FromOrder {
        app.store.add_order_release(tx, order);
    }
    if let Some(refund) = refund {
        app.store
            .add_new_refund(tx, refund, &sortable(now + app.config.sweep_grace()));
    }
    Ok(transfers)
}

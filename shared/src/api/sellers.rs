//! A seller's money (API.md "Money out"): balance, statement, payout requests and payouts.
//! The statement, requests and list are the payout machine's own (`super::payouts`), for the
//! seller payee kind. Served by `creators-api`.

use serde::Serialize;

use super::payouts::{list_for, payee, request_payout_for, statement_for};
use crate::domain::ledger::AccountKind;
use crate::domain::payouts::PayeeKind;
use crate::domain::shop::split_order;
use crate::http::{ApiError, ApiRequest, ApiResponse};
use crate::queue::payouts::PayoutQueue;
use crate::secrets::Secret;
use crate::App;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SellerBalanceView<'a> {
    seller_id: &'a str,
    /// The proceeds of paid orders not yet completed (inside their hold, or not yet delivered).
    cents_pending: i64,
    cents_available: i64,
    cents_in_payout: i64,
    cents_paid_out: i64,
    /// What refunds after completion took beyond the proceeds since: paid off first from the
    /// next completed orders.
    cents_owed: i64,
}

#[utoipa::path(get, path = "/v1/sellers/me/balance", tag = "sellers", security(("jwt" = [])),
    operation_id = "seller_balance",
    responses(
        (status = 200, body = SellerBalanceView),
        (status = 403, description = "not a seller", body = crate::http::ErrorBody)))]
pub async fn balance(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let seller = payee(app, &req, PayeeKind::Seller).await?;
    let balance = |kind| {
        let account = seller.account(kind);
        async move { app.store.account_balance(&account).await }
    };
    let ((open, more), available, in_payout, paid_out, clawback) = futures::try_join!(
        app.store.open_orders(&seller.id),
        balance(AccountKind::SellerProceeds),
        balance(AccountKind::SellerInPayout),
        balance(AccountKind::SellerPaidOut),
        balance(AccountKind::SellerClawback),
    )?;
    if more {
        tracing::warn!(seller_id = %seller.id, read = open.len(), "cents_pending counts the first open orders only");
    }
    let pending: u64 = open
        .iter()
        .map(|o| split_order(o, app.config.shop.platform_fee_bps).proceeds)
        .sum();
    Ok(ApiResponse::json(
        200,
        &SellerBalanceView {
            seller_id: &seller.id,
            cents_pending: i64::try_from(pending).unwrap_or(i64::MAX),
            cents_available: available,
            cents_in_payout: in_payout,
            cents_paid_out: paid_out,
            cents_owed: clawback.saturating_neg().max(0),
        },
    ))
}

/// `GET /v1/sellers/me/statement`: as the creator's, over the seller's balances.
#[utoipa::path(get, path = "/v1/sellers/me/statement", tag = "sellers", security(("jwt" = [])),
    operation_id = "seller_statement",
    params(("cursor" = Option<String>, Query,
            description = "next_cursor of the previous page; absent or empty for the first"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200)),
    responses(
        (status = 200, description = "as GET /v1/creators/me/statement"),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not a seller", body = crate::http::ErrorBody)))]
pub async fn statement(
    app: &App,
    cursor_key: &Secret,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    statement_for(app, cursor_key, req, PayeeKind::Seller).await
}

/// `POST /v1/sellers/me/payouts`: drawn from `cents_available`, with the creators' limits.
#[utoipa::path(post, path = "/v1/sellers/me/payouts", tag = "sellers", security(("jwt" = [])),
    operation_id = "seller_request_payout",
    request_body = super::payouts::PayoutBody,
    responses(
        (status = 202, description = "as POST /v1/creators/me/payouts"),
        (status = 402, description = "insufficient_available_balance", body = crate::http::ErrorBody),
        (status = 403, description = "not a seller", body = crate::http::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "below_minimum, daily_payout_cap, idempotency_key_reused",
            body = crate::http::ErrorBody)))]
pub async fn request_payout(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    request_payout_for(app, queue, req, PayeeKind::Seller).await
}

#[utoipa::path(get, path = "/v1/sellers/me/payouts", tag = "sellers", security(("jwt" = [])),
    operation_id = "seller_payouts",
    responses(
        (status = 200, description = "as GET /v1/creators/me/payouts"),
        (status = 403, description = "not a seller", body = crate::http::ErrorBody)))]
pub async fn list(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    list_for(app, req, PayeeKind::Seller).await
}

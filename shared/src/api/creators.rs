//! `creators-api`: a creator's, seller's or agency's balance, statement and payouts (API.md,
//! see [`super::payouts`]), agencies and creators' attachments to them ([`super::agencies`]),
//! and the weekly top-gifters board `GET /v1/creators/{creator_id}/leaderboard/weekly`.

use lambda_http::{Body, Request, Response};

use super::leaderboards;
use crate::http::{serve, ApiError};
use crate::queue::payouts::PayoutQueue;
use crate::secrets::Secret;
use crate::App;

pub async fn handle(
    app: &App,
    payouts: &PayoutQueue,
    cursor_key: &Secret,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "GET /v1/creators/me/balance" => super::payouts::balance(app, r).await,
            "GET /v1/creators/me/statement" => super::payouts::statement(app, cursor_key, r).await,
            "POST /v1/creators/me/payouts" => super::payouts::request_payout(app, payouts, r).await,
            "GET /v1/creators/me/payouts" => super::payouts::list(app, r).await,
            "GET /v1/sellers/me/balance" => super::sellers::balance(app, r).await,
            "GET /v1/sellers/me/statement" => super::sellers::statement(app, cursor_key, r).await,
            "POST /v1/sellers/me/payouts" => super::sellers::request_payout(app, payouts, r).await,
            "GET /v1/sellers/me/payouts" => super::sellers::list(app, r).await,
            "GET /v1/agencies/me/balance" => super::agencies::balance(app, r).await,
            "GET /v1/agencies/me/statement" => super::agencies::statement(app, cursor_key, r).await,
            "POST /v1/agencies/me/payouts" => {
                super::agencies::request_payout(app, payouts, r).await
            }
            "GET /v1/agencies/me/payouts" => super::agencies::list(app, r).await,
            "POST /v1/admin/agencies" => super::agencies::create(app, r).await,
            "PUT /v1/admin/creators/{creator_id}/agency" => super::agencies::attach(app, r).await,
            "DELETE /v1/admin/creators/{creator_id}/agency" => {
                super::agencies::detach(app, r).await
            }
            "GET /v1/admin/payouts" => super::admin::list_held(app, r).await,
            "POST /v1/admin/payouts/{payout_id}/release" => {
                super::admin::release(app, payouts, r).await
            }
            "POST /v1/admin/payouts/{payout_id}/return" => {
                super::admin::return_held(app, payouts, r).await
            }
            "POST /v1/admin/refunds/{refund_id}/retry" => {
                super::admin::retry_refund(app, payouts, r).await
            }
            "POST /v1/admin/corrections" => super::admin::correct(app, r).await,
            "PUT /v1/admin/payees/{payee_id}/payout-account" => {
                super::admin::set_payout_account(app, r).await
            }
            "GET /v1/creators/{creator_id}/leaderboard/weekly" => {
                leaderboards::creator_week(app, r).await
            }
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

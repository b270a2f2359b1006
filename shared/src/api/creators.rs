//! `creators-api`: `GET /v1/creators/me/balance` (API.md) and the weekly top-gifters board
//! `GET /v1/creators/{creator_id}/leaderboard/weekly`.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::leaderboards;
use crate::domain::ledger::{AccountId, AccountKind};
use crate::http::{serve, ApiError, ApiRequest, ApiResponse, Role};
use crate::App;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "GET /v1/creators/me/balance" => balance(app, r).await,
            "GET /v1/creators/{creator_id}/leaderboard/weekly" => {
                leaderboards::creator_week(app, r).await
            }
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

/// Diamonds from gifts, cents from shop commissions. Payouts have no accounts yet (their own
/// issue), so `cents_in_payout` and `cents_paid_out` are truthfully zero.
#[derive(Debug, Serialize)]
struct BalanceView<'a> {
    creator_id: &'a str,
    diamonds_pending: i64,
    diamonds_available: i64,
    cents_pending: i64,
    cents_available: i64,
    payable_cents: i64,
    cents_in_payout: i64,
    cents_paid_out: i64,
}

async fn balance(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Creator)?;
    let me = &caller.user_id;
    let balance = |kind| async move { app.store.account_balance(&AccountId::new(kind, me)).await };
    let (pending, available, cents_pending, cents_available) = futures::try_join!(
        balance(AccountKind::EarningsPending),
        balance(AccountKind::Earnings),
        balance(AccountKind::CommissionPending),
        balance(AccountKind::Commission),
    )?;
    Ok(ApiResponse::json(
        200,
        &BalanceView {
            creator_id: &caller.user_id,
            diamonds_pending: pending,
            diamonds_available: available,
            cents_pending,
            cents_available,
            payable_cents: cents_available
                + payable_cents(available, app.config.diamond_value_millicents),
            cents_in_payout: 0,
            cents_paid_out: 0,
        },
    ))
}

/// Whole cents that `diamonds` pay out at `millicents` each; the fraction stays as diamonds.
fn payable_cents(diamonds: i64, millicents: u64) -> i64 {
    let cents = i128::from(diamonds.max(0)) * i128::from(millicents) / 1000;
    i64::try_from(cents).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_whole_cents_are_payable() {
        assert_eq!(super::payable_cents(1, 500), 0);
        assert_eq!(super::payable_cents(3, 500), 1);
        assert_eq!(super::payable_cents(10_000, 500), 5_000);
        assert_eq!(super::payable_cents(-5, 500), 0);
    }
}

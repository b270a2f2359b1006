//! `GET /v1/gifts`, `GET /v1/wallet`, `PUT /v1/wallet/limits`.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::gifts::Gift;
use crate::domain::ledger::AccountId;
use crate::domain::time::{day_key, week_key};
use crate::domain::wallet::{check_own_daily_cap, SpendLimits, SpendWindow, WalletState};
use crate::http::idempotency::Idempotency;
use crate::http::{serve, ApiError, ApiRequest, ApiResponse};
use crate::store::transaction::attempts;
use crate::store::{Role, Tx};
use crate::App;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    /// At most the platform's daily cap (a setting: above it is `422 above_platform_cap`).
    daily_cap_coins: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct WalletView<'a> {
    user_id: &'a str,
    coins: u64,
    spent_today_coins: u64,
    daily_cap_coins: u64,
    spent_this_week_coins: u64,
    weekly_cap_coins: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GiftsView<'a> {
    gifts: &'a [Gift],
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "GET /v1/gifts" => list_gifts(app, r),
            "GET /v1/wallet" => get_wallet(app, r).await,
            "PUT /v1/wallet/limits" => set_limits(app, r).await,
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

#[utoipa::path(get, path = "/v1/gifts", tag = "wallet", security(("jwt" = [])),
    responses(
        (status = 200, body = GiftsView)))]
fn list_gifts(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    Ok(ApiResponse::json(
        200,
        &GiftsView {
            gifts: app.config.gifts.gifts(),
        },
    ))
}

#[utoipa::path(get, path = "/v1/wallet", tag = "wallet", security(("jwt" = [])),
    responses(
        (status = 200, body = WalletView)))]
async fn get_wallet(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let wallet = app.store.wallet(&caller.user_id).await?;
    Ok(wallet_response(app, &caller.user_id, &wallet))
}

fn wallet_response(app: &App, user_id: &str, w: &WalletState) -> ApiResponse {
    let now = app.clock.now();
    let window = SpendWindow {
        day: day_key(now),
        week: week_key(now),
    };
    let limits: &SpendLimits = &app.config.spend_limits;
    ApiResponse::json(
        200,
        &WalletView {
            user_id,
            coins: w.balance,
            spent_today_coins: w.spent_today(&window),
            daily_cap_coins: w.daily_cap(limits),
            spent_this_week_coins: w.spent_this_week(&window),
            weekly_cap_coins: limits.weekly_cap_coins,
        },
    )
}

#[utoipa::path(put, path = "/v1/wallet/limits", tag = "wallet", security(("jwt" = [])),
    request_body = LimitsBody,
    responses(
        (status = 200, body = WalletView)))]
async fn set_limits(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: LimitsBody = req.json()?;
    let cap = check_own_daily_cap(body.daily_cap_coins, &app.config.spend_limits)?;
    let account = Role::Account(AccountId::wallet(&caller.user_id));
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let mut wallet = app.store.wallet(&caller.user_id).await?;
        let mut tx = Tx::new();
        app.store
            .add_own_daily_cap(&mut tx, &caller.user_id, wallet.version, cap);
        wallet.own_daily_cap = Some(cap);
        wallet.version += 1;
        let response = wallet_response(app, &caller.user_id, &wallet);
        match idem.commit(app, tx, response, app.clock.now()).await? {
            Ok(response) => return Ok(response),
            Err(err) if err.failure(&account).is_some() => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy("wallet kept changing".into()))
}

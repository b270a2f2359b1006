//! A payee's money (API.md "Creator earnings and payouts", "Money out"): a creator's balance,
//! and for every payee kind the statement, payout requests and the list of payouts, through one
//! implementation each (`super::sellers` routes sellers here). Served by `creators-api`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::agencies::AgencyError;
use crate::domain::ledger::AccountKind;
use crate::domain::payouts::{payable, Payee, PayeeKind, Payout};
use crate::domain::sealed::{self, Unsealed};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, ApiError, ApiRequest, ApiResponse, Role};
use crate::input::InvalidInput;
use crate::jobs::payouts::request;
use crate::queue::payouts::PayoutQueue;
use crate::secrets::Secret;
use crate::store::payouts::StoredEntry;
use crate::telemetry::metric;
use crate::App;

/// The caller as a payee of `kind`: a creator or seller by role, an agency by ownership.
pub(crate) async fn payee(app: &App, req: &ApiRequest, kind: PayeeKind) -> Result<Payee, ApiError> {
    let caller = req.caller()?;
    let role = match kind {
        PayeeKind::Creator => Role::Creator,
        PayeeKind::Seller => Role::Seller,
        PayeeKind::Agency => {
            let agency_id = app.store.agency_owned_by(&caller.user_id).await?;
            let agency_id = agency_id.ok_or(AgencyError::NotAnOwner)?;
            return Ok(Payee::new(kind, agency_id));
        }
    };
    caller.require(role)?;
    Ok(Payee::new(kind, &caller.user_id))
}

/// Statement entries per page: 1 to 200, 50 unless `?limit=` says.
pub(super) const MAX_STATEMENT_PAGE: u64 = 200;
const DEFAULT_STATEMENT_PAGE: u64 = 50;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BalanceView<'a> {
    creator_id: &'a str,
    #[serde(flatten)]
    balances: Balances,
}

/// A creator's or an agency's balances: diamonds (gift earnings) and cents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Balances {
    diamonds_pending: i64,
    diamonds_available: i64,
    /// Diamonds owed back for charged-back gifts: paid off before anything is paid out.
    diamonds_owed: i64,
    cents_pending: i64,
    cents_available: i64,
    payable_cents: i64,
    cents_in_payout: i64,
    cents_paid_out: i64,
}

#[utoipa::path(get, path = "/v1/creators/me/balance", tag = "creators", security(("jwt" = [])),
    responses(
        (status = 200, body = BalanceView),
        (status = 403, description = "not a creator", body = crate::http::ErrorBody)))]
pub async fn balance(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let creator = payee(app, &req, PayeeKind::Creator).await?;
    let view = BalanceView {
        creator_id: &creator.id,
        balances: balances(app, &creator).await?,
    };
    Ok(ApiResponse::json(200, &view))
}

/// The balances of a payee that earns diamonds (a creator, an agency).
pub(super) async fn balances(app: &App, payee: &Payee) -> Result<Balances, ApiError> {
    let kind = payee.kind;
    let balance = |kind: Option<AccountKind>| async move {
        match kind {
            Some(kind) => app.store.account_balance(&payee.account(kind)).await,
            None => Ok(0),
        }
    };
    let pending = async {
        match kind {
            // An agency's pending money is kept per creator: its sums over them.
            PayeeKind::Agency => {
                let kinds = [
                    AccountKind::AgencyEarningsPending,
                    AccountKind::AgencyCentsPending,
                ];
                app.store.agency_shares_balances(&payee.id, kinds).await
            }
            _ => futures::try_join!(
                balance(Some(AccountKind::EarningsPending)),
                balance(Some(AccountKind::CommissionPending)),
            )
            .map(|(diamonds, cents)| [diamonds, cents]),
        }
    };
    let (
        [diamonds_pending, cents_pending],
        diamonds_available,
        clawback,
        cents_available,
        in_payout,
        paid,
    ) = futures::try_join!(
        pending,
        balance(kind.diamonds_source()),
        balance(Some(kind.debt())),
        balance(Some(kind.cents_source())),
        balance(Some(kind.in_payout())),
        balance(Some(kind.paid_out())),
    )?;
    let non_negative = |b: i64| u64::try_from(b).unwrap_or(0);
    let diamonds_owed = clawback.saturating_neg().max(0);
    let payable = payable(
        non_negative(cents_available),
        non_negative(diamonds_available.saturating_sub(diamonds_owed)),
        app.config.diamond_value_millicents,
    );
    Ok(Balances {
        diamonds_pending,
        diamonds_available,
        diamonds_owed,
        cents_pending,
        cents_available,
        payable_cents: i64::try_from(payable).unwrap_or(i64::MAX),
        cents_in_payout: in_payout,
        cents_paid_out: paid,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PayoutBody {
    /// At least 1; the payout minimum and the daily cap are settings (`422 below_minimum`,
    /// `422 daily_payout_cap`).
    #[schema(minimum = 1)]
    amount_cents: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PayoutView<'a> {
    payout_id: &'a str,
    amount_cents: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    requested_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    settled_at: Option<&'a str>,
    /// Where the cents came from (docs/api-additions.md).
    drawn_cents: u64,
    drawn_diamonds: u64,
}

impl<'a> From<&'a Payout> for PayoutView<'a> {
    fn from(p: &'a Payout) -> Self {
        Self {
            payout_id: &p.payout_id,
            amount_cents: p.amount_cents,
            status: p.status.as_str(),
            reason: p.reason.as_deref(),
            requested_at: &p.requested_at,
            settled_at: p.settled_at.as_deref(),
            drawn_cents: p.draw.cents,
            drawn_diamonds: p.draw.diamonds,
        }
    }
}

/// `POST /v1/creators/me/payouts`: `202` once the payout is committed; it is paid
/// asynchronously.
#[utoipa::path(post, path = "/v1/creators/me/payouts", tag = "creators", security(("jwt" = [])),
    request_body = PayoutBody,
    responses(
        (status = 202, body = PayoutView),
        (status = 402, description = "insufficient_available_balance",
            body = crate::http::ErrorBody),
        (status = 403, description = "not a creator", body = crate::http::ErrorBody)))]
pub async fn request_payout(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    request_payout_for(app, queue, req, PayeeKind::Creator).await
}

pub(crate) async fn request_payout_for(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
    kind: PayeeKind,
) -> Result<ApiResponse, ApiError> {
    let payee = payee(app, &req, kind).await?;
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: PayoutBody = req.json()?;
    if body.amount_cents == 0 {
        return Err(InvalidInput::new("amount_cents", "must be at least 1").into());
    }
    let payout_id = idem.derived_id("po");
    record_business_id(&payout_id);
    let now = app.clock.now();
    let result = request(
        app,
        queue,
        &payee,
        body.amount_cents,
        &payout_id,
        now,
        |tx, payout| {
            let idem = &idem;
            async move {
                let response = ApiResponse::json(202, &PayoutView::from(&payout));
                idem.commit(app, tx, response, now).await
            }
        },
    )
    .await;
    match result {
        Ok(response) => {
            if !response.replayed {
                metrics::counter!(metric::PAYOUTS_REQUESTED).increment(1);
            }
            Ok(response)
        }
        // A refusal may be this key's own earlier success (the money it moved is why).
        Err(refusal @ ApiError::Payout(_)) => idem.replay_or(&app.store, now, refusal).await,
        Err(e) => Err(e),
    }
}

/// `GET /v1/creators/me/payouts`: newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct PayoutsView<'a> {
    payouts: Vec<PayoutView<'a>>,
}

#[utoipa::path(get, path = "/v1/creators/me/payouts", tag = "creators", security(("jwt" = [])),
    operation_id = "creator_payouts",
    responses(
        (status = 200, body = PayoutsView),
        (status = 403, description = "not a creator", body = crate::http::ErrorBody)))]
pub async fn list(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    list_for(app, req, PayeeKind::Creator).await
}

pub(crate) async fn list_for(
    app: &App,
    req: ApiRequest,
    kind: PayeeKind,
) -> Result<ApiResponse, ApiError> {
    let payee = payee(app, &req, kind).await?;
    let payouts = app.store.payouts_of(&payee).await?;
    let payouts = payouts.iter().map(PayoutView::from).collect();
    Ok(ApiResponse::json(200, &PayoutsView { payouts }))
}

/// Where a statement page starts: after an entry, with each balance as it stood there. The next
/// page trusts those balances, so the cursor is sealed (`domain::sealed`) with the statement
/// cursor key, for this payee only: an edited one is refused, not believed.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    after: String,
    balances: BTreeMap<String, i64>,
}

impl Cursor {
    async fn open(app: &App, key: &Secret, payee: &Payee, raw: &str) -> Result<Self, InvalidInput> {
        let invalid = || InvalidInput::new("cursor", "not a cursor this API returned");
        let context = cursor_context(payee);
        let bytes = key
            .verify(
                app.clock.now(),
                |keys| sealed::open(keys, &context, raw),
                |e| *e == Unsealed::Forged,
            )
            .await
            .map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }

    async fn seal(&self, key: &Secret, payee: &Payee) -> String {
        let payload = serde_json::to_vec(self).expect("a cursor serializes");
        sealed::seal(
            key.values().await.signing(),
            &cursor_context(payee),
            &payload,
        )
    }
}

fn cursor_context(payee: &Payee) -> String {
    format!("statement:{:?}:{}", payee.kind, payee.id)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EntryView<'a> {
    entry_id: &'a str,
    at: &'a str,
    kind: &'a str,
    amount: i64,
    unit: &'static str,
    balance_after: i64,
    #[serde(rename = "ref")]
    reference: &'a str,
    /// Which balance of the payee's `GET …/me/balance` the entry changes (`clawback_balance`:
    /// a seller's clawback account, negative while they owe; `cents_owed` is its negation).
    balance: &'static str,
    /// Every business id behind the entry (a settlement batch's gifts).
    refs: &'a [String],
    /// The admin behind the entry (a correction, a returned or released payout), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_note: Option<&'a str>,
    /// On a creator's settlement entry whose gifts gave their agency a cut: the agency, and the
    /// diamonds it took of these gifts (out of the creator's share or the platform's, as the
    /// attachment says; `amount` is what the creator kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    agency_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agency_cut: Option<u64>,
}

/// `GET /v1/creators/me/statement?cursor=&limit=`: oldest first. Each entry is what one commit
/// did to one balance; `balance_after` is that balance once the entry applied, so the last entry
/// of each balance equals the balance.
#[derive(Serialize, utoipa::ToSchema)]
struct StatementView<'a> {
    entries: Vec<EntryView<'a>>,
    /// Absent on the last page.
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/creators/me/statement", tag = "creators",
    security(("jwt" = [])),
    params(("cursor" = Option<String>, Query,
            description = "next_cursor of the previous page; absent or empty for the first"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200)),
    responses(
        (status = 200, body = StatementView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not a creator", body = crate::http::ErrorBody)))]
pub async fn statement(
    app: &App,
    cursor_key: &Secret,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    statement_for(app, cursor_key, req, PayeeKind::Creator).await
}

pub(crate) async fn statement_for(
    app: &App,
    cursor_key: &Secret,
    req: ApiRequest,
    kind: PayeeKind,
) -> Result<ApiResponse, ApiError> {
    let payee = payee(app, &req, kind).await?;
    let limit = req.limit(DEFAULT_STATEMENT_PAGE, MAX_STATEMENT_PAGE)?;
    let mut cursor = match req.query_param("cursor").filter(|c| !c.is_empty()) {
        Some(raw) => Cursor::open(app, cursor_key, &payee, raw).await?,
        None => Cursor::default(),
    };
    let after = (!cursor.after.is_empty()).then_some(cursor.after.as_str());
    let (entries, more) = app
        .store
        .statement_page(&payee, after, i32::try_from(limit).unwrap_or(i32::MAX))
        .await?;
    let views = entries
        .iter()
        .map(|e| entry_view(e, &mut cursor.balances))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let next_cursor = match entries.last() {
        Some(last) if more => {
            cursor.after = last.entry_id.clone();
            Some(cursor.seal(cursor_key, &payee).await)
        }
        _ => None,
    };
    Ok(ApiResponse::json(
        200,
        &StatementView {
            entries: views,
            next_cursor,
        },
    ))
}

fn entry_view<'a>(
    e: &'a StoredEntry,
    balances: &mut BTreeMap<String, i64>,
) -> Result<EntryView<'a>, ApiError> {
    let (_, balance) = e
        .account
        .kind
        .statement_balance()
        .ok_or_else(|| ApiError::Internal(format!("{} has no statement", e.account)))?;
    let after = balances.entry(balance.to_owned()).or_default();
    *after = after.saturating_add(e.amount);
    Ok(EntryView {
        entry_id: &e.entry_id,
        at: &e.at,
        kind: &e.kind,
        amount: e.amount,
        unit: e.account.kind.unit().as_str(),
        balance_after: *after,
        reference: e.refs.first().map_or("", String::as_str),
        balance,
        refs: &e.refs,
        admin_id: e.admin.as_ref().map(|a| a.by.as_str()),
        admin_note: e.admin.as_ref().map(|a| a.note.as_str()),
        agency_id: e.agency_cut.as_ref().map(|(id, _)| id.as_str()),
        agency_cut: e.agency_cut.as_ref().map(|(_, cut)| *cut),
    })
}

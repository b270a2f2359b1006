//! Creator agencies (API.md "LIVE formats"): an admin creates them and attaches creators; an
//! agency's owner sees its balance and statement and is paid out through the payout machine
//! (`super::payouts`, for the agency payee kind). Served by `creators-api`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::admin::MAX_ID_BYTES;
use super::payouts::{balances, list_for, payee, request_payout_for, statement_for, Balances};
use super::MAX_PINNED_ATTEMPTS;
use crate::domain::agencies::{
    Agency, AgencyError, Attachments, Funding, CHANGE_COMMIT_MARGIN_SECONDS,
};
use crate::domain::payouts::PayeeKind;
use crate::domain::time::{rfc3339, seconds, sortable};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, ApiError, ApiRequest, ApiResponse, Role};
use crate::input::{bounded_str, InvalidInput};
use crate::queue::payouts::PayoutQueue;
use crate::secrets::Secret;
use crate::store::transaction::attempts;
use crate::store::{Role as TxRole, Tx};
use crate::App;

/// An agency's name: not blank, at most this many bytes.
const MAX_NAME_BYTES: usize = 200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AgencyBody {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    /// The user who sees the agency's money and is paid it (one agency per owner).
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    owner_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AgencyView<'a> {
    agency_id: &'a str,
    name: &'a str,
    owner_id: &'a str,
}

impl<'a> From<&'a Agency> for AgencyView<'a> {
    fn from(a: &'a Agency) -> Self {
        Self {
            agency_id: &a.agency_id,
            name: &a.name,
            owner_id: &a.owner_id,
        }
    }
}

/// `POST /v1/admin/agencies`: `201`; the agency's id is also its payee id (its payout account
/// is set with `PUT /v1/admin/payees/{agency_id}/payout-account`).
#[utoipa::path(post, path = "/v1/admin/agencies", tag = "admin", security(("jwt" = [])),
    request_body = AgencyBody,
    responses(
        (status = 201, body = AgencyView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 409, description = "owner_has_agency, or idempotency_in_progress",
            body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn create(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: AgencyBody = req.json()?;
    bounded_str("name", &body.name, MAX_NAME_BYTES)?;
    bounded_str("owner_id", &body.owner_id, MAX_ID_BYTES)?;
    let agency = Agency {
        agency_id: idem.derived_id("ag"),
        name: body.name,
        owner_id: body.owner_id,
    };
    record_business_id(&agency.agency_id);
    let now = app.clock.now();
    let mut tx = Tx::new();
    app.store.add_agency(&mut tx, &agency, &rfc3339(now));
    let response = ApiResponse::json(201, &AgencyView::from(&agency));
    match idem.commit(app, tx, response, now).await? {
        Ok(response) => Ok(response),
        Err(err) if err.condition_failed(&TxRole::AgencyOwner(agency.owner_id.clone())) => {
            Err(AgencyError::OwnerHasAgency.into())
        }
        // The agency exists although this key's record does not (it expired).
        Err(err) if err.condition_failed(&TxRole::Agency(agency.agency_id.clone())) => {
            Err(ApiError::IdempotencyKeyReused)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    #[schema(min_length = 1, max_length = 255)]
    agency_id: String,
    /// The agency's share of each earning's value (the creator's share of a gift).
    #[schema(minimum = 1, maximum = 5000)]
    share_bps: u64,
    /// Whose share the cut comes out of: `platform` or `creator`.
    #[schema(pattern = "^(platform|creator)$")]
    funded_by: String,
    /// When the attachment applies (RFC 3339): at least 30 s from now and not before the
    /// creator's last change; 30 s from now if absent. Earnings stamped from then on give the
    /// agency its cut; an open attachment to another agency ends there.
    #[serde(default)]
    #[schema(format = DateTime)]
    since: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AttachmentView<'a> {
    creator_id: &'a str,
    agency_id: &'a str,
    share_bps: u64,
    funded_by: &'static str,
    since: &'a str,
    /// Set once detached: earnings stamped from then on give no cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<&'a str>,
}

/// `PUT /v1/admin/creators/{creator_id}/agency`: `200` with the attachment as it applies.
#[utoipa::path(put, path = "/v1/admin/creators/{creator_id}/agency", tag = "admin",
    security(("jwt" = [])),
    params(("creator_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S")),
    request_body = AttachBody,
    responses(
        (status = 200, body = AttachmentView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 404, description = "agency_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn attach(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: AttachBody = req.json()?;
    let funded_by = Funding::parse(&body.funded_by)
        .ok_or_else(|| InvalidInput::new("funded_by", "platform or creator"))?;
    let since = body.since.as_deref().map(parse_time).transpose()?;
    let creator_id = creator_id(&req)?;
    bounded_str("agency_id", &body.agency_id, MAX_ID_BYTES)?;
    app.store
        .agency(&body.agency_id)
        .await?
        .ok_or(AgencyError::AgencyNotFound)?;
    change(app, &idem, &caller.user_id, creator_id, |a, now| {
        let since = a.effective(now, since)?;
        a.attach(&body.agency_id, body.share_bps, funded_by, since)
            .cloned()
    })
    .await
}

/// `DELETE /v1/admin/creators/{creator_id}/agency`: `200`; earnings stamped from `until` (30 s
/// from now) on give no cut, earlier ones still do however late they settle. An attachment that
/// has not begun by then is cancelled (`until` is its `since`).
#[utoipa::path(delete, path = "/v1/admin/creators/{creator_id}/agency", tag = "admin",
    security(("jwt" = [])),
    params(("creator_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S")),
    responses(
        (status = 200, body = AttachmentView),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 404, description = "not_attached", body = crate::http::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn detach(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let creator_id = creator_id(&req)?;
    change(app, &idem, &caller.user_id, creator_id, |a, now| {
        a.detach(now).cloned()
    })
    .await
}

fn creator_id(req: &ApiRequest) -> Result<&str, ApiError> {
    let creator_id = req.path_param("creator_id")?;
    bounded_str("creator_id", creator_id, MAX_ID_BYTES)?;
    record_business_id(creator_id);
    Ok(creator_id)
}

fn parse_time(at: &str) -> Result<OffsetDateTime, InvalidInput> {
    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|_| InvalidInput::new("since", "an RFC 3339 time"))
}

/// Commits `decide`'s change of a creator's stints over the version read, again on what is
/// there if another admin changed them meanwhile; gives up rather than commit once the change's
/// time is less than `CHANGE_COMMIT_MARGIN_SECONDS` away (see `domain::agencies`), so no settler
/// misses it.
async fn change(
    app: &App,
    idem: &Idempotency,
    admin_id: &str,
    creator_id: &str,
    decide: impl Fn(
        &mut Attachments,
        OffsetDateTime,
    ) -> Result<crate::domain::agencies::Stint, AgencyError>,
) -> Result<ApiResponse, ApiError> {
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let now = app.clock.now();
        let mut attachments = app.store.attachments(creator_id).await?;
        let read = attachments.version;
        let stint = match decide(&mut attachments, now) {
            Ok(stint) => stint,
            // A retry of the change that made it gets its first answer.
            Err(refusal) => return idem.replay_or(&app.store, now, refusal.into()).await,
        };
        attachments.version = read;
        let view = AttachmentView {
            creator_id,
            agency_id: &stint.agency_id,
            share_bps: stint.share_bps,
            funded_by: stint.funded_by.as_str(),
            since: &stint.since,
            until: stint.until.as_deref(),
        };
        let effective = stint.until.as_deref().unwrap_or(&stint.since);
        let mut tx = Tx::new();
        app.store
            .add_attachments(&mut tx, creator_id, &attachments, admin_id, &rfc3339(now));
        app.store
            .add_agency_member(&mut tx, &stint.agency_id, creator_id);
        let now = app.clock.now();
        if sortable(now + seconds(CHANGE_COMMIT_MARGIN_SECONDS)).as_str() > effective {
            return Err(ApiError::Busy(format!(
                "the agency change of {creator_id} took too long"
            )));
        }
        match idem
            .commit(app, tx, ApiResponse::json(200, &view), now)
            .await?
        {
            Ok(response) => return Ok(response),
            Err(err) if err.condition_failed(&TxRole::Attachments(creator_id.to_owned())) => {
                continue
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!(
        "the agency of {creator_id} kept changing"
    )))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AgencyBalanceView<'a> {
    agency_id: &'a str,
    #[serde(flatten)]
    balances: Balances,
}

/// `GET /v1/agencies/me/balance`: the caller's agency's balances, as a creator's.
#[utoipa::path(get, path = "/v1/agencies/me/balance", tag = "agencies", security(("jwt" = [])),
    operation_id = "agency_balance",
    responses(
        (status = 200, body = AgencyBalanceView),
        (status = 403, description = "not an agency's owner", body = crate::http::ErrorBody)))]
pub async fn balance(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let agency = payee(app, &req, PayeeKind::Agency).await?;
    let view = AgencyBalanceView {
        agency_id: &agency.id,
        balances: balances(app, &agency).await?,
    };
    Ok(ApiResponse::json(200, &view))
}

/// `GET /v1/agencies/me/statement`: as the creator's, over the agency's balances; each
/// settlement entry's `refs` are the gifts whose cut it is.
#[utoipa::path(get, path = "/v1/agencies/me/statement", tag = "agencies",
    security(("jwt" = [])),
    operation_id = "agency_statement",
    params(("cursor" = Option<String>, Query,
            description = "next_cursor of the previous page; absent or empty for the first"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200)),
    responses(
        (status = 200, description = "as GET /v1/creators/me/statement"),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an agency's owner", body = crate::http::ErrorBody)))]
pub async fn statement(
    app: &App,
    cursor_key: &Secret,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    statement_for(app, cursor_key, req, PayeeKind::Agency).await
}

/// `POST /v1/agencies/me/payouts`: as a creator's.
#[utoipa::path(post, path = "/v1/agencies/me/payouts", tag = "agencies",
    security(("jwt" = [])),
    operation_id = "agency_request_payout",
    request_body = super::payouts::PayoutBody,
    responses(
        (status = 202, description = "as POST /v1/creators/me/payouts"),
        (status = 402, description = "insufficient_available_balance",
            body = crate::http::ErrorBody),
        (status = 403, description = "not an agency's owner", body = crate::http::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "below_minimum, daily_payout_cap, idempotency_key_reused",
            body = crate::http::ErrorBody)))]
pub async fn request_payout(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    request_payout_for(app, queue, req, PayeeKind::Agency).await
}

/// `GET /v1/agencies/me/payouts`: newest first.
#[utoipa::path(get, path = "/v1/agencies/me/payouts", tag = "agencies",
    security(("jwt" = [])),
    operation_id = "agency_payouts",
    responses(
        (status = 200, description = "as GET /v1/creators/me/payouts"),
        (status = 403, description = "not an agency's owner", body = crate::http::ErrorBody)))]
pub async fn list(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    list_for(app, req, PayeeKind::Agency).await
}

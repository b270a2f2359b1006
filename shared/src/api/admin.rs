//! Admin routes over money (API.md "Money out"): held payouts listed, released to the provider
//! again or returned to the payee, failed refunds retried, and corrections between two accounts. Every action records
//! the acting admin's `sub` and their reason on the record and on each statement entry it makes.
//! Served by `creators-api`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::payouts::PayoutView;
use super::shop::RefundView;
use super::MAX_PINNED_ATTEMPTS;
use crate::domain::admin::{correction_transfer, AdminAction, CorrectionError};
use crate::domain::ledger::{AccountId, Unit};
use crate::domain::payouts::{Payout, PayoutStatus, ProviderOutcome};
use crate::domain::refunds::{Refund, RefundStatus};
use crate::domain::time::{rfc3339, sortable};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, ApiError, ApiRequest, ApiResponse, Role};
use crate::input::{bounded_str, in_range, InvalidInput};
use crate::queue::payouts::PayoutQueue;
use crate::store::ledger::LedgerWrite;
use crate::store::transaction::attempts;
use crate::store::{Role as TxRole, Tx};
use crate::App;

/// Largest single correction: $100,000 or 10,000,000 coins.
pub(super) const MAX_CORRECTION: u64 = 10_000_000;
/// Longest account id or payout id accepted: far below DynamoDB's 2,048-byte key limit.
pub(super) const MAX_ID_BYTES: usize = 255;

/// A payout as its payee sees it, with whose it is and what admins did to it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AdminPayoutView<'a> {
    #[serde(flatten)]
    payout: PayoutView<'a>,
    payee_kind: &'static str,
    payee_id: &'a str,
    /// The admin who last released or returned it, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_note: Option<&'a str>,
    releases: u32,
}

impl<'a> From<&'a Payout> for AdminPayoutView<'a> {
    fn from(p: &'a Payout) -> Self {
        Self {
            payout: PayoutView::from(p),
            payee_kind: p.payee.kind.as_str(),
            payee_id: &p.payee.id,
            admin_id: p.admin.as_ref().map(|a| a.by.as_str()),
            admin_note: p.admin.as_ref().map(|a| a.note.as_str()),
            releases: p.releases,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct AdminPayoutsView<'a> {
    payouts: Vec<AdminPayoutView<'a>>,
    /// More are held than listed (200 per shard of 16): release or return these first.
    more: bool,
}

/// What `GET /v1/admin/payouts` lists: payouts held for an admin, the only listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
enum Listing {
    Held,
}

impl Listing {
    fn parse(status: Option<&str>) -> Option<Self> {
        (status == Some(PayoutStatus::Held.as_str())).then_some(Listing::Held)
    }
}

/// `GET /v1/admin/payouts?status=held`: oldest hold first.
#[utoipa::path(get, path = "/v1/admin/payouts", tag = "admin", security(("jwt" = [])),
    params(("status" = inline(Listing), Query, description = "held (the only listing)")),
    responses(
        (status = 200, body = AdminPayoutsView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody)))]
pub async fn list_held(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?.require(Role::Admin)?;
    if Listing::parse(req.query_param("status")) != Some(Listing::Held) {
        return Err(
            InvalidInput::new("status", "only held payouts are listed: status=held").into(),
        );
    }
    let (held, more) = app.store.held_payouts().await?;
    let payouts = held.iter().map(AdminPayoutView::from).collect();
    Ok(ApiResponse::json(200, &AdminPayoutsView { payouts, more }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    /// Why: not blank, at most 500 bytes (`domain::admin::MAX_NOTE_BYTES`).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    /// Why: not blank, at most 500 bytes (`domain::admin::MAX_NOTE_BYTES`).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// What an admin does to a held payout.
enum Exit {
    Release,
    Return,
}

/// `POST /v1/admin/payouts/{payout_id}/release`: the provider is asked again, under the
/// payout's id (looked up first, so nothing is paid twice).
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/release", tag = "admin",
    security(("jwt" = [])),
    params(("payout_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S",
            description = "not blank, at most 255 bytes")),
    request_body = ReleaseBody,
    responses(
        (status = 200, body = AdminPayoutView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 404, description = "payout_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "invalid_transition: the payout is not held, or \
            idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn release(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    req.caller()?.require(Role::Admin)?;
    let body: ReleaseBody = req.json()?;
    exit_held(app, queue, req, Exit::Release, &body.note).await
}

/// `POST /v1/admin/payouts/{payout_id}/return`: `failed` with the reason; the money and the
/// day's cap share go back to the payee.
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/return", tag = "admin",
    security(("jwt" = [])),
    params(("payout_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S",
            description = "not blank, at most 255 bytes")),
    request_body = ReturnBody,
    responses(
        (status = 200, body = AdminPayoutView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 404, description = "payout_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "invalid_transition: the payout is not held, or \
            idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn return_held(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    req.caller()?.require(Role::Admin)?;
    let body: ReturnBody = req.json()?;
    exit_held(app, queue, req, Exit::Return, &body.reason).await
}

async fn exit_held(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
    exit: Exit,
    why: &str,
) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let field = match exit {
        Exit::Release => "note",
        Exit::Return => "reason",
    };
    let admin = AdminAction::new(&caller.user_id, field, why)?;
    let payout_id = req.path_param("payout_id")?;
    bounded_str("payout_id", payout_id, MAX_ID_BYTES)?;
    record_business_id(payout_id);
    let now = app.clock.now();
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let payout = app
            .store
            .payout_by_id(payout_id)
            .await?
            .ok_or(ApiError::PayoutNotFound)?;
        if let Err(status) = payout.admin_exit() {
            // A retry of this key's own success finds the payout moved on: replay it.
            return idem
                .replay_or(&app.store, now, ApiError::PayoutNotHeld(status))
                .await;
        }
        let (tx, after) = exit_tx(app, &payout, &exit, &admin, now)?;
        let response = ApiResponse::json(200, &AdminPayoutView::from(&after));
        match idem.commit(app, tx, response, now).await? {
            Ok(response) => {
                if matches!(exit, Exit::Release) && !response.replayed {
                    if let Err(e) = queue.send(&after).await {
                        tracing::warn!(payout_id, error = %e, "released payout enqueue failed; the sweeper sends it");
                    }
                }
                return Ok(response);
            }
            // Moved between the read and the commit (an executor, another admin): read again.
            Err(err) if err.condition_failed(&TxRole::Payout(payout_id.to_owned())) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("payout {payout_id} kept changing")))
}

/// The transaction of an exit, and the payout as it will be after it.
fn exit_tx(
    app: &App,
    payout: &Payout,
    exit: &Exit,
    admin: &AdminAction,
    now: OffsetDateTime,
) -> Result<(Tx, Payout), ApiError> {
    let mut tx = Tx::new();
    let at = sortable(now);
    let after = match exit {
        Exit::Release => {
            let redrive_at = sortable(now + app.config.sweep_grace());
            app.store
                .add_payout_release(&mut tx, payout, admin, &redrive_at);
            Payout {
                status: PayoutStatus::Requested,
                reason: None,
                settled_at: None,
                releases: payout.releases + 1,
                admin: Some(admin.clone()),
                ..payout.clone()
            }
        }
        Exit::Return => {
            let outcome = ProviderOutcome::Failed {
                reason: admin.note.clone(),
            };
            app.store.add_payout_outcome(
                &mut tx,
                payout,
                &outcome,
                (PayoutStatus::Held, &at),
                Some(admin),
            )?;
            Payout {
                status: PayoutStatus::Failed,
                reason: outcome.reason(),
                settled_at: Some(at),
                admin: Some(admin.clone()),
                ..payout.clone()
            }
        }
    };
    Ok((tx, after))
}

/// `POST /v1/admin/refunds/{refund_id}/retry`: a failed refund goes to the provider again,
/// under a new key (`Refund::attempt_key`); its money was owed all along.
#[utoipa::path(post, path = "/v1/admin/refunds/{refund_id}/retry", tag = "admin",
    security(("jwt" = [])),
    params(("refund_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S",
            description = "not blank, at most 255 bytes")),
    request_body = ReleaseBody,
    responses(
        (status = 200, body = crate::api::shop::RefundView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 404, description = "refund_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "invalid_transition: the refund has not failed, or \
            idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn retry_refund(
    app: &App,
    queue: &PayoutQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let body: ReleaseBody = req.json()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let admin = AdminAction::new(&caller.user_id, "note", &body.note)?;
    let refund_id = req.path_param("refund_id")?;
    bounded_str("refund_id", refund_id, MAX_ID_BYTES)?;
    record_business_id(refund_id);
    let now = app.clock.now();
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let refund = app
            .store
            .refund_by_id(refund_id)
            .await?
            .ok_or(ApiError::RefundNotFound)?;
        if let Err(status) = refund.admin_retry() {
            return idem
                .replay_or(&app.store, now, ApiError::RefundNotFailed(status))
                .await;
        }
        let mut tx = Tx::new();
        let redrive_at = sortable(now + app.config.sweep_grace());
        app.store
            .add_refund_retry(&mut tx, &refund, &admin, &redrive_at);
        let after = Refund {
            status: RefundStatus::Requested,
            reason: None,
            settled_at: None,
            retries: refund.retries + 1,
            admin: Some(admin.clone()),
            ..refund
        };
        let response = ApiResponse::json(200, &RefundView::from(&after));
        match idem.commit(app, tx, response, now).await? {
            Ok(response) => {
                if !response.replayed {
                    super::shop::send_refund(queue, &after).await;
                }
                return Ok(response);
            }
            Err(err) if err.condition_failed(&TxRole::Refund(refund_id.to_owned())) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!("refund {refund_id} kept changing")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PayoutAccountBody {
    /// The payee's Stripe connected account.
    #[schema(
        pattern = "^acct_[A-Za-z0-9]{1,250}$",
        example = "acct_1Nv0FGQ9RKHgCVdK"
    )]
    stripe_account: String,
    /// Why (recorded with the admin's id); optional, and when given not blank, at most 500
    /// bytes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PayoutAccountView<'a> {
    payee_id: &'a str,
    stripe_account: &'a str,
    /// What Stripe last said of the account (`account.updated`); absent until it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    payouts_enabled: Option<bool>,
    admin_id: &'a str,
}

/// Whether `account` is the shape of a Stripe account id.
fn is_stripe_account(account: &str) -> bool {
    account.strip_prefix("acct_").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 250 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// `PUT /v1/admin/payees/{payee_id}/payout-account`: the Stripe connected account a payee
/// (creator, seller, or both) is paid to. Payouts through Stripe wait `held` until one is set.
#[utoipa::path(put, path = "/v1/admin/payees/{payee_id}/payout-account", tag = "admin",
    security(("jwt" = [])),
    params(("payee_id" = String, Path, min_length = 1, max_length = 255, pattern = "\\S",
            description = "a user id: not blank, at most 255 bytes")),
    request_body = PayoutAccountBody,
    responses(
        (status = 200, body = PayoutAccountView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 409, description = "payout_account_in_use: another payee is paid to it, or \
            idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn set_payout_account(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let body: PayoutAccountBody = req.json()?;
    if !is_stripe_account(&body.stripe_account) {
        return Err(InvalidInput::new("stripe_account", "a Stripe account id, acct_…").into());
    }
    let idem = Idempotency::from_request(&req, &caller)?;
    let note = body.note.as_deref().unwrap_or("payout account set");
    let admin = AdminAction::new(&caller.user_id, "note", note)?;
    let payee_id = req.path_param("payee_id")?;
    bounded_str("payee_id", payee_id, MAX_ID_BYTES)?;
    record_business_id(payee_id);
    let now = app.clock.now();
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let was = app.store.payout_account(payee_id).await?;
        let mut tx = Tx::new();
        let at = rfc3339(now);
        app.store.add_payout_account(
            &mut tx,
            payee_id,
            &body.stripe_account,
            was.as_ref(),
            &admin,
            &at,
        );
        let kept = was
            .filter(|w| w.stripe_account == body.stripe_account)
            .and_then(|w| w.payouts_enabled);
        let view = PayoutAccountView {
            payee_id,
            stripe_account: &body.stripe_account,
            payouts_enabled: kept,
            admin_id: &caller.user_id,
        };
        match idem
            .commit(app, tx, ApiResponse::json(200, &view), now)
            .await?
        {
            Ok(response) => return Ok(response),
            // Another admin set it meanwhile: decide on what is there now.
            Err(err) if err.condition_failed(&TxRole::PayoutAccount(payee_id.to_owned())) => {
                continue
            }
            Err(err)
                if err.condition_failed(&TxRole::PayoutAccount(body.stripe_account.clone())) =>
            {
                return Err(ApiError::PayoutAccountInUse(body.stripe_account))
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!(
        "payee {payee_id}'s account kept changing"
    )))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CorrectionBody {
    /// An account id as statements and the audit name it (`kind:owner`, e.g. `seller:s1`), of
    /// a kind a correction may touch (`domain::admin::correctable`) and holding `unit`: the
    /// document's pattern and pairing come from those rules (`api::openapi`).
    debit: String,
    /// As `debit`, and another account.
    credit: String,
    /// 1 to 10,000,000 (`MAX_CORRECTION`).
    #[schema(minimum = 1, maximum = 10_000_000)]
    amount: u64,
    /// The unit of both accounts: `coins` (wallet, chargeback-loss) or `cents` (the others).
    #[schema(value_type = CorrectionUnit)]
    unit: String,
    /// Why: not blank, at most 500 bytes.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// A correction's unit (`domain::ledger::Unit`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // the schema of `CorrectionBody::unit`, parsed by `Unit::parse`
enum CorrectionUnit {
    Coins,
    Cents,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CorrectionView<'a> {
    correction_id: &'a str,
    debit: String,
    credit: String,
    amount: u64,
    unit: &'static str,
    reason: &'a str,
    admin_id: &'a str,
    at: &'a str,
}

/// `POST /v1/admin/corrections`: one transfer between two plain balances
/// (`domain::admin::correctable`), in the statements of both.
#[utoipa::path(post, path = "/v1/admin/corrections", tag = "admin", security(("jwt" = [])),
    request_body = CorrectionBody,
    responses(
        (status = 201, body = CorrectionView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 403, description = "not an admin", body = crate::http::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::http::ErrorBody),
        (status = 422, description = "would_overdraw, unit_mismatch, account_not_correctable, \
            idempotency_key_reused", body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub async fn correct(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Admin)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: CorrectionBody = req.json()?;
    let account = |field: &str, raw: &str| {
        AccountId::parse(raw)
            .ok_or_else(|| InvalidInput::new(field, "not an account id (kind:owner)"))
    };
    let (debit, credit) = (
        account("debit", &body.debit)?,
        account("credit", &body.credit)?,
    );
    if debit == credit {
        return Err(InvalidInput::new("credit", "must differ from debit").into());
    }
    in_range("amount", body.amount, 1..=MAX_CORRECTION)?;
    let unit =
        Unit::parse(&body.unit).ok_or_else(|| InvalidInput::new("unit", "coins or cents"))?;
    let admin = AdminAction::new(&caller.user_id, "reason", &body.reason)?;
    let correction_id = idem.derived_id("cor");
    record_business_id(&correction_id);
    let transfer = correction_transfer(&correction_id, debit.clone(), credit, body.amount, unit)?;
    let now = app.clock.now();
    let at = rfc3339(now);
    let mut tx = Tx::new();
    app.store.add_ledger_write(
        &mut tx,
        LedgerWrite {
            transfers: std::slice::from_ref(&transfer),
            at: &at,
            admin: Some(&admin),
            ..Default::default()
        },
    )?;
    let view = CorrectionView {
        correction_id: &correction_id,
        debit: transfer.debit.to_string(),
        credit: transfer.credit.to_string(),
        amount: transfer.amount,
        unit: unit.as_str(),
        reason: &admin.note,
        admin_id: &admin.by,
        at: &at,
    };
    match idem
        .commit(app, tx, ApiResponse::json(201, &view), now)
        .await?
    {
        Ok(response) => Ok(response),
        Err(err) if err.condition_failed(&TxRole::Account(debit.clone())) => {
            Err(CorrectionError::WouldOverdraw(debit).into())
        }
        // The id was used by this key before its record expired.
        Err(err) if err.condition_failed(&TxRole::Transfer(transfer.id)) => {
            Err(ApiError::IdempotencyKeyReused)
        }
        Err(err) => Err(err.into()),
    }
}

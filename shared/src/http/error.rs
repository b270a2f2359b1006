//! Every error a client can see, and the one place that maps each to a status and a code.

use crate::domain::admin::CorrectionError;
use crate::domain::agencies::AgencyError;
use crate::domain::chargebacks::ChargebackError;
use crate::domain::gifts::GiftRuleError;
use crate::domain::ledger::LedgerError;
use crate::domain::matches::MatchError;
use crate::domain::payments::{EventError, SignatureError};
use crate::domain::payouts::{PayoutError, PayoutStatus};
use crate::domain::refunds::RefundStatus;
use crate::domain::rooms::RoomError;
use crate::domain::shop::ShopError;
use crate::domain::wallet::{AbovePlatformCap, SpendError};
use crate::input::InvalidInput;
use crate::jobs::payouts::RequestError;
use crate::store::{StoreError, TxError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid identity token is required")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error(transparent)]
    InvalidRequest(#[from] InvalidInput),
    #[error("the Idempotency-Key header is required")]
    IdempotencyKeyRequired,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyInProgress,
    #[error(transparent)]
    Gift(#[from] GiftRuleError),
    #[error("no stream with this id")]
    StreamNotFound,
    #[error("the stream is not live")]
    StreamNotLive,
    #[error("no route {0}")]
    RouteNotFound(String),
    #[error(transparent)]
    Room(#[from] RoomError),
    #[error(transparent)]
    Match(#[from] MatchError),
    #[error(transparent)]
    Agency(#[from] AgencyError),
    #[error(transparent)]
    Spend(#[from] SpendError),
    #[error(transparent)]
    AbovePlatformCap(#[from] AbovePlatformCap),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("event type {0} is not supported")]
    UnsupportedEvent(String),
    #[error(transparent)]
    Shop(#[from] ShopError),
    #[error(transparent)]
    Payout(#[from] PayoutError),
    #[error("no payout with this id")]
    PayoutNotFound,
    #[error("no refund with this id")]
    RefundNotFound,
    #[error("the refund is {}, not failed", .0.as_str())]
    RefundNotFailed(RefundStatus),
    #[error("the payout is {}, not held", .0.as_str())]
    PayoutNotHeld(PayoutStatus),
    #[error(transparent)]
    Correction(#[from] CorrectionError),
    #[error(transparent)]
    Chargeback(#[from] ChargebackError),
    #[error("Stripe account {0} is another payee's payout account")]
    PayoutAccountInUse(String),
    #[error("the event's livemode is {event}; this endpoint's is {endpoint}")]
    LivemodeMismatch { event: bool, endpoint: bool },
    /// A provider event livepay understands but does not book itself yet (an operator does).
    #[error("{0}")]
    NotBooked(String),
    #[error("too much contention or throttling; retry with the same Idempotency-Key")]
    Busy(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// `(HTTP status, error code)`, as API.md lists them.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            ApiError::Unauthenticated => (401, "unauthenticated"),
            ApiError::Forbidden(_) => (403, "forbidden"),
            ApiError::InvalidRequest(_) => (400, "invalid_request"),
            ApiError::IdempotencyKeyRequired => (400, "idempotency_key_required"),
            ApiError::IdempotencyKeyReused => (422, "idempotency_key_reused"),
            ApiError::IdempotencyInProgress => (409, "idempotency_in_progress"),
            ApiError::Gift(e) => match e {
                GiftRuleError::AgeRestricted => (403, "age_restricted"),
                GiftRuleError::CannotGiftSelf => (403, "cannot_gift_self"),
                GiftRuleError::GiftNotFound(_) => (404, "gift_not_found"),
                GiftRuleError::CountOutOfRange
                | GiftRuleError::NotStreakable(_)
                | GiftRuleError::CostOverflow => (400, "invalid_request"),
            },
            ApiError::StreamNotFound => (404, "stream_not_found"),
            ApiError::StreamNotLive => (409, "stream_not_live"),
            ApiError::RouteNotFound(_) => (404, "not_found"),
            ApiError::Room(e) => match e {
                RoomError::RoomFull { .. } => (409, "room_full"),
                RoomError::RecipientNotInStream(_) => (409, "recipient_not_in_stream"),
                RoomError::GuestNotFound(_) => (404, "guest_not_found"),
                RoomError::HostIsNotAGuest => (409, "host_is_not_a_guest"),
            },
            ApiError::Match(e) => match e {
                MatchError::AlreadyInMatch(_) => (409, "already_in_match"),
                MatchError::SameStream | MatchError::SameHost | MatchError::DurationOutOfRange => {
                    (400, "invalid_request")
                }
                MatchError::NotInvited(_) => (409, "invalid_transition"),
                MatchError::NotFound => (404, "match_not_found"),
            },
            ApiError::Agency(e) => match e {
                AgencyError::ShareOutOfRange | AgencyError::SinceTooEarly => {
                    (400, "invalid_request")
                }
                AgencyError::NotAttached => (404, "not_attached"),
                AgencyError::AgencyNotFound => (404, "agency_not_found"),
                AgencyError::OwnerHasAgency => (409, "owner_has_agency"),
                AgencyError::NotAnOwner => (403, "forbidden"),
            },
            ApiError::Spend(SpendError::InsufficientCoins { .. }) => (402, "insufficient_coins"),
            ApiError::Spend(_) => (422, "spend_cap_exceeded"),
            ApiError::AbovePlatformCap(_) => (422, "above_platform_cap"),
            ApiError::Signature(SignatureError::Invalid) => (401, "invalid_signature"),
            ApiError::Signature(SignatureError::Stale) => (401, "stale_signature"),
            ApiError::UnsupportedEvent(_) => (400, "unsupported_event_type"),
            ApiError::Shop(e) => match e {
                ShopError::ProductNotFound(_) => (404, "product_not_found"),
                ShopError::MixedSellers => (400, "mixed_sellers"),
                ShopError::OutOfStock { .. } => (409, "out_of_stock"),
                ShopError::PerBuyerLimitExceeded { .. } => (422, "per_buyer_limit_exceeded"),
                ShopError::StockWouldGoNegative { .. } => (409, "stock_would_go_negative"),
                ShopError::OrderNotFound => (404, "order_not_found"),
                ShopError::NotCancellable(_) => (409, "order_not_cancellable"),
                ShopError::InvalidTransition { .. } => (409, "invalid_transition"),
                ShopError::TotalOverflow => (400, "invalid_request"),
            },
            ApiError::Payout(e) => match e {
                PayoutError::BelowMinimum { .. } => (422, "below_minimum"),
                PayoutError::DailyCap { .. } => (422, "daily_payout_cap"),
                PayoutError::InsufficientAvailable { .. } => {
                    (402, "insufficient_available_balance")
                }
            },
            ApiError::PayoutNotFound => (404, "payout_not_found"),
            ApiError::RefundNotFound => (404, "refund_not_found"),
            ApiError::RefundNotFailed(_) => (409, "invalid_transition"),
            ApiError::PayoutNotHeld(_) => (409, "invalid_transition"),
            ApiError::Correction(e) => match e {
                CorrectionError::NotCorrectable(_) => (422, "account_not_correctable"),
                CorrectionError::UnitMismatch { .. } => (422, "unit_mismatch"),
                CorrectionError::WouldOverdraw(_) => (422, "would_overdraw"),
                CorrectionError::Ledger(_) => (400, "invalid_request"),
            },
            ApiError::Chargeback(ChargebackError::ExceedsPurchase { .. }) => {
                (422, "chargeback_exceeds_purchase")
            }
            ApiError::Chargeback(ChargebackError::OrderAmount { .. }) => {
                (422, "chargeback_amount_mismatch")
            }
            ApiError::Chargeback(ChargebackError::UserMismatch) => {
                (422, "chargeback_user_mismatch")
            }
            ApiError::Chargeback(ChargebackError::NotAPurchase) => {
                (422, "chargeback_not_a_purchase")
            }
            ApiError::PayoutAccountInUse(_) => (409, "payout_account_in_use"),
            ApiError::LivemodeMismatch { .. } => (400, "livemode_mismatch"),
            ApiError::NotBooked(_) => (422, "not_booked"),
            ApiError::Busy(_) => (503, "busy"),
            ApiError::Internal(_) => (500, "internal"),
        }
    }

    /// The field a 400 concerns, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest(e) if !e.field.is_empty() => Some(&e.field),
            ApiError::Gift(
                GiftRuleError::CountOutOfRange
                | GiftRuleError::NotStreakable(_)
                | GiftRuleError::CostOverflow,
            ) => Some("count"),
            ApiError::Shop(ShopError::TotalOverflow) => Some("lines"),
            ApiError::Agency(AgencyError::ShareOutOfRange) => Some("share_bps"),
            ApiError::Agency(AgencyError::SinceTooEarly) => Some("since"),
            _ => None,
        }
    }

    /// The product a shop error is about (API.md: `out_of_stock` names the product).
    pub fn product_id(&self) -> Option<&str> {
        match self {
            ApiError::Shop(
                ShopError::ProductNotFound(product_id)
                | ShopError::OutOfStock { product_id }
                | ShopError::PerBuyerLimitExceeded { product_id, .. }
                | ShopError::StockWouldGoNegative { product_id },
            ) => Some(product_id),
            _ => None,
        }
    }

    /// The text shown to the client: internals stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "internal error; nothing was changed, retry with the same Idempotency-Key".into()
            }
            ApiError::Busy(_) => "the service is busy; retry with the same Idempotency-Key".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled { .. } | StoreError::Contended { .. } => {
                ApiError::Busy(e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<TxError> for ApiError {
    /// Only for cancellations a handler did not expect: those it expects it maps itself.
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(s) => s.into(),
            contended @ TxError::Contended(_) => ApiError::Busy(contended.to_string()),
            cancelled => ApiError::Internal(cancelled.to_string()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::Invalid(i) => ApiError::InvalidRequest(i),
            EventError::UnsupportedType(t) => ApiError::UnsupportedEvent(t),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Refused(refusal) => refusal.into(),
            // The payout exists although the key's record does not (it expired): the same key.
            RequestError::Exists(_) => ApiError::IdempotencyKeyReused,
            RequestError::Busy => ApiError::Busy(e.to_string()),
            RequestError::Store(s) => s.into(),
            RequestError::Tx(t) => t.into(),
            RequestError::Ledger(l) => l.into(),
        }
    }
}

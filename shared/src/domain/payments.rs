//! The payment provider's webhook: signature, staleness, and the ledger transfers each event
//! makes. Transfer ids derive from the event id, so an event can take effect only once.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use super::payouts::ProviderOutcome;
use crate::input::{bounded_str, from_value, in_range, InvalidInput};

/// Largest accepted clock difference between the provider's signature and us (API.md).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// Most `v1` entries of one header looked at: Stripe sends one per active secret.
const MAX_SIGNATURES: usize = 8;
/// Most coins one purchase event may credit (the largest pack is 17,500; allow bulk packs).
pub const MAX_COINS_PER_EVENT: u64 = 10_000_000;
/// Most cents one purchase event may carry ($100,000).
pub const MAX_CENTS_PER_EVENT: u64 = 10_000_000;
/// Longest provider event id.
pub const MAX_EVENT_ID_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or invalid signature header")]
    Invalid,
    #[error("the signature's timestamp is more than {SIGNATURE_TOLERANCE_SECS} s from now")]
    Stale,
}

/// Checks a signature header `t=<unix>,v1=<hex hmac>` over `"<t>.<raw body>"` (livepay's
/// `Livepay-Signature` and Stripe's `Stripe-Signature` alike); on success, the time it was
/// signed (unix seconds). Every `v1` is tried against every secret (a rotation: Stripe signs
/// with each secret still active, and the endpoint holds the current and the previous one); one
/// match suffices. The comparison is constant-time.
pub fn verify_signature<S: AsRef<[u8]>>(
    secrets: &[S],
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Invalid)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => candidates.push(sig),
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Invalid)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Invalid)?;
    // One MAC per secret, however many `v1` entries a header carries (each compared in constant
    // time to each MAC): a forged header cannot make the body be hashed again and again.
    let tags: Vec<_> = secrets
        .iter()
        .map(|secret| mac(secret.as_ref(), t_text, body).finalize())
        .collect();
    let matches = candidates.iter().take(MAX_SIGNATURES).any(|sig| {
        let Ok(given) = hex::decode(sig) else {
            return false;
        };
        let Ok(given) = <[u8; 32]>::try_from(given) else {
            return false;
        };
        let given = hmac::digest::CtOutput::<Hmac<Sha256>>::new(given.into());
        tags.contains(&given)
    });
    if !matches {
        return Err(SignatureError::Invalid);
    }
    // Checked after the signature, so an attacker learns nothing about timing from a forgery.
    if now_unix.abs_diff(t) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

/// When the provider says the event happened: its `created`, else the time it signed the
/// delivery; never later than now. What a payment is judged by (an order's window), so that a
/// payment retried after contention or an outage is not judged late by when it got through.
pub fn event_time(created: Option<i64>, signed_at: i64, now_unix: i64) -> i64 {
    created.unwrap_or(signed_at).clamp(0, now_unix)
}

/// The header value a provider would send; used by tests, the demo and provider simulators.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, &t.to_string(), body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

fn mac(secret: &[u8], t: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The envelope takes fields it does not know (a provider adding one must not turn every event
/// into a 400); each event's `data` is held to its type's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookEnvelope {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened at the provider (unix seconds), as Stripe's `created`. Optional:
    /// without it, the signature's time stands in.
    #[serde(default)]
    pub created: Option<i64>,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinsPurchased {
    pub user_id: String,
    pub coins: u64,
    pub amount_cents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargedBack {
    pub user_id: String,
    pub coins: u64,
    /// The cents the card network took back; with `purchase_event_id`, or neither (an older
    /// body: the coins only, as before).
    #[serde(default)]
    pub amount_cents: Option<u64>,
    /// The `coins.purchased` event this reverses.
    #[serde(default)]
    pub purchase_event_id: Option<String>,
    /// A refund made at the provider rather than a dispute (Stripe's `charge.refunded`).
    #[serde(skip)]
    pub by_refund: bool,
}

impl ChargedBack {
    /// The purchase this reverses and the cents going back, if the body names them.
    pub fn purchase(&self) -> Option<(&str, u64)> {
        self.purchase_event_id.as_deref().zip(self.amount_cents)
    }
}

/// The buyer of an order was repaid by the provider (a dispute they won).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderChargedBack {
    pub order_id: String,
    pub amount_cents: u64,
    /// A refund made at the provider rather than a dispute (Stripe's `charge.refunded`).
    #[serde(skip)]
    pub by_refund: bool,
}

/// `chargeback.won`: the dispute behind the chargeback `chargeback_event_id` was decided for the
/// platform, and the provider returned what it took (`domain::reinstatement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargebackWon {
    pub chargeback_event_id: String,
    pub of: ChargedBackOf,
}

/// What a chargeback reversed: a coin purchase (its event id) or an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargedBackOf {
    Purchase(String),
    Order(String),
}

/// `chargeback.won`'s body: the chargeback, and the purchase or the order it named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargebackWonBody {
    chargeback_event_id: String,
    #[serde(default)]
    purchase_event_id: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPaid {
    pub order_id: String,
    pub amount_cents: u64,
}

/// The provider's answer to a refund livepay asked for, for providers that confirm later.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundAnswered {
    pub refund_id: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The provider's own refund id, where its event names it (Stripe's `re_…`).
    #[serde(skip)]
    pub provider_ref: Option<String>,
}

impl RefundAnswered {
    /// What the answer records: `paid` names the provider's refund, or else the event that
    /// confirmed it.
    pub fn outcome(&self, succeeded: bool, event_id: &str) -> ProviderOutcome {
        match succeeded {
            true => ProviderOutcome::Paid {
                provider_ref: self.provider_ref.as_deref().unwrap_or(event_id).to_owned(),
            },
            false => ProviderOutcome::Failed {
                reason: self
                    .reason
                    .clone()
                    .unwrap_or_else(|| "the provider reported the refund failed".to_owned()),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    CoinsPurchased(CoinsPurchased),
    ChargedBack(ChargedBack),
    OrderPaid(OrderPaid),
    OrderChargedBack(OrderChargedBack),
    ChargebackWon(ChargebackWon),
    /// `refund.succeeded` (true) or `refund.failed` (false).
    RefundAnswered(RefundAnswered, bool),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("event type {0} is not handled here")]
    UnsupportedType(String),
}

impl PaymentEvent {
    /// The provider-neutral type: what the event is recorded as, whoever sent it.
    pub fn kind(&self) -> &'static str {
        match self {
            PaymentEvent::CoinsPurchased(_) => "coins.purchased",
            PaymentEvent::ChargedBack(_) => "payment.charged_back",
            PaymentEvent::OrderPaid(_) => "order.paid",
            PaymentEvent::OrderChargedBack(_) => "order.charged_back",
            PaymentEvent::ChargebackWon(_) => "chargeback.won",
            PaymentEvent::RefundAnswered(_, true) => "refund.succeeded",
            PaymentEvent::RefundAnswered(_, false) => "refund.failed",
        }
    }

    pub fn parse(envelope: WebhookEnvelope) -> Result<(String, PaymentEvent), EventError> {
        bounded_str("id", &envelope.id, MAX_EVENT_ID_BYTES)?;
        let event = match envelope.event_type.as_str() {
            "coins.purchased" => {
                let e: CoinsPurchased = from_value(envelope.data, "data")?;
                bounded_str(
                    "data.user_id",
                    &e.user_id,
                    super::streams::MAX_USER_ID_BYTES,
                )?;
                in_range("data.coins", e.coins, 1..=MAX_COINS_PER_EVENT)?;
                in_range("data.amount_cents", e.amount_cents, 1..=MAX_CENTS_PER_EVENT)?;
                PaymentEvent::CoinsPurchased(e)
            }
            "payment.charged_back" => {
                let e: ChargedBack = from_value(envelope.data, "data")?;
                bounded_str(
                    "data.user_id",
                    &e.user_id,
                    super::streams::MAX_USER_ID_BYTES,
                )?;
                in_range("data.coins", e.coins, 1..=MAX_COINS_PER_EVENT)?;
                match (&e.purchase_event_id, e.amount_cents) {
                    (Some(purchase), Some(cents)) => {
                        bounded_str("data.purchase_event_id", purchase, MAX_EVENT_ID_BYTES)?;
                        in_range("data.amount_cents", cents, 1..=MAX_CENTS_PER_EVENT)?;
                    }
                    (None, None) => {}
                    _ => {
                        return Err(InvalidInput::new(
                            "data.purchase_event_id",
                            "purchase_event_id and amount_cents come together",
                        )
                        .into())
                    }
                }
                PaymentEvent::ChargedBack(e)
            }
            "order.charged_back" => {
                let e: OrderChargedBack = from_value(envelope.data, "data")?;
                bounded_str("data.order_id", &e.order_id, super::shop::MAX_ID_BYTES)?;
                in_range("data.amount_cents", e.amount_cents, 1..=i64::MAX as u64)?;
                PaymentEvent::OrderChargedBack(e)
            }
            "chargeback.won" => {
                let b: ChargebackWonBody = from_value(envelope.data, "data")?;
                bounded_str(
                    "data.chargeback_event_id",
                    &b.chargeback_event_id,
                    MAX_EVENT_ID_BYTES,
                )?;
                let of =
                    match (b.purchase_event_id, b.order_id) {
                        (Some(purchase), None) => {
                            bounded_str("data.purchase_event_id", &purchase, MAX_EVENT_ID_BYTES)?;
                            ChargedBackOf::Purchase(purchase)
                        }
                        (None, Some(order)) => {
                            bounded_str("data.order_id", &order, super::shop::MAX_ID_BYTES)?;
                            ChargedBackOf::Order(order)
                        }
                        _ => return Err(InvalidInput::new(
                            "data.purchase_event_id",
                            "name the purchase_event_id or the order_id the chargeback reversed, \
                             one of them",
                        )
                        .into()),
                    };
                PaymentEvent::ChargebackWon(ChargebackWon {
                    chargeback_event_id: b.chargeback_event_id,
                    of,
                })
            }
            "order.paid" => {
                let e: OrderPaid = from_value(envelope.data, "data")?;
                bounded_str("data.order_id", &e.order_id, super::shop::MAX_ID_BYTES)?;
                // An order's total fits far below this: 50 lines × 1,000 × $100,000 is the cap.
                in_range("data.amount_cents", e.amount_cents, 1..=i64::MAX as u64)?;
                PaymentEvent::OrderPaid(e)
            }
            t @ ("refund.succeeded" | "refund.failed") => {
                let e: RefundAnswered = from_value(envelope.data, "data")?;
                bounded_str("data.refund_id", &e.refund_id, MAX_EVENT_ID_BYTES)?;
                if let Some(reason) = &e.reason {
                    bounded_str("data.reason", reason, super::shop::MAX_REFUND_REASON_BYTES)?;
                }
                PaymentEvent::RefundAnswered(e, t == "refund.succeeded")
            }
            other => return Err(EventError::UnsupportedType(other.to_owned())),
        };
        Ok((envelope.id, event))
    }
}

/// A purchase: coins issued to the buyer, and the cash the provider collected to the platform.
pub fn coin_purchase_transfers(
    event_id: &str,
    e: &CoinsPurchased,
) -> Result<Vec<Transfer>, LedgerError> {
    Ok(vec![
        Transfer::new(
            format!("{event_id}/coins"),
            AccountId::outside(AccountKind::CoinIssuer, event_id),
            AccountId::wallet(&e.user_id),
            e.coins,
            TransferKind::CoinPurchase,
            event_id,
        )?,
        Transfer::new(
            format!("{event_id}/cash"),
            AccountId::outside(AccountKind::PaymentProvider, event_id),
            AccountId::outside(AccountKind::PlatformCash, event_id),
            e.amount_cents,
            TransferKind::CoinSaleCash,
            event_id,
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret_value";

    #[test]
    fn a_correct_signature_within_tolerance_passes() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(SECRET, 1_000, body);
        assert_eq!(
            verify_signature(&[SECRET], Some(&h), body, 1_000 + 300),
            Ok(1_000)
        );
        assert_eq!(
            verify_signature(&[SECRET], Some(&h), body, 1_000 - 300),
            Ok(1_000)
        );
    }

    #[test]
    fn a_payment_is_judged_by_when_the_provider_says_it_happened() {
        // Its own time first, else the signature's; never a time still to come.
        assert_eq!(event_time(Some(900), 1_000, 1_100), 900);
        assert_eq!(event_time(None, 1_000, 1_100), 1_000);
        assert_eq!(event_time(Some(5_000), 1_000, 1_100), 1_100);
        assert_eq!(event_time(Some(-7), 1_000, 1_100), 0);
    }

    #[test]
    fn wrong_secret_body_or_header_is_invalid_and_old_is_stale() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(SECRET, 1_000, body);
        let check = |secret: &[u8], header: Option<&str>, body: &[u8], now| {
            verify_signature(&[secret], header, body, now)
        };
        assert_eq!(
            check(b"other", Some(&h), body, 1_000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, Some(&h), b"{}", 1_000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, None, body, 1_000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, Some(&h[..h.len() - 4]), body, 1_000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, Some("t=1000"), body, 1_000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, Some("garbage"), body, 1_000),
            Err(SignatureError::Invalid)
        );
        // Moving the timestamp breaks the signature; an old genuine one is stale.
        let moved = h.replace("t=1000", "t=1001");
        assert_eq!(
            check(SECRET, Some(&moved), body, 1_001),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(SECRET, Some(&h), body, 1_301),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn one_matching_signature_among_several_suffices() {
        let body = b"{}";
        let good = sign(SECRET, 5, body);
        let header = format!(
            "t=5,v1={},{}",
            "00".repeat(32),
            good.split_once(',').unwrap().1
        );
        assert_eq!(verify_signature(&[SECRET], Some(&header), body, 5), Ok(5));
        // A rotation: the endpoint holds the previous secret beside the new one.
        assert_eq!(
            verify_signature(&[&b"new"[..], SECRET], Some(&header), body, 5),
            Ok(5)
        );
        assert_eq!(
            verify_signature(&[b"new"], Some(&header), body, 5),
            Err(SignatureError::Invalid)
        );
    }

    fn envelope(t: &str, data: serde_json::Value) -> WebhookEnvelope {
        WebhookEnvelope {
            id: "evt_1".into(),
            event_type: t.into(),
            created: None,
            data,
        }
    }

    #[test]
    fn events_are_parsed_strictly() {
        let ok = PaymentEvent::parse(envelope(
            "coins.purchased",
            serde_json::json!({"user_id":"u","coins":70,"amount_cents":99}),
        ))
        .unwrap();
        assert!(matches!(
            ok.1,
            PaymentEvent::CoinsPurchased(CoinsPurchased { coins: 70, .. })
        ));
        let bad = PaymentEvent::parse(envelope(
            "coins.purchased",
            serde_json::json!({"user_id":"u","coins":0,"amount_cents":99}),
        ));
        assert!(
            matches!(bad, Err(EventError::Invalid(InvalidInput { ref field, .. })) if field == "data.coins")
        );
        let extra = PaymentEvent::parse(envelope(
            "payment.charged_back",
            serde_json::json!({"user_id":"u","coins":1,"x":1}),
        ));
        assert!(matches!(extra, Err(EventError::Invalid(_))));
        let half = PaymentEvent::parse(envelope(
            "payment.charged_back",
            serde_json::json!({"user_id":"u","coins":1,"purchase_event_id":"p"}),
        ));
        assert!(
            matches!(half, Err(EventError::Invalid(InvalidInput { ref field, .. })) if field == "data.purchase_event_id")
        );
        let other = PaymentEvent::parse(envelope("order.refunded", serde_json::json!({})));
        assert_eq!(
            other,
            Err(EventError::UnsupportedType("order.refunded".into()))
        );
    }
}

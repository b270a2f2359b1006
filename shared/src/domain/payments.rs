//! The payment provider's webhook: signature, staleness, and the ledger transfers each event
//! makes. Transfer ids derive from the event id, so an event can take effect only once.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use crate::input::{bounded_str, from_value, in_range, InvalidInput};

/// Largest accepted clock difference between the provider's signature and us (API.md).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// Most coins one purchase event may credit (the largest pack is 17,500; allow bulk packs).
pub const MAX_COINS_PER_EVENT: u64 = 10_000_000;
/// Most cents one purchase event may carry ($100,000).
pub const MAX_CENTS_PER_EVENT: u64 = 10_000_000;
/// Longest provider event id.
pub const MAX_EVENT_ID_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or invalid Livepay-Signature")]
    Invalid,
    #[error("Livepay-Signature timestamp is more than {SIGNATURE_TOLERANCE_SECS} s from now")]
    Stale,
}

/// Checks `Livepay-Signature: t=<unix>,v1=<hex hmac>` over `"<t>.<raw body>"`. Several `v1`
/// entries are allowed (secret rotation); one match suffices. The comparison is constant-time.
/// Checks the signature header; on success, the time it was signed (unix seconds).
pub fn verify_signature(
    secret: &[u8],
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
    let matches = candidates.iter().any(|sig| {
        let Ok(expected) = hex::decode(sig) else {
            return false;
        };
        mac(secret, t_text, body).verify_slice(&expected).is_ok()
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
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
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPaid {
    pub order_id: String,
    pub amount_cents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    CoinsPurchased(CoinsPurchased),
    ChargedBack(ChargedBack),
    OrderPaid(OrderPaid),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("event type {0} is not handled here")]
    UnsupportedType(String),
}

impl PaymentEvent {
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
                PaymentEvent::ChargedBack(e)
            }
            "order.paid" => {
                let e: OrderPaid = from_value(envelope.data, "data")?;
                bounded_str("data.order_id", &e.order_id, super::shop::MAX_ID_BYTES)?;
                // An order's total fits far below this: 50 lines × 1,000 × $100,000 is the cap.
                in_range("data.amount_cents", e.amount_cents, 1..=i64::MAX as u64)?;
                PaymentEvent::OrderPaid(e)
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

/// A chargeback: the coins go back to the issuer, from the wallet as far as it holds them and
/// from the platform's chargeback-loss account for the rest.
pub fn chargeback_transfers(
    event_id: &str,
    user_id: &str,
    from_wallet: u64,
    from_loss: u64,
) -> Result<Vec<Transfer>, LedgerError> {
    let issuer = AccountId::outside(AccountKind::CoinIssuer, event_id);
    let mut transfers = Vec::with_capacity(2);
    if from_wallet > 0 {
        transfers.push(Transfer::new(
            format!("{event_id}/wallet"),
            AccountId::wallet(user_id),
            issuer.clone(),
            from_wallet,
            TransferKind::Chargeback,
            event_id,
        )?);
    }
    if from_loss > 0 {
        transfers.push(Transfer::new(
            format!("{event_id}/loss"),
            AccountId::outside(AccountKind::ChargebackLoss, event_id),
            issuer,
            from_loss,
            TransferKind::ChargebackLoss,
            event_id,
        )?);
    }
    Ok(transfers)
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
            verify_signature(SECRET, Some(&h), body, 1_000 + 300),
            Ok(1_000)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&h), body, 1_000 - 300),
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
            verify_signature(secret, header, body, now)
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
        assert_eq!(verify_signature(SECRET, Some(&header), body, 5), Ok(5));
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
        let other = PaymentEvent::parse(envelope("order.refunded", serde_json::json!({})));
        assert_eq!(
            other,
            Err(EventError::UnsupportedType("order.refunded".into()))
        );
    }

    #[test]
    fn chargeback_transfers_skip_empty_legs() {
        assert_eq!(chargeback_transfers("e", "u", 0, 5).unwrap().len(), 1);
        assert_eq!(chargeback_transfers("e", "u", 5, 0).unwrap().len(), 1);
        assert_eq!(chargeback_transfers("e", "u", 2, 3).unwrap().len(), 2);
    }
}

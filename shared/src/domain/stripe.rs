//! Stripe's events, read as Stripe sends them, and what each means to livepay. Stripe adds
//! fields and event types without notice and retries any non-2xx for days, so everything
//! livepay does not read is ignored, never refused; what it does read is checked like any
//! other input. Money is identified by the PaymentIntent (`pi_…`): one Checkout payment sends
//! both `checkout.session.completed` and `payment_intent.succeeded`, and the PaymentIntent is
//! what takes effect, once.

use serde::Deserialize;
use std::collections::HashMap;

use super::payments::{MAX_CENTS_PER_EVENT, MAX_COINS_PER_EVENT, MAX_EVENT_ID_BYTES};
use crate::input::{bounded_str, in_range, InvalidInput};

/// The metadata key that says what a payment buys (API.md, "Stripe").
pub const KIND_METADATA: &str = "livepay_kind";
/// The metadata key a refund carries its livepay attempt key in.
pub const REFUND_ID_METADATA: &str = "livepay_refund_id";
/// The only currency livepay's money is kept in.
pub const CURRENCY: &str = "usd";

/// A Stripe event: the envelope, with the object it carries.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (unix seconds).
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// What a payment buys, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    Coins { user_id: String, coins: u64 },
    Order { order_id: String },
}

/// What a refund object says of the refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Succeeded,
    Failed(String),
}

/// What an event means to livepay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// A payment succeeded: credit it, once per PaymentIntent.
    Paid {
        payment_intent: String,
        amount_cents: u64,
        purchase: Purchase,
    },
    /// A dispute opened (the card network takes the money back now) or closed.
    Dispute {
        dispute_id: String,
        payment_intent: String,
        amount_cents: u64,
        /// `Some(true)` once won, `Some(false)` once lost, `None` while open.
        won: Option<bool>,
    },
    /// Money went back on a charge (`amount_refunded` is the total so far).
    ChargeRefunded {
        payment_intent: String,
        amount_refunded: u64,
    },
    /// Stripe's answer to a refund livepay asked for: the attempt (its metadata), the refund.
    RefundAnswered {
        attempt: String,
        refund: String,
        state: RefundState,
    },
    /// A connected account changed.
    Account {
        account: String,
        payouts_enabled: bool,
    },
    /// A Connect transfer (a payout) was reversed, in part or whole.
    TransferReversed {
        transfer: String,
        payout_id: String,
        amount_reversed: u64,
    },
    /// Nothing for livepay: why.
    Ignored(&'static str),
}

#[derive(Deserialize)]
struct CheckoutSession {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    amount_total: Option<u64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    #[serde(default)]
    amount_received: u64,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Dispute {
    id: String,
    amount: u64,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct Charge {
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    amount_refunded: u64,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Account {
    id: String,
    #[serde(default)]
    payouts_enabled: bool,
}

#[derive(Deserialize)]
struct TransferObject {
    id: String,
    #[serde(default)]
    amount_reversed: u64,
    #[serde(default)]
    transfer_group: Option<String>,
}

/// A reference Stripe sends as an id, or as the object when the endpoint expands it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn id(self) -> String {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

fn object<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, InvalidInput> {
    T::deserialize(value).map_err(|e| InvalidInput::new("data.object", e.to_string()))
}

fn usd(currency: Option<&str>) -> Result<(), InvalidInput> {
    match currency {
        None | Some(CURRENCY) => Ok(()),
        Some(_) => Err(InvalidInput::new(
            "data.object.currency",
            "livepay keeps its money in usd",
        )),
    }
}

fn payment_intent_id(pi: Option<Expandable>) -> Result<Option<String>, InvalidInput> {
    pi.map(Expandable::id)
        .map(|id| {
            bounded_str("data.object.payment_intent", &id, MAX_EVENT_ID_BYTES)?;
            Ok(id)
        })
        .transpose()
}

/// What `metadata` says the payment buys; `None` for a payment that is not livepay's.
fn purchase(metadata: &HashMap<String, String>) -> Result<Option<Purchase>, InvalidInput> {
    let field = |name: &str| {
        let value = metadata
            .get(name)
            .ok_or_else(|| InvalidInput::new(format!("data.object.metadata.{name}"), "required"))?;
        bounded_str(
            &format!("data.object.metadata.{name}"),
            value,
            super::streams::MAX_USER_ID_BYTES,
        )?;
        Ok::<_, InvalidInput>(value.clone())
    };
    match metadata.get(KIND_METADATA).map(String::as_str) {
        None => Ok(None),
        Some("coins") => {
            let user_id = field("user_id")?;
            let coins = field("coins")?.parse::<u64>().map_err(|_| {
                InvalidInput::new("data.object.metadata.coins", "a whole number of coins")
            })?;
            in_range("data.object.metadata.coins", coins, 1..=MAX_COINS_PER_EVENT)?;
            Ok(Some(Purchase::Coins { user_id, coins }))
        }
        Some("order") => Ok(Some(Purchase::Order {
            order_id: field("order_id")?,
        })),
        Some(_) => Err(InvalidInput::new(
            format!("data.object.metadata.{KIND_METADATA}"),
            "coins or order",
        )),
    }
}

fn paid(
    payment_intent: String,
    amount_cents: u64,
    purchase: Purchase,
) -> Result<Meaning, InvalidInput> {
    let most = match purchase {
        Purchase::Coins { .. } => MAX_CENTS_PER_EVENT,
        Purchase::Order { .. } => i64::MAX as u64,
    };
    in_range("data.object.amount", amount_cents, 1..=most)?;
    Ok(Meaning::Paid {
        payment_intent,
        amount_cents,
        purchase,
    })
}

impl StripeEvent {
    pub fn parse(body: &[u8]) -> Result<Self, InvalidInput> {
        let event: StripeEvent = serde_json::from_slice(body)
            .map_err(|e| InvalidInput::new("body", format!("not a Stripe event: {e}")))?;
        bounded_str("id", &event.id, MAX_EVENT_ID_BYTES)?;
        Ok(event)
    }

    pub fn meaning(&self) -> Result<Meaning, InvalidInput> {
        let o = &self.data.object;
        match self.event_type.as_str() {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                let s: CheckoutSession = object(o)?;
                if s.mode.as_deref() != Some("payment") {
                    return Ok(Meaning::Ignored("not_a_payment_session"));
                }
                if s.payment_status.as_deref() != Some("paid") {
                    return Ok(Meaning::Ignored("not_paid_yet"));
                }
                let Some(purchase) = purchase(&s.metadata)? else {
                    return Ok(Meaning::Ignored("not_livepay"));
                };
                usd(s.currency.as_deref())?;
                let Some(pi) = payment_intent_id(s.payment_intent)? else {
                    return Err(InvalidInput::new(
                        "data.object.payment_intent",
                        "a paid payment session names its PaymentIntent",
                    ));
                };
                paid(pi, s.amount_total.unwrap_or(0), purchase)
            }
            "payment_intent.succeeded" => {
                let pi: PaymentIntent = object(o)?;
                let Some(purchase) = purchase(&pi.metadata)? else {
                    return Ok(Meaning::Ignored("not_livepay"));
                };
                usd(pi.currency.as_deref())?;
                bounded_str("data.object.id", &pi.id, MAX_EVENT_ID_BYTES)?;
                paid(pi.id, pi.amount_received, purchase)
            }
            t @ ("charge.dispute.created"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.closed"
            | "charge.dispute.funds_reinstated") => {
                let d: Dispute = object(o)?;
                usd(d.currency.as_deref())?;
                bounded_str("data.object.id", &d.id, MAX_EVENT_ID_BYTES)?;
                let Some(payment_intent) = payment_intent_id(d.payment_intent)? else {
                    return Ok(Meaning::Ignored("no_payment_intent"));
                };
                let won = match (t, d.status.as_deref()) {
                    // An inquiry withdraws nothing (and the payment can still be refunded); if
                    // it escalates, Stripe withdraws the funds then and says so.
                    ("charge.dispute.created", Some(s)) if s.starts_with("warning_") => {
                        return Ok(Meaning::Ignored("dispute_inquiry"))
                    }
                    ("charge.dispute.created" | "charge.dispute.funds_withdrawn", _) => None,
                    (_, Some("won")) => Some(true),
                    (_, Some("lost")) => Some(false),
                    _ => return Ok(Meaning::Ignored("dispute_not_decided")),
                };
                in_range("data.object.amount", d.amount, 1..=i64::MAX as u64)?;
                Ok(Meaning::Dispute {
                    dispute_id: d.id,
                    payment_intent,
                    amount_cents: d.amount,
                    won,
                })
            }
            "charge.refunded" => {
                let c: Charge = object(o)?;
                usd(c.currency.as_deref())?;
                let Some(payment_intent) = payment_intent_id(c.payment_intent)? else {
                    return Ok(Meaning::Ignored("no_payment_intent"));
                };
                in_range(
                    "data.object.amount_refunded",
                    c.amount_refunded,
                    1..=i64::MAX as u64,
                )?;
                Ok(Meaning::ChargeRefunded {
                    payment_intent,
                    amount_refunded: c.amount_refunded,
                })
            }
            "refund.created" | "refund.updated" | "refund.failed" => {
                let r: RefundObject = object(o)?;
                // A refund made in the dashboard carries no attempt of ours: `charge.refunded`
                // books it.
                let Some(attempt) = r.metadata.get(REFUND_ID_METADATA) else {
                    return Ok(Meaning::Ignored("not_a_livepay_refund"));
                };
                bounded_str("data.object.metadata", attempt, MAX_EVENT_ID_BYTES)?;
                bounded_str("data.object.id", &r.id, MAX_EVENT_ID_BYTES)?;
                let state = match r.status.as_deref() {
                    Some("succeeded") => RefundState::Succeeded,
                    Some("failed" | "canceled") => RefundState::Failed(
                        r.failure_reason
                            .filter(|f| f.len() <= super::shop::MAX_REFUND_REASON_BYTES)
                            .unwrap_or_else(|| "Stripe reported the refund failed".to_owned()),
                    ),
                    _ => return Ok(Meaning::Ignored("refund_pending")),
                };
                Ok(Meaning::RefundAnswered {
                    attempt: attempt.clone(),
                    refund: r.id,
                    state,
                })
            }
            "account.updated" => {
                let a: Account = object(o)?;
                bounded_str("data.object.id", &a.id, MAX_EVENT_ID_BYTES)?;
                Ok(Meaning::Account {
                    account: a.id,
                    payouts_enabled: a.payouts_enabled,
                })
            }
            "transfer.reversed" => {
                let t: TransferObject = object(o)?;
                bounded_str("data.object.id", &t.id, MAX_EVENT_ID_BYTES)?;
                let Some(payout_id) = t.transfer_group else {
                    return Ok(Meaning::Ignored("not_a_livepay_transfer"));
                };
                bounded_str("data.object.transfer_group", &payout_id, MAX_EVENT_ID_BYTES)?;
                Ok(Meaning::TransferReversed {
                    transfer: t.id,
                    payout_id,
                    amount_reversed: t.amount_reversed,
                })
            }
            _ => Ok(Meaning::Ignored("event_type_not_used")),
        }
    }
}

/// The coins a partial reversal of a purchase takes back: in proportion, rounded down, so a
/// reversal never takes more coins than its cents bought.
pub fn coins_for(cents: u64, purchase_coins: u64, purchase_cents: u64) -> u64 {
    if cents >= purchase_cents || purchase_cents == 0 {
        return purchase_coins;
    }
    u64::try_from(u128::from(purchase_coins) * u128::from(cents) / u128::from(purchase_cents))
        .unwrap_or(purchase_coins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(t: &str, object: serde_json::Value) -> StripeEvent {
        StripeEvent::parse(
            json!({"id": "evt_1", "object": "event", "type": t, "created": 1, "livemode": false,
                "data": {"object": object}, "new_field": {"x": 1}})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn both_events_of_one_checkout_payment_mean_the_same_payment_intent() {
        let metadata = json!({"livepay_kind": "coins", "user_id": "u1", "coins": "700"});
        let session = event(
            "checkout.session.completed",
            json!({"id": "cs_1", "object": "checkout.session", "mode": "payment",
                "payment_status": "paid", "payment_intent": "pi_1", "amount_total": 999,
                "currency": "usd", "metadata": metadata, "unknown": [1, 2]}),
        );
        let intent = event(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "object": "payment_intent", "amount_received": 999,
                "currency": "usd", "metadata": metadata, "status": "succeeded"}),
        );
        let expected = Meaning::Paid {
            payment_intent: "pi_1".into(),
            amount_cents: 999,
            purchase: Purchase::Coins {
                user_id: "u1".into(),
                coins: 700,
            },
        };
        assert_eq!(session.meaning(), Ok(expected.clone()));
        assert_eq!(intent.meaning(), Ok(expected));
    }

    #[test]
    fn what_is_not_livepays_or_not_paid_is_ignored_and_bad_metadata_refused() {
        let unpaid = event(
            "checkout.session.completed",
            json!({"mode": "payment", "payment_status": "unpaid", "payment_intent": "pi_1",
                "metadata": {"livepay_kind": "coins", "user_id": "u", "coins": "1"}}),
        );
        assert_eq!(unpaid.meaning(), Ok(Meaning::Ignored("not_paid_yet")));
        let foreign = event("payment_intent.succeeded", json!({"id": "pi_2"}));
        assert_eq!(foreign.meaning(), Ok(Meaning::Ignored("not_livepay")));
        assert_eq!(
            event("customer.created", json!({"id": "cus_1"})).meaning(),
            Ok(Meaning::Ignored("event_type_not_used"))
        );
        let bad = event(
            "payment_intent.succeeded",
            json!({"id": "pi_3", "amount_received": 99,
                "metadata": {"livepay_kind": "coins", "user_id": "u", "coins": "seven"}}),
        );
        assert!(matches!(bad.meaning(), Err(e) if e.field == "data.object.metadata.coins"));
        let euro = event(
            "payment_intent.succeeded",
            json!({"id": "pi_4", "amount_received": 99, "currency": "eur",
                "metadata": {"livepay_kind": "order", "order_id": "o1"}}),
        );
        assert!(matches!(euro.meaning(), Err(e) if e.field == "data.object.currency"));
    }

    #[test]
    fn disputes_refunds_accounts_and_transfers() {
        let d = |t, status| {
            event(
                t,
                json!({"id": "dp_1", "amount": 500, "payment_intent": {"id": "pi_1"},
                    "status": status, "currency": "usd"}),
            )
            .meaning()
        };
        for opened in ["charge.dispute.created", "charge.dispute.funds_withdrawn"] {
            assert!(matches!(
                d(opened, "needs_response"),
                Ok(Meaning::Dispute { won: None, ref payment_intent, .. }) if payment_intent == "pi_1"
            ));
        }
        assert_eq!(
            d("charge.dispute.created", "warning_needs_response"),
            Ok(Meaning::Ignored("dispute_inquiry"))
        );
        for won in ["charge.dispute.closed", "charge.dispute.funds_reinstated"] {
            assert!(matches!(
                d(won, "won"),
                Ok(Meaning::Dispute {
                    won: Some(true),
                    ..
                })
            ));
        }
        assert_eq!(
            d("charge.dispute.closed", "warning_closed"),
            Ok(Meaning::Ignored("dispute_not_decided"))
        );
        let refund = |status| {
            event(
                "refund.updated",
                json!({"id": "re_1", "status": status, "failure_reason": "lost_or_stolen_card",
                    "metadata": {"livepay_refund_id": "rf_1~retry-1"}}),
            )
            .meaning()
        };
        assert_eq!(
            refund("failed"),
            Ok(Meaning::RefundAnswered {
                attempt: "rf_1~retry-1".into(),
                refund: "re_1".into(),
                state: RefundState::Failed("lost_or_stolen_card".into())
            })
        );
        assert_eq!(refund("pending"), Ok(Meaning::Ignored("refund_pending")));
        assert_eq!(
            event(
                "account.updated",
                json!({"id": "acct_1", "payouts_enabled": false})
            )
            .meaning(),
            Ok(Meaning::Account {
                account: "acct_1".into(),
                payouts_enabled: false
            })
        );
    }

    #[test]
    fn a_partial_reversal_takes_coins_in_proportion_rounded_down() {
        assert_eq!(coins_for(999, 700, 999), 700);
        assert_eq!(coins_for(500, 700, 999), 350);
        assert_eq!(coins_for(1, 700, 999), 0);
        assert_eq!(coins_for(5_000, 700, 999), 700);
    }
}

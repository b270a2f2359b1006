//! The FIFO payouts queue, consumed by `execute-payouts`: one message per requested payout or
//! buyer refund — money out, through one executor. Message group = a digest of the payee
//! (`payee_<hex>`: one payee's payouts run one at a time, in order), or of the refund
//! (`refund_<hex>`: refunds wait for nothing); deduplication id = the payout's idempotency key (its id, or a new one per admin release; a
//! re-send within SQS's 5-minute window is dropped; after it, the executor's status checks make
//! a duplicate harmless).
//!
//! Body (docs/events.md): `{"type":"payout.requested","version":2,"payout_id","payee_kind",
//! "payee_id","requested_at"}`: the key of the stored payout, which is the truth. Version 1
//! (`creator_id`) named a key layout no longer stored (`PAYOUT#<creator>`) and is refused, to
//! the DLQ; livepay had no deployment holding it.
//!
//! `{"type":"refund.requested","version":1,"refund_id","buyer_id","created_at"}`: the key of a
//! stored refund.

use serde::{Deserialize, Serialize};

use super::{Queue, QueueError};
use crate::domain::ids::derived_id;
use crate::domain::payouts::{Payee, PayeeKind, Payout};
use crate::domain::refunds::Refund;
use crate::store::payouts::PayoutKey;
use crate::store::refunds::RefundKey;

pub const PAYOUT_REQUESTED_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PayoutEvent {
    #[serde(rename = "payout.requested")]
    PayoutRequested {
        version: u32,
        payout_id: String,
        payee_kind: String,
        payee_id: String,
        requested_at: String,
    },
    #[serde(rename = "refund.requested")]
    RefundRequested {
        version: u32,
        refund_id: String,
        buyer_id: String,
        created_at: String,
    },
}

pub const REFUND_REQUESTED_VERSION: u32 = 1;

/// What a message asks the executor to take further: the stored record it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Payout(PayoutKey),
    Refund(RefundKey),
}

impl PayoutEvent {
    pub fn requested(p: &Payout) -> Self {
        PayoutEvent::PayoutRequested {
            version: PAYOUT_REQUESTED_VERSION,
            payout_id: p.payout_id.clone(),
            payee_kind: p.payee.kind.as_str().to_owned(),
            payee_id: p.payee.id.clone(),
            requested_at: p.requested_at.clone(),
        }
    }

    pub fn refund_requested(r: &Refund) -> Self {
        PayoutEvent::RefundRequested {
            version: REFUND_REQUESTED_VERSION,
            refund_id: r.refund_id.clone(),
            buyer_id: r.buyer_id.clone(),
            created_at: r.created_at.clone(),
        }
    }

    /// The record this message is about (and its id), if this consumer knows the message's
    /// type and version.
    pub fn parse(body: &str) -> Result<(String, Work), String> {
        let event: Self = crate::input::parse_json(body.as_bytes()).map_err(|e| e.to_string())?;
        match event {
            PayoutEvent::PayoutRequested {
                version,
                payout_id,
                payee_kind,
                payee_id,
                requested_at,
            } => {
                if version != PAYOUT_REQUESTED_VERSION {
                    return Err(format!(
                        "payout.requested version {version} is not {PAYOUT_REQUESTED_VERSION}"
                    ));
                }
                let kind = PayeeKind::parse(&payee_kind)
                    .ok_or_else(|| format!("payee kind {payee_kind}"))?;
                let key = PayoutKey::new(Payee::new(kind, payee_id), &requested_at, &payout_id);
                Ok((payout_id, Work::Payout(key)))
            }
            PayoutEvent::RefundRequested {
                version,
                refund_id,
                buyer_id,
                created_at,
            } => {
                if version != REFUND_REQUESTED_VERSION {
                    return Err(format!(
                        "refund.requested version {version} is not {REFUND_REQUESTED_VERSION}"
                    ));
                }
                let key = RefundKey::new(&buyer_id, &created_at, &refund_id);
                Ok((refund_id, Work::Refund(key)))
            }
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a payout event always serializes")
    }
}

#[derive(Clone)]
pub struct PayoutQueue(Queue);

impl AsRef<Queue> for PayoutQueue {
    fn as_ref(&self) -> &Queue {
        &self.0
    }
}

impl PayoutQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self(Queue::new(client, url))
    }

    /// The queue the infra code names in `PAYOUT_QUEUE_URL`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Queue::from_env(sdk, "PAYOUT_QUEUE_URL").map(Self)
    }

    pub async fn send(&self, payout: &Payout) -> Result<(), QueueError> {
        let body = PayoutEvent::requested(payout).to_body();
        let group = payout_group(&payout.payee);
        // Per release too: SQS drops a deduplication id it saw in the last five minutes, even
        // once that message was deleted, and a release may follow the hold within minutes.
        let dedup = payout.idempotency_key();
        self.0
            .send(body, Some((group.as_str(), dedup.as_str())))
            .await
    }

    /// Each refund is its own group: refunds need no order among themselves, and one the
    /// provider is slow to settle must not hold up the buyer's others.
    pub async fn send_refund(&self, refund: &Refund) -> Result<(), QueueError> {
        let body = PayoutEvent::refund_requested(refund).to_body();
        let group = derived_id("refund", &[&refund.refund_id]);
        // Per retry, as payouts per release: SQS drops a deduplication id it saw in the last
        // five minutes, even once that message was deleted.
        let dedup = refund.attempt_key();
        self.0
            .send(body, Some((group.as_str(), dedup.as_str())))
            .await
    }
}

/// A payee's payouts run one at a time, in order. The group is a digest of the payee: SQS takes
/// at most 128 characters of letters, digits and punctuation, and a payee id is whatever the
/// identity provider's `sub` is.
pub fn payout_group(payee: &Payee) -> String {
    derived_id("payee", &[&payee.key()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_requested_names_the_stored_payout_and_refuses_strangers() {
        let body = r#"{"type":"payout.requested","version":2,"payout_id":"po2","payee_kind":"seller","payee_id":"s","requested_at":"2026-11-22T10:00:00Z"}"#;
        let (id, work) = PayoutEvent::parse(body).unwrap();
        assert_eq!(id, "po2");
        let Work::Payout(key) = work else {
            panic!("a payout: {work:?}")
        };
        assert_eq!(key.payee, Payee::seller("s"));
        assert_eq!(key.sort_key, "2026-11-22T10:00:00Z#po2");
        let refund = r#"{"type":"refund.requested","version":1,"refund_id":"rf1","buyer_id":"b","created_at":"2026-12-01T10:00:00Z"}"#;
        assert_eq!(
            PayoutEvent::parse(refund).unwrap().1,
            Work::Refund(RefundKey::new("b", "2026-12-01T10:00:00Z", "rf1"))
        );
        assert!(PayoutEvent::parse(&refund.replace("\"version\":1", "\"version\":2")).is_err());
        assert!(PayoutEvent::parse(&body.replace("\"version\":2", "\"version\":1")).is_err());
        assert!(PayoutEvent::parse(&body.replace("seller", "guild")).is_err());
        let v1 = r#"{"type":"payout.requested","version":1,"payout_id":"po1","creator_id":"c","requested_at":"2026-11-22T10:00:00Z"}"#;
        assert!(PayoutEvent::parse(v1).is_err());
        assert!(PayoutEvent::parse(r#"{"type":"payout.requested"}"#).is_err());
        assert!(PayoutEvent::parse("nope").is_err());
    }
}

//! The settlement queue, consumed by `settle-payouts`: one message per committed gift, and one
//! per delivered order whose hold has ended.
//!
//! Message bodies (JSON, documented in docs/events.md):
//! `{"type":"gift.sent","version":1,"gift_txn_id","stream_id","creator_id","sender_id",
//!   "gift_id","count","coins","sent_at"}` and `{"type":"order.completion_due","version":1,
//!   "order_id"}`.
//! The business id (gift or order) is what makes settlement exactly-once, never the message id.

use serde::{Deserialize, Serialize};

use super::{Queue, QueueError};
use crate::domain::gifts::SentGift;

/// The message formats' versions; a consumer refuses versions it does not know.
pub const GIFT_SENT_VERSION: u32 = 1;
pub const ORDER_COMPLETION_DUE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SettlementEvent {
    #[serde(rename = "gift.sent")]
    GiftSent {
        version: u32,
        gift_txn_id: String,
        stream_id: String,
        creator_id: String,
        sender_id: String,
        gift_id: String,
        count: u64,
        coins: u64,
        sent_at: String,
    },
    /// A delivered order's hold has ended: credit the seller and the creator, complete it. The
    /// message carries only the id: the stored order is the truth.
    #[serde(rename = "order.completion_due")]
    OrderCompletionDue { version: u32, order_id: String },
}

impl SettlementEvent {
    pub fn gift_sent(g: &SentGift) -> Self {
        SettlementEvent::GiftSent {
            version: GIFT_SENT_VERSION,
            gift_txn_id: g.gift_txn_id.clone(),
            stream_id: g.stream_id.clone(),
            creator_id: g.creator_id.clone(),
            sender_id: g.sender_id.clone(),
            gift_id: g.gift_id.clone(),
            count: g.count,
            coins: g.coins,
            sent_at: g.sent_at.clone(),
        }
    }

    pub fn order_completion_due(order_id: &str) -> Self {
        SettlementEvent::OrderCompletionDue {
            version: ORDER_COMPLETION_DUE_VERSION,
            order_id: order_id.to_owned(),
        }
    }

    /// The message format's version this consumer understands for this message's type.
    pub fn known_version(&self) -> Result<(), String> {
        let (name, version, known) = match self {
            SettlementEvent::GiftSent { version, .. } => ("gift.sent", *version, GIFT_SENT_VERSION),
            SettlementEvent::OrderCompletionDue { version, .. } => (
                "order.completion_due",
                *version,
                ORDER_COMPLETION_DUE_VERSION,
            ),
        };
        if version == known {
            Ok(())
        } else {
            Err(format!("{name} version {version} is not {known}"))
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a settlement event always serializes")
    }

    pub fn parse(body: &str) -> Result<Self, crate::input::InvalidInput> {
        crate::input::parse_json(body.as_bytes())
    }
}

#[derive(Clone)]
pub struct SettlementQueue(Queue);

impl AsRef<Queue> for SettlementQueue {
    fn as_ref(&self) -> &Queue {
        &self.0
    }
}

impl SettlementQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self(Queue::new(client, url))
    }

    /// The queue the infra code names in `SETTLEMENT_QUEUE_URL`, for the functions that send.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Queue::from_env(sdk, "SETTLEMENT_QUEUE_URL").map(Self)
    }

    pub async fn send(&self, event: &SettlementEvent) -> Result<(), QueueError> {
        self.0.send(event.to_body(), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gift_sent_round_trips_and_refuses_strangers() {
        let e = SettlementEvent::GiftSent {
            version: 1,
            gift_txn_id: "g".into(),
            stream_id: "s".into(),
            creator_id: "c".into(),
            sender_id: "u".into(),
            gift_id: "rose".into(),
            count: 3,
            coins: 3,
            sent_at: "2026-11-22T00:00:00Z".into(),
        };
        let body = e.to_body();
        assert!(
            body.starts_with(r#"{"type":"gift.sent","version":1,"#),
            "{body}"
        );
        assert_eq!(SettlementEvent::parse(&body).unwrap(), e);
        assert!(SettlementEvent::parse(r#"{"type":"gift.sent"}"#).is_err());
        assert!(SettlementEvent::parse(r#"{"type":"other"}"#).is_err());
        assert!(
            SettlementEvent::parse(&body.replace("\"count\"", "\"extra\":1,\"count\"")).is_err()
        );
        let due = SettlementEvent::order_completion_due("o1");
        assert_eq!(
            due.to_body(),
            r#"{"type":"order.completion_due","version":1,"order_id":"o1"}"#
        );
        assert_eq!(SettlementEvent::parse(&due.to_body()).unwrap(), due);
    }
}

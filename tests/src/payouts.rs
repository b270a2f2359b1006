//! Payouts as a creator, the payouts queue's event source, and a quick way to fund a creator.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{json, Value};

use crate::{Answer, Func, Identity, Req, TestEnv};

/// Settings for payout tests: one gift ("crown", 20,000 coins) earns its creator exactly $50
/// (10,000 diamonds at $0.005), and spend caps that let a viewer send many.
pub const PAYOUT_SETTINGS: [(&str, &str); 3] = [
    (
        "GIFT_CATALOG",
        r#"[{"gift_id":"crown","name":"Crown","coins":20000,"streakable":true}]"#,
    ),
    ("DAILY_CAP_COINS", "100000000"),
    ("WEEKLY_CAP_COINS", "100000000"),
];

/// A payout message as the FIFO queue delivers it.
#[derive(Debug, Clone)]
pub struct PayoutMessage {
    pub message_id: String,
    pub body: String,
    pub group: String,
}

impl TestEnv {
    /// Gives `creator` `dollars` (a multiple of 50) of available diamonds through real gifts.
    pub async fn fund_creator(&self, creator: &str, dollars: u64) {
        assert_eq!(dollars % 50, 0, "crowns earn $50 each");
        let crowns = dollars / 50;
        let viewer = format!("fan-of-{creator}");
        let stream = self.open_stream(creator).await;
        self.buy_coins(&viewer, crowns * 20_000).await;
        let a = self
            .gift(
                Identity::adult(&viewer),
                &stream,
                &format!("crowns-{}", ulid::Ulid::new()),
                json!({"gift_id": "crown", "count": crowns}),
            )
            .await;
        assert_eq!(a.status, 201, "{a:?}");
        let messages = self.drain_settlement_queue().await;
        assert!(self.settle(&messages).await.is_empty());
    }

    /// `creator` asks for a payout of `amount_cents` with Idempotency-Key `key`.
    pub async fn request_payout(&self, creator: &str, key: &str, amount_cents: u64) -> Answer {
        self.call(
            Func::CreatorsApi,
            Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts")
                .identity(Identity::creator(creator))
                .key(key)
                .json(json!({ "amount_cents": amount_cents })),
        )
        .await
    }

    pub async fn payouts_of(&self, creator: &str) -> Vec<Value> {
        let a = self
            .call(
                Func::CreatorsApi,
                Req::get("/v1/creators/me/payouts", "GET /v1/creators/me/payouts")
                    .identity(Identity::creator(creator)),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body["payouts"].as_array().unwrap().clone()
    }

    /// Every entry of `creator`'s statement, following `next_cursor` with pages of `limit`.
    pub async fn statement(&self, creator: &str, limit: u32) -> Vec<Value> {
        self.statement_of(Identity::creator(creator), "creators", limit)
            .await
    }

    /// `GET /v1/sellers/me/<what>` as `seller`, asserting a 200.
    pub async fn seller_get(&self, seller: &str, what: &str) -> Value {
        let path = format!("/v1/sellers/me/{what}");
        let a = self
            .call(
                Func::CreatorsApi,
                Req::get(&path, &format!("GET {path}")).identity(Identity::seller(seller)),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body
    }

    /// Every entry of a payee's statement (`payees`: `creators` or `sellers`), following
    /// `next_cursor` with pages of `limit`.
    pub async fn statement_of(&self, who: Identity, payees: &str, limit: u32) -> Vec<Value> {
        let path = format!("/v1/{payees}/me/statement");
        let mut entries = Vec::new();
        let mut cursor = String::new();
        loop {
            let a = self
                .call(
                    Func::CreatorsApi,
                    Req::get(&path, &format!("GET {path}"))
                        .query("limit", &limit.to_string())
                        .query("cursor", &cursor)
                        .identity(who.clone()),
                )
                .await;
            assert_eq!(a.status, 200, "{a:?}");
            entries.extend(a.body["entries"].as_array().unwrap().iter().cloned());
            match a.body["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return entries,
            }
        }
    }

    /// Every message on the payouts queue, deleted (the tests play the event source).
    pub async fn drain_payout_queue(&self) -> Vec<PayoutMessage> {
        self.receive(&self.payout_queue_url, true)
            .await
            .into_iter()
            .map(|m| PayoutMessage::from(&m))
            .collect()
    }

    /// Invokes the payout executor with `messages` (against [`TestEnv::sandbox`]); returns the
    /// ids it reported failed.
    pub async fn execute_payouts(&self, messages: &[PayoutMessage]) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        livepay::jobs::payouts::handle(&self.app, &self.sandbox, sqs_event(messages), deadline)
            .await
            .expect("every record has an id")
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    /// Drains the payouts queue into the executor once; returns the ids reported failed.
    pub async fn run_payouts(&self) -> Vec<String> {
        let messages = self.drain_payout_queue().await;
        self.execute_payouts(&messages).await
    }
}

impl From<&aws_sdk_sqs::types::Message> for PayoutMessage {
    fn from(m: &aws_sdk_sqs::types::Message) -> Self {
        Self {
            group: m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap_or_default(),
            message_id: m.message_id.clone().unwrap(),
            body: m.body.clone().unwrap(),
        }
    }
}

/// The event Lambda's SQS event source would build for `messages` (a FIFO queue's carry their
/// message group).
pub fn sqs_event(messages: &[PayoutMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = Some(m.message_id.clone());
        record.body = Some(m.body.clone());
        if !m.group.is_empty() {
            record
                .attributes
                .insert("MessageGroupId".into(), m.group.clone());
        }
        record.event_source = Some("aws:sqs".into());
        event.records.push(record);
    }
    event
}

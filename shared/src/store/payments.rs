//! Webhook events that took effect: one item per provider event id, written in the same
//! transaction as the event's transfers, so an event can only take effect once.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::attrs::{key, s};
use super::transaction::{Role, Tx};
use super::Store;

impl Store {
    pub fn add_webhook_event(
        &self,
        tx: &mut Tx,
        event_id: &str,
        event_type: &str,
        body_sha256: &str,
        at: &str,
    ) {
        let mut item = key(format!("EVENT#{event_id}"), "E");
        item.extend([
            ("event_id".to_owned(), s(event_id)),
            ("type".to_owned(), s(event_type)),
            ("body_sha256".to_owned(), s(body_sha256)),
            ("received_at".to_owned(), s(at)),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.ledger)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table, item and condition are set");
        tx.push(
            Role::WebhookEvent,
            TransactWriteItem::builder().put(put).build(),
        );
    }
}

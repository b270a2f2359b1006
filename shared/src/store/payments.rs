//! Webhook events that took effect: one item per provider event id, written in the same
//! transaction as the event's transfers, so an event can only take effect once.

use super::attrs::{key, s};
use super::transaction::{put_new, Role, Tx};
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
        tx.push(Role::WebhookEvent, put_new(&self.tables.ledger, item));
    }
}

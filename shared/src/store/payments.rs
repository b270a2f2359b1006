//! Webhook events that took effect: one item per provider event id, written in the same
//! transaction as the event's transfers, so an event can only take effect once.

use super::attrs::{key, s};
use super::transaction::{put_new, Role, Tx};
use super::Store;

impl Store {
    /// `user_id`: whose money the event moved, where one user's (a coin purchase: its
    /// chargeback must name the same user).
    pub fn add_webhook_event(
        &self,
        tx: &mut Tx,
        (event_id, event_type): (&str, &str),
        user_id: Option<&str>,
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
        if let Some(user_id) = user_id {
            item.insert("user_id".to_owned(), s(user_id));
        }
        tx.push(Role::WebhookEvent, put_new(&self.tables.ledger, item));
    }
}

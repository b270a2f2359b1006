//! Webhook events that took effect: one item per provider event id, written in the same
//! transaction as the event's transfers, so an event can only take effect once.

use super::attrs::{key, s};
use super::transaction::{put_new, Role, Tx};
use super::Store;

/// What a payment event paid for: recorded with it, so a later reversal (a chargeback, a Stripe
/// dispute naming only the payment) finds it.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The buyer of coins: a purchase's chargeback must name the same user.
    User(&'a str),
    /// The order a payment was for.
    Order(&'a str),
}

impl Store {
    pub fn add_webhook_event(
        &self,
        tx: &mut Tx,
        (event_id, event_type): (&str, &str),
        subject: Option<Subject<'_>>,
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
        match subject {
            Some(Subject::User(user_id)) => item.insert("user_id".to_owned(), s(user_id)),
            Some(Subject::Order(order_id)) => item.insert("order_id".to_owned(), s(order_id)),
            None => None,
        };
        tx.push(Role::WebhookEvent, put_new(&self.tables.ledger, item));
    }
}

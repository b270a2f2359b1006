//! Payees' Stripe connected accounts, in the ledger table:
//! - `PAYOUTACCT#<payee id>` / `K`: the account an admin set (`stripe_account`) and, once
//!   Stripe has said so in an `account.updated`, whether it can be paid (`payouts_enabled`, with
//!   the event's time so an older event delivered late changes nothing).
//! - `STRIPEACCT#<acct>` / `K`: whose it is, for `account.updated`; one payee per account. An
//!   account replaced by another keeps its item (so it stays that payee's); its events change
//!   nothing, because every update is conditioned on the payee's record naming that account.
//!
//! One account per person: a user who is both a creator and a seller is paid to one account.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use super::attrs::{get_s, key, n, opt_s, s};
use super::transaction::{Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::admin::AdminAction;

const SK: &str = "K";

fn account_key(payee_id: &str) -> super::attrs::Item {
    key(format!("PAYOUTACCT#{payee_id}"), SK)
}

fn owner_key(stripe_account: &str) -> super::attrs::Item {
    key(format!("STRIPEACCT#{stripe_account}"), SK)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutAccount {
    pub stripe_account: String,
    /// What Stripe last said (`account.updated`); `None` until it has.
    pub payouts_enabled: Option<bool>,
}

impl PayoutAccount {
    /// Why a payout to this account must wait, if it must.
    pub fn unpayable(&self) -> Option<String> {
        (self.payouts_enabled == Some(false)).then(|| {
            format!(
                "payouts are disabled on Stripe account {}",
                self.stripe_account
            )
        })
    }
}

impl Store {
    pub async fn payout_account(
        &self,
        payee_id: &str,
    ) -> Result<Option<PayoutAccount>, StoreError> {
        let item = self
            .get_item(&self.tables.ledger, account_key(payee_id))
            .await?;
        item.map(|i| {
            Ok(PayoutAccount {
                stripe_account: get_s(&i, "stripe_account")?.to_owned(),
                payouts_enabled: i
                    .get("payouts_enabled")
                    .and_then(|v| v.as_bool().ok())
                    .copied(),
            })
        })
        .transpose()
    }

    /// The payee whose account `stripe_account` is (or was).
    pub async fn account_owner(&self, stripe_account: &str) -> Result<Option<String>, StoreError> {
        let item = self
            .get_item(&self.tables.ledger, owner_key(stripe_account))
            .await?;
        Ok(item.and_then(|i| opt_s(&i, "payee_id")))
    }

    /// Sets `payee_id`'s account. A different account than before starts with nothing known of
    /// it (Stripe's next `account.updated` tells).
    pub fn add_payout_account(
        &self,
        tx: &mut Tx,
        payee_id: &str,
        stripe_account: &str,
        replaces: Option<&PayoutAccount>,
        admin: &AdminAction,
        at: &str,
    ) {
        let table = &self.tables.ledger;
        let same = replaces.is_some_and(|r| r.stripe_account == stripe_account);
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(account_key(payee_id)))
            .update_expression(if same {
                "SET stripe_account = :acct, admin_id = :by, admin_note = :note, updated_at = :at"
            } else {
                "SET stripe_account = :acct, admin_id = :by, admin_note = :note, updated_at = :at \
                 REMOVE payouts_enabled, payouts_enabled_at"
            })
            .expression_attribute_values(":acct", s(stripe_account))
            .expression_attribute_values(":by", s(&admin.by))
            .expression_attribute_values(":note", s(&admin.note))
            .expression_attribute_values(":at", s(at));
        // Decided on the account as read: an admin changing it meanwhile means read again.
        update = match replaces {
            Some(r) => update
                .condition_expression("stripe_account = :was")
                .expression_attribute_values(":was", s(&r.stripe_account)),
            None => update.condition_expression("attribute_not_exists(pk)"),
        };
        tx.push(
            Role::PayoutAccount(payee_id.to_owned()),
            TransactWriteItem::builder()
                .update(update.build().expect("table, key and expression are set"))
                .build(),
        );
        let mut owner = owner_key(stripe_account);
        owner.insert("payee_id".to_owned(), s(payee_id));
        // One payee per account: two people paid to one account would be paid each other's
        // money.
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(owner))
            .condition_expression("attribute_not_exists(pk) OR payee_id = :me")
            .expression_attribute_values(":me", s(payee_id))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .expect("table and item are set");
        tx.push(
            Role::PayoutAccount(stripe_account.to_owned()),
            TransactWriteItem::builder().put(put).build(),
        );
    }

    /// Records what Stripe said of `stripe_account` at `created` (unix seconds): `false` when
    /// the payee's record names another account now, or Stripe said something newer already.
    pub async fn set_payouts_enabled(
        &self,
        payee_id: &str,
        stripe_account: &str,
        enabled: bool,
        created: i64,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(account_key(payee_id)))
            .update_expression("SET payouts_enabled = :on, payouts_enabled_at = :t")
            .condition_expression(
                "stripe_account = :acct AND \
                 (attribute_not_exists(payouts_enabled_at) OR payouts_enabled_at <= :t)",
            )
            .expression_attribute_values(
                ":on",
                aws_sdk_dynamodb::types::AttributeValue::Bool(enabled),
            )
            .expression_attribute_values(":t", n(created))
            .expression_attribute_values(":acct", s(stripe_account))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_account_stripe_disabled_holds_payouts() {
        let a = |payouts_enabled| PayoutAccount {
            stripe_account: "acct_1".into(),
            payouts_enabled,
        };
        assert_eq!(a(None).unpayable(), None);
        assert_eq!(a(Some(true)).unpayable(), None);
        assert!(a(Some(false)).unpayable().unwrap().contains("acct_1"));
    }
}

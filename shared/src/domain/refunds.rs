//! Buyer refunds through the payment provider: every credit to a buyer's `refund-owed`
//! account (a seller's or admin's refund, a payment that arrived for an order that could not
//! take it) starts one refund, with its own id — the provider's idempotency key and reference.
//!
//! States: `requested → processing → succeeded | failed` (with a reason). The money stays in
//! `refund-owed:<buyer>` until the provider confirms: then `refund-owed → provider:<refund_id>`,
//! the cash going back out through the provider it came in by. A failed refund keeps its money
//! owed, visible with its reason, until an admin retries it (`failed → requested`, asked afresh
//! under a new key). Refunds run on the payout machine's queue and executor, with the same
//! unknown-outcome rules (DESIGN.md invariant 9).

use super::admin::AdminAction;
use super::ids::derived_id;
use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use super::payouts::{ProviderOutcome, MAX_REASON_CHARS};
use super::shop::Order;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Requested,
    Processing,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 4] = [
        RefundStatus::Requested,
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The status a provider's answer puts a refund in. A provider does not hold a refund for
    /// review; an answer that says so is taken as a refusal with its reason.
    pub fn of(outcome: &ProviderOutcome) -> Self {
        match outcome {
            ProviderOutcome::Paid { .. } => RefundStatus::Succeeded,
            ProviderOutcome::Failed { .. } | ProviderOutcome::Held { .. } => RefundStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub buyer_id: String,
    pub order_id: Option<String>,
    pub amount_cents: u64,
    /// The payment being refunded, as the provider knows it (the payment event's id).
    pub payment_ref: String,
    pub status: RefundStatus,
    pub reason: Option<String>,
    /// Sortable UTC time.
    pub created_at: String,
    pub settled_at: Option<String>,
    pub provider_ref: Option<String>,
    /// How many times an admin retried it after it failed.
    pub retries: u32,
    /// The last admin retry: who, and why.
    pub admin: Option<AdminAction>,
}

impl Refund {
    /// The key and the reference the provider is asked under: the refund id, then a new one per
    /// admin retry. A provider replays the answer it gave a key (the failure) and finds a refund
    /// by the reference it carries, so each retry is a new refund there, and a look-up for it
    /// never finds the failed one.
    pub fn attempt_key(&self) -> String {
        match self.retries {
            0 => self.refund_id.clone(),
            n => format!("{}~retry-{n}", self.refund_id),
        }
    }

    /// The refund id and attempt an attempt key names (the key a provider's confirmation
    /// carries back): `<id>` is attempt 0, `<id>~retry-<n>` attempt n.
    pub fn parse_attempt_key(key: &str) -> (&str, u32) {
        key.split_once("~retry-")
            .and_then(|(id, n)| Some((id, n.parse().ok()?)))
            .unwrap_or((key, 0))
    }

    /// An admin may retry a refund only once it failed.
    pub fn admin_retry(&self) -> Result<(), RefundStatus> {
        match self.status {
            RefundStatus::Failed => Ok(()),
            other => Err(other),
        }
    }

    /// A new refund of `amount_cents` owed to `buyer_id` for `payment_ref`.
    pub fn requested(
        refund_id: String,
        buyer_id: &str,
        order_id: Option<&str>,
        amount_cents: u64,
        payment_ref: &str,
        created_at: &str,
    ) -> Self {
        Self {
            refund_id,
            buyer_id: buyer_id.to_owned(),
            order_id: order_id.map(str::to_owned),
            amount_cents,
            payment_ref: payment_ref.to_owned(),
            status: RefundStatus::Requested,
            reason: None,
            created_at: created_at.to_owned(),
            settled_at: None,
            provider_ref: None,
            retries: 0,
            admin: None,
        }
    }

    /// The transfers that record `outcome`: the owed money leaves through the provider when it
    /// succeeded; a failure moves nothing (the money stays owed, with the reason).
    pub fn outcome_transfers(
        &self,
        outcome: &ProviderOutcome,
    ) -> Result<Vec<Transfer>, LedgerError> {
        if RefundStatus::of(outcome) != RefundStatus::Succeeded {
            return Ok(Vec::new());
        }
        Ok(vec![Transfer::new(
            format!("refund-paid:{}", self.refund_id),
            AccountId::new(AccountKind::RefundOwed, &self.buyer_id),
            AccountId::outside(AccountKind::PaymentProvider, &self.refund_id),
            self.amount_cents,
            TransferKind::RefundPaid,
            &self.refund_id,
        )?])
    }

    /// The reason a failed outcome gives, trimmed.
    pub fn reason_of(outcome: &ProviderOutcome) -> Option<String> {
        match outcome {
            ProviderOutcome::Paid { .. } => None,
            ProviderOutcome::Failed { reason } | ProviderOutcome::Held { reason } => {
                Some(reason.chars().take(MAX_REASON_CHARS).collect())
            }
        }
    }
}

/// The id of an order's own refund (at most one per order).
pub fn order_refund_id(order_id: &str) -> String {
    derived_id("rf", &["order", order_id])
}

/// The refund of a whole order by its seller or an admin: one per order, for the payment that
/// paid it (an order paid before payments were recorded on it is named by its own id).
pub fn order_refund(order: &Order, created_at: &str) -> Refund {
    Refund::requested(
        order_refund_id(&order.order_id),
        &order.buyer_id,
        Some(&order.order_id),
        order.total_cents,
        order.payment_event_id.as_deref().unwrap_or(&order.order_id),
        created_at,
    )
}

/// The refund of a payment the order could not take (late, duplicate, wrong amount): one per
/// payment event, for that payment.
pub fn payment_refund(
    event_id: &str,
    order: &Order,
    amount_cents: u64,
    created_at: &str,
) -> Refund {
    Refund::requested(
        derived_id("rf", &["payment", event_id]),
        &order.buyer_id,
        Some(&order.order_id),
        amount_cents,
        event_id,
        created_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::postings;

    fn refund() -> Refund {
        Refund::requested(
            "rf1".into(),
            "b",
            Some("o1"),
            2_500,
            "evt_1",
            "2026-12-01T10:00:00Z",
        )
    }

    #[test]
    fn a_succeeded_refund_moves_the_owed_money_out_and_a_failed_one_nothing() {
        let r = refund();
        let paid = ProviderOutcome::Paid {
            provider_ref: "re_1".into(),
        };
        let t = r.outcome_transfers(&paid).unwrap();
        let net = postings(&t).unwrap();
        assert!(net
            .iter()
            .any(|p| p.account.to_string() == "refund-owed:b" && p.delta == -2_500));
        let failed = ProviderOutcome::Failed {
            reason: "card closed".into(),
        };
        assert!(r.outcome_transfers(&failed).unwrap().is_empty());
        assert_eq!(RefundStatus::of(&failed), RefundStatus::Failed);
        assert_eq!(Refund::reason_of(&failed).as_deref(), Some("card closed"));
    }

    #[test]
    fn a_retry_is_asked_under_a_new_key_and_only_after_a_failure() {
        let mut r = refund();
        assert_eq!(r.attempt_key(), "rf1");
        assert_eq!(r.admin_retry(), Err(RefundStatus::Requested));
        r.status = RefundStatus::Failed;
        assert_eq!(r.admin_retry(), Ok(()));
        r.retries = 2;
        assert_eq!(r.attempt_key(), "rf1~retry-2");
        assert_eq!(Refund::parse_attempt_key("rf1~retry-2"), ("rf1", 2));
        assert_eq!(Refund::parse_attempt_key("rf1"), ("rf1", 0));
        assert_eq!(Refund::parse_attempt_key("rf1~retry-x"), ("rf1~retry-x", 0));
    }

    #[test]
    fn statuses_round_trip() {
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
        }
    }
}

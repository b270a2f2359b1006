//! A money-out provider that moves no money, for local use and tests. It keeps what a real
//! provider keeps — one result per idempotency key, replayed on a repeat, and what it made per
//! reference, found again on a look-up — and can be told how to answer: succeed, fail
//! permanently, time out, succeed but lose the response, or hold the account for review. Tests
//! script one answer per call (looks-ups included); the local stack sets a default through
//! `PAYOUT_SANDBOX_BEHAVIOR`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use super::{Disbursement, MoneyOutProvider, Rail, Unsettled};
use crate::domain::payouts::ProviderOutcome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxBehavior {
    Succeed,
    FailPermanently(String),
    /// Nothing reaches the provider; the caller's time runs out.
    TimeOut,
    /// The transfer is made, but the answer never arrives.
    SucceedButLoseResponse,
    UnderReview(String),
}

impl SandboxBehavior {
    pub const NAMES: [&'static str; 5] = [
        "succeed",
        "fail",
        "timeout",
        "lose-response",
        "under-review",
    ];

    /// From `PAYOUT_SANDBOX_BEHAVIOR` (empty: succeed).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "succeed" => SandboxBehavior::Succeed,
            "fail" => {
                SandboxBehavior::FailPermanently("sandbox: destination account closed".into())
            }
            "timeout" => SandboxBehavior::TimeOut,
            "lose-response" => SandboxBehavior::SucceedButLoseResponse,
            "under-review" => SandboxBehavior::UnderReview("sandbox: account under review".into()),
            _ => return None,
        })
    }
}

/// A transfer or refund the sandbox made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTransfer {
    pub transfer_id: String,
    pub rail: Rail,
    pub reference: String,
    pub idempotency_key: String,
    pub destination: String,
    pub amount_cents: u64,
}

#[derive(Default)]
struct Ledger {
    transfers: Vec<SandboxTransfer>,
    /// The stored answer per idempotency key (what a real provider replays).
    answers: HashMap<String, ProviderOutcome>,
    /// Every call's idempotency key, in order.
    calls: Vec<String>,
    /// How many look-ups were asked.
    lookups: usize,
}

pub struct SandboxProvider {
    default: SandboxBehavior,
    script: Mutex<VecDeque<SandboxBehavior>>,
    unanswered_lookups: Mutex<usize>,
    ledger: Mutex<Ledger>,
}

impl SandboxProvider {
    pub fn new(default: SandboxBehavior) -> Self {
        Self {
            default,
            script: Mutex::default(),
            unanswered_lookups: Mutex::default(),
            ledger: Mutex::default(),
        }
    }

    /// The next calls answer with these, in order; then the default again.
    pub fn script(&self, behaviors: impl IntoIterator<Item = SandboxBehavior>) {
        self.script.lock().expect("not poisoned").extend(behaviors);
    }

    /// The next `n` look-ups go unanswered.
    pub fn lose_lookups(&self, n: usize) {
        *self.unanswered_lookups.lock().expect("not poisoned") += n;
    }

    /// How many look-ups were asked so far.
    pub fn lookups(&self) -> usize {
        self.ledger.lock().expect("not poisoned").lookups
    }

    pub fn transfers(&self) -> Vec<SandboxTransfer> {
        self.ledger.lock().expect("not poisoned").transfers.clone()
    }

    /// The idempotency key of every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.ledger.lock().expect("not poisoned").calls.clone()
    }

    fn next_behavior(&self) -> SandboxBehavior {
        self.script
            .lock()
            .expect("not poisoned")
            .pop_front()
            .unwrap_or_else(|| self.default.clone())
    }

    fn answer(&self, d: &Disbursement<'_>) -> Result<ProviderOutcome, Unsettled> {
        let behavior = self.next_behavior();
        let mut ledger = self.ledger.lock().expect("not poisoned");
        let key = d.idempotency_key.to_owned();
        ledger.calls.push(key.clone());
        if behavior == SandboxBehavior::TimeOut {
            return Err(Unsettled("sandbox: timed out".into()));
        }
        let answer = match ledger.answers.get(&key) {
            Some(stored) => stored.clone(),
            None => {
                let answer = match &behavior {
                    SandboxBehavior::Succeed | SandboxBehavior::SucceedButLoseResponse => {
                        let prefix = match d.rail {
                            Rail::Transfer => "tr",
                            Rail::Refund => "re",
                        };
                        let transfer_id =
                            format!("{prefix}_sandbox_{}", ledger.transfers.len() + 1);
                        ledger.transfers.push(SandboxTransfer {
                            transfer_id: transfer_id.clone(),
                            rail: d.rail,
                            reference: d.reference.to_owned(),
                            idempotency_key: key.clone(),
                            destination: d.destination.to_owned(),
                            amount_cents: d.amount_cents,
                        });
                        ProviderOutcome::Paid {
                            provider_ref: transfer_id,
                        }
                    }
                    SandboxBehavior::FailPermanently(reason) => ProviderOutcome::Failed {
                        reason: reason.clone(),
                    },
                    SandboxBehavior::UnderReview(reason) => ProviderOutcome::Held {
                        reason: reason.clone(),
                    },
                    SandboxBehavior::TimeOut => unreachable!("answered above"),
                };
                ledger.answers.insert(key, answer.clone());
                answer
            }
        };
        match behavior {
            SandboxBehavior::SucceedButLoseResponse => {
                Err(Unsettled("sandbox: response lost".into()))
            }
            _ => Ok(answer),
        }
    }
}

impl MoneyOutProvider for SandboxProvider {
    async fn send(
        &self,
        d: &Disbursement<'_>,
        _deadline: Instant,
    ) -> Result<ProviderOutcome, Unsettled> {
        self.answer(d)
    }

    /// Answers from what was made, unless a look-up was scripted to go unanswered.
    async fn find(
        &self,
        d: &Disbursement<'_>,
        _deadline: Instant,
    ) -> Result<Option<ProviderOutcome>, Unsettled> {
        let mut ledger = self.ledger.lock().expect("not poisoned");
        ledger.lookups += 1;
        let unanswered = &mut *self.unanswered_lookups.lock().expect("not poisoned");
        if *unanswered > 0 {
            *unanswered -= 1;
            return Err(Unsettled("sandbox: look-up unanswered".into()));
        }
        Ok(ledger
            .transfers
            .iter()
            .find(|t| t.rail == d.rail && t.reference == d.reference)
            .map(|t| ProviderOutcome::Paid {
                provider_ref: t.transfer_id.clone(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str) -> Disbursement<'_> {
        Disbursement {
            rail: Rail::Transfer,
            reference: id,
            idempotency_key: id,
            destination: "c",
            amount_cents: 6_000,
        }
    }

    #[tokio::test]
    async fn a_key_pays_once_and_replays_its_answer() {
        let p = SandboxProvider::new(SandboxBehavior::Succeed);
        p.script([
            SandboxBehavior::SucceedButLoseResponse,
            SandboxBehavior::TimeOut,
        ]);
        let deadline = Instant::now();
        assert!(p.send(&req("po1"), deadline).await.is_err());
        assert!(p.send(&req("po1"), deadline).await.is_err());
        let paid = p.send(&req("po1"), deadline).await.unwrap();
        assert_eq!(
            paid,
            ProviderOutcome::Paid {
                provider_ref: "tr_sandbox_1".into()
            }
        );
        assert_eq!(p.transfers().len(), 1);
        assert_eq!(p.calls(), ["po1", "po1", "po1"]);
    }

    #[tokio::test]
    async fn failures_and_reviews_are_answers_with_reasons() {
        let p = SandboxProvider::new(SandboxBehavior::parse("fail").unwrap());
        let failed = p.send(&req("po1"), Instant::now()).await.unwrap();
        assert!(matches!(failed, ProviderOutcome::Failed { .. }));
        let p = SandboxProvider::new(SandboxBehavior::parse("under-review").unwrap());
        let held = p.send(&req("po2"), Instant::now()).await.unwrap();
        assert!(matches!(held, ProviderOutcome::Held { .. }));
        assert!(p.transfers().is_empty());
        assert_eq!(SandboxBehavior::parse("bogus"), None);
    }
}

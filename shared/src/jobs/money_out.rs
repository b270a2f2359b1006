//! The executor of money out: one state machine for a payout and a buyer's refund alike —
//! `requested` → `processing` → the provider's answer recorded with its money, in one
//! transaction conditioned on `processing`. A record found already `processing` (or released
//! after a hold) may have reached the provider before: it is looked up there first, and sent
//! again only if the provider says nothing was made (DESIGN.md invariant 9). A record past
//! `processing` is left as it is, so a redelivered message moves nothing twice.

use std::future::Future;
use std::time::Instant;

use crate::domain::ledger::LedgerError;
use crate::domain::payouts::{Payout, PayoutStatus, ProviderOutcome};
use crate::domain::refunds::{Refund, RefundStatus};
use crate::domain::time::sortable;
use crate::provider::{Disbursement, MoneyOutProvider, Rail};
use crate::store::payouts::PayoutKey;
use crate::store::refunds::RefundKey;
use crate::store::{Role, StoreError, Tx, TxError};
use crate::telemetry::metric;
use crate::App;

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("no {0} is stored")]
    Missing(String),
    #[error(transparent)]
    Unsettled(#[from] crate::provider::Unsettled),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Where a record stands for the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Requested,
    Processing,
    /// Past the provider: its status.
    Done(&'static str),
}

/// A record the executor takes to the provider.
pub trait MoneyOut: Sized + Send + Sync {
    type Key: std::fmt::Debug + Send + Sync;

    fn load(
        app: &App,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send;
    fn stage(&self) -> Stage;
    /// Whether an earlier attempt may have reached the provider although the record is only
    /// `requested` (a payout released after a hold).
    fn sent_before(&self) -> bool;
    fn mark_processing(&self, app: &App) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn into_processing(self) -> Self;
    /// What the provider is asked for: rail, reference, idempotency key, destination, amount.
    fn ask(&self) -> (Rail, String, String, &str, u64);
    fn add_outcome(
        &self,
        app: &App,
        tx: &mut Tx,
        outcome: &ProviderOutcome,
        at: &str,
    ) -> Result<(), LedgerError>;
    /// The status an outcome records.
    fn status_of(outcome: &ProviderOutcome) -> &'static str;
    fn role(&self) -> Role;
}

/// Where a transfer goes with a provider that pays connected accounts (Stripe Connect): the
/// payee's account (`Ok(Some)`), or why the payout must wait `held` — none set, or Stripe said
/// it cannot be paid now. Read just before sending, so an account disabled mid-run holds the
/// payouts not yet sent.
async fn connected_account(
    app: &App,
    provider: &impl MoneyOutProvider,
    d: &Disbursement<'_>,
) -> Result<Result<Option<String>, String>, StoreError> {
    if d.rail != Rail::Transfer || !provider.pays_connected_accounts() {
        return Ok(Ok(None));
    }
    Ok(match app.store.payout_account(d.destination).await? {
        None => Err(format!(
            "no payout account: an admin sets one (PUT /v1/admin/payees/{}/payout-account)",
            d.destination
        )),
        Some(account) => match account.unpayable() {
            Some(reason) => Err(reason),
            None => Ok(Some(account.stripe_account)),
        },
    })
}

/// Takes the record at `key` as far as the provider lets it; its status after.
pub async fn execute<R: MoneyOut>(
    app: &App,
    provider: &impl MoneyOutProvider,
    key: &R::Key,
    deadline: Instant,
) -> Result<&'static str, ExecuteError> {
    let missing = || ExecuteError::Missing(format!("{key:?}"));
    let mut record = R::load(app, key).await?.ok_or_else(missing)?;
    let mut resumed = record.stage() == Stage::Processing || record.sent_before();
    if record.stage() == Stage::Requested {
        // Whoever marks it first goes on; a racing executor that finds it `processing` looks it
        // up like any resumed record.
        record = match record.mark_processing(app).await? {
            true => record.into_processing(),
            false => {
                resumed = true;
                R::load(app, key).await?.ok_or_else(missing)?
            }
        };
    }
    match record.stage() {
        Stage::Processing => {}
        Stage::Done(status) => return Ok(status),
        Stage::Requested => return Ok(PayoutStatus::Requested.as_str()),
    }
    let (rail, reference, idempotency_key, destination, amount_cents) = record.ask();
    let d = Disbursement {
        rail,
        reference: &reference,
        idempotency_key: &idempotency_key,
        destination,
        amount_cents,
    };
    let made = match resumed {
        true => provider.find(&d, deadline).await?,
        false => None,
    };
    let outcome = match made {
        Some(outcome) => outcome,
        None => match connected_account(app, provider, &d).await? {
            Ok(account) => {
                let to_account = Disbursement {
                    destination: account.as_deref().unwrap_or(destination),
                    ..d
                };
                provider.send(&to_account, deadline).await?
            }
            Err(reason) => ProviderOutcome::Held { reason },
        },
    };
    let mut tx = Tx::new();
    let at = sortable(app.clock.now());
    record.add_outcome(app, &mut tx, &outcome, &at)?;
    match tx.commit(app.store.client()).await {
        Ok(()) => {
            if rail == Rail::Transfer {
                match outcome {
                    ProviderOutcome::Paid { .. } => {
                        metrics::counter!(metric::PAYOUTS_PAID).increment(1)
                    }
                    ProviderOutcome::Failed { .. } => {
                        metrics::counter!(metric::PAYOUTS_FAILED).increment(1)
                    }
                    ProviderOutcome::Held { .. } => {}
                }
            }
            Ok(R::status_of(&outcome))
        }
        Err(err) if err.condition_failed(&record.role()) => {
            // Another delivery recorded the answer first.
            let now = R::load(app, key).await?;
            Ok(now.map_or(R::status_of(&outcome), |r| match r.stage() {
                Stage::Done(status) => status,
                _ => PayoutStatus::Processing.as_str(),
            }))
        }
        Err(err) => Err(err.into()),
    }
}

/// When the sweeper sends a record marked `processing` again if it is still unsettled.
fn redrive_at(app: &App) -> String {
    sortable(app.clock.now() + app.config.sweep_grace())
}

impl MoneyOut for Payout {
    type Key = PayoutKey;

    async fn load(app: &App, key: &PayoutKey) -> Result<Option<Self>, StoreError> {
        app.store.payout(key).await
    }

    fn stage(&self) -> Stage {
        match self.status {
            PayoutStatus::Requested => Stage::Requested,
            PayoutStatus::Processing => Stage::Processing,
            done => Stage::Done(done.as_str()),
        }
    }

    fn sent_before(&self) -> bool {
        self.releases > 0
    }

    async fn mark_processing(&self, app: &App) -> Result<bool, StoreError> {
        app.store
            .mark_payout_processing(self, &redrive_at(app))
            .await
    }

    fn into_processing(self) -> Self {
        Payout {
            status: PayoutStatus::Processing,
            ..self
        }
    }

    fn ask(&self) -> (Rail, String, String, &str, u64) {
        (
            Rail::Transfer,
            self.payout_id.clone(),
            self.idempotency_key(),
            &self.payee.id,
            self.amount_cents,
        )
    }

    fn add_outcome(
        &self,
        app: &App,
        tx: &mut Tx,
        outcome: &ProviderOutcome,
        at: &str,
    ) -> Result<(), LedgerError> {
        app.store
            .add_payout_outcome(tx, self, outcome, (PayoutStatus::Processing, at), None)
    }

    fn status_of(outcome: &ProviderOutcome) -> &'static str {
        outcome.status().as_str()
    }

    fn role(&self) -> Role {
        Role::Payout(self.payout_id.clone())
    }
}

impl MoneyOut for Refund {
    type Key = RefundKey;

    async fn load(app: &App, key: &RefundKey) -> Result<Option<Self>, StoreError> {
        app.store.refund(key).await
    }

    fn stage(&self) -> Stage {
        match self.status {
            RefundStatus::Requested => Stage::Requested,
            RefundStatus::Processing => Stage::Processing,
            done => Stage::Done(done.as_str()),
        }
    }

    fn sent_before(&self) -> bool {
        false
    }

    async fn mark_processing(&self, app: &App) -> Result<bool, StoreError> {
        app.store
            .mark_refund_processing(self, &redrive_at(app))
            .await
    }

    fn into_processing(self) -> Self {
        Refund {
            status: RefundStatus::Processing,
            ..self
        }
    }

    fn ask(&self) -> (Rail, String, String, &str, u64) {
        (
            Rail::Refund,
            self.attempt_key(),
            self.attempt_key(),
            &self.payment_ref,
            self.amount_cents,
        )
    }

    fn add_outcome(
        &self,
        app: &App,
        tx: &mut Tx,
        outcome: &ProviderOutcome,
        at: &str,
    ) -> Result<(), LedgerError> {
        app.store.add_refund_outcome(tx, self, outcome, at)
    }

    fn status_of(outcome: &ProviderOutcome) -> &'static str {
        RefundStatus::of(outcome).as_str()
    }

    fn role(&self) -> Role {
        Role::Refund(self.refund_id.clone())
    }
}

//! Payouts: requesting one (the API and the weekly run, [`super::payout_run`], share
//! [`request`]), and executing them from the FIFO payouts queue (`execute-payouts`).
//!
//! A request reads the creator's available balances, decides the draw (domain), and commits the
//! payout record, the day's total and the money moving into payout in one transaction. The
//! balances' conditions (`balance >= debit`) are what refuse an overdraft; a request that lost a
//! race re-reads and decides again. The message goes onto the queue after the commit; if that
//! send is lost, the sweeper sends it again.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use time::OffsetDateTime;

use crate::domain::ledger::{AccountKind, LedgerError, Unit};
use crate::domain::payouts::{draw, Available, Payee, Payout, PayoutError, PayoutStatus};
use crate::domain::refunds::Refund;
use crate::domain::time::sortable;
use crate::jobs::money_out::{execute, ExecuteError};
use crate::provider::MoneyOutProvider;
use crate::queue::payouts::{PayoutEvent, PayoutQueue, Work};
use crate::store::payouts::NewPayout;
use crate::store::transaction::{attempts, backoff};
use crate::store::{Role, StoreError, Tx, TxError};
use crate::App;

/// Tries per request when another request or a credit moved the balances meanwhile. Each retry
/// follows a commit that changed the balance, so a handful covers any real contention.
const MAX_REQUEST_ATTEMPTS: u32 = 8;
/// Payouts executed at once per batch (one creator's stay in order: see [`handle`]).
const GROUP_CONCURRENCY: usize = 8;
/// Time kept back from the Lambda deadline to record the provider's answer.
const COMMIT_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Refused(#[from] PayoutError),
    #[error("payout {0} exists already")]
    Exists(String),
    #[error("payout request kept conflicting with others")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A payee's available balances — cents, and diamonds (none for a payee who earns none) — and
/// what they owe, with the version of their debt account the payout is pinned to (so a refund
/// booked meanwhile makes it decide again).
pub(super) async fn available(app: &App, payee: &Payee) -> Result<(Available, u64), StoreError> {
    let state = |kind: Option<AccountKind>| async move {
        let Some(kind) = kind else { return Ok(None) };
        app.store
            .account_state(&payee.account(kind))
            .await
            .map(Some)
    };
    let (cents, diamonds, debt) = futures::try_join!(
        state(Some(payee.kind.cents_source())),
        state(payee.kind.diamonds_source()),
        state(Some(payee.kind.debt())),
    )?;
    let positive = |s: Option<(i64, u64)>| s.map_or(0, |(b, _)| u64::try_from(b).unwrap_or(0));
    let (debt_balance, debt_version) = debt.unwrap_or_default();
    let owed = debt_balance.min(0).unsigned_abs();
    let (owed_cents, owed_diamonds) = match payee.kind.debt().unit() {
        Unit::Cents => (owed, 0),
        Unit::Coins => (0, owed),
    };
    let available = Available {
        cents: positive(cents),
        diamonds: positive(diamonds),
        owed_cents,
        owed_diamonds,
    };
    Ok((available, debt_version))
}

/// Requests a payout of `amount_cents` for `payee` with id `payout_id`. `commit` commits
/// the built transaction (the API adds its idempotency record) and gives `Ok(Err(_))` for a
/// cancellation this function should explain.
pub async fn request<R, E, F, Fut>(
    app: &App,
    queue: &PayoutQueue,
    payee: &Payee,
    amount_cents: u64,
    payout_id: &str,
    now: OffsetDateTime,
    mut commit: F,
) -> Result<R, E>
where
    E: From<RequestError>,
    F: FnMut(Tx, Payout) -> Fut,
    Fut: Future<Output = Result<Result<R, TxError>, E>>,
{
    let policy = &app.config.payouts;
    let redrive_at = sortable(now + app.config.sweep_grace());
    for attempt in attempts(MAX_REQUEST_ATTEMPTS) {
        let (balances, debt_version) = available(app, payee).await.map_err(RequestError::from)?;
        let draw = draw(
            amount_cents,
            balances.drawable_cents(),
            balances.drawable_diamonds(),
            app.config.diamond_value_millicents,
            policy,
        )
        .map_err(RequestError::from)?;
        let payout = Payout {
            reversed_cents: 0,
            payout_id: payout_id.to_owned(),
            payee: payee.clone(),
            amount_cents,
            draw,
            status: PayoutStatus::Requested,
            reason: None,
            requested_at: sortable(now),
            settled_at: None,
            provider_ref: None,
            releases: 0,
            admin: None,
        };
        let payoff = payout
            .payoff_transfer(balances.payoff())
            .map_err(RequestError::from)?;
        let debt = payee.account(payee.kind.debt());
        let mut tx = Tx::new();
        app.store
            .add_new_payout(
                &mut tx,
                &payout,
                NewPayout {
                    daily_cap_cents: policy.daily_cap_cents,
                    redrive_at: &redrive_at,
                    payoff: payoff.as_ref(),
                    debt: Some((&debt, debt_version)),
                },
            )
            .map_err(RequestError::from)?;
        let err = match commit(tx, payout.clone()).await? {
            Ok(done) => {
                if let Err(e) = queue.send(&payout).await {
                    tracing::warn!(payout_id, error = %e, "payout enqueue failed; the sweeper sends it");
                }
                return Ok(done);
            }
            Err(err) => err,
        };
        if err.condition_failed(&Role::PayoutDay) {
            return Err(RequestError::Refused(PayoutError::DailyCap {
                cap_cents: policy.daily_cap_cents,
            })
            .into());
        }
        // The record is keyed by its request time too, so a repeat on another day passes its
        // check; the transfers, keyed by payout id alone, are what say this id was used.
        let used = err.condition_failed(&Role::Payout(payout_id.to_owned()))
            || payout
                .request_transfers()
                .map_err(RequestError::from)?
                .into_iter()
                .any(|t| err.condition_failed(&Role::Transfer(t.id)));
        if used {
            return Err(RequestError::Exists(payout_id.to_owned()).into());
        }
        let moved = [
            Some(payee.kind.cents_source()),
            payee.kind.diamonds_source(),
            Some(payee.kind.debt()),
        ]
        .into_iter()
        .flatten()
        .any(|kind| err.condition_failed(&Role::Account(payee.account(kind))));
        if !moved {
            return Err(RequestError::Tx(err).into());
        }
        backoff(attempt).await;
    }
    Err(RequestError::Busy.into())
}

/// One record of a batch: its message id and body.
type Delivery = (Option<String>, Option<String>);

/// `execute-payouts`, the FIFO queue's consumer: payouts and refunds, through
/// [`super::money_out::execute`]. Records of one message group (one payee, or one buyer) are
/// executed in order; once one of them fails, the rest of that group are reported failed
/// unprocessed, so SQS hands them back in order (AWS's rule for FIFO partial batch responses).
pub async fn handle(
    app: &App,
    provider: &impl MoneyOutProvider,
    event: SqsEvent,
    deadline: Instant,
) -> Result<SqsBatchResponse, super::settle_payouts::BatchError> {
    let deadline = deadline.checked_sub(COMMIT_MARGIN).unwrap_or(deadline);
    let mut groups: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for record in event.records {
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default();
        groups
            .entry(group)
            .or_default()
            .push((record.message_id, record.body));
    }
    let failed: Vec<Vec<Option<String>>> = futures::stream::iter(groups.into_values())
        .map(|records| execute_group(app, provider, records, deadline))
        .buffer_unordered(GROUP_CONCURRENCY)
        .collect()
        .await;
    super::settle_payouts::batch_response(failed.into_iter().flatten().collect())
}

async fn execute_group(
    app: &App,
    provider: &impl MoneyOutProvider,
    records: Vec<Delivery>,
    deadline: Instant,
) -> Vec<Option<String>> {
    let mut failed = Vec::new();
    for (message_id, body) in records {
        if !failed.is_empty() {
            failed.push(message_id);
            continue;
        }
        let (id, work) = match body.as_deref().map(PayoutEvent::parse) {
            Some(Ok(parsed)) => parsed,
            Some(Err(reason)) => {
                tracing::warn!(?message_id, %reason, "poison payout message");
                failed.push(message_id);
                continue;
            }
            None => {
                tracing::warn!(?message_id, "payout message without a body");
                failed.push(message_id);
                continue;
            }
        };
        let executed = match &work {
            Work::Payout(key) => execute::<Payout>(app, provider, key, deadline).await,
            Work::Refund(key) => execute::<Refund>(app, provider, key, deadline).await,
        };
        match executed {
            Ok(status) => tracing::info!(%id, ?work, status, "money out"),
            // A refund the provider has not settled (some settle in days) waits in the sweep
            // index, looked up again each grace period, not on its message: nothing queues
            // behind a refund, and a slow one does not fill the DLQ.
            Err(ExecuteError::Unsettled(e)) if matches!(work, Work::Refund(_)) => {
                tracing::info!(%id, ?work, error = %e, "refund not settled yet; the sweeper looks again");
            }
            Err(e) => {
                tracing::warn!(%id, ?work, error = %e, "money out not settled; the message comes back");
                failed.push(message_id);
            }
        }
    }
    failed
}

//! Payouts, their daily totals and payees' statements, in the ledger table (a payee is
//! `<kind>#<id>`, `Payee::key`):
//! - `PAYOUT#<payee>` / `<requested_at>#<payout_id>`: a payout, newest last; while `requested`
//!   it sits in the sweep index (`payout#NN`) so a payout whose queue message was lost is sent
//!   again.
//! - `PAYOUTDAY#<payee>` / `<day>`: the cents requested that UTC day, against the daily cap.
//! - `PAYOUTID#<payout_id>` / `K`: where the payout is stored, for an admin who has only its id.
//! - `STMT#<payee>` / `<entry id>`: statement entries, written with every posting to one of the
//!   payee's balances (see `ledger::statement_entry`).
//!
//! A `held` payout sits in the sweep index under `held#NN` (never due: the admin list reads it).
//!
//! Every status change is conditioned on the status it was decided from, in the same
//! transaction as the money it moves, so a redelivered message or a racing executor changes
//! nothing twice.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure as OnFail};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::attrs::{get_n, get_s, key, n, opt_n, opt_s, s, Item};
use super::ledger::{statement_pk, AccountEdit, LedgerWrite, ACCOUNT_SK};
use super::sweep::{held_sweep_shard, payout_sweep_shard, Due, SWEEP_AT, SWEEP_SHARD};
use super::transaction::{put_new, Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::admin::AdminAction;
use crate::domain::ledger::{AccountId, LedgerError, Transfer};
use crate::domain::payouts::{Draw, Payee, PayeeKind, Payout, PayoutStatus, ProviderOutcome};

/// A status change decided on the payout as read: the same status and the same attempt (no
/// admin release since), so an executor that read it before a hold and a release cannot record
/// the old attempt's answer over the new one.
pub(crate) const SAME_ATTEMPT: &str = "#status = :from AND releases = :releases";

/// Where a page of the payout run's list starts: DynamoDB's key of the last item read, whose
/// attributes are all strings. Opaque outside the store; serialized into the run's messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageKey(std::collections::BTreeMap<String, String>);

/// Payouts listed at most (newest first): a year of weekly payouts and then some.
pub const MAX_PAYOUTS_LISTED: i32 = 200;

/// Where a payout is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutKey {
    pub payee: Payee,
    pub sort_key: String,
}

impl PayoutKey {
    pub fn new(payee: Payee, requested_at: &str, payout_id: &str) -> Self {
        Self {
            payee,
            sort_key: format!("{requested_at}#{payout_id}"),
        }
    }

    pub fn of(payout: &Payout) -> Self {
        Self::new(
            payout.payee.clone(),
            &payout.requested_at,
            &payout.payout_id,
        )
    }

    pub(crate) fn item_key(&self) -> Item {
        key(payouts_pk(&self.payee), &self.sort_key)
    }
}

fn payouts_pk(payee: &Payee) -> String {
    format!("PAYOUT#{}", payee.key())
}

/// One statement entry as stored; the running balance is the reader's to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub entry_id: String,
    pub account: AccountId,
    pub amount: i64,
    pub kind: String,
    pub refs: Vec<String>,
    pub at: String,
    /// The admin behind the entry, and why.
    pub admin: Option<AdminAction>,
    /// On a creator's settlement entry: their agency and its cut of the entry's gifts.
    pub agency_cut: Option<(String, u64)>,
}

/// What a new payout commits besides its own record and draw.
#[derive(Debug, Clone, Copy)]
pub struct NewPayout<'a> {
    pub daily_cap_cents: u64,
    /// When the sweeper sends it again if the executor has not taken it.
    pub redrive_at: &'a str,
    /// Available cents paying off the payee's debt first.
    pub payoff: Option<&'a Transfer>,
    /// The payee's debt account and the version the decision read.
    pub debt: Option<(&'a AccountId, u64)>,
}

/// A money-out record an admin sends back to the provider (`Store::add_resend`).
pub(crate) struct Resend {
    pub key: Item,
    pub role: Role,
    /// The status it must be in (`held` payout, `failed` refund).
    pub from: &'static str,
    /// The attempt it was read at.
    pub releases: u32,
    pub shard: String,
    /// The attribute its reason is kept under.
    pub kept_reason: &'static str,
}

impl Store {
    /// The payout's record, the day's total (refused over `daily_cap_cents`), the payee's debt
    /// paid off and the money moving from available into payout, pinned to the debt as read.
    /// The record waits in the sweep index until `redrive_at`.
    pub fn add_new_payout(
        &self,
        tx: &mut Tx,
        payout: &Payout,
        new: NewPayout<'_>,
    ) -> Result<(), LedgerError> {
        let NewPayout {
            daily_cap_cents,
            redrive_at,
            payoff,
            debt,
        } = new;
        let table = &self.tables.ledger;
        let mut item = PayoutKey::of(payout).item_key();
        item.extend([
            ("payout_id".to_owned(), s(&payout.payout_id)),
            ("payee_kind".to_owned(), s(payout.payee.kind.as_str())),
            ("payee_id".to_owned(), s(&payout.payee.id)),
            ("amount_cents".to_owned(), n(payout.amount_cents)),
            ("draw_cents".to_owned(), n(payout.draw.cents)),
            ("draw_diamonds".to_owned(), n(payout.draw.diamonds)),
            (
                "draw_cents_from_diamonds".to_owned(),
                n(payout.draw.cents_from_diamonds),
            ),
            ("status".to_owned(), s(payout.status.as_str())),
            ("requested_at".to_owned(), s(&payout.requested_at)),
            ("releases".to_owned(), n(payout.releases)),
            (
                SWEEP_SHARD.to_owned(),
                s(payout_sweep_shard(&payout.payout_id)),
            ),
            (SWEEP_AT.to_owned(), s(redrive_at)),
        ]);
        tx.push(Role::Payout(payout.payout_id.clone()), put_new(table, item));
        let mut locator = key(format!("PAYOUTID#{}", payout.payout_id), "K");
        locator.extend([
            ("payee_kind".to_owned(), s(payout.payee.kind.as_str())),
            ("payee_id".to_owned(), s(&payout.payee.id)),
            ("requested_at".to_owned(), s(&payout.requested_at)),
        ]);
        tx.push(
            Role::Payout(payout.payout_id.clone()),
            put_new(table, locator),
        );
        let room = daily_cap_cents.saturating_sub(payout.amount_cents);
        add_day_total(
            tx,
            table,
            payout,
            i128::from(payout.amount_cents),
            Some(room),
        );
        let mut transfers = payout.request_transfers()?;
        transfers.extend(payoff.cloned());
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &transfers,
                at: &payout.requested_at,
                edits: debt
                    .map(|(account, version)| (account.clone(), AccountEdit::pinned(version)))
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
        )
    }

    /// A payout found by its id alone.
    pub async fn payout_by_id(&self, payout_id: &str) -> Result<Option<Payout>, StoreError> {
        let locator = key(format!("PAYOUTID#{payout_id}"), "K");
        let Some(item) = self.get_item(&self.tables.ledger, locator).await? else {
            return Ok(None);
        };
        let kind = get_s(&item, "payee_kind")?;
        let kind = PayeeKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("payee kind {kind}")))?;
        let payee = Payee::new(kind, get_s(&item, "payee_id")?);
        self.payout(&PayoutKey::new(
            payee,
            get_s(&item, "requested_at")?,
            payout_id,
        ))
        .await
    }

    /// Held payouts, at most `MAX_PAYOUTS_LISTED` per shard, and whether a shard held more.
    pub async fn held_payouts(&self) -> Result<(Vec<Payout>, bool), StoreError> {
        let shards = (0..super::sweep::SWEEP_SHARDS).map(|shard| {
            self.client
                .query()
                .table_name(&self.tables.ledger)
                .index_name(&self.tables.ledger_sweep_index)
                .key_condition_expression("#shard = :shard")
                .expression_attribute_names("#shard", SWEEP_SHARD)
                .expression_attribute_values(":shard", s(format!("held#{shard:02}")))
                .limit(MAX_PAYOUTS_LISTED)
                .send()
        });
        let mut held = Vec::new();
        let mut more = false;
        for page in futures::future::join_all(shards).await {
            let page = page.map_err(|e| sdk_error("Query", e))?;
            more |= page.last_evaluated_key.is_some();
            for item in page.items() {
                held.push(payout_from_item(item)?);
            }
        }
        held.sort_by(|a, b| a.settled_at.cmp(&b.settled_at));
        Ok((held, more))
    }

    /// `held` → `requested` by an admin: the payout goes to the provider again (under a new
    /// key: see `Payout::idempotency_key`), back in the sweep index until the executor takes it.
    /// The provider's hold reason is kept as `hold_reason`.
    pub fn add_payout_release(
        &self,
        tx: &mut Tx,
        payout: &Payout,
        admin: &AdminAction,
        redrive_at: &str,
    ) {
        self.add_resend(
            tx,
            Resend {
                key: PayoutKey::of(payout).item_key(),
                role: Role::Payout(payout.payout_id.clone()),
                from: PayoutStatus::Held.as_str(),
                releases: payout.releases,
                shard: payout_sweep_shard(&payout.payout_id),
                kept_reason: "hold_reason",
            },
            admin,
            redrive_at,
        );
    }

    /// An admin sends a payout or refund record back to the provider: from `r.from` (at the
    /// attempt read) to `requested`, with who and why, one more release (so a new provider key),
    /// back in the sweep index at `redrive_at`; its reason kept as `r.kept_reason`.
    pub(crate) fn add_resend(&self, tx: &mut Tx, r: Resend, admin: &AdminAction, redrive_at: &str) {
        let update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(r.key))
            .update_expression(format!(
                "SET #status = :to, admin_id = :by, admin_note = :note, #shard = :shard, \
                 #at = :redrive, {} = reason ADD releases :one REMOVE reason, settled_at",
                r.kept_reason
            ))
            .condition_expression(SAME_ATTEMPT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":to", s(PayoutStatus::Requested.as_str()))
            .expression_attribute_values(":from", s(r.from))
            .expression_attribute_values(":releases", n(r.releases))
            .expression_attribute_values(":by", s(&admin.by))
            .expression_attribute_values(":note", s(&admin.note))
            .expression_attribute_values(":shard", s(r.shard))
            .expression_attribute_values(":redrive", s(redrive_at))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(r.role, TransactWriteItem::builder().update(update).build());
    }

    pub async fn payout(&self, key: &PayoutKey) -> Result<Option<Payout>, StoreError> {
        self.get_item(&self.tables.ledger, key.item_key())
            .await?
            .as_ref()
            .map(payout_from_item)
            .transpose()
    }

    /// `requested` → `processing`, once: false if the payout had already moved on. The sweeper
    /// sends it again at `redrive_at` if it is still unsettled.
    pub async fn mark_payout_processing(
        &self,
        payout: &Payout,
        redrive_at: &str,
    ) -> Result<bool, StoreError> {
        self.marked_processing(
            PayoutKey::of(payout).item_key(),
            payout.releases,
            redrive_at,
        )
        .await
    }

    /// `requested` → `processing` for a payout or refund record at `key`, once, and only for the
    /// attempt it was read at: false if it had moved on.
    pub(crate) async fn marked_processing(
        &self,
        key: Item,
        releases: u32,
        redrive_at: &str,
    ) -> Result<bool, StoreError> {
        // It stays in the sweep index, due at `redrive_at`: if the provider never settles it
        // while its message lasts (a refund confirmed later, a message gone to the DLQ), the
        // sweeper sends it again and the executor looks it up.
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(key))
            .update_expression("SET #status = :to, #at = :redrive")
            .condition_expression(SAME_ATTEMPT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":to", s(PayoutStatus::Processing.as_str()))
            .expression_attribute_values(":from", s(PayoutStatus::Requested.as_str()))
            .expression_attribute_values(":releases", n(releases))
            .expression_attribute_values(":redrive", s(redrive_at));
        updated_if(update).await
    }

    /// Records an outcome for a payout in `from` — the provider's answer to one in `processing`,
    /// or an admin returning a held one — with the money it moves (paid: out; failed: back where
    /// it came from, and the day's total given back). A held payout is listed for the admins
    /// (`held#NN`) until one decides. `admin` is on the record and its statement entries.
    pub fn add_payout_outcome(
        &self,
        tx: &mut Tx,
        payout: &Payout,
        outcome: &ProviderOutcome,
        (from, at): (PayoutStatus, &str),
        admin: Option<&AdminAction>,
    ) -> Result<(), LedgerError> {
        let table = &self.tables.ledger;
        let mut sets = vec!["#status = :to", "settled_at = :at"];
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(PayoutKey::of(payout).item_key()))
            .condition_expression(SAME_ATTEMPT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":to", s(outcome.status().as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":releases", n(payout.releases))
            .expression_attribute_values(":at", s(at))
            .return_values_on_condition_check_failure(OnFail::AllOld);
        let mut removes = "";
        if outcome.status() == PayoutStatus::Held {
            sets.push("#shard = :held, #at = :at");
            update =
                update.expression_attribute_values(":held", s(held_sweep_shard(&payout.payout_id)));
        } else {
            removes = " REMOVE #shard, #at";
        }
        if let Some(admin) = admin {
            sets.push("admin_id = :by, admin_note = :note");
            update = update
                .expression_attribute_values(":by", s(&admin.by))
                .expression_attribute_values(":note", s(&admin.note));
        }
        if let Some(reason) = outcome.reason() {
            sets.push("reason = :reason");
            update = update.expression_attribute_values(":reason", s(reason));
        }
        if let ProviderOutcome::Paid { provider_ref } = outcome {
            sets.push("provider_ref = :ref");
            update = update.expression_attribute_values(":ref", s(provider_ref));
        }
        let update = update
            .update_expression(format!("SET {}{removes}", sets.join(", ")))
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Payout(payout.payout_id.clone()),
            TransactWriteItem::builder().update(update).build(),
        );
        if let ProviderOutcome::Failed { .. } = outcome {
            add_day_total(tx, table, payout, -i128::from(payout.amount_cents), None);
        }
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: &outcome.transfers(payout)?,
                at,
                admin: admin.or(payout.admin.as_ref()),
                ..Default::default()
            },
        )
    }

    /// Books a reversal of `payout`'s paid transfer up to `total` cents (`Payout::reversal_transfer`),
    /// conditioned on the payout being paid with the reversed cents as read.
    pub fn add_payout_reversal(
        &self,
        tx: &mut Tx,
        payout: &Payout,
        total: u64,
        reversal: &Transfer,
        at: &str,
    ) -> Result<(), LedgerError> {
        let update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(PayoutKey::of(payout).item_key()))
            .update_expression("SET reversed_cents = :total, reversed_at = :at")
            .condition_expression(
                "#status = :paid AND (attribute_not_exists(reversed_cents) OR reversed_cents = :was)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":paid", s(PayoutStatus::Paid.as_str()))
            .expression_attribute_values(":was", n(payout.reversed_cents))
            .expression_attribute_values(":total", n(total))
            .expression_attribute_values(":at", s(at))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Payout(payout.payout_id.clone()),
            TransactWriteItem::builder().update(update).build(),
        );
        self.add_ledger_write(
            tx,
            LedgerWrite {
                transfers: std::slice::from_ref(reversal),
                at,
                ..Default::default()
            },
        )
    }

    /// A payee's payouts, newest first.
    pub async fn payouts_of(&self, payee: &Payee) -> Result<Vec<Payout>, StoreError> {
        self.newest_first(&payouts_pk(payee), MAX_PAYOUTS_LISTED, payout_from_item)
            .await
    }

    /// The newest `limit` records of one ledger partition (payouts, refunds), newest first.
    pub(crate) async fn newest_first<T>(
        &self,
        pk: &str,
        limit: i32,
        from_item: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        out.items().iter().map(from_item).collect()
    }

    /// Requested or processing payouts due for re-sending by `now` (their message may have been
    /// lost, or run out of deliveries).
    pub async fn stranded_payouts(&self, now: &str) -> Result<Due<Payout>, StoreError> {
        self.sweep_due("payout", None, now, payout_from_item).await
    }

    /// Moves a still-unsettled payout's next re-send to `next`; false if it has moved on.
    pub async fn payout_redriven(&self, payout: &Payout, next: &str) -> Result<bool, StoreError> {
        self.redriven(PayoutKey::of(payout).item_key(), next).await
    }

    /// Moves a still-unsettled (requested or processing) payout's or refund's next re-send to
    /// `next`.
    pub(crate) async fn redriven(&self, key: Item, next: &str) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(key))
            .update_expression("SET #at = :next")
            .condition_expression("#status IN (:requested, :processing)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":requested", s(PayoutStatus::Requested.as_str()))
            .expression_attribute_values(":processing", s(PayoutStatus::Processing.as_str()));
        updated_if(update).await
    }

    /// One page of a payee's statement, oldest first, after `after` (an entry id), and whether
    /// entries follow. One entry more than the page is asked for, so "more" is never a cursor to
    /// an empty page: DynamoDB returns a `LastEvaluatedKey` when exactly `limit` items remain.
    pub async fn statement_page(
        &self,
        payee: &Payee,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<StoredEntry>, bool), StoreError> {
        let pk = statement_pk(payee);
        let out = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .set_exclusive_start_key(after.map(|sk| key(pk.clone(), sk)))
            .consistent_read(true)
            .limit(limit.saturating_add(1))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut entries = out
            .items()
            .iter()
            .map(entry_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        // Past the page, or cut short by DynamoDB's 1 MB page size.
        let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX)
            || out.last_evaluated_key.is_some();
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok((entries, more))
    }

    /// Up to `limit` payees listed in `shard` as having money in an available balance (see
    /// `ledger`), after `after`, and where the next page starts if there is one. A payee with
    /// two listed balances may be on two shards: a payout run requests each payout once anyway.
    pub async fn payable_page(
        &self,
        shard: u8,
        after: Option<&PageKey>,
        limit: i32,
    ) -> Result<(Vec<Payee>, Option<PageKey>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .index_name(&self.tables.ledger_sweep_index)
            .key_condition_expression("#shard = :shard")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_values(":shard", s(format!("payable#{shard:02}")))
            .set_exclusive_start_key(
                after.map(|k| k.0.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
            )
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let payees = out
            .items()
            .iter()
            .map(|item| {
                let id = get_s(item, "account_id")?;
                let corrupt = || StoreError::Corrupt(format!("payable account {id}"));
                let account = AccountId::parse(id).ok_or_else(corrupt)?;
                let kind = PayeeKind::drawing_from(account.kind).ok_or_else(corrupt)?;
                Ok(Payee::new(kind, account.owner))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = out
            .last_evaluated_key
            .map(|key| {
                key.iter()
                    .map(|(name, v)| match v {
                        AttributeValue::S(v) => Ok((name.clone(), v.clone())),
                        _ => Err(StoreError::Corrupt(format!("sweep index key {name}"))),
                    })
                    .collect::<Result<_, _>>()
                    .map(PageKey)
            })
            .transpose()?;
        Ok((payees, next))
    }

    /// Takes an available balance off the payout run's list if it is empty (a credit meanwhile
    /// keeps it listed).
    pub async fn unlist_if_empty(&self, account: &AccountId) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.ledger)
            .set_key(Some(key(super::ledger::account_pk(account), ACCOUNT_SK)))
            .update_expression("REMOVE #shard, #at")
            .condition_expression("balance = :zero")
            .expression_attribute_names("#shard", SWEEP_SHARD)
            .expression_attribute_names("#at", SWEEP_AT)
            .expression_attribute_values(":zero", n(0));
        updated_if(update).await.map(|_| ())
    }
}

/// Sends an `UpdateItem` that carries a condition: `false` if the condition did not hold.
pub(crate) async fn updated_if(update: UpdateItemFluentBuilder) -> Result<bool, StoreError> {
    match update.send().await {
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

/// Adds `delta` to the payout's day total; with `room`, only if the total was at most that.
fn add_day_total(tx: &mut Tx, table: &str, payout: &Payout, delta: i128, room: Option<u64>) {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(day_key(payout)))
        .update_expression("ADD #total :delta")
        .expression_attribute_names("#total", "total_cents")
        .expression_attribute_values(":delta", n(delta))
        .set_condition_expression(
            room.map(|_| "attribute_not_exists(#total) OR #total <= :room".to_owned()),
        );
    let update = match room {
        Some(room) => update.expression_attribute_values(":room", n(room)),
        None => update,
    }
    .return_values_on_condition_check_failure(OnFail::AllOld)
    .build()
    .expect("table, key and expression are set");
    tx.push(
        Role::PayoutDay,
        TransactWriteItem::builder().update(update).build(),
    );
}

fn day_key(payout: &Payout) -> Item {
    // `requested_at` is sortable RFC 3339: its first ten characters are the UTC day.
    let day = payout
        .requested_at
        .get(..10)
        .unwrap_or(&payout.requested_at);
    key(format!("PAYOUTDAY#{}", payout.payee.key()), day)
}

pub(crate) fn payout_from_item(item: &Item) -> Result<Payout, StoreError> {
    let status = get_s(item, "status")?;
    let kind = get_s(item, "payee_kind")?;
    let kind =
        PayeeKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("payee kind {kind}")))?;
    Ok(Payout {
        payout_id: get_s(item, "payout_id")?.to_owned(),
        payee: Payee::new(kind, get_s(item, "payee_id")?),
        amount_cents: get_n(item, "amount_cents")?,
        draw: Draw {
            cents: get_n(item, "draw_cents")?,
            diamonds: get_n(item, "draw_diamonds")?,
            cents_from_diamonds: get_n(item, "draw_cents_from_diamonds")?,
        },
        status: PayoutStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("payout status {status}")))?,
        reason: opt_s(item, "reason"),
        requested_at: get_s(item, "requested_at")?.to_owned(),
        settled_at: opt_s(item, "settled_at"),
        provider_ref: opt_s(item, "provider_ref"),
        releases: opt_n(item, "releases")?.unwrap_or(0),
        admin: admin_from_item(item),
        reversed_cents: opt_n(item, "reversed_cents")?.unwrap_or(0),
    })
}

pub(crate) fn admin_from_item(item: &Item) -> Option<AdminAction> {
    Some(AdminAction {
        by: opt_s(item, "admin_id")?,
        note: opt_s(item, "admin_note")?,
    })
}

fn entry_from_item(item: &Item) -> Result<StoredEntry, StoreError> {
    let account = get_s(item, "account")?;
    let refs = match item.get("refs") {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => Vec::new(),
    };
    Ok(StoredEntry {
        entry_id: get_s(item, "sk")?.to_owned(),
        account: AccountId::parse(account)
            .ok_or_else(|| StoreError::Corrupt(format!("statement account {account}")))?,
        amount: get_n(item, "amount")?,
        kind: get_s(item, "kind")?.to_owned(),
        refs,
        at: get_s(item, "at")?.to_owned(),
        admin: admin_from_item(item),
        agency_cut: match opt_s(item, "agency_id") {
            Some(agency_id) => Some((agency_id, get_n(item, "agency_cut")?)),
            None => None,
        },
    })
}

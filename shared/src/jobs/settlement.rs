//! Settling a set of gifts exactly once, whoever calls and however often: the money (gift
//! accounts → creator earnings, 98 gifts per transaction per creator), then the leaderboards.
//!
//! A transaction cancelled because some of its gifts were settled already (a redelivery, the
//! sweeper) is retried without them: the cancellation reasons say which, and the item as it was
//! (`ALL_OLD`) says whether their boards are still owed. Conflicts with a concurrent settler back
//! off and retry; what still fails is reported, so its message comes back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::StreamExt;

use crate::domain::agencies::Attachments;
use crate::domain::ledger::AccountKind;
use crate::domain::settlement::{
    board_increments, board_shard, board_totals, plan, Board, GiftToSettle, SettlementChunk,
};
use crate::domain::streams::gift_counts;
use crate::domain::time::rfc3339;
use crate::store::settlement::{stored_gift, StoredGift};
use crate::store::transaction::backoff;
use crate::store::transaction::MAX_TRANSACTION_ITEMS;
use crate::store::{Role, StoreError, Tx, TxError};
use crate::telemetry::metric;
use crate::App;

/// Streams of one batch read at once (a sweep may settle gifts of thousands of streams).
const STREAM_READS_AT_ONCE: usize = 16;

/// Commits tried per chunk when they keep conflicting with another settler or are throttled.
const MAX_ATTEMPTS: u32 = 6;

#[derive(Debug, Default)]
pub struct SettleReport {
    /// Gifts whose creator share moved now.
    pub settled: usize,
    /// Gifts found settled (or refunded) already.
    pub already_settled: usize,
    /// Gifts sent after their stream's end (or their recipient's leaving) plus the grace,
    /// refunded to their senders now.
    pub refunded: usize,
    /// Gifts credited to the leaderboards now.
    pub boarded: usize,
    /// Gifts that could not be finished now (retry later): ids.
    pub failed: BTreeSet<String>,
    /// Gifts whose message is wrong (names nothing, or disagrees with the stored gift): ids.
    pub poison: BTreeMap<String, StoredGift>,
    /// When the oldest gift settled now was sent (RFC 3339, fixed width: orders as text).
    pub oldest_settled: Option<String>,
}

impl SettleReport {
    fn fail<'a>(&mut self, gifts: impl IntoIterator<Item = &'a GiftToSettle>) {
        self.failed
            .extend(gifts.into_iter().map(|g| g.gift_txn_id.clone()));
    }

    /// A gift whose message disagrees with the stored gift (poison), or whose stored gift cannot
    /// be read (retried later).
    fn unsettleable(&mut self, gift: &GiftToSettle, stored: Result<StoredGift, StoreError>) {
        match stored {
            Ok(poison) => {
                tracing::warn!(gift_txn_id = %gift.gift_txn_id, reason = ?poison, "settlement message does not match a stored gift");
                self.poison.insert(gift.gift_txn_id.clone(), poison);
            }
            Err(e) => {
                tracing::error!(error = %e, gift_txn_id = %gift.gift_txn_id, "cannot read the stored gift");
                self.fail([gift]);
            }
        }
    }
}

pub async fn settle(app: &App, gifts: &[GiftToSettle]) -> SettleReport {
    let now = app.clock.now();
    let at = rfc3339(now);
    let mut report = SettleReport::default();
    let mut owe_boards = Vec::new();
    let (gifts, scoring) = enforce_stream_ends(app, gifts, &at, &mut report).await;
    let (gifts, attachments) = read_attachments(app, gifts, &mut report).await;
    let gifts = &gifts[..];
    let chunks = match plan(gifts, &app.config.settlement, |c| attachments.get(c), now) {
        Ok(chunks) => chunks,
        Err(e) => {
            tracing::error!(error = %e, "cannot plan settlement");
            report.fail(gifts);
            return report;
        }
    };
    for chunk in chunks {
        settle_chunk(app, chunk, &attachments, &at, &mut report, &mut owe_boards).await;
    }
    apply_boards(app, owe_boards, &scoring, &at, &mut report).await;
    record_metrics(&report, now);
    report
}

/// Gift id → the LIVE match it scores for (`domain::matches`).
type Scoring = HashMap<String, String>;

/// Creator id → their agency stints (`domain::agencies`).
type AttachmentsOf = HashMap<String, Attachments>;

/// Each creator's agency stints, read once per batch (strongly, so a change committed before a
/// gift was stamped is seen); a creator whose stints cannot be read fails their gifts, so they
/// come back.
async fn read_attachments(
    app: &App,
    gifts: Vec<GiftToSettle>,
    report: &mut SettleReport,
) -> (Vec<GiftToSettle>, AttachmentsOf) {
    let ids: BTreeSet<&str> = gifts.iter().map(|g| g.creator_id.as_str()).collect();
    let reads: Vec<_> = futures::stream::iter(ids.iter().map(|id| app.store.attachments(id)))
        .buffered(STREAM_READS_AT_ONCE)
        .collect()
        .await;
    let mut attachments = AttachmentsOf::new();
    for (id, read) in ids.into_iter().zip(reads) {
        match read {
            Ok(a) => {
                attachments.insert(id.to_owned(), a);
            }
            Err(e) => {
                tracing::warn!(error = %e, creator_id = id, "cannot read the creator's agency to settle their gifts");
            }
        }
    }
    let (readable, unreadable): (Vec<_>, Vec<_>) = gifts
        .into_iter()
        .partition(|g| attachments.contains_key(&g.creator_id));
    report.fail(&unreadable);
    (readable, attachments)
}

/// The gifts that count for their streams, and the matches they score for; those sent after
/// their stream's end, or their recipient's leaving the room, plus the grace are refunded here
/// instead (`domain::streams`). Each stream of the batch is read once, with a
/// plain read (it never conflicts with the stream's writers); a stream that cannot be read fails
/// its gifts, so they come back.
async fn enforce_stream_ends(
    app: &App,
    gifts: &[GiftToSettle],
    at: &str,
    report: &mut SettleReport,
) -> (Vec<GiftToSettle>, Scoring) {
    let ids: BTreeSet<&str> = gifts.iter().map(|g| g.stream_id.as_str()).collect();
    let reads: Vec<_> = futures::stream::iter(ids.iter().map(|id| app.store.stream(id)))
        .buffered(STREAM_READS_AT_ONCE)
        .collect()
        .await;
    let mut streams = HashMap::new();
    let mut unreadable = HashSet::new();
    for (id, read) in ids.into_iter().zip(reads) {
        match read {
            Ok(Some(stream)) => {
                streams.insert(id, stream);
            }
            // No such stream: the gift's own conditions decide what its message is.
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, stream_id = id, "cannot read the stream to settle its gifts");
                unreadable.insert(id);
            }
        }
    }
    let mut counting = Vec::with_capacity(gifts.len());
    let mut scoring = Scoring::new();
    for gift in gifts {
        if unreadable.contains(gift.stream_id.as_str()) {
            report.fail([gift]);
            continue;
        }
        let stream = streams.get(gift.stream_id.as_str());
        let counts = stream
            .is_none_or(|s| gift_counts(s, &gift.creator_id, &gift.sent_at, &app.config.streams));
        if counts || !refund_late_gift(app, gift, at, report).await {
            if let Some(match_id) = stream.and_then(|s| s.matches.scoring(&gift.sent_at)) {
                scoring.insert(gift.gift_txn_id.clone(), match_id.to_owned());
            }
            counting.push(gift.clone());
        }
    }
    (counting, scoring)
}

/// Refunds a gift sent too late; `false` if it turns out to be settled already, so the normal
/// path finishes it (its boards).
async fn refund_late_gift(
    app: &App,
    gift: &GiftToSettle,
    at: &str,
    report: &mut SettleReport,
) -> bool {
    let mut tx = Tx::new();
    if let Err(e) = app.store.add_late_gift_refund(&mut tx, gift, at) {
        tracing::error!(error = %e, gift_txn_id = %gift.gift_txn_id, "cannot build the refund of a late gift");
        report.fail([gift]);
        return true;
    }
    let err = match tx.commit(app.store.client()).await {
        Ok(()) => {
            tracing::info!(gift_txn_id = %gift.gift_txn_id, stream_id = %gift.stream_id, "gift sent after its stream's end or its recipient's leaving refunded to its sender");
            report.refunded += 1;
            return true;
        }
        Err(err) => err,
    };
    let account = Role::Account(crate::domain::ledger::AccountId::pending_gift(
        &gift.gift_txn_id,
    ));
    match err.failure(&account).filter(|f| f.condition_failed()) {
        Some(f) => match stored_gift(gift, f.old.as_ref()) {
            Ok(StoredGift::Refunded) => report.already_settled += 1,
            Ok(StoredGift::Settled { .. }) => return false,
            other => report.unsettleable(gift, other),
        },
        None => {
            tracing::warn!(error = %err, gift_txn_id = %gift.gift_txn_id, "refund of a late gift failed");
            report.fail([gift]);
        }
    }
    true
}

/// Gifts settled, and the settlement lag: how long the oldest of them waited since it was sent
/// (one value per invocation, so a 500-gift batch stays within EMF's 100 values per metric).
fn record_metrics(report: &SettleReport, now: time::OffsetDateTime) {
    if report.settled == 0 {
        return;
    }
    metrics::counter!(metric::GIFTS_SETTLED).increment(report.settled as u64);
    let sent = report.oldest_settled.as_deref().and_then(|at| {
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
    });
    if let Some(sent) = sent {
        metrics::histogram!(metric::SETTLEMENT_LAG).record((now - sent).as_seconds_f64().max(0.0));
    }
}

async fn settle_chunk(
    app: &App,
    mut chunk: SettlementChunk,
    attachments: &AttachmentsOf,
    at: &str,
    report: &mut SettleReport,
    owe_boards: &mut Vec<GiftToSettle>,
) {
    let mut attempts = 0;
    while !chunk.gifts.is_empty() {
        let mut tx = Tx::new();
        if let Err(e) = app.store.add_gift_settlement(&mut tx, &chunk, at) {
            tracing::error!(error = %e, creator_id = %chunk.creator_id, "cannot build settlement");
            return report.fail(chunk.gifts.iter().map(|(g, _)| g));
        }
        let reasons = match tx.commit(app.store.client()).await {
            Ok(()) => {
                report.settled += chunk.gifts.len();
                let oldest = chunk.gifts.iter().map(|(g, _)| &g.sent_at).min();
                report.oldest_settled = report
                    .oldest_settled
                    .take()
                    .into_iter()
                    .chain(oldest.cloned())
                    .min();
                owe_boards.extend(chunk.gifts.into_iter().map(|(g, _)| g));
                return;
            }
            Err(TxError::Cancelled(reasons)) => reasons,
            Err(e @ (TxError::Store(_) | TxError::Contended(_))) => {
                tracing::warn!(error = %e, creator_id = %chunk.creator_id, "settlement commit failed");
                attempts += 1;
                if attempts >= MAX_ATTEMPTS {
                    return report.fail(chunk.gifts.iter().map(|(g, _)| g));
                }
                backoff(attempts).await;
                continue;
            }
        };
        let mut done = HashSet::new();
        for c in reasons.iter().filter(|c| c.condition_failed()) {
            let Role::Account(account) = &c.role else {
                continue;
            };
            if account.kind != AccountKind::PendingGift {
                continue;
            }
            let Some((gift, _)) = chunk
                .gifts
                .iter()
                .find(|(g, _)| g.gift_txn_id == account.owner)
            else {
                continue;
            };
            match stored_gift(gift, c.old.as_ref()) {
                Ok(StoredGift::Settled { boards_pending }) => {
                    report.already_settled += 1;
                    if boards_pending {
                        owe_boards.push(gift.clone());
                    }
                }
                Ok(StoredGift::Refunded) => report.already_settled += 1,
                other => report.unsettleable(gift, other),
            }
            done.insert(gift.gift_txn_id.clone());
        }
        if done.is_empty() {
            // Nothing was settled before: another settler's transaction touched these items.
            attempts += 1;
            if attempts >= MAX_ATTEMPTS {
                tracing::warn!(creator_id = %chunk.creator_id, ?reasons, "settlement kept conflicting");
                return report.fail(chunk.gifts.iter().map(|(g, _)| g));
            }
            backoff(attempts).await;
            continue;
        }
        let rest: Vec<GiftToSettle> = chunk
            .gifts
            .into_iter()
            .map(|(g, _)| g)
            .filter(|g| !done.contains(&g.gift_txn_id))
            .collect();
        // Fewer gifts of one creator and agency than before: at most one chunk.
        let policy = &app.config.settlement;
        chunk = match plan(&rest, policy, |c| attachments.get(c), app.clock.now())
            .map(|c| c.into_iter().next())
        {
            Ok(Some(next)) => next,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, creator_id = %chunk.creator_id, "cannot re-plan settlement");
                return report.fail(&rest);
            }
        };
    }
}

/// Credits the leaderboards for settled gifts, once: each gift's "boards applied" mark and the
/// board increments commit together.
async fn apply_boards(
    app: &App,
    gifts: Vec<GiftToSettle>,
    scoring: &Scoring,
    at: &str,
    report: &mut SettleReport,
) {
    let scores = |g: &GiftToSettle| scoring.get(&g.gift_txn_id).map(String::as_str);
    let mut seen = HashSet::new();
    let gifts: Vec<GiftToSettle> = gifts
        .into_iter()
        .filter(|g| seen.insert(g.gift_txn_id.clone()))
        .collect();
    for mut part in board_chunks(gifts, &scores) {
        let mut attempts = 0;
        while !part.is_empty() {
            let refs: Vec<&GiftToSettle> = part.iter().collect();
            let increments = match board_increments(&refs, scores) {
                Ok(increments) => increments,
                Err(e) => {
                    tracing::error!(error = %e, "a settled gift has an unreadable sent_at");
                    report.fail(&part);
                    break;
                }
            };
            let mut tx = Tx::new();
            for g in &part {
                app.store.add_boards_applied(&mut tx, &g.gift_txn_id, at);
            }
            for ((board, user_id), coins) in &increments {
                app.store
                    .add_board_increment(&mut tx, board, user_id, *coins);
            }
            let shard = board_shard(&part[0].gift_txn_id);
            for (board, coins) in board_totals(&increments) {
                app.store.add_board_total(&mut tx, &board, shard, coins);
            }
            let applied_already: HashSet<String> = match tx.commit(app.store.client()).await {
                Ok(()) => {
                    report.boarded += part.len();
                    break;
                }
                Err(TxError::Cancelled(reasons)) => reasons
                    .iter()
                    .filter(|c| c.condition_failed())
                    .filter_map(|c| match &c.role {
                        Role::Account(a) => Some(a.owner.clone()),
                        _ => None,
                    })
                    .collect(),
                Err(e @ (TxError::Store(_) | TxError::Contended(_))) => {
                    tracing::warn!(error = %e, "leaderboard commit failed");
                    HashSet::new()
                }
            };
            if applied_already.is_empty() {
                attempts += 1;
                if attempts >= MAX_ATTEMPTS {
                    report.fail(&part);
                    break;
                }
                backoff(attempts).await;
            }
            part.retain(|g| !applied_already.contains(&g.gift_txn_id));
        }
    }
}

/// Packs gifts so that each transaction's gift marks plus distinct board entries fit in one
/// transaction (each gift brings at most five: its stream's entry, its recipient's in the
/// stream, its recipient's week, and in a match its side's entry and its side's total).
/// Gifts of one sender to one stream sit side by side, so a fan's gifts in a batch share one
/// write of each of their entries.
fn board_chunks<'a>(
    mut gifts: Vec<GiftToSettle>,
    scores: &impl Fn(&GiftToSettle) -> Option<&'a str>,
) -> Vec<Vec<GiftToSettle>> {
    gifts.sort_by(|a, b| {
        (&a.creator_id, &a.stream_id, &a.sender_id).cmp(&(
            &b.creator_id,
            &b.stream_id,
            &b.sender_id,
        ))
    });
    let mut chunks = Vec::new();
    let mut current: Vec<GiftToSettle> = Vec::new();
    let mut entries: HashSet<(Board, String)> = HashSet::new();
    for g in gifts {
        // A gift with an unreadable time fails in apply_boards; here it just takes no entry.
        // A match side's shard total is an item too, named apart from any gifter's entry.
        let keys: Vec<(Board, String)> = board_increments(&[&g], scores)
            .map(|inc| {
                let totals = board_totals(&inc)
                    .into_keys()
                    .map(|board| (board, "TOTAL".to_owned()));
                inc.into_keys().chain(totals).collect()
            })
            .unwrap_or_default();
        let new = keys.iter().filter(|k| !entries.contains(*k)).count();
        if current.len() + 1 + entries.len() + new > MAX_TRANSACTION_ITEMS {
            chunks.push(std::mem::take(&mut current));
            entries.clear();
        }
        entries.extend(keys);
        current.push(g);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

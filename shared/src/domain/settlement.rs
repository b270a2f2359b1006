//! Settling sent gifts: the creator's share and the platform's remainder, where the share lands
//! (behind a hold, or available), how gifts are grouped into transactions, and what the
//! leaderboards gain. Pure: the store checks every claimed fact against the stored gift.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::agencies::{Attachments, Funding, Stint};
use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use super::time::{sortable, week_key};

/// Gifts settled in one transaction: DynamoDB's 100 items, less the creator's earnings account
/// and its statement entry. So a creator's balance item is written once per 98 gifts, not once
/// per gift.
pub const MAX_GIFTS_PER_SETTLEMENT: usize = 98;
/// The same, for gifts that give an agency its cut: the agency's share account of the creator
/// and its statement entry are two more items.
pub const MAX_AGENCY_GIFTS_PER_SETTLEMENT: usize = MAX_GIFTS_PER_SETTLEMENT - 2;

/// Basis points: 10,000 = 100 %.
pub const BPS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementPolicy {
    /// The creator's share of a gift's coins (DOMAIN.md: 50 %, range 50–70 %).
    pub creator_share_bps: u64,
    /// How long gift earnings stay pending before they become available: the window in which a
    /// chargeback takes them back from pending rather than as a creator debt.
    pub hold: Duration,
}

/// The default gift hold: 15 days. Card networks accept disputes for up to 120 days, but a
/// stolen card is mostly reported within days to a few weeks, and a creator cannot wait four
/// months for their pay; 15 days is Twitch's Net-15 (DOMAIN.md). A chargeback after the hold
/// still reaches the creator, as a debt paid off from their next earnings.
pub const DEFAULT_GIFT_HOLD_SECONDS: i64 = 15 * 86_400;

impl Default for SettlementPolicy {
    fn default() -> Self {
        Self {
            creator_share_bps: 5_000,
            hold: Duration::seconds(DEFAULT_GIFT_HOLD_SECONDS),
        }
    }
}

/// A gift's coins split between creator, agency and platform; the parts always add up to the
/// whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Whole diamonds, rounded down; the agency's cut already taken out if the creator funds it.
    pub creator: u64,
    /// The creator's agency's cut, rounded down (0 without one).
    pub agency: u64,
    /// Everything else, rounding remainders included: nothing is lost.
    pub platform: u64,
}

/// `bps` of `amount`, rounded down.
fn share(amount: u64, bps: u64) -> u64 {
    u64::try_from(u128::from(amount) * u128::from(bps) / u128::from(BPS))
        .expect("a share of a u64 fits a u64")
}

pub fn split(coins: u64, creator_share_bps: u64) -> Split {
    split_with_agency(coins, creator_share_bps, None)
}

/// The split with the creator's agency at the gift's time: its cut is `share_bps` of the
/// creator's share (the earning's value), out of whichever share funds it. Funded by the
/// platform, it is at most what the platform has left.
pub fn split_with_agency(coins: u64, creator_share_bps: u64, agency: Option<&Stint>) -> Split {
    assert!(creator_share_bps <= BPS, "a share is at most 100 %");
    let creator = share(coins, creator_share_bps);
    let platform = coins - creator;
    let Some(stint) = agency else {
        return Split {
            creator,
            agency: 0,
            platform,
        };
    };
    let cut = share(creator, stint.share_bps.min(BPS));
    match stint.funded_by {
        Funding::Creator => Split {
            creator: creator - cut,
            agency: cut,
            platform,
        },
        Funding::Platform => {
            let cut = cut.min(platform);
            Split {
                creator,
                agency: cut,
                platform: platform - cut,
            }
        }
    }
}

/// A gift as its settlement message describes it. Every field is also a condition on the stored
/// gift in the settling transaction, so a garbled message cannot move anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftToSettle {
    pub gift_txn_id: String,
    pub stream_id: String,
    pub creator_id: String,
    pub sender_id: String,
    pub coins: u64,
    pub sent_at: String,
}

/// Where a chunk's creator share lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    Available,
    /// Pending until `release_at` (the hold's end, rounded up to the hour so that a creator has
    /// a few release dates in flight rather than one per batch).
    Pending {
        release_at: OffsetDateTime,
    },
}

/// Gifts to one creator, settled together in one transaction: all with the same agency, or
/// all with none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementChunk {
    pub creator_id: String,
    /// The agency the gifts give a cut to, if they do.
    pub agency_id: Option<String>,
    pub gifts: Vec<(GiftToSettle, Split)>,
    /// Per gift with a non-zero share: `gift:<id>` → the creator's earnings, and `gift:<id>` →
    /// the agency's.
    pub transfers: Vec<Transfer>,
    pub landing: Landing,
    /// The agency's share account of this creator's earnings, and when the cuts credited to it
    /// release: with the creator's share when that is held, else at the start of the next
    /// minute (strictly later: settlement only ever adds to holds not yet due, and a share has at
    /// most one hold per minute). Always pending, so no creator's settlement writes the agency's
    /// one available account.
    pub agency_hold: Option<(AccountId, OffsetDateTime)>,
}

impl SettlementChunk {
    /// The account the creator's share lands in.
    pub fn creator_account(&self) -> AccountId {
        creator_account(&self.creator_id, &self.landing)
    }

    pub fn creator_total(&self) -> u64 {
        self.gifts.iter().map(|(_, s)| s.creator).sum()
    }

    pub fn agency_total(&self) -> u64 {
        self.gifts.iter().map(|(_, s)| s.agency).sum()
    }
}

/// The transfer id of a gift's agency cut.
pub fn agency_transfer_id(gift_txn_id: &str) -> String {
    format!("settle:{gift_txn_id}/agency")
}

/// The transfer id of a gift's settlement: derived from the gift, so it exists at most once.
pub fn settlement_transfer_id(gift_txn_id: &str) -> String {
    format!("settle:{gift_txn_id}")
}

/// Groups gifts by creator (and by the agency their time gives a cut to, from `attachments`,
/// each creator's stints) into chunks of at most [`MAX_GIFTS_PER_SETTLEMENT`], or
/// [`MAX_AGENCY_GIFTS_PER_SETTLEMENT`] with an agency. Duplicate gift ids (one message delivered
/// twice in a batch) are settled once.
pub fn plan<'a>(
    gifts: &'a [GiftToSettle],
    policy: &SettlementPolicy,
    attachments: impl Fn(&str) -> Option<&'a Attachments>,
    now: OffsetDateTime,
) -> Result<Vec<SettlementChunk>, LedgerError> {
    type Group<'a> = BTreeMap<&'a str, (&'a GiftToSettle, Option<&'a Stint>)>;
    let mut groups: BTreeMap<(&str, Option<&str>), Group<'a>> = BTreeMap::new();
    for g in gifts {
        let stint = attachments(&g.creator_id).and_then(|a| a.at(&g.sent_at));
        groups
            .entry((&g.creator_id, stint.map(|s| s.agency_id.as_str())))
            .or_default()
            .entry(&g.gift_txn_id)
            .or_insert((g, stint));
    }
    let landing = if policy.hold.is_zero() {
        Landing::Available
    } else {
        Landing::Pending {
            release_at: round_up_to_hour(now + policy.hold),
        }
    };
    let mut chunks = Vec::new();
    for ((creator_id, agency_id), gifts) in groups {
        let gifts: Vec<_> = gifts.into_values().collect();
        let size = match agency_id {
            Some(_) => MAX_AGENCY_GIFTS_PER_SETTLEMENT,
            None => MAX_GIFTS_PER_SETTLEMENT,
        };
        let agency_hold = agency_id.map(|agency_id| {
            let account =
                AccountId::agency_share(AccountKind::AgencyEarningsPending, agency_id, creator_id);
            let release_at = match landing {
                Landing::Pending { release_at } => release_at,
                Landing::Available => next_minute(now),
            };
            (account, release_at)
        });
        for part in gifts.chunks(size) {
            chunks.push(chunk(
                creator_id,
                agency_id,
                part,
                policy,
                landing.clone(),
                agency_hold.clone(),
            )?);
        }
    }
    Ok(chunks)
}

fn creator_account(creator_id: &str, landing: &Landing) -> AccountId {
    match landing {
        Landing::Available => AccountId::earnings(creator_id),
        Landing::Pending { .. } => AccountId::earnings_pending(creator_id),
    }
}

fn chunk(
    creator_id: &str,
    agency_id: Option<&str>,
    gifts: &[(&GiftToSettle, Option<&Stint>)],
    policy: &SettlementPolicy,
    landing: Landing,
    agency_hold: Option<(AccountId, OffsetDateTime)>,
) -> Result<SettlementChunk, LedgerError> {
    let credit = creator_account(creator_id, &landing);
    let mut transfers = Vec::new();
    let mut split_gifts = Vec::new();
    for (g, stint) in gifts {
        let s = split_with_agency(g.coins, policy.creator_share_bps, *stint);
        let gift_account = AccountId::pending_gift(&g.gift_txn_id);
        if s.creator > 0 {
            transfers.push(Transfer::new(
                settlement_transfer_id(&g.gift_txn_id),
                gift_account.clone(),
                credit.clone(),
                s.creator,
                TransferKind::GiftEarnings,
                &g.gift_txn_id,
            )?);
        }
        if let (Some((agency_account, _)), true) = (&agency_hold, s.agency > 0) {
            transfers.push(Transfer::new(
                agency_transfer_id(&g.gift_txn_id),
                gift_account,
                agency_account.clone(),
                s.agency,
                TransferKind::AgencyCut,
                &g.gift_txn_id,
            )?);
        }
        split_gifts.push(((*g).clone(), s));
    }
    Ok(SettlementChunk {
        creator_id: creator_id.to_owned(),
        agency_id: agency_id.map(str::to_owned),
        gifts: split_gifts,
        transfers,
        landing,
        agency_hold,
    })
}

/// The start of the minute after `at`'s.
fn next_minute(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .expect("zero is a valid second and nanosecond")
        + Duration::MINUTE
}

pub fn round_up_to_hour(at: OffsetDateTime) -> OffsetDateTime {
    let floor = at
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .expect("zero is a valid minute, second and nanosecond");
    if floor == at {
        floor
    } else {
        floor + Duration::HOUR
    }
}

/// One release date's amount on a creator's pending earnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub release_at: String,
    pub amount: u64,
}

/// What a release does now: the total that becomes available, which holds it empties, and the
/// next release date still ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub amount: u64,
    pub released: Vec<String>,
    pub next: Option<String>,
}

/// Holds are keyed by RFC 3339 times of one fixed width, so they order as text.
pub fn release(holds: &[Hold], now: OffsetDateTime) -> Release {
    let now = sortable(now);
    let (due, ahead): (Vec<&Hold>, Vec<&Hold>) = holds
        .iter()
        .partition(|h| h.release_at.as_str() <= now.as_str());
    Release {
        amount: due.iter().map(|h| h.amount).sum(),
        released: due.iter().map(|h| h.release_at.clone()).collect(),
        next: ahead.iter().map(|h| h.release_at.clone()).min(),
    }
}

/// A ranking: the gifters of one stream, of one recipient (host or guest) in one stream, or of
/// one creator in one ISO week.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Board {
    Stream(String),
    Recipient {
        stream_id: String,
        recipient_id: String,
    },
    CreatorWeek {
        creator_id: String,
        week: String,
    },
    /// One side of a LIVE match: the gifters of the stream's room inside the match's window.
    /// Its shards also keep totals (the side's points, `board_totals`).
    MatchSide {
        match_id: String,
        stream_id: String,
    },
}

/// Partitions each board is spread over. Every gift writes its sender's entry on three boards, so
/// an unsharded board takes a write per gift and DynamoDB's 1,000 WCU/s per partition caps one
/// creator at ~500 gifts/s (2 WCU per transactional write). Sharded by gifter, a board's writes
/// spread over this many partitions; reading the top N queries each shard for its top N and
/// merges. Changing it moves every entry to another key: a migration, not a setting.
pub const BOARD_SHARDS: u32 = 32;

impl Board {
    /// The board's name: `stream#<stream_id>`, `room#<stream_id>#<recipient_id>` or
    /// `week#<week>#<creator_id>` (a stream id has no `#`, and the shard suffix is fixed-width,
    /// so no two boards share a key).
    pub fn key(&self) -> String {
        match self {
            Board::Stream(stream_id) => format!("stream#{stream_id}"),
            Board::Recipient {
                stream_id,
                recipient_id,
            } => format!("room#{stream_id}#{recipient_id}"),
            Board::CreatorWeek { creator_id, week } => format!("week#{week}#{creator_id}"),
            Board::MatchSide {
                match_id,
                stream_id,
            } => format!("match#{match_id}#{stream_id}"),
        }
    }

    /// The storage key of one shard of the board: `<key>#<shard>`, shard zero-padded.
    pub fn shard_key(&self, shard: u32) -> String {
        format!("{}#{shard:02}", self.key())
    }

    /// Every shard's storage key, for reading the whole board.
    pub fn shard_keys(&self) -> Vec<String> {
        (0..BOARD_SHARDS).map(|s| self.shard_key(s)).collect()
    }
}

/// The shard holding a gifter's entries: FNV-1a of the user id, which is specified, so the same
/// user maps to the same shard on every build and platform (std's hasher promises neither).
pub fn board_shard(user_id: &str) -> u32 {
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, user_id.as_bytes());
    let shard = std::hash::Hasher::finish(&hasher) % u64::from(BOARD_SHARDS);
    u32::try_from(shard).expect("below BOARD_SHARDS")
}

/// Coins each sender adds to each board: one increment per (board, sender) however many gifts
/// they sent, so a gift storm writes each gifter's entry once per batch. `scoring` gives the
/// match a gift scores for, if it was sent inside one's window.
pub fn board_increments<'a>(
    gifts: &[&GiftToSettle],
    scoring: impl Fn(&GiftToSettle) -> Option<&'a str>,
) -> Result<BTreeMap<(Board, String), u64>, time::error::Parse> {
    let mut increments: BTreeMap<(Board, String), u64> = BTreeMap::new();
    for g in gifts {
        let sent_at =
            OffsetDateTime::parse(&g.sent_at, &time::format_description::well_known::Rfc3339)?;
        let week = Board::CreatorWeek {
            creator_id: g.creator_id.clone(),
            week: week_key(sent_at),
        };
        let recipient = Board::Recipient {
            stream_id: g.stream_id.clone(),
            recipient_id: g.creator_id.clone(),
        };
        let side = scoring(g).map(|match_id| Board::MatchSide {
            match_id: match_id.to_owned(),
            stream_id: g.stream_id.clone(),
        });
        let boards = [Board::Stream(g.stream_id.clone()), recipient, week];
        for board in boards.into_iter().chain(side) {
            *increments.entry((board, g.sender_id.clone())).or_default() += g.coins;
        }
    }
    Ok(increments)
}

/// What the increments add to the totals of the boards that keep them (a match side's points):
/// one sum per board, written to one shard's total per transaction. The caller picks the shard
/// from the transaction's own gifts, so concurrent settlers of one side spread over the shards
/// and rarely touch the same total.
pub fn board_totals(increments: &BTreeMap<(Board, String), u64>) -> BTreeMap<Board, u64> {
    let mut totals = BTreeMap::new();
    for ((board, _), coins) in increments {
        if matches!(board, Board::MatchSide { .. }) {
            *totals.entry(board.clone()).or_default() += coins;
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn gift(id: &str, creator: &str, sender: &str, coins: u64) -> GiftToSettle {
        GiftToSettle {
            gift_txn_id: id.into(),
            stream_id: format!("st_{creator}"),
            creator_id: creator.into(),
            sender_id: sender.into(),
            coins,
            sent_at: "2026-11-22T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_split_rounds_the_creator_down_and_loses_nothing() {
        assert_eq!(
            split(1, 5_000),
            Split {
                creator: 0,
                agency: 0,
                platform: 1
            }
        );
        assert_eq!(
            split(5, 5_000),
            Split {
                creator: 2,
                agency: 0,
                platform: 3
            }
        );
        assert_eq!(
            split(34_999, 7_000),
            Split {
                creator: 24_499,
                agency: 0,
                platform: 10_500
            }
        );
        assert_eq!(
            split(100, BPS),
            Split {
                creator: 100,
                agency: 0,
                platform: 0
            }
        );
        let big = split(u64::MAX, 6_000);
        assert_eq!(big.creator + big.platform, u64::MAX);
    }

    #[test]
    fn an_agency_cut_comes_out_of_whoever_funds_it_and_the_parts_always_sum_to_the_gift() {
        let stint = |funded_by| Stint {
            agency_id: "ag".into(),
            share_bps: 2_000,
            funded_by,
            since: "2026-11-22T00:00:00Z".into(),
            until: None,
        };
        let (platform, creator) = (stint(Funding::Platform), stint(Funding::Creator));
        // 999 coins at 50 %: 499 diamonds, of which 20 % is 99.8 → 99.
        assert_eq!(
            split_with_agency(999, 5_000, Some(&platform)),
            Split {
                creator: 499,
                agency: 99,
                platform: 401
            }
        );
        assert_eq!(
            split_with_agency(999, 5_000, Some(&creator)),
            Split {
                creator: 400,
                agency: 99,
                platform: 500
            }
        );
        // The platform funds at most what it has left.
        let all = split_with_agency(7, BPS, Some(&platform));
        assert_eq!((all.creator, all.agency, all.platform), (7, 0, 0));
        for coins in [1, 2, 3, 5, 7, 11, 99, 101, 9_999, 34_999, u64::MAX / 3] {
            for bps in [5_000, 6_000, 7_000] {
                for st in [&platform, &creator] {
                    let s = split_with_agency(coins, bps, Some(st));
                    assert_eq!(s.creator + s.agency + s.platform, coins, "{coins} {bps}");
                }
            }
        }
    }

    #[test]
    fn gifts_to_a_creator_with_an_agency_settle_apart_in_chunks_of_96() {
        let mut attached = Attachments::default();
        attached
            .attach("ag", 2_000, Funding::Creator, "2026-11-22T10:00:00Z".into())
            .unwrap();
        let mut gifts: Vec<_> = (0..100)
            .map(|i| gift(&format!("g{i:03}"), "a", "u", 10))
            .collect();
        gifts[0].sent_at = "2026-11-22T09:59:59Z".into();
        let no_hold = SettlementPolicy {
            hold: Duration::ZERO,
            ..SettlementPolicy::default()
        };
        let now = datetime!(2026-11-22 10:00 UTC);
        let chunks = plan(&gifts, &no_hold, |_| Some(&attached), now).unwrap();
        let sizes: Vec<_> = chunks
            .iter()
            .map(|c| (c.agency_id.as_deref(), c.gifts.len()))
            .collect();
        assert_eq!(sizes, [(None, 1), (Some("ag"), 96), (Some("ag"), 3)]);
        let with = &chunks[1];
        assert_eq!((with.creator_total(), with.agency_total()), (96 * 4, 96));
        assert_eq!(with.transfers.len(), 96 * 2);
        // Pending even with no hold (until the next minute's sweep): the agency's share of this
        // creator, not an account every creator of the agency writes.
        let share = AccountId::agency_share(AccountKind::AgencyEarningsPending, "ag", "a");
        assert_eq!(with.transfers[1].credit, share);
        assert_eq!(
            with.agency_hold,
            Some((share, datetime!(2026-11-22 10:01 UTC)))
        );
        assert_eq!(chunks[0].agency_hold, None);
        assert_eq!(
            next_minute(datetime!(2026-11-22 10:00:59.9 UTC)),
            datetime!(2026-11-22 10:01 UTC)
        );
    }

    #[test]
    fn plan_groups_per_creator_in_chunks_of_98_and_settles_a_duplicate_once() {
        let mut gifts: Vec<_> = (0..200)
            .map(|i| gift(&format!("g{i:03}"), "a", "u", 10))
            .collect();
        gifts.push(gift("g000", "a", "u", 10));
        gifts.push(gift("h1", "b", "u", 1));
        let now = datetime!(2026-11-22 10:00 UTC);
        let no_hold = SettlementPolicy {
            hold: Duration::ZERO,
            ..SettlementPolicy::default()
        };
        let chunks = plan(&gifts, &no_hold, |_| None, now).unwrap();
        let sizes: Vec<_> = chunks
            .iter()
            .map(|c| (c.creator_id.as_str(), c.gifts.len()))
            .collect();
        assert_eq!(sizes, [("a", 98), ("a", 98), ("a", 4), ("b", 1)]);
        assert_eq!(chunks[0].creator_total(), 98 * 5);
        assert_eq!(chunks[0].transfers[0].credit, AccountId::earnings("a"));
        // A 1-coin gift earns no whole diamond: no transfer, but the gift is still settled.
        assert!(chunks[3].transfers.is_empty());
        assert_eq!(chunks[3].gifts.len(), 1);
    }

    #[test]
    fn a_hold_lands_earnings_pending_until_the_next_full_hour_after_it() {
        let policy = SettlementPolicy {
            hold: Duration::days(7),
            ..SettlementPolicy::default()
        };
        let chunks = plan(
            &[gift("g", "a", "u", 10)],
            &policy,
            |_| None,
            datetime!(2026-11-22 10:20 UTC),
        )
        .unwrap();
        assert_eq!(
            chunks[0].landing,
            Landing::Pending {
                release_at: datetime!(2026-11-29 11:00 UTC)
            }
        );
        assert_eq!(
            chunks[0].transfers[0].credit,
            AccountId::earnings_pending("a")
        );
    }

    #[test]
    fn release_takes_what_is_due_and_names_the_next_date() {
        let h = |at: &str, amount| Hold {
            release_at: at.into(),
            amount,
        };
        let holds = [
            h("2026-11-22T10:00:00Z", 5),
            h("2026-11-22T12:00:00Z", 7),
            h("2026-11-22T11:00:00Z", 3),
        ];
        let r = release(&holds, datetime!(2026-11-22 11:00:00.5 UTC));
        assert_eq!(r.amount, 8);
        assert_eq!(r.released, ["2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"]);
        assert_eq!(r.next.as_deref(), Some("2026-11-22T12:00:00Z"));
        assert_eq!(
            release(&holds[..1], datetime!(2026-11-22 09:59 UTC)).amount,
            0
        );
    }

    #[test]
    fn board_increments_sum_per_sender_per_board() {
        let mut to_guest = gift("g4", "b", "u1", 7);
        to_guest.stream_id = "st_a".into();
        let gifts = [
            gift("g1", "a", "u1", 5),
            gift("g2", "a", "u1", 30),
            gift("g3", "a", "u2", 1),
            to_guest,
        ];
        let refs: Vec<_> = gifts.iter().collect();
        let inc = board_increments(&refs, |g| (g.gift_txn_id == "g2").then_some("m1")).unwrap();
        let stream = Board::Stream("st_a".into());
        let week = Board::CreatorWeek {
            creator_id: "a".into(),
            week: "2026-W47".into(),
        };
        let room = |recipient: &str| Board::Recipient {
            stream_id: "st_a".into(),
            recipient_id: recipient.into(),
        };
        // The stream's board has every gift; each recipient's, only theirs.
        assert_eq!(inc[&(stream.clone(), "u1".into())], 42);
        assert_eq!(inc[&(room("a"), "u1".into())], 35);
        assert_eq!(inc[&(room("b"), "u1".into())], 7);
        assert_eq!(inc[&(week.clone(), "u1".into())], 35);
        assert_eq!(inc[&(stream, "u2".into())], 1);
        // stream ×2, room a ×2, room b, week a ×2, week b, and g2's match side.
        assert_eq!(inc.len(), 9);
        let side = Board::MatchSide {
            match_id: "m1".into(),
            stream_id: "st_a".into(),
        };
        assert_eq!(inc[&(side.clone(), "u1".into())], 30);
        assert_eq!(board_totals(&inc), BTreeMap::from([(side, 30)]));
        assert_eq!(week.key(), "week#2026-W47#a");
        assert_eq!(room("b").key(), "room#st_a#b");
    }

    #[test]
    fn a_gifter_has_one_fixed_shard_and_gifters_spread_over_all_shards() {
        // FNV-1a 64 of the bytes, mod 32, as computed outside Rust: stored keys depend on it.
        assert_eq!(board_shard("user-1"), 20);
        assert_eq!(board_shard("viewer-7"), 3);
        assert_eq!(board_shard(""), 5);
        let mut per_shard = vec![0u32; BOARD_SHARDS as usize];
        for i in 0..3_200 {
            per_shard[board_shard(&format!("u{i}")) as usize] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (50..=150).contains(&n)),
            "{per_shard:?}"
        );
        let board = Board::Stream("st_a".into());
        assert_eq!(board.shard_key(7), "stream#st_a#07");
        assert_eq!(board.shard_keys().len(), BOARD_SHARDS as usize);
    }
}

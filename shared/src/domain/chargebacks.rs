//! Chargebacks of coin purchases: which earnings the charged-back coins paid for, and the
//! transfers that take them back.
//!
//! The attribution rule: coins still in the buyer's wallet come back first. The rest were spent,
//! and are traced to the buyer's own settled gifts sent since the purchase, oldest first (the
//! coins a purchase bought are the first ones spent after it; a later purchase's coins pay for
//! later gifts, so an honest creator gifted from them is not clawed back for the stolen card).
//! Each traced coin takes back the creator share it earned, in proportion: from the creator's
//! pending earnings while that gift's hold still holds it; once released, from their available
//! diamonds while they have them; else (paid out) as a creator debt (`earnings-clawback`),
//! which their next released earnings and any payout pay off first. The gift's agency cut, if it
//! gave one, comes back the same way, from the agency's ([`Earner::Agency`]): its share of the
//! creator while held, its available diamonds, else its debt (`agency-clawback`). A
//! gift's coins are traced at most once across all chargebacks (`charged_back_coins` on the
//! gift). A chargeback waits (503) while a gift since the purchase is still settling. What cannot
//! be traced — the platform's share, or gifts past the first [`MAX_TRACED_GIFTS`] or the
//! transaction's size — stays the platform's chargeback loss.

use std::collections::BTreeMap;

use super::ledger::{AccountId, AccountKind, LedgerError, PayeeKind, Transfer, TransferKind};

/// Items one attribution may add to the chargeback's transaction: DynamoDB's 100, less the
/// event, the marker, the wallet, issuer, loss, cash and provider accounts and their transfer
/// records (10), less a margin.
pub const ATTRIBUTION_ITEMS: usize = 88;
/// Each gift traced costs its account's edit; each earner's account clawed from costs the
/// account, its statement entry and the transfer record.
const ITEMS_PER_GIFT: usize = 1;
const ITEMS_PER_CLAWBACK: usize = 3;
/// A debt is booked pinned to the earner's available diamonds as read (none, or all taken):
/// one more item when nothing was taken from them.
const ITEMS_PER_DEBT: usize = ITEMS_PER_CLAWBACK + 1;
/// Most gifts read to trace one chargeback (oldest first from the purchase): coins spent on
/// gifts beyond them are the platform's loss.
pub const MAX_TRACED_GIFTS: i32 = 60;

/// A settled gift the charged-back buyer sent since the purchase, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentGift {
    pub gift_txn_id: String,
    pub creator_id: String,
    pub coins: u64,
    pub creator_share: u64,
    /// Coins of it earlier chargebacks traced already, and the diamonds they took back.
    pub charged_back_coins: u64,
    pub charged_back_diamonds: u64,
    /// The agency it gave a cut to, the cut, and what chargebacks took back of the cut.
    pub agency: Option<AgencyShare>,
    /// The hold its creator share landed in, if it landed pending.
    pub release_at: Option<String>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyShare {
    pub agency_id: String,
    pub share: u64,
    pub charged_back: u64,
    /// The hold the cut landed in (always pending: the creator's hold, or the next minute).
    pub release_at: Option<String>,
}

/// Whose part of a gift a chargeback takes back: the creator's share, or their agency's cut.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Earner {
    Creator(String),
    Agency {
        agency_id: String,
        creator_id: String,
    },
}

impl Earner {
    /// Where its part waits while held.
    pub fn pending(&self) -> AccountId {
        match self {
            Earner::Creator(c) => AccountId::earnings_pending(c),
            Earner::Agency {
                agency_id,
                creator_id,
            } => AccountId::agency_share(AccountKind::AgencyEarningsPending, agency_id, creator_id),
        }
    }

    /// The payee it is, and its payee id.
    fn payee(&self) -> (PayeeKind, &str) {
        match self {
            Earner::Creator(c) => (PayeeKind::Creator, c),
            Earner::Agency { agency_id, .. } => (PayeeKind::Agency, agency_id),
        }
    }

    /// Its available diamonds, the balance that pays its debt off (an agency's are one account
    /// for all its creators).
    pub fn available(&self) -> AccountId {
        let (payee, id) = self.payee();
        AccountId::new(payee.debt_source(), id)
    }

    fn account(&self, from: &ClawbackFrom) -> AccountId {
        match from {
            ClawbackFrom::Hold(_) => self.pending(),
            ClawbackFrom::Available => self.available(),
            ClawbackFrom::Debt => {
                let (payee, id) = self.payee();
                AccountId::new(payee.debt(), id)
            }
        }
    }
}

/// A chargeback the ledger cannot take as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargebackError {
    #[error("the chargeback takes back {asked} {unit}; its purchase has {left}")]
    ExceedsPurchase {
        unit: &'static str,
        asked: u64,
        left: u64,
    },
    #[error("the chargeback is for {asked} cents; the order's total is {total}")]
    OrderAmount { asked: u64, total: u64 },
    #[error("the purchase was not this user's")]
    UserMismatch,
    #[error("purchase_event_id names an event that is not a coin purchase")]
    NotAPurchase,
}

/// A chargeback may take back at most what its purchase brought in (coins issued, cash still
/// on the books).
pub fn check_against_purchase(
    (purchase_coins, purchase_cents): (u64, u64),
    coins: u64,
    cents: u64,
) -> Result<(), ChargebackError> {
    let over = |unit, asked, left| {
        (asked > left).then_some(ChargebackError::ExceedsPurchase { unit, asked, left })
    };
    match over("coins", coins, purchase_coins).or(over("cents", cents, purchase_cents)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Where a creator's share comes back from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClawbackFrom {
    /// Their pending earnings, out of the hold releasing at this time.
    Hold(String),
    /// Released already: their available diamonds, as far as they still hold them.
    Available,
    /// Released and gone (paid out): their debt.
    Debt,
}

/// A gift's traced coins: its version as read, its new traced totals, and what this attribution
/// added to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedGift {
    pub gift_txn_id: String,
    pub version: u64,
    pub charged_back_coins: u64,
    pub charged_back_diamonds: u64,
    /// The new total taken back of its agency cut (0 without one).
    pub charged_back_agency_diamonds: u64,
    pub coins: u64,
    pub diamonds: u64,
    /// What this attribution took of its agency cut.
    pub agency_diamonds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attribution {
    pub gifts: Vec<TracedGift>,
    /// Diamonds per earner and source.
    pub clawbacks: BTreeMap<(Earner, ClawbackFrom), u64>,
}

impl Attribution {
    pub fn clawed(&self) -> u64 {
        self.clawbacks.values().sum()
    }

    /// Diamonds taken from each pending account's holds, per release time.
    pub fn from_holds(&self) -> BTreeMap<AccountId, Vec<(&str, u64)>> {
        let mut holds: BTreeMap<AccountId, Vec<(&str, u64)>> = BTreeMap::new();
        for ((earner, from), amount) in &self.clawbacks {
            if let ClawbackFrom::Hold(release_at) = from {
                holds
                    .entry(earner.pending())
                    .or_default()
                    .push((release_at, *amount));
            }
        }
        holds
    }
}

/// Diamonds each hold and each available account still has once an attribution's earlier takes
/// are counted.
#[derive(Default)]
struct AlreadyTaken {
    from_hold: BTreeMap<(AccountId, String), u64>,
    available: BTreeMap<AccountId, u64>,
}

impl AlreadyTaken {
    /// Where `diamonds` of `earner`'s part come back from: its hold at `release_at` as far as it
    /// holds them, then its available diamonds, then its debt.
    fn sources(
        &self,
        earner: &Earner,
        diamonds: u64,
        release_at: Option<&String>,
        holds: &impl Fn(&AccountId, &str) -> u64,
        available: &impl Fn(&AccountId) -> u64,
    ) -> Vec<(ClawbackFrom, u64)> {
        let pending = earner.pending();
        let from_hold = release_at.map_or(0, |at| {
            let used = self.from_hold.get(&(pending.clone(), at.clone()));
            holds(&pending, at)
                .saturating_sub(used.copied().unwrap_or(0))
                .min(diamonds)
        });
        let released = diamonds - from_hold;
        let account = earner.available();
        let used = self.available.get(&account).copied().unwrap_or(0);
        let from_available = available(&account).saturating_sub(used).min(released);
        let parts = [
            release_at.map(|at| (ClawbackFrom::Hold(at.clone()), from_hold)),
            Some((ClawbackFrom::Available, from_available)),
            Some((ClawbackFrom::Debt, released - from_available)),
        ];
        parts
            .into_iter()
            .flatten()
            .filter(|(_, d)| *d > 0)
            .collect()
    }

    fn record(&mut self, earner: &Earner, from: &ClawbackFrom, diamonds: u64) {
        match from {
            ClawbackFrom::Hold(at) => {
                *self
                    .from_hold
                    .entry((earner.pending(), at.clone()))
                    .or_default() += diamonds
            }
            ClawbackFrom::Available => {
                *self.available.entry(earner.available()).or_default() += diamonds
            }
            ClawbackFrom::Debt => {}
        }
    }
}

/// Traces `spent` coins to `gifts` (oldest first). `holds(pending, release_at)` says how many
/// diamonds that hold of a pending account (a creator's earnings, an agency's share of them)
/// holds now, `available(account)` how many an available account has.
pub fn attribute(
    spent: u64,
    gifts: &[SpentGift],
    holds: impl Fn(&AccountId, &str) -> u64,
    available: impl Fn(&AccountId) -> u64,
) -> Attribution {
    let mut out = Attribution::default();
    let mut remaining = spent;
    let mut items = 0;
    let mut taken = AlreadyTaken::default();
    for g in gifts {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(g.coins.saturating_sub(g.charged_back_coins));
        if take == 0 {
            continue;
        }
        // Each part of the gift's value that was earned: the creator's, the agency's.
        let creator = Earner::Creator(g.creator_id.clone());
        let mut earned = vec![(creator, g.creator_share, g.release_at.as_ref())];
        if let Some(a) = &g.agency {
            let agency = Earner::Agency {
                agency_id: a.agency_id.clone(),
                creator_id: g.creator_id.clone(),
            };
            earned.push((agency, a.share, a.release_at.as_ref()));
        }
        let parts: Vec<_> = earned
            .into_iter()
            .map(|(earner, share, release_at)| {
                let diamonds = share_of(share, take, g.coins);
                let sources = taken.sources(&earner, diamonds, release_at, &holds, &available);
                (earner, diamonds, sources)
            })
            .collect();
        // An account already clawed from costs nothing more (an agency's available diamonds
        // and debt serve all its creators).
        let clawed: std::collections::BTreeSet<AccountId> = out
            .clawbacks
            .keys()
            .map(|(earner, from)| earner.account(from))
            .collect();
        let cost = ITEMS_PER_GIFT
            + parts
                .iter()
                .flat_map(|(earner, _, sources)| sources.iter().map(move |(f, _)| (earner, f)))
                .filter(|(earner, from)| !clawed.contains(&earner.account(from)))
                .map(|(_, from)| match from {
                    ClawbackFrom::Debt => ITEMS_PER_DEBT,
                    _ => ITEMS_PER_CLAWBACK,
                })
                .sum::<usize>();
        if items + cost > ATTRIBUTION_ITEMS {
            break;
        }
        items += cost;
        // The creator's part first, the agency's (if any) second.
        let diamonds = parts[0].1;
        let agency_diamonds = parts.get(1).map_or(0, |(_, d, _)| *d);
        for (earner, _, sources) in parts {
            for (from, d) in sources {
                taken.record(&earner, &from, d);
                *out.clawbacks.entry((earner.clone(), from)).or_default() += d;
            }
        }
        out.gifts.push(TracedGift {
            gift_txn_id: g.gift_txn_id.clone(),
            version: g.version,
            charged_back_coins: g.charged_back_coins + take,
            charged_back_diamonds: g.charged_back_diamonds + diamonds,
            charged_back_agency_diamonds: g.agency.as_ref().map_or(0, |a| a.charged_back)
                + agency_diamonds,
            coins: take,
            diamonds,
            agency_diamonds,
        });
        remaining -= take;
    }
    out
}

/// An earner's share of `take` of a gift's `coins`, rounded down: what rounding leaves is the
/// platform's loss, never the earner's.
fn share_of(creator_share: u64, take: u64, coins: u64) -> u64 {
    let share = u128::from(creator_share) * u128::from(take) / u128::from(coins.max(1));
    u64::try_from(share).expect("at most the creator share")
}

/// What one chargeback books: coins back to the issuer from the wallet, the creators' clawbacks
/// and the platform's loss for the rest; and the purchase's cash back to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal<'a> {
    pub event_id: &'a str,
    pub user_id: &'a str,
    pub coins: u64,
    pub from_wallet: u64,
    pub attribution: &'a Attribution,
    /// The purchase and the cents going back, if the chargeback names one.
    pub cash: Option<(&'a str, u64)>,
}

impl Reversal<'_> {
    pub fn transfers(&self) -> Result<Vec<Transfer>, LedgerError> {
        let ev = self.event_id;
        let issuer = AccountId::outside(AccountKind::CoinIssuer, ev);
        let to_issuer = |id: String, from: AccountId, amount: u64, kind: TransferKind| {
            Transfer::new(id, from, issuer.clone(), amount, kind, ev)
        };
        let mut transfers = Vec::new();
        if self.from_wallet > 0 {
            transfers.push(to_issuer(
                format!("{ev}/wallet"),
                AccountId::wallet(self.user_id),
                self.from_wallet,
                TransferKind::Chargeback,
            )?);
        }
        let mut per_account: BTreeMap<AccountId, u64> = BTreeMap::new();
        for ((earner, from), amount) in &self.attribution.clawbacks {
            *per_account.entry(earner.account(from)).or_default() += amount;
        }
        for (account, amount) in per_account {
            transfers.push(to_issuer(
                format!("{ev}/clawback/{account}"),
                account,
                amount,
                TransferKind::ChargebackClawback,
            )?);
        }
        let spent = self.coins - self.from_wallet;
        let loss = spent.saturating_sub(self.attribution.clawed());
        if loss > 0 {
            transfers.push(to_issuer(
                format!("{ev}/loss"),
                AccountId::outside(AccountKind::ChargebackLoss, ev),
                loss,
                TransferKind::ChargebackLoss,
            )?);
        }
        if let Some((purchase, cents)) = self.cash.filter(|(_, c)| *c > 0) {
            transfers.push(Transfer::new(
                format!("{ev}/cash"),
                AccountId::outside(AccountKind::PlatformCash, purchase),
                AccountId::outside(AccountKind::PaymentProvider, ev),
                cents,
                TransferKind::ChargebackCash,
                ev,
            )?);
        }
        Ok(transfers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::postings;

    fn gift(id: &str, creator: &str, coins: u64, release_at: Option<&str>) -> SpentGift {
        SpentGift {
            gift_txn_id: id.into(),
            creator_id: creator.into(),
            coins,
            creator_share: coins / 2,
            charged_back_coins: 0,
            charged_back_diamonds: 0,
            agency: None,
            release_at: release_at.map(Into::into),
            version: 2,
        }
    }

    const H: &str = "2026-12-09T10:00:00Z";

    fn c(creator: &str) -> Earner {
        Earner::Creator(creator.into())
    }

    #[test]
    fn spent_coins_are_traced_in_order_and_pending_shares_come_back_from_their_hold() {
        let gifts = [
            gift("g3", "a", 1_000, Some(H)),
            gift("g2", "b", 600, Some(H)),
            gift("g1", "a", 5_000, Some(H)),
        ];
        // Creator a's hold has everything; b's hold was released (empty).
        let holds = |p: &AccountId, _: &str| if p.owner == "a" { 10_000 } else { 0 };
        let a = attribute(2_000, &gifts, holds, |_| 0);
        assert_eq!(
            a.gifts
                .iter()
                .map(|g| (g.gift_txn_id.as_str(), g.charged_back_coins))
                .collect::<Vec<_>>(),
            [("g3", 1_000), ("g2", 600), ("g1", 400)]
        );
        assert_eq!(
            a.clawbacks,
            BTreeMap::from([
                ((c("a"), ClawbackFrom::Hold(H.into())), 500 + 200),
                ((c("b"), ClawbackFrom::Debt), 300),
            ])
        );
    }

    #[test]
    fn a_hold_with_too_little_left_gives_what_it_has_and_the_rest_becomes_debt() {
        let gifts = [gift("g2", "a", 100, Some(H)), gift("g1", "a", 100, Some(H))];
        let a = attribute(200, &gifts, |_, _| 70, |_| 0);
        assert_eq!(
            a.clawbacks,
            BTreeMap::from([
                ((c("a"), ClawbackFrom::Hold(H.into())), 70),
                ((c("a"), ClawbackFrom::Debt), 30),
            ])
        );
        assert_eq!(a.from_holds()[&AccountId::earnings_pending("a")], [(H, 70)]);
    }

    #[test]
    fn released_shares_come_from_available_diamonds_first_and_only_the_rest_is_debt() {
        let gifts = [gift("g2", "a", 100, None), gift("g1", "a", 100, Some(H))];
        // The hold was released; 60 diamonds are still available, for both gifts together.
        let a = attribute(200, &gifts, |_, _| 0, |_| 60);
        assert_eq!(
            a.clawbacks,
            BTreeMap::from([
                ((c("a"), ClawbackFrom::Available), 60),
                ((c("a"), ClawbackFrom::Debt), 40),
            ])
        );
    }

    #[test]
    fn an_agency_cut_comes_back_from_its_share_of_the_creator_then_its_diamonds_then_as_debt() {
        let with_agency = |id: &str, creator: &str, release_at| {
            let mut g = gift(id, creator, 1_000, release_at);
            g.agency = Some(AgencyShare {
                agency_id: "ag".into(),
                share: 100,
                charged_back: 0,
                release_at: release_at.map(Into::into),
            });
            g
        };
        let share_a = AccountId::agency_share(AccountKind::AgencyEarningsPending, "ag", "a");
        let agency_diamonds = AccountId::new(AccountKind::AgencyEarnings, "ag");
        // Held: the creator's hold has all of it, the agency's share of a only 60 diamonds; the
        // agency has 30 available for both gifts together.
        let gifts = [
            with_agency("g2", "a", Some(H)),
            with_agency("g1", "b", None),
        ];
        let holds = |p: &AccountId, _: &str| if *p == share_a { 60 } else { 10_000 };
        let available = |p: &AccountId| if *p == agency_diamonds { 30 } else { 0 };
        let a = attribute(2_000, &gifts, holds, available);
        let agency = |creator: &str| Earner::Agency {
            agency_id: "ag".into(),
            creator_id: creator.into(),
        };
        assert_eq!(
            a.clawbacks,
            BTreeMap::from([
                ((c("a"), ClawbackFrom::Hold(H.into())), 500),
                ((agency("a"), ClawbackFrom::Hold(H.into())), 60),
                ((agency("a"), ClawbackFrom::Available), 30),
                ((agency("a"), ClawbackFrom::Debt), 10),
                ((c("b"), ClawbackFrom::Debt), 500),
                ((agency("b"), ClawbackFrom::Debt), 100),
            ])
        );
        assert_eq!(
            a.gifts
                .iter()
                .map(|g| (
                    g.diamonds,
                    g.agency_diamonds,
                    g.charged_back_agency_diamonds
                ))
                .collect::<Vec<_>>(),
            [(500, 100, 100), (500, 100, 100)]
        );
        let r = Reversal {
            event_id: "cb",
            user_id: "u",
            coins: 2_000,
            from_wallet: 0,
            attribution: &a,
            cash: None,
        };
        let debits: BTreeMap<String, u64> = r
            .transfers()
            .unwrap()
            .iter()
            .map(|t| (t.debit.to_string(), t.amount))
            .collect();
        assert_eq!(debits["agency-pending:ag~a"], 60);
        assert_eq!(debits["agency-earnings:ag"], 30);
        assert_eq!(debits["agency-clawback:ag"], 110);
        // What neither earned, the platform's share, is its loss.
        assert_eq!(debits["chargeback-loss:cb"], 2_000 - 1_200);
    }

    #[test]
    fn coins_traced_by_an_earlier_chargeback_are_not_traced_again() {
        let mut g = gift("g1", "a", 100, None);
        g.charged_back_coins = 100;
        let older = gift("g0", "a", 100, None);
        let a = attribute(100, &[g, older], |_, _| 0, |_| 0);
        assert_eq!(a.gifts.len(), 1);
        assert_eq!(a.gifts[0].gift_txn_id, "g0");
        assert_eq!(a.clawed(), 50);
    }

    #[test]
    fn attribution_stops_before_the_transaction_would_be_too_big() {
        let gifts: Vec<_> = (0..200)
            .map(|i| gift(&format!("g{i}"), &format!("c{i}"), 10, None))
            .collect();
        let a = attribute(2_000, &gifts, |_, _| 0, |_| 0);
        // Each gift to a new creator, all of it debt, costs 1 + 4 items.
        assert_eq!(a.gifts.len(), ATTRIBUTION_ITEMS / 5);
        // With one agency's cut each: the agency's debt costs its 4 items once, for them all.
        let with_agency: Vec<_> = gifts
            .into_iter()
            .map(|mut g| {
                g.agency = Some(AgencyShare {
                    agency_id: "ag".into(),
                    share: 1,
                    charged_back: 0,
                    release_at: None,
                });
                g
            })
            .collect();
        let a = attribute(2_000, &with_agency, |_, _| 0, |_| 0);
        assert_eq!(a.gifts.len(), 1 + (ATTRIBUTION_ITEMS - 9) / 5);
    }

    #[test]
    fn a_reversal_returns_every_coin_to_the_issuer_and_the_cash_to_the_provider() {
        let gifts = [gift("g1", "a", 1_000, Some(H))];
        let attribution = attribute(1_000, &gifts, |_, _| 10_000, |_| 0);
        let r = Reversal {
            event_id: "cb1",
            user_id: "u",
            coins: 1_200,
            from_wallet: 200,
            attribution: &attribution,
            cash: Some(("pur1", 1_299)),
        };
        let t = r.transfers().unwrap();
        let moves: Vec<_> = t
            .iter()
            .map(|t| (t.debit.to_string(), t.credit.to_string(), t.amount))
            .collect();
        assert_eq!(
            moves,
            [
                ("wallet:u".into(), "issuer:cb1".into(), 200),
                ("earnings-pending:a".into(), "issuer:cb1".into(), 500),
                ("chargeback-loss:cb1".into(), "issuer:cb1".into(), 500),
                ("platform-cash:pur1".into(), "provider:cb1".into(), 1_299),
            ]
        );
        let issuer = postings(&t)
            .unwrap()
            .into_iter()
            .find(|p| p.account.kind == AccountKind::CoinIssuer)
            .unwrap();
        assert_eq!(issuer.delta, 1_200);
    }
}

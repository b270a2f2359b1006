//! The ledger audit: DESIGN.md's invariants checked over a snapshot of everything stored, as
//! plain values. The simulation runs it after every run; an operator can run it against a
//! deployment (docs/runbook.md). Each check says what it found, never just "false".

use std::collections::BTreeMap;

use super::agencies::Attachments;
use super::ledger::{AccountId, AccountKind};
use super::payouts::{PayeeKind, Payout, PayoutStatus};
use super::refunds::{Refund, RefundStatus};
use super::settlement::{split_with_agency, GiftToSettle, SettlementPolicy};
use super::shop::{agency_cut, split_order, AgencyCut, Order, OrderStatus, ShopPolicy};

/// Everything the audit reads.
#[derive(Debug, Clone, Default)]
pub struct LedgerSnapshot {
    /// Every account with its unit and balance.
    pub accounts: Vec<(AccountId, String, i64)>,
    /// Every sent gift and where its settlement stands.
    pub gifts: Vec<(GiftToSettle, GiftState)>,
    pub orders: Vec<Order>,
    pub payouts: Vec<Payout>,
    pub refunds: Vec<Refund>,
    /// Every stock shard (`<product>#<shard>`), as stored (signed, so a negative one is seen,
    /// not a parse error).
    pub stock: Vec<(String, i64)>,
    /// Every creator's agency stints, by creator.
    pub attachments: BTreeMap<String, Attachments>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiftState {
    Unsettled,
    /// The creator's share moved out; the platform's stays on the gift. Chargebacks of the coins
    /// that paid for it took this much of the share back (`domain::chargebacks`).
    Settled {
        charged_back_diamonds: u64,
        /// Of its agency cut.
        charged_back_agency_diamonds: u64,
    },
    /// Sent after its stream's end plus the grace: every coin went back to the sender.
    Refunded,
}

/// When the audit runs: while work is in flight, or after everything was drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Gifts may be unsettled and payouts unfinished.
    InFlight,
    /// Queues drained and the sweeper run past every grace period: nothing may be unfinished.
    Drained,
}

pub struct Policies<'a> {
    pub settlement: &'a SettlementPolicy,
    pub shop: &'a ShopPolicy,
}

/// Every invariant the snapshot breaks, one line each; empty when the ledger is sound.
pub fn violations(s: &LedgerSnapshot, policies: &Policies<'_>, moment: Moment) -> Vec<String> {
    let mut found = Vec::new();
    let balance_of: BTreeMap<&AccountId, i64> =
        s.accounts.iter().map(|(a, _, b)| (a, *b)).collect();
    let balance = |a: &AccountId| balance_of.get(a).copied().unwrap_or(0);

    // 1. Conservation: per unit, the sum over all accounts is zero.
    let mut totals: BTreeMap<&str, i128> = BTreeMap::new();
    for (_, unit, b) in &s.accounts {
        *totals.entry(unit).or_default() += i128::from(*b);
    }
    for (unit, total) in totals.iter().filter(|(_, t)| **t != 0) {
        found.push(format!(
            "conservation: {unit} accounts sum to {total}, not 0"
        ));
    }

    // 2. No overdraft, no oversell.
    for (account, _, b) in &s.accounts {
        if *b < 0 && !account.kind.may_go_negative() {
            found.push(format!("overdraft: {account} holds {b}"));
        }
    }
    // Every balance has a way out to whoever it is owed to (`AccountKind::way_out`), and a debt
    // is never in credit. (A debt may sit beside its payee's available money — a payout that
    // failed puts it back — but nothing leaves before the debt is paid: a payout pays it off
    // first, pinned to it.)
    for (account, _, b) in &s.accounts {
        if *b != 0 && !account.kind.drains() {
            found.push(format!("{account} holds {b} and has no way out"));
        }
        let debt = PayeeKind::ALL.into_iter().any(|p| p.debt() == account.kind);
        if debt && *b > 0 {
            found.push(format!("{account} holds {b}: a debt is never in credit"));
        }
    }
    for (product, stock) in s.stock.iter().filter(|(_, st)| *st < 0) {
        found.push(format!("oversell: product {product} has stock {stock}"));
    }

    // 3. Every gift settled exactly once: its account keeps exactly the platform's share once
    //    settled (nothing once refunded), each creator's diamonds (debt included) are exactly
    //    the creator shares of settled gifts less what chargebacks took back, and each agency's
    //    are exactly its cuts of the settled gifts stamped inside its creators' stints.
    let mut earned: BTreeMap<&str, i64> = BTreeMap::new();
    let mut agency_earned: BTreeMap<&str, i64> = BTreeMap::new();
    for (gift, state) in &s.gifts {
        let stint = s
            .attachments
            .get(&gift.creator_id)
            .and_then(|a| a.at(&gift.sent_at));
        let shares = split_with_agency(gift.coins, policies.settlement.creator_share_bps, stint);
        let kept = balance(&AccountId::pending_gift(&gift.gift_txn_id));
        let expected = match state {
            GiftState::Unsettled => gift.coins,
            GiftState::Settled { .. } => shares.platform,
            GiftState::Refunded => 0,
        };
        if kept != expected as i64 {
            found.push(format!(
                "gift {}: its account holds {kept}, expected {expected} ({state:?})",
                gift.gift_txn_id
            ));
        }
        match state {
            &GiftState::Settled {
                charged_back_diamonds,
                charged_back_agency_diamonds,
            } => {
                for (taken, share) in [
                    (charged_back_diamonds, shares.creator),
                    (charged_back_agency_diamonds, shares.agency),
                ] {
                    if taken > share {
                        found.push(format!(
                            "gift {}: chargebacks took back {taken} of a {share} share",
                            gift.gift_txn_id
                        ));
                    }
                }
                *earned.entry(&gift.creator_id).or_default() +=
                    shares.creator as i64 - charged_back_diamonds as i64;
                if let Some(stint) = stint {
                    *agency_earned.entry(&stint.agency_id).or_default() +=
                        shares.agency as i64 - charged_back_agency_diamonds as i64;
                }
            }
            GiftState::Unsettled if moment == Moment::Drained => {
                found.push(format!("gift {} never settled", gift.gift_txn_id));
            }
            GiftState::Unsettled | GiftState::Refunded => {}
        }
    }
    use AccountKind::*;
    let creator_kinds = [
        Earnings,
        EarningsPending,
        EarningsClawback,
        DiamondsRedeemed,
    ];
    let agency_kinds = [
        AgencyEarnings,
        AgencyEarningsPending,
        AgencyClawback,
        AgencyDiamondsRedeemed,
    ];
    for (payee, kinds, earned) in [
        ("creator", creator_kinds, &earned),
        ("agency", agency_kinds, &agency_earned),
    ] {
        let mut diamonds: BTreeMap<&str, i64> = BTreeMap::new();
        for (account, _, b) in s
            .accounts
            .iter()
            .filter(|(a, _, _)| kinds.contains(&a.kind))
        {
            *diamonds.entry(account.payee_owner()).or_default() += b;
        }
        let owners: std::collections::BTreeSet<&str> =
            earned.keys().chain(diamonds.keys()).copied().collect();
        for owner in owners {
            let (got, due) = (
                diamonds.get(owner).copied().unwrap_or(0),
                earned.get(owner).copied().unwrap_or(0),
            );
            if got != due {
                found.push(format!(
                    "{payee} {owner}: holds {got} diamonds in all, settled gifts earned {due}"
                ));
            }
        }
    }

    // 4. Every order's money accounted for: its account holds what its status says, and a
    //    completed order gave the creator's agency of its sale's time exactly its cut.
    for order in &s.orders {
        let completed = order.at(OrderStatus::Completed).is_some();
        if let (true, Some(creator), Some(paid_at)) =
            (completed, &order.affiliate_id, order.at(OrderStatus::Paid))
        {
            let split = split_order(order, policies.shop.platform_fee_bps);
            let stint = s.attachments.get(creator).and_then(|a| a.at(paid_at));
            let due = agency_cut(&split, stint);
            let booked = order.agency_cut.clone().map(|c| AgencyCut {
                returned: false,
                ..c
            });
            if booked != due {
                found.push(format!(
                    "order {}: its agency cut is {:?}, its creator's stints say {due:?}",
                    order.order_id, order.agency_cut
                ));
            }
        }
        let expected = order_account_balance(order, policies.shop);
        let held = balance(&order.account());
        if held != expected as i64 {
            found.push(format!(
                "order {} ({}): its account holds {held}, expected {expected}",
                order.order_id,
                order.status.as_str()
            ));
        }
    }

    // 5. Every payout paid once or returned: each payee's in-payout and paid-out accounts are
    //    exactly their payouts in those states.
    let mut in_payout: BTreeMap<AccountId, u64> = BTreeMap::new();
    let mut paid_out: BTreeMap<AccountId, u64> = BTreeMap::new();
    for p in &s.payouts {
        let kind = p.payee.kind;
        let (book, account) = match p.status {
            PayoutStatus::Paid => (&mut paid_out, kind.paid_out()),
            PayoutStatus::Failed => continue,
            PayoutStatus::Held => {
                // An admin decides on a held payout; nobody can without knowing why.
                if p.reason.is_none() {
                    found.push(format!("payout {} held without a reason", p.payout_id));
                }
                (&mut in_payout, kind.in_payout())
            }
            PayoutStatus::Requested | PayoutStatus::Processing => {
                if moment == Moment::Drained {
                    found.push(format!("payout {} still {:?}", p.payout_id, p.status));
                }
                (&mut in_payout, kind.in_payout())
            }
        };
        // What the provider took back of a paid transfer is back in available.
        *book.entry(p.payee.account(account)).or_default() += p.amount_cents - p.reversed_cents;
    }
    for (kinds, expected) in [
        (PayeeKind::ALL.map(PayeeKind::in_payout), &in_payout),
        (PayeeKind::ALL.map(PayeeKind::paid_out), &paid_out),
    ] {
        let mut accounts: std::collections::BTreeSet<&AccountId> = expected.keys().collect();
        accounts.extend(
            s.accounts
                .iter()
                .filter(|(a, _, _)| kinds.contains(&a.kind))
                .map(|(a, _, _)| a),
        );
        for account in accounts {
            let due = expected.get(account).copied().unwrap_or(0) as i64;
            let held = balance(account);
            if held != due {
                found.push(format!("{account} holds {held}, its payouts say {due}"));
            }
        }
    }
    // 6. Money owed to a buyer leaves through the provider: each buyer's refund-owed account is
    //    exactly their refunds not yet succeeded; drained, none is still in flight, and every
    //    failed one says why.
    let mut owed: BTreeMap<AccountId, u64> = BTreeMap::new();
    for r in &s.refunds {
        let in_flight = matches!(r.status, RefundStatus::Requested | RefundStatus::Processing);
        if in_flight && moment == Moment::Drained {
            found.push(format!(
                "refund {} still {}",
                r.refund_id,
                r.status.as_str()
            ));
        }
        if r.status == RefundStatus::Failed && r.reason.is_none() {
            found.push(format!("refund {} failed without a reason", r.refund_id));
        }
        if r.status != RefundStatus::Succeeded {
            *owed
                .entry(AccountId::new(AccountKind::RefundOwed, &r.buyer_id))
                .or_default() += r.amount_cents;
        }
    }
    let mut accounts: std::collections::BTreeSet<&AccountId> = owed.keys().collect();
    accounts.extend(
        s.accounts
            .iter()
            .filter(|(a, _, _)| a.kind == AccountKind::RefundOwed)
            .map(|(a, _, _)| a),
    );
    for account in accounts {
        let due = owed.get(account).copied().unwrap_or(0) as i64;
        let held = balance(account);
        if held != due {
            found.push(format!(
                "{account} holds {held}, its unfinished refunds say {due}"
            ));
        }
    }
    found
}

/// After the weekly payout run has paid everything due: what every seller could still draw
/// (available proceeds less what they owe, which a payout pays off first) is below the payout
/// minimum, or it would have been paid out.
pub fn after_weekly_run(s: &LedgerSnapshot, minimum_cents: u64) -> Vec<String> {
    let balance_of: BTreeMap<&AccountId, i64> =
        s.accounts.iter().map(|(a, _, b)| (a, *b)).collect();
    s.accounts
        .iter()
        .filter(|(a, _, _)| a.kind == AccountKind::SellerProceeds)
        .filter_map(|(account, _, b)| {
            let debt = AccountId::new(PayeeKind::Seller.debt(), &account.owner);
            let owed = balance_of.get(&debt).copied().unwrap_or(0).min(0).abs();
            let drawable = (*b - owed).max(0);
            (drawable >= minimum_cents as i64).then(|| {
                format!(
                    "{account} could still draw {drawable} after the weekly run, at least the \
                     minimum {minimum_cents}"
                )
            })
        })
        .collect()
}

/// What an order's own account holds in each status: nothing before payment and after a refund
/// from it, the whole payment until completion, the platform's fee after (also when an admin
/// refunds a completed order: that refund is booked against the seller).
pub fn order_account_balance(order: &Order, shop: &ShopPolicy) -> u64 {
    let completed = order
        .history
        .iter()
        .any(|(s, _)| *s == OrderStatus::Completed);
    match order.status {
        OrderStatus::PendingPayment | OrderStatus::Cancelled | OrderStatus::Expired => 0,
        OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered => order.total_cents,
        OrderStatus::Completed => kept_fee(order, shop),
        OrderStatus::Refunded if completed => kept_fee(order, shop),
        OrderStatus::Refunded => 0,
    }
}

/// The platform's fee a completed order keeps: less the agency cut it funds, unless a refund
/// gave that cut back.
fn kept_fee(order: &Order, shop: &ShopPolicy) -> u64 {
    let split = split_order(order, shop.platform_fee_bps);
    split
        .after(order.agency_cut.as_ref().filter(|c| !c.returned))
        .fee
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift(id: &str, creator: &str, coins: u64) -> GiftToSettle {
        GiftToSettle {
            gift_txn_id: id.into(),
            stream_id: "s".into(),
            creator_id: creator.into(),
            sender_id: "v".into(),
            coins,
            sent_at: "2026-11-22T00:00:00Z".into(),
        }
    }

    fn account(kind: AccountKind, owner: &str, unit: &str, b: i64) -> (AccountId, String, i64) {
        (AccountId::new(kind, owner), unit.into(), b)
    }

    /// A viewer bought 100 coins and sent one 100-coin gift that was settled once.
    fn sound() -> LedgerSnapshot {
        LedgerSnapshot {
            accounts: vec![
                account(AccountKind::CoinIssuer, "platform", "coins", -100),
                account(AccountKind::PendingGift, "g1", "coins", 50),
                account(AccountKind::Earnings, "c", "coins", 50),
            ],
            gifts: vec![(
                gift("g1", "c", 100),
                GiftState::Settled {
                    charged_back_diamonds: 0,
                    charged_back_agency_diamonds: 0,
                },
            )],
            ..Default::default()
        }
    }

    fn check(s: &LedgerSnapshot) -> Vec<String> {
        let policies = Policies {
            settlement: &SettlementPolicy::default(),
            shop: &ShopPolicy::default(),
        };
        violations(s, &policies, Moment::Drained)
    }

    #[test]
    fn a_sound_ledger_has_no_violations() {
        assert_eq!(check(&sound()), Vec::<String>::new());
    }

    #[test]
    fn a_gift_settled_twice_is_found() {
        let mut s = sound();
        // The second settlement moved the creator's share again: conservation still holds.
        s.accounts[1].2 = 0;
        s.accounts[2].2 = 100;
        let found = check(&s);
        assert!(found.iter().any(|v| v.starts_with("gift g1")), "{found:?}");
        assert!(
            found.iter().any(|v| v.starts_with("creator c")),
            "{found:?}"
        );
    }

    #[test]
    fn a_refunded_gift_keeps_nothing_and_earns_nothing() {
        // The gift was sent after its stream's end plus the grace: its coins went back.
        let refunded = LedgerSnapshot {
            accounts: vec![
                account(AccountKind::CoinIssuer, "platform", "coins", -100),
                account(AccountKind::PendingGift, "g1", "coins", 0),
                account(AccountKind::Wallet, "v", "coins", 100),
            ],
            gifts: vec![(gift("g1", "c", 100), GiftState::Refunded)],
            ..Default::default()
        };
        assert_eq!(check(&refunded), Vec::<String>::new());
        // Refunded and settled as well: the creator holds diamonds no settled gift earned.
        let mut both = refunded.clone();
        both.accounts[2].2 = 50;
        both.accounts
            .push(account(AccountKind::Earnings, "c", "coins", 50));
        let found = check(&both);
        assert!(
            found.iter().any(|v| v.starts_with("creator c")),
            "{found:?}"
        );
        // Marked refunded while still holding the coins: the sender was never paid back.
        let mut kept = refunded;
        kept.accounts[1].2 = 100;
        kept.accounts[2].2 = 0;
        let found = check(&kept);
        assert!(found.iter().any(|v| v.starts_with("gift g1")), "{found:?}");
    }

    #[test]
    fn overdrafts_broken_sums_and_unsettled_gifts_are_found() {
        let mut s = sound();
        s.accounts
            .push(account(AccountKind::Wallet, "v", "coins", -1));
        s.gifts.push((gift("g2", "c", 10), GiftState::Unsettled));
        s.stock.push(("p".into(), -2));
        let found = check(&s);
        for expected in [
            "conservation",
            "overdraft",
            "oversell",
            "gift g2 never settled",
        ] {
            assert!(
                found.iter().any(|v| v.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}

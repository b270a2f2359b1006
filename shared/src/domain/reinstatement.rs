//! A dispute the platform won: the card network returns the money, so what its chargeback took
//! is given back, once. A chargeback keeps what it booked ([`Taken`], on its [`Marker`]) and the
//! reinstatement books the inverse, with the destination changed in two cases:
//! - what came out of a creator's pending earnings (or an agency's share of them) goes back
//!   available: that hold waited for
//!   exactly the risk the won dispute ended (a chargeback of the coins' purchase). A commission
//!   inside its return window goes back into it, since a return can still come;
//! - what was booked as a payee's debt goes back to their available money and the debt stays:
//!   their next payout pays it off first, as it pays any debt, so a debt that later earnings
//!   paid off meanwhile never turns into credit (invariant 2).
//!
//! The gifts the chargeback traced are untraced, so each creator's diamonds stay the shares of
//! their settled gifts less what chargebacks still hold (invariant 3). A reinstated order is
//! back where the dispute found it (paid, shipped, delivered or completed) and goes on from
//! there. A payment can be reversed again after a win (a refund at the provider): each
//! reversal is a round of its own on the same marker.

use super::chargebacks::TracedGift;
use super::ledger::{AccountId, AccountKind, LedgerError, PayeeKind, Transfer, TransferKind};
use super::shop::{Order, OrderStatus};

/// One transfer a chargeback booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub id: String,
    pub from: AccountId,
    pub to: AccountId,
    pub amount: u64,
}

/// A gift a chargeback traced: the coins and diamonds it added to the gift's traced totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrace {
    pub gift_txn_id: String,
    pub coins: u64,
    pub diamonds: u64,
    /// Of the gift's agency cut.
    pub agency_diamonds: u64,
}

/// What a chargeback took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Taken {
    pub moved: Vec<Moved>,
    pub traced: Vec<Untrace>,
}

impl Taken {
    pub fn new(transfers: &[Transfer], traced: &[TracedGift]) -> Self {
        Self {
            moved: transfers
                .iter()
                .map(|t| Moved {
                    id: t.id.clone(),
                    from: t.debit.clone(),
                    to: t.credit.clone(),
                    amount: t.amount,
                })
                .collect(),
            traced: traced
                .iter()
                .map(|g| Untrace {
                    gift_txn_id: g.gift_txn_id.clone(),
                    coins: g.coins,
                    diamonds: g.diamonds,
                    agency_diamonds: g.agency_diamonds,
                })
                .collect(),
        }
    }

    /// The transfers that give it back, referencing the won dispute's event `won`; a
    /// commission taken from its return window goes back into it when `commission_held`.
    pub fn given_back(
        &self,
        won: &str,
        commission_held: bool,
    ) -> Result<Vec<Transfer>, LedgerError> {
        self.moved
            .iter()
            .map(|m| {
                Transfer::new(
                    format!("won:{}", m.id),
                    m.to.clone(),
                    given_back_to(&m.from, commission_held),
                    m.amount,
                    TransferKind::DisputeWon,
                    won,
                )
            })
            .collect()
    }

    /// Whether an order's sale comes back with it: its chargeback took the sale's money (from the
    /// order, the seller or the creator), not only the platform's payment of a buyer the
    /// provider repaid a second time — then the order stays refunded by its own refund.
    fn restores_sale(&self) -> bool {
        self.moved
            .iter()
            .any(|m| m.from.kind != AccountKind::PlatformExpense)
    }

    /// What it took from pending commissions (the creator's, their agency's share): the
    /// account and the amount.
    fn held_commissions(&self) -> Vec<(AccountId, u64)> {
        self.moved
            .iter()
            .filter(|m| is_pending_commission(m.from.kind))
            .map(|m| (m.from.clone(), m.amount))
            .collect()
    }
}

fn is_pending_commission(kind: AccountKind) -> bool {
    matches!(
        kind,
        AccountKind::CommissionPending | AccountKind::AgencyCentsPending
    )
}

fn given_back_to(account: &AccountId, commission_held: bool) -> AccountId {
    // A debt's money goes to the available balance that pays that debt off.
    if let Some(payee) = PayeeKind::ALL
        .into_iter()
        .find(|p| p.debt() == account.kind)
    {
        return AccountId::new(payee.debt_source(), account.payee_owner());
    }
    let released = match account.kind {
        AccountKind::EarningsPending | AccountKind::AgencyEarningsPending => true,
        kind => is_pending_commission(kind) && !commission_held,
    };
    match released.then(|| account.released()).flatten() {
        Some(available) => available,
        None => account.clone(),
    }
}

/// A chargeback's marker: one per purchase or order, holding its latest round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The chargeback of this round.
    pub event_id: String,
    /// What it took, where a won dispute can give it back: not on the marker of a payment not
    /// seen yet (nothing was taken), nor of a refund it superseded (the buyer's refund would be
    /// owed again), nor on a marker a win wrote before its chargeback came.
    pub taken: Option<Taken>,
    /// The won dispute that ended the round.
    pub reinstated_by: Option<String>,
    /// The round is a refund made at the provider, not a dispute.
    pub by_refund: bool,
}

/// What a chargeback does, given the marker of what it reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening<'a> {
    /// Reverse it, marking a new round (over the ended one, if there is one).
    Reverse {
        replaces: Option<&'a Marker>,
    },
    Unchanged(&'static str),
    /// A refund over an open dispute: the provider refunds no disputed payment, so this refund
    /// came after the dispute's win, which has not arrived yet. The provider retries.
    WaitForWin,
}

/// `by_refund`: the chargeback is a refund made at the provider, not a dispute.
pub fn opening<'a>(marker: Option<&'a Marker>, event_id: &str, by_refund: bool) -> Opening<'a> {
    match marker {
        None => Opening::Reverse { replaces: None },
        // Its win came first: the money is back already, nothing is taken.
        Some(m) if m.event_id == event_id && m.reinstated_by.is_some() => {
            Opening::Unchanged("already_won")
        }
        Some(m) if m.reinstated_by.is_some() => Opening::Reverse { replaces: Some(m) },
        Some(m) if by_refund && !m.by_refund => Opening::WaitForWin,
        Some(_) => Opening::Unchanged("already_charged_back"),
    }
}

/// What a win of the chargeback `chargeback_event_id` does, given the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Win<'a> {
    /// Give back what the round took, ending it.
    GiveBack(&'a Marker, &'a Taken),
    /// Its chargeback has not come (or took nothing): mark the round won (over the ended one,
    /// if there is one), so that it takes nothing when it comes.
    MarkWonFirst {
        replaces: Option<&'a Marker>,
    },
    Unchanged(&'static str),
    /// It took something that cannot be given back as it was taken (a payment disputed before
    /// it arrived, or a refund the dispute superseded).
    NotBooked,
}

pub fn win<'a>(marker: Option<&'a Marker>, chargeback_event_id: &str) -> Win<'a> {
    match marker {
        None => Win::MarkWonFirst { replaces: None },
        // A round another event opened and a win ended: this chargeback is still to come.
        Some(m) if m.event_id != chargeback_event_id && m.reinstated_by.is_some() => {
            Win::MarkWonFirst { replaces: Some(m) }
        }
        // Another event reversed it (a refund at the provider before the dispute): this
        // dispute took nothing, so its win gives nothing back.
        Some(m) if m.event_id != chargeback_event_id => {
            Win::Unchanged("unchanged:reversed_by_another_event")
        }
        Some(m) if m.reinstated_by.is_some() => Win::Unchanged("already_reinstated"),
        Some(
            m @ Marker {
                taken: Some(taken), ..
            },
        ) => Win::GiveBack(m, taken),
        Some(_) => Win::NotBooked,
    }
}

/// How a won dispute brings an order back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReinstatement {
    pub transfers: Vec<Transfer>,
    /// The status it is back in (where the dispute found it), or `None`: it stays refunded.
    pub status: Option<OrderStatus>,
    /// Commissions put back into their return window (the creator's, their agency's share):
    /// each account and the amount, for its hold.
    pub commission_holds: Vec<(AccountId, u64)>,
}

/// Brings `order` back from what its chargeback took; `commission_held` says whether the
/// commission's return window is still open.
pub fn reinstate_order(
    taken: &Taken,
    order: &Order,
    won: &str,
    commission_held: bool,
) -> Result<OrderReinstatement, LedgerError> {
    let restores = taken.restores_sale();
    Ok(OrderReinstatement {
        transfers: taken.given_back(won, commission_held)?,
        // Only a paid order is ever reversed, so it was at least paid.
        status: restores.then(|| status_before_reversal(order).unwrap_or(OrderStatus::Paid)),
        commission_holds: match commission_held {
            true => taken.held_commissions(),
            false => Vec::new(),
        },
    })
}

/// The furthest an order got before it was refunded.
fn status_before_reversal(order: &Order) -> Option<OrderStatus> {
    order
        .history
        .iter()
        .map(|(status, _)| *status)
        .filter(|s| {
            matches!(
                s,
                OrderStatus::Paid
                    | OrderStatus::Shipped
                    | OrderStatus::Delivered
                    | OrderStatus::Completed
            )
        })
        .max_by_key(|s| OrderStatus::ALL.iter().position(|a| a == s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::postings;
    use crate::domain::shop::OrderLine;
    use std::collections::BTreeMap;

    fn moved(id: &str, from: AccountId, to: AccountId, amount: u64) -> Moved {
        Moved {
            id: id.into(),
            from,
            to,
            amount,
        }
    }

    fn net(transfers: &[Transfer]) -> BTreeMap<String, i64> {
        postings(transfers)
            .unwrap()
            .into_iter()
            .map(|p| (p.account.to_string(), p.delta))
            .collect()
    }

    fn taken(moved: Vec<Moved>) -> Taken {
        Taken {
            moved,
            traced: Vec::new(),
        }
    }

    #[test]
    fn a_coin_chargeback_is_given_back_with_holds_and_debts_landing_available() {
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "dp1");
        let taken = taken(vec![
            moved("dp1/wallet", AccountId::wallet("u"), issuer.clone(), 200),
            moved(
                "dp1/clawback/earnings-pending:a",
                AccountId::earnings_pending("a"),
                issuer.clone(),
                300,
            ),
            moved(
                "dp1/clawback/earnings-clawback:a",
                AccountId::new(AccountKind::EarningsClawback, "a"),
                issuer.clone(),
                100,
            ),
            moved(
                "dp1/loss",
                AccountId::outside(AccountKind::ChargebackLoss, "dp1"),
                issuer,
                400,
            ),
            moved(
                "dp1/cash",
                AccountId::outside(AccountKind::PlatformCash, "pi1"),
                AccountId::outside(AccountKind::PaymentProvider, "dp1"),
                999,
            ),
        ]);
        let back = taken.given_back("dp1/won", false).unwrap();
        assert!(back.iter().all(|t| t.kind == TransferKind::DisputeWon));
        assert_eq!(back[0].id, "won:dp1/wallet");
        assert_eq!(
            net(&back),
            BTreeMap::from([
                ("wallet:u".into(), 200),
                ("earnings:a".into(), 400),
                ("chargeback-loss:dp1".into(), 400),
                ("issuer:dp1".into(), -1_000),
                ("platform-cash:pi1".into(), 999),
                ("provider:dp1".into(), -999),
            ])
        );
    }

    fn order(history: &[OrderStatus]) -> Order {
        Order {
            agency_cut: None,
            order_id: "o1".into(),
            buyer_id: "b".into(),
            seller_id: "s".into(),
            stream_id: None,
            affiliate_id: Some("c".into()),
            lines: vec![OrderLine {
                product_id: "p".into(),
                quantity: 1,
                unit_price_cents: 10_000,
                affiliate_rate_bps: 1_000,
                per_buyer_limit: None,
            }],
            total_cents: 10_000,
            status: OrderStatus::Refunded,
            placed_at: "2026-12-01T00:00:00Z".into(),
            expires_at: "2026-12-01T00:15:00Z".into(),
            history: history
                .iter()
                .chain([&OrderStatus::Refunded])
                .map(|s| (*s, "2026-12-01T00:10:00Z".to_owned()))
                .collect(),
            refund: None,
            units_released: false,
            refund_reason: Some("charged_back".into()),
            owed_back_cents: 0,
            payment_event_id: None,
            version: 4,
        }
    }

    #[test]
    fn an_order_reversed_before_completing_is_back_where_the_dispute_found_it() {
        let o = order(&[
            OrderStatus::Paid,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ]);
        let provider = AccountId::outside(AccountKind::PaymentProvider, "dp2");
        let taken = taken(vec![moved("refund:o1/dp2", o.account(), provider, 10_000)]);
        let back = reinstate_order(&taken, &o, "dp2/won", true).unwrap();
        assert_eq!(back.status, Some(OrderStatus::Delivered));
        assert_eq!(back.commission_holds, []);
        assert_eq!(
            net(&back.transfers),
            BTreeMap::from([
                ("provider:dp2".into(), -10_000),
                ("order:o1".into(), 10_000)
            ])
        );
    }

    #[test]
    fn an_order_reversed_after_completing_gives_the_seller_and_the_creator_their_shares_back() {
        let o = order(&[
            OrderStatus::Paid,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Completed,
        ]);
        let provider = AccountId::outside(AccountKind::PaymentProvider, "dp3");
        let agency_share = AccountId::agency_share(AccountKind::AgencyCentsPending, "ag", "c");
        let taken = taken(vec![
            moved(
                "clawback:o1/dp3",
                AccountId::new(AccountKind::CommissionPending, "c"),
                provider.clone(),
                1_000,
            ),
            moved(
                "agency-clawback:o1/dp3",
                agency_share.clone(),
                provider.clone(),
                250,
            ),
            moved(
                "refund:o1/dp3",
                AccountId::new(AccountKind::SellerClawback, "s"),
                provider,
                9_000,
            ),
        ]);
        // Inside the commission's return window it goes back into it, the agency's share
        // included (each with its hold again); after it, available.
        for (held, commission, agency) in [
            (true, "commission-pending:c", "agency-cents-pending:ag~c"),
            (false, "commission:c", "agency-cents:ag"),
        ] {
            let back = reinstate_order(&taken, &o, "dp3/won", held).unwrap();
            assert_eq!(back.status, Some(OrderStatus::Completed));
            let holds = vec![
                (AccountId::new(AccountKind::CommissionPending, "c"), 1_000),
                (agency_share.clone(), 250),
            ];
            assert_eq!(back.commission_holds, if held { holds } else { vec![] });
            assert_eq!(
                net(&back.transfers),
                BTreeMap::from([
                    ("provider:dp3".into(), -10_250),
                    (commission.into(), 1_000),
                    (agency.into(), 250),
                    ("seller:s".into(), 9_000),
                ])
            );
        }
    }

    #[test]
    fn a_double_repayment_coming_back_leaves_the_order_refunded() {
        let taken = taken(vec![moved(
            "dp4/repaid-twice",
            AccountId::outside(AccountKind::PlatformExpense, "dp4"),
            AccountId::outside(AccountKind::PaymentProvider, "dp4"),
            4_000,
        )]);
        let back = reinstate_order(&taken, &order(&[OrderStatus::Paid]), "dp4/won", false).unwrap();
        assert_eq!(back.status, None);
        assert_eq!(
            net(&back.transfers),
            BTreeMap::from([
                ("provider:dp4".into(), -4_000),
                ("platform-expense:dp4".into(), 4_000),
            ])
        );
    }

    fn marker(event_id: &str, taken: Option<Taken>, won: Option<&str>) -> Marker {
        Marker {
            event_id: event_id.into(),
            taken,
            reinstated_by: won.map(Into::into),
            by_refund: false,
        }
    }

    #[test]
    fn each_reversal_is_a_round_that_one_win_ends() {
        let some = Some(Taken::default());
        let open = marker("cb1", some.clone(), None);
        let won = marker("cb1", some.clone(), Some("w1"));
        let won_first = marker("cb1", None, Some("w1"));
        assert_eq!(
            opening(None, "cb1", false),
            Opening::Reverse { replaces: None }
        );
        assert_eq!(
            opening(Some(&open), "cb2", false),
            Opening::Unchanged("already_charged_back")
        );
        // A refund over an open dispute came after its win: wait for the win.
        assert_eq!(opening(Some(&open), "re2", true), Opening::WaitForWin);
        let refunded = Marker {
            by_refund: true,
            ..open.clone()
        };
        assert_eq!(
            opening(Some(&refunded), "re2", true),
            Opening::Unchanged("already_charged_back")
        );
        // A refund after a win opens a new round; the won chargeback's late delivery does not.
        assert_eq!(
            opening(Some(&won), "re2", true),
            Opening::Reverse {
                replaces: Some(&won)
            }
        );
        assert_eq!(
            opening(Some(&won_first), "cb1", false),
            Opening::Unchanged("already_won")
        );

        assert_eq!(win(None, "cb1"), Win::MarkWonFirst { replaces: None });
        // A later round's win before its chargeback.
        assert_eq!(
            win(Some(&won), "cb2"),
            Win::MarkWonFirst {
                replaces: Some(&won)
            }
        );
        assert!(matches!(win(Some(&open), "cb1"), Win::GiveBack(..)));
        assert_eq!(
            win(Some(&open), "cb0"),
            Win::Unchanged("unchanged:reversed_by_another_event")
        );
        assert_eq!(win(Some(&won), "cb1"), Win::Unchanged("already_reinstated"));
        assert_eq!(win(Some(&marker("cb1", None, None)), "cb1"), Win::NotBooked);
    }
}

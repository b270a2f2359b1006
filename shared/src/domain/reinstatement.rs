//! A dispute the platform won: the card network returns the money, so what its chargeback took
//! is given back, once. A chargeback keeps what it booked ([`Taken`], on its marker) and the
//! reinstatement books the inverse, with the destination changed in two cases:
//! - what came out of a hold (a creator's pending earnings, a commission inside its return
//!   window) goes back available: the hold waited for exactly the risk the won dispute ended;
//! - what was booked as a payee's debt goes back to their available money and the debt stays:
//!   their next payout pays it off first, as it pays any debt, so a debt that later earnings
//!   paid off meanwhile never turns into credit (invariant 2).
//!
//! The gifts the chargeback traced are untraced, so each creator's diamonds stay the shares of
//! their settled gifts less what chargebacks still hold (invariant 3). A reinstated order
//! completes now: the bank confirmed the sale.

use super::chargebacks::TracedGift;
use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use super::shop::{completion_transfers, split_order, Order};

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
                })
                .collect(),
        }
    }

    /// The transfers that give it back, referencing the won dispute's event `won`.
    pub fn given_back(&self, won: &str) -> Result<Vec<Transfer>, LedgerError> {
        self.moved
            .iter()
            .map(|m| {
                Transfer::new(
                    format!("won:{}", m.id),
                    m.to.clone(),
                    given_back_to(&m.from),
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
    pub fn restores_sale(&self) -> bool {
        self.moved
            .iter()
            .any(|m| m.from.kind != AccountKind::PlatformExpense)
    }

    /// What reinstating `order` books: its money given back and, when that lands on the order
    /// (it was reversed before completing), the order's completion — the seller's proceeds and
    /// the creator's commission, available (the dispute was the return the window waited for).
    pub fn order_given_back(
        &self,
        order: &Order,
        won: &str,
        platform_fee_bps: u64,
    ) -> Result<Vec<Transfer>, LedgerError> {
        let mut transfers = self.given_back(won)?;
        if transfers.iter().any(|t| t.credit == order.account()) {
            let split = split_order(order, platform_fee_bps);
            transfers.extend(completion_transfers(order, &split, 0, false)?);
        }
        Ok(transfers)
    }
}

fn given_back_to(account: &AccountId) -> AccountId {
    let kind = match account.kind {
        AccountKind::EarningsPending | AccountKind::EarningsClawback => AccountKind::Earnings,
        AccountKind::CommissionPending => AccountKind::Commission,
        AccountKind::SellerClawback => AccountKind::SellerProceeds,
        other => other,
    };
    AccountId::new(kind, &account.owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::postings;
    use crate::domain::shop::{OrderLine, OrderStatus};
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

    #[test]
    fn a_coin_chargeback_is_given_back_with_holds_and_debts_landing_available() {
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "dp1");
        let taken = Taken {
            moved: vec![
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
            ],
            traced: Vec::new(),
        };
        let back = taken.given_back("dp1/won").unwrap();
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

    fn order(status: OrderStatus) -> Order {
        Order {
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
            status,
            placed_at: "2026-12-01T00:00:00Z".into(),
            expires_at: "2026-12-01T00:15:00Z".into(),
            history: Vec::new(),
            refund: None,
            refund_reason: None,
            owed_back_cents: 0,
            payment_event_id: None,
            version: 4,
        }
    }

    #[test]
    fn an_order_reversed_before_completing_completes_when_given_back() {
        let o = order(OrderStatus::Refunded);
        let provider = AccountId::outside(AccountKind::PaymentProvider, "dp2");
        let taken = Taken {
            moved: vec![moved("refund:o1", o.account(), provider, 10_000)],
            traced: Vec::new(),
        };
        let back = taken.order_given_back(&o, "dp2/won", 500).unwrap();
        assert_eq!(
            net(&back),
            BTreeMap::from([
                ("provider:dp2".into(), -10_000),
                // The fee stays on the order, as on any completed order.
                ("order:o1".into(), 500),
                ("seller:s".into(), 8_500),
                ("commission:c".into(), 1_000),
            ])
        );
    }

    #[test]
    fn an_order_reversed_after_completing_gives_the_seller_and_the_creator_their_shares_back() {
        let o = order(OrderStatus::Refunded);
        let provider = AccountId::outside(AccountKind::PaymentProvider, "dp3");
        let taken = Taken {
            moved: vec![
                moved(
                    "clawback:o1",
                    AccountId::new(AccountKind::CommissionPending, "c"),
                    provider.clone(),
                    1_000,
                ),
                moved(
                    "refund:o1",
                    AccountId::new(AccountKind::SellerClawback, "s"),
                    provider,
                    9_000,
                ),
            ],
            traced: Vec::new(),
        };
        assert!(taken.restores_sale());
        assert_eq!(
            net(&taken.order_given_back(&o, "dp3/won", 500).unwrap()),
            BTreeMap::from([
                ("provider:dp3".into(), -10_000),
                ("commission:c".into(), 1_000),
                ("seller:s".into(), 9_000),
            ])
        );
    }

    #[test]
    fn a_double_repayment_coming_back_leaves_the_order_refunded() {
        let taken = Taken {
            moved: vec![moved(
                "dp4/repaid-twice",
                AccountId::outside(AccountKind::PlatformExpense, "dp4"),
                AccountId::outside(AccountKind::PaymentProvider, "dp4"),
                4_000,
            )],
            traced: Vec::new(),
        };
        assert!(!taken.restores_sale());
        let back = taken
            .order_given_back(&order(OrderStatus::Refunded), "dp4/won", 500)
            .unwrap();
        assert_eq!(
            net(&back),
            BTreeMap::from([
                ("provider:dp4".into(), -4_000),
                ("platform-expense:dp4".into(), 4_000),
            ])
        );
    }
}

//! Double-entry ledger: accounts, transfers and the postings a set of transfers makes.
//!
//! Every movement of value is a [`Transfer`] from one account to another, in one [`Unit`], with
//! an id chosen by the caller (the same id twice is the same operation). A set of transfers nets
//! to one signed [`Posting`] per account; the postings of any set sum to zero per unit, which is
//! asserted here whenever they are built (conservation).

use std::collections::BTreeMap;
use std::fmt;

/// What an amount counts. Amounts of different units never mix.
///
/// There is no separate diamond unit: a creator's diamonds are the coins of value they have
/// earned, so splitting a gift between creator and platform is a plain transfer. A conversion
/// between two units would need an exchange account on both sides of every settlement, and that
/// account would be written by every settlement batch on the platform (a hot item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    Coins,
    Cents,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Coins => "coins",
            Unit::Cents => "cents",
        }
    }

    pub fn parse(s: &str) -> Option<Unit> {
        [Unit::Coins, Unit::Cents]
            .into_iter()
            .find(|u| u.as_str() == s)
    }
}

/// The kinds of account; the kind fixes the unit and whether the balance may go below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// A viewer's coins.
    Wallet,
    /// One sent gift's coins, held until settlement splits them (pending, never "available").
    /// Settlement moves the creator's share out; the platform's share stays here, so the
    /// platform's gift revenue is sharded one account per gift and costs no write of its own.
    PendingGift,
    /// A creator's earned diamonds that may be paid out.
    Earnings,
    /// A creator's earned diamonds still inside their hold (chargeback window).
    EarningsPending,
    /// Diamonds a creator owes back for gifts paid with coins charged back after their hold
    /// ended: negative, like a seller's clawback; their next released earnings pay it off first.
    EarningsClawback,
    /// Where coins come from when sold and go back to on a chargeback: the coins in circulation
    /// are the negative of its balance.
    CoinIssuer,
    /// The payment provider, outside the platform: the cash it collected for us, negated.
    PaymentProvider,
    /// Cash the platform received from coin sales.
    PlatformCash,
    /// Coins spent before their purchase was charged back: the platform's loss.
    ChargebackLoss,
    /// One shop order's money: the buyer's payment, held until the order completes (pending,
    /// never "available"). Completion moves the seller's and creator's shares out; the platform
    /// fee stays here, so fee revenue is sharded one account per order, like gift revenue.
    Order,
    /// A seller's proceeds from completed orders, available.
    SellerProceeds,
    /// What a seller owes back for refunds made after completion: the only seller balance that
    /// may go negative; later proceeds pay it off first.
    SellerClawback,
    /// A creator's affiliate commissions, available.
    Commission,
    /// A creator's affiliate commissions still inside their hold (the return window).
    CommissionPending,
    /// Money the platform owes a buyer: refunds, and payments for orders that had expired or been
    /// cancelled (never lost, always visible).
    RefundOwed,
    /// A creator's payouts requested and not yet paid or failed (in flight, never "available").
    InPayout,
    /// What the payout provider paid out to a creator: money that left the platform, one account
    /// per creator (the world outside, as the payment provider is on the way in).
    PaidOut,
    /// What the platform paid from its own funds by an admin's correction (goodwill, a
    /// shipping refund): negative, like the loss accounts.
    PlatformExpense,
    /// A seller's payouts requested and not yet paid or failed.
    SellerInPayout,
    /// What the payout provider paid out to a seller.
    SellerPaidOut,
    /// A creator's diamonds turned into cash for a payout: retired, like coins charged back.
    DiamondsRedeemed,
    /// The cash the platform funds for a creator's redeemed diamonds (negative: money out).
    /// Per creator, so a payout run writes no shared platform account.
    RedemptionCash,
    /// An agency's cut of one of its creators' gift earnings, until the gifts' hold ends: one
    /// account per (agency, creator) (see [`AccountId::agency_share`]).
    AgencyEarningsPending,
    /// An agency's cut of gift earnings that may be paid out.
    AgencyEarnings,
    /// What an agency owes back in diamonds for the cuts of gifts paid with coins charged back
    /// after the agency's diamonds were paid out: negative, like a creator's clawback.
    AgencyClawback,
    /// An agency's cut of one of its creators' commissions, until their hold ends: one account
    /// per (agency, creator), as its pending diamonds.
    AgencyCentsPending,
    /// An agency's cents that may be paid out: its cut of commissions, and what a reversed
    /// payout gave back.
    AgencyCents,
    /// An agency's payouts requested and not yet paid or failed.
    AgencyInPayout,
    /// What the payout provider paid out to an agency.
    AgencyPaidOut,
    /// An agency's diamonds turned into cash for a payout: retired, like a creator's.
    AgencyDiamondsRedeemed,
}

impl AccountKind {
    const ALL: [AccountKind; 30] = [
        AccountKind::Wallet,
        AccountKind::PendingGift,
        AccountKind::Earnings,
        AccountKind::EarningsPending,
        AccountKind::EarningsClawback,
        AccountKind::CoinIssuer,
        AccountKind::PaymentProvider,
        AccountKind::PlatformCash,
        AccountKind::ChargebackLoss,
        AccountKind::Order,
        AccountKind::SellerProceeds,
        AccountKind::SellerClawback,
        AccountKind::Commission,
        AccountKind::CommissionPending,
        AccountKind::RefundOwed,
        AccountKind::InPayout,
        AccountKind::PaidOut,
        AccountKind::PlatformExpense,
        AccountKind::SellerInPayout,
        AccountKind::SellerPaidOut,
        AccountKind::DiamondsRedeemed,
        AccountKind::RedemptionCash,
        AccountKind::AgencyEarningsPending,
        AccountKind::AgencyEarnings,
        AccountKind::AgencyClawback,
        AccountKind::AgencyCentsPending,
        AccountKind::AgencyCents,
        AccountKind::AgencyInPayout,
        AccountKind::AgencyPaidOut,
        AccountKind::AgencyDiamondsRedeemed,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::PendingGift => "gift",
            AccountKind::Earnings => "earnings",
            AccountKind::EarningsPending => "earnings-pending",
            AccountKind::EarningsClawback => "earnings-clawback",
            AccountKind::CoinIssuer => "issuer",
            AccountKind::PaymentProvider => "provider",
            AccountKind::PlatformCash => "platform-cash",
            AccountKind::ChargebackLoss => "chargeback-loss",
            AccountKind::Order => "order",
            AccountKind::SellerProceeds => "seller",
            AccountKind::SellerClawback => "seller-clawback",
            AccountKind::Commission => "commission",
            AccountKind::CommissionPending => "commission-pending",
            AccountKind::RefundOwed => "refund-owed",
            AccountKind::InPayout => "in-payout",
            AccountKind::PaidOut => "paid-out",
            AccountKind::PlatformExpense => "platform-expense",
            AccountKind::SellerInPayout => "seller-in-payout",
            AccountKind::SellerPaidOut => "seller-paid-out",
            AccountKind::DiamondsRedeemed => "redeemed",
            AccountKind::RedemptionCash => "redemption-cash",
            AccountKind::AgencyEarningsPending => "agency-pending",
            AccountKind::AgencyEarnings => "agency-earnings",
            AccountKind::AgencyClawback => "agency-clawback",
            AccountKind::AgencyCentsPending => "agency-cents-pending",
            AccountKind::AgencyCents => "agency-cents",
            AccountKind::AgencyInPayout => "agency-in-payout",
            AccountKind::AgencyPaidOut => "agency-paid-out",
            AccountKind::AgencyDiamondsRedeemed => "agency-redeemed",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            AccountKind::Wallet
            | AccountKind::PendingGift
            | AccountKind::Earnings
            | AccountKind::EarningsPending
            | AccountKind::EarningsClawback
            | AccountKind::CoinIssuer
            | AccountKind::ChargebackLoss
            | AccountKind::DiamondsRedeemed
            | AccountKind::AgencyEarningsPending
            | AccountKind::AgencyEarnings
            | AccountKind::AgencyClawback
            | AccountKind::AgencyDiamondsRedeemed => Unit::Coins,
            AccountKind::PaymentProvider
            | AccountKind::PlatformCash
            | AccountKind::Order
            | AccountKind::SellerProceeds
            | AccountKind::SellerClawback
            | AccountKind::Commission
            | AccountKind::CommissionPending
            | AccountKind::RefundOwed
            | AccountKind::InPayout
            | AccountKind::PaidOut
            | AccountKind::PlatformExpense
            | AccountKind::SellerInPayout
            | AccountKind::SellerPaidOut
            | AccountKind::RedemptionCash
            | AccountKind::AgencyCentsPending
            | AccountKind::AgencyCents
            | AccountKind::AgencyInPayout
            | AccountKind::AgencyPaidOut => Unit::Cents,
        }
    }

    /// Only the world outside (issuer, provider), loss accounts and payees' clawbacks may be
    /// negative; everything a person owns is guarded by a condition in the same transaction
    /// that debits it.
    pub fn may_go_negative(self) -> bool {
        matches!(
            self,
            AccountKind::CoinIssuer
                | AccountKind::PaymentProvider
                | AccountKind::ChargebackLoss
                | AccountKind::SellerClawback
                | AccountKind::EarningsClawback
                | AccountKind::AgencyClawback
                | AccountKind::RedemptionCash
                | AccountKind::PlatformExpense
        )
    }

    /// Whose statement an account of this kind is on, and which of their balances (API.md's
    /// balance fields) it holds: exactly these accounts get statement entries, so every balance
    /// is explained entry by entry.
    pub fn statement_balance(self) -> Option<(PayeeKind, &'static str)> {
        use PayeeKind::{Agency, Creator, Seller};
        Some(match self {
            AccountKind::EarningsPending => (Creator, "diamonds_pending"),
            AccountKind::Earnings => (Creator, "diamonds_available"),
            AccountKind::EarningsClawback => (Creator, "diamonds_clawback_balance"),
            AccountKind::CommissionPending => (Creator, "cents_pending"),
            AccountKind::Commission => (Creator, "cents_available"),
            AccountKind::InPayout => (Creator, "cents_in_payout"),
            AccountKind::PaidOut => (Creator, "cents_paid_out"),
            AccountKind::SellerProceeds => (Seller, "cents_available"),
            AccountKind::SellerClawback => (Seller, "clawback_balance"),
            AccountKind::SellerInPayout => (Seller, "cents_in_payout"),
            AccountKind::SellerPaidOut => (Seller, "cents_paid_out"),
            AccountKind::AgencyEarningsPending => (Agency, "diamonds_pending"),
            AccountKind::AgencyEarnings => (Agency, "diamonds_available"),
            AccountKind::AgencyClawback => (Agency, "diamonds_clawback_balance"),
            AccountKind::AgencyCentsPending => (Agency, "cents_pending"),
            AccountKind::AgencyCents => (Agency, "cents_available"),
            AccountKind::AgencyInPayout => (Agency, "cents_in_payout"),
            AccountKind::AgencyPaidOut => (Agency, "cents_paid_out"),
            _ => return None,
        })
    }

    /// Available balances a payout draws from: the scheduled payout run finds payees through
    /// them.
    pub fn payable(self) -> bool {
        PayeeKind::drawing_from(self).is_some()
    }

    /// Accounts kept per (agency, creator) rather than per agency: the ones settlement and
    /// order completion credit. Only that creator's own settlements write one, and those
    /// already write the creator's own account, so an agency with many creators adds no item
    /// their settlements share (DESIGN.md invariant 7). Releases move them into the agency's
    /// one available account, at most once per hold.
    pub fn kept_per_creator(self) -> bool {
        matches!(
            self,
            AccountKind::AgencyEarningsPending | AccountKind::AgencyCentsPending
        )
    }

    /// Where value held in a pending account goes when its hold ends.
    pub fn released_to(self) -> Option<AccountKind> {
        match self {
            AccountKind::EarningsPending => Some(AccountKind::Earnings),
            AccountKind::CommissionPending => Some(AccountKind::Commission),
            AccountKind::AgencyEarningsPending => Some(AccountKind::AgencyEarnings),
            AccountKind::AgencyCentsPending => Some(AccountKind::AgencyCents),
            _ => None,
        }
    }
}

/// How value leaves an account of a kind: the ledger audit's proof that nothing owed to someone
/// outside is only ever credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayOut {
    /// Owed to someone outside and sent to them through the provider, into this account of the
    /// world outside (a payout, a buyer's refund).
    Provider(AccountKind),
    /// Moved on by an operation of its own (settlement, a hold's release, completion, a payout
    /// request) to this account.
    MovesTo(AccountKind),
    /// Its owner spends it (a wallet's coins on gifts), or a chargeback takes it back.
    Spent,
    /// A debt: paid off first by the owner's next money in this account.
    PaidOffFrom(AccountKind),
    /// Nobody outside is owed it: the platform's own (fees, losses, cash), or the world outside
    /// itself.
    NotOwed,
}

impl AccountKind {
    pub fn way_out(self) -> WayOut {
        use AccountKind::*;
        match self {
            Wallet => WayOut::Spent,
            PendingGift => WayOut::MovesTo(EarningsPending),
            EarningsPending => WayOut::MovesTo(Earnings),
            // Redeemed for a payout's cash (which `redemption-cash` funds into `in-payout`).
            Earnings => WayOut::MovesTo(DiamondsRedeemed),
            EarningsClawback => WayOut::PaidOffFrom(Earnings),
            CommissionPending => WayOut::MovesTo(Commission),
            Commission => WayOut::MovesTo(InPayout),
            InPayout => WayOut::Provider(PaidOut),
            Order => WayOut::MovesTo(SellerProceeds),
            SellerProceeds => WayOut::MovesTo(SellerInPayout),
            SellerClawback => WayOut::PaidOffFrom(SellerProceeds),
            SellerInPayout => WayOut::Provider(SellerPaidOut),
            RefundOwed => WayOut::Provider(PaymentProvider),
            AgencyEarningsPending => WayOut::MovesTo(AgencyEarnings),
            AgencyEarnings => WayOut::MovesTo(AgencyDiamondsRedeemed),
            AgencyClawback => WayOut::PaidOffFrom(AgencyEarnings),
            AgencyCentsPending => WayOut::MovesTo(AgencyCents),
            AgencyCents => WayOut::MovesTo(AgencyInPayout),
            AgencyInPayout => WayOut::Provider(AgencyPaidOut),
            CoinIssuer
            | PaymentProvider
            | PaidOut
            | SellerPaidOut
            | AgencyPaidOut
            | PlatformCash
            | ChargebackLoss
            | PlatformExpense
            | DiamondsRedeemed
            | AgencyDiamondsRedeemed
            | RedemptionCash => WayOut::NotOwed,
        }
    }

    /// Whether value in this account, however it moves on, ends with the one it is owed to (or
    /// is owed to nobody outside): at most a few operations away, never in a circle.
    pub fn drains(self) -> bool {
        let mut kind = self;
        for _ in 0..Self::ALL.len() {
            match kind.way_out() {
                WayOut::Provider(to) => return to.way_out() == WayOut::NotOwed,
                WayOut::Spent | WayOut::NotOwed => return true,
                WayOut::MovesTo(next) | WayOut::PaidOffFrom(next) => kind = next,
            }
        }
        false
    }
}

/// Who money is owed to and paid out to, and whose statement an account is on: the kind fixes
/// which accounts a payout draws from and moves through (`domain::payouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PayeeKind {
    Creator,
    Seller,
    /// A creator agency, paid its cut of its creators' earnings (`domain::agencies`).
    Agency,
}

impl PayeeKind {
    pub const ALL: [PayeeKind; 3] = [PayeeKind::Creator, PayeeKind::Seller, PayeeKind::Agency];

    pub fn as_str(self) -> &'static str {
        match self {
            PayeeKind::Creator => "creator",
            PayeeKind::Seller => "seller",
            PayeeKind::Agency => "agency",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The available cents a payout draws first.
    pub fn cents_source(self) -> AccountKind {
        match self {
            PayeeKind::Creator => AccountKind::Commission,
            PayeeKind::Seller => AccountKind::SellerProceeds,
            PayeeKind::Agency => AccountKind::AgencyCents,
        }
    }

    /// The available diamonds a payout converts for the rest, if this payee earns any.
    pub fn diamonds_source(self) -> Option<AccountKind> {
        match self {
            PayeeKind::Creator => Some(AccountKind::Earnings),
            PayeeKind::Seller => None,
            PayeeKind::Agency => Some(AccountKind::AgencyEarnings),
        }
    }

    /// Where the diamonds a payout converts are retired (per payee kind, so each kind's
    /// diamonds are audited on their own).
    pub fn diamonds_redeemed(self) -> AccountKind {
        match self {
            PayeeKind::Creator | PayeeKind::Seller => AccountKind::DiamondsRedeemed,
            PayeeKind::Agency => AccountKind::AgencyDiamondsRedeemed,
        }
    }

    pub fn in_payout(self) -> AccountKind {
        match self {
            PayeeKind::Creator => AccountKind::InPayout,
            PayeeKind::Seller => AccountKind::SellerInPayout,
            PayeeKind::Agency => AccountKind::AgencyInPayout,
        }
    }

    pub fn paid_out(self) -> AccountKind {
        match self {
            PayeeKind::Creator => AccountKind::PaidOut,
            PayeeKind::Seller => AccountKind::SellerPaidOut,
            PayeeKind::Agency => AccountKind::AgencyPaidOut,
        }
    }

    /// What the payee owes back (a negative balance): a creator diamonds for charged-back
    /// gifts, a seller cents for refunds after completion.
    pub fn debt(self) -> AccountKind {
        match self {
            PayeeKind::Creator => AccountKind::EarningsClawback,
            PayeeKind::Seller => AccountKind::SellerClawback,
            PayeeKind::Agency => AccountKind::AgencyClawback,
        }
    }

    /// The available balance that pays the debt off first, whenever money reaches it (a hold's
    /// release, an order's completion) and before any payout draws from it: the one in the
    /// debt's unit.
    pub fn debt_source(self) -> AccountKind {
        match self {
            PayeeKind::Creator => AccountKind::Earnings,
            PayeeKind::Seller => AccountKind::SellerProceeds,
            PayeeKind::Agency => AccountKind::AgencyEarnings,
        }
    }

    /// The payee kind whose debt an available balance of `kind` pays off first.
    pub fn paying_debt_from(kind: AccountKind) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.debt_source() == kind)
    }

    /// The payee kind whose payout run an available balance of `kind` lists them for.
    pub fn drawing_from(kind: AccountKind) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.cents_source() == kind || p.diamonds_source() == Some(kind))
    }
}

const AGENCY_SHARE_SEPARATOR: char = '~';

/// An account: a kind plus the id of what it belongs to (a user, a gift, or `main` for the
/// platform's singletons). Rendered as `kind:owner`, which is also its storage key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId {
    pub kind: AccountKind,
    pub owner: String,
}

impl AccountId {
    pub fn new(kind: AccountKind, owner: impl Into<String>) -> Self {
        Self {
            kind,
            owner: owner.into(),
        }
    }

    pub fn wallet(user_id: &str) -> Self {
        Self::new(AccountKind::Wallet, user_id)
    }

    pub fn order(order_id: &str) -> Self {
        Self::new(AccountKind::Order, order_id)
    }

    pub fn pending_gift(gift_txn_id: &str) -> Self {
        Self::new(AccountKind::PendingGift, gift_txn_id)
    }

    pub fn earnings(creator_id: &str) -> Self {
        Self::new(AccountKind::Earnings, creator_id)
    }

    pub fn earnings_pending(creator_id: &str) -> Self {
        Self::new(AccountKind::EarningsPending, creator_id)
    }

    /// An agency's pending share of one creator's earnings (a kind [kept per
    /// creator](AccountKind::kept_per_creator)): owned by `<agency>~<creator>`. Agency ids are
    /// derived (`ag_<hex>`), so the first `~` always ends the agency's id.
    pub fn agency_share(kind: AccountKind, agency_id: &str, creator_id: &str) -> Self {
        assert!(
            kind.kept_per_creator(),
            "{kind:?} is one account per agency"
        );
        Self::new(
            kind,
            format!("{agency_id}{AGENCY_SHARE_SEPARATOR}{creator_id}"),
        )
    }

    /// Whose account this is on a statement and in a balance: the agency for its per-creator
    /// accounts, else the owner.
    pub fn payee_owner(&self) -> &str {
        match self.kind.kept_per_creator() {
            true => self
                .owner
                .split_once(AGENCY_SHARE_SEPARATOR)
                .map_or(self.owner.as_str(), |(agency, _)| agency),
            false => &self.owner,
        }
    }

    /// The available account a pending one releases into, if it is pending: its payee's.
    pub fn released(&self) -> Option<AccountId> {
        self.kind
            .released_to()
            .map(|kind| AccountId::new(kind, self.payee_owner()))
    }

    /// The platform's account of a kind for one payment event (coin issue, provider cash,
    /// chargeback loss). Kept per event, as a gift keeps the platform's share, so concurrent
    /// payments share no item (DESIGN.md invariant 7); the platform's total is the sum over them.
    pub fn outside(kind: AccountKind, event_id: &str) -> Self {
        Self::new(kind, event_id)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (prefix, owner) = s.split_once(':')?;
        let kind = AccountKind::ALL
            .into_iter()
            .find(|k| k.prefix() == prefix)?;
        (!owner.is_empty()).then(|| Self::new(kind, owner))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.prefix(), self.owner)
    }
}

/// Why value moved. Stored on every transfer so a statement can explain each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    CoinPurchase,
    CoinSaleCash,
    Gift,
    Chargeback,
    ChargebackLoss,
    /// A chargeback taking back the diamonds its spent coins earned a creator: from their
    /// pending earnings, or as a debt once released.
    ChargebackClawback,
    /// A chargeback's cash, back from the platform to the provider (the card network took it).
    ChargebackCash,
    /// A settled gift's creator share.
    GiftEarnings,
    /// Earnings whose hold ended, pending → available.
    HoldRelease,
    /// A buyer's payment for an order, provider → the order.
    OrderPayment,
    /// A payment that arrived for an order that could not take it, provider → owed to the buyer.
    PaymentOwedBack,
    /// A completed order's seller share.
    OrderProceeds,
    /// A completed order's creator share.
    AffiliateCommission,
    /// Available money paying off what its payee owes (a clawback).
    ClawbackRecovery,
    /// An order's money going back to its buyer.
    OrderRefund,
    /// A refund taking back a creator's commission still inside its hold.
    CommissionClawback,
    /// Available earnings moving into a requested payout.
    PayoutRequest,
    /// A payout the provider confirmed: the money left the platform.
    PayoutPaid,
    /// A failed payout's money going back where it was drawn from.
    PayoutReturned,
    /// A gift sent after its stream's end plus the grace, back to its sender.
    LateGiftRefund,
    /// An admin's correction between two accounts, with the admin and the reason.
    Correction,
    /// A refund the provider confirmed: owed to the buyer → out through the provider.
    RefundPaid,
    /// A dispute the platform won: what its chargeback took, given back.
    DisputeWon,
    /// The cut of a settled gift or a completed order's commission for the creator's agency.
    AgencyCut,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::CoinPurchase => "coin_purchase",
            TransferKind::CoinSaleCash => "coin_sale_cash",
            TransferKind::Gift => "gift",
            TransferKind::Chargeback => "chargeback",
            TransferKind::ChargebackLoss => "chargeback_loss",
            TransferKind::ChargebackClawback => "chargeback_clawback",
            TransferKind::ChargebackCash => "chargeback_cash",
            TransferKind::GiftEarnings => "gift_earnings",
            TransferKind::HoldRelease => "hold_release",
            TransferKind::OrderPayment => "order_payment",
            TransferKind::PaymentOwedBack => "payment_owed_back",
            TransferKind::OrderProceeds => "order_proceeds",
            TransferKind::AffiliateCommission => "affiliate_commission",
            TransferKind::ClawbackRecovery => "clawback_recovery",
            TransferKind::OrderRefund => "order_refund",
            TransferKind::CommissionClawback => "commission_clawback",
            TransferKind::PayoutRequest => "payout_request",
            TransferKind::PayoutPaid => "payout_paid",
            TransferKind::PayoutReturned => "payout_returned",
            TransferKind::LateGiftRefund => "late_gift_refund",
            TransferKind::Correction => "correction",
            TransferKind::RefundPaid => "refund_paid",
            TransferKind::DisputeWon => "dispute_won",
            TransferKind::AgencyCut => "agency_cut",
        }
    }
}

/// One movement of `amount` from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Caller-chosen and deterministic from the business id: a retry builds the same id, and the
    /// store refuses to write an id twice.
    pub id: String,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: u64,
    pub kind: TransferKind,
    /// The business id this transfer belongs to (gift, webhook event, ...).
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("transfer {0} moves nothing")]
    ZeroAmount(String),
    #[error("transfer {0} debits and credits the same account")]
    SameAccount(String),
    #[error("transfer {id} mixes units: {debit} and {credit}")]
    MixedUnits {
        id: String,
        debit: AccountId,
        credit: AccountId,
    },
    #[error("transfer {0} appears twice in one commit")]
    DuplicateTransfer(String),
    #[error("amounts overflow")]
    Overflow,
}

impl Transfer {
    pub fn new(
        id: impl Into<String>,
        debit: AccountId,
        credit: AccountId,
        amount: u64,
        kind: TransferKind,
        reference: impl Into<String>,
    ) -> Result<Self, LedgerError> {
        let id = id.into();
        if amount == 0 {
            return Err(LedgerError::ZeroAmount(id));
        }
        if debit == credit {
            return Err(LedgerError::SameAccount(id));
        }
        if debit.kind.unit() != credit.kind.unit() {
            return Err(LedgerError::MixedUnits { id, debit, credit });
        }
        // Amounts are stored as signed 64-bit numbers; refuse what could not be negated.
        if i64::try_from(amount).is_err() {
            return Err(LedgerError::Overflow);
        }
        Ok(Self {
            id,
            debit,
            credit,
            amount,
            kind,
            reference: reference.into(),
        })
    }

    pub fn unit(&self) -> Unit {
        self.debit.kind.unit()
    }
}

/// The net change one commit makes to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountId,
    pub delta: i64,
}

/// Nets transfers into one posting per account (a DynamoDB transaction may touch an item only
/// once), in a stable order, and asserts that they conserve value per unit.
pub fn postings(transfers: &[Transfer]) -> Result<Vec<Posting>, LedgerError> {
    let mut seen = std::collections::HashSet::new();
    let mut net: BTreeMap<&AccountId, i64> = BTreeMap::new();
    for t in transfers {
        if !seen.insert(t.id.as_str()) {
            return Err(LedgerError::DuplicateTransfer(t.id.clone()));
        }
        let amount = i64::try_from(t.amount).map_err(|_| LedgerError::Overflow)?;
        let debit = net.entry(&t.debit).or_default();
        *debit = debit.checked_sub(amount).ok_or(LedgerError::Overflow)?;
        let credit = net.entry(&t.credit).or_default();
        *credit = credit.checked_add(amount).ok_or(LedgerError::Overflow)?;
    }
    let postings: Vec<Posting> = net
        .into_iter()
        .filter(|(_, delta)| *delta != 0)
        .map(|(account, delta)| Posting {
            account: account.clone(),
            delta,
        })
        .collect();
    for unit in [Unit::Coins, Unit::Cents] {
        let sum: i128 = postings
            .iter()
            .filter(|p| p.account.kind.unit() == unit)
            .map(|p| i128::from(p.delta))
            .sum();
        assert_eq!(sum, 0, "postings must conserve {}", unit.as_str());
    }
    Ok(postings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, debit: AccountId, credit: AccountId, amount: u64) -> Transfer {
        Transfer::new(id, debit, credit, amount, TransferKind::Gift, "ref").unwrap()
    }

    #[test]
    fn every_account_owed_to_someone_has_a_way_out_in_its_own_unit() {
        for kind in AccountKind::ALL {
            assert!(
                kind.drains(),
                "{kind:?} never reaches whoever it is owed to"
            );
            match kind.way_out() {
                WayOut::MovesTo(to) | WayOut::Provider(to) | WayOut::PaidOffFrom(to) => {
                    assert_eq!(kind.unit(), to.unit(), "{kind:?} → {to:?}")
                }
                WayOut::Spent | WayOut::NotOwed => {}
            }
        }
        // Only what may go negative is a debt, and every payee's debt is paid off first by
        // where their money arrives.
        for p in PayeeKind::ALL {
            assert!(p.debt().may_go_negative());
            assert_eq!(p.debt().way_out(), WayOut::PaidOffFrom(p.debt_source()));
        }
        assert!(!AccountKind::RefundOwed.may_go_negative());
    }

    #[test]
    fn account_ids_round_trip_through_their_text_form() {
        let a = AccountId::wallet("user:with:colons");
        assert_eq!(a.to_string(), "wallet:user:with:colons");
        assert_eq!(AccountId::parse(&a.to_string()), Some(a));
        assert_eq!(AccountId::parse("nope:x"), None);
        assert_eq!(AccountId::parse("wallet:"), None);
    }

    #[test]
    fn an_agency_share_is_the_agency_s_on_statements_and_releases_into_its_one_account() {
        let share = AccountId::agency_share(AccountKind::AgencyEarningsPending, "ag_1", "c~x:y");
        assert_eq!(share.to_string(), "agency-pending:ag_1~c~x:y");
        assert_eq!(AccountId::parse(&share.to_string()).as_ref(), Some(&share));
        assert_eq!(share.payee_owner(), "ag_1");
        assert_eq!(
            share.released(),
            Some(AccountId::new(AccountKind::AgencyEarnings, "ag_1"))
        );
        let cents = AccountId::agency_share(AccountKind::AgencyCentsPending, "ag_1", "c");
        assert_eq!(
            cents.released(),
            Some(AccountId::new(AccountKind::AgencyCents, "ag_1"))
        );
        // Any other account is its owner's, `~` or not.
        let creator = AccountId::earnings_pending("a~b");
        assert_eq!(creator.payee_owner(), "a~b");
        assert_eq!(creator.released(), Some(AccountId::earnings("a~b")));
        assert_eq!(AccountId::earnings("a").released(), None);
    }

    #[test]
    fn transfers_refuse_zero_same_account_and_mixed_units() {
        let w = AccountId::wallet("u");
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "evt_1");
        let cash = AccountId::outside(AccountKind::PlatformCash, "evt_1");
        let mk = |d: &AccountId, c: &AccountId, n| {
            Transfer::new("x", d.clone(), c.clone(), n, TransferKind::Gift, "r")
        };
        assert!(matches!(
            mk(&issuer, &w, 0),
            Err(LedgerError::ZeroAmount(_))
        ));
        assert!(matches!(mk(&w, &w, 1), Err(LedgerError::SameAccount(_))));
        assert!(matches!(
            mk(&issuer, &cash, 1),
            Err(LedgerError::MixedUnits { .. })
        ));
        assert!(matches!(
            mk(&issuer, &w, u64::MAX),
            Err(LedgerError::Overflow)
        ));
    }

    #[test]
    fn postings_net_per_account_and_conserve_value() {
        let w = AccountId::wallet("u");
        let g = AccountId::pending_gift("g1");
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "evt_1");
        let p = postings(&[
            t("a", issuer.clone(), w.clone(), 100),
            t("b", w.clone(), g.clone(), 30),
        ])
        .unwrap();
        assert_eq!(
            p,
            vec![
                Posting {
                    account: w,
                    delta: 70
                },
                Posting {
                    account: g,
                    delta: 30
                },
                Posting {
                    account: issuer,
                    delta: -100
                },
            ]
        );
        assert_eq!(p.iter().map(|p| p.delta).sum::<i64>(), 0);
    }

    #[test]
    fn postings_refuse_a_transfer_id_twice() {
        let w = AccountId::wallet("u");
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "evt_1");
        let x = t("a", issuer, w, 1);
        assert_eq!(
            postings(&[x.clone(), x]),
            Err(LedgerError::DuplicateTransfer("a".into()))
        );
    }

    #[test]
    fn accounts_cancelling_out_produce_no_posting() {
        let w = AccountId::wallet("u");
        let issuer = AccountId::outside(AccountKind::CoinIssuer, "evt_1");
        let p = postings(&[t("a", issuer.clone(), w.clone(), 5), t("b", w, issuer, 5)]).unwrap();
        assert!(p.is_empty());
    }
}

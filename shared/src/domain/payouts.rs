//! Payouts, one machine for every payee kind (creators, sellers): what a payout may draw
//! (minimum, daily cap, available balance), how it is drawn (available cents first, then — for
//! creators — diamonds converted at the configured rate, whole cents only), its statuses, and
//! the transfers of each step.
//!
//! Money path: the payee's available balances → their in-payout account when requested → their
//! paid-out account when the provider confirms, or back exactly where it came from when the
//! payout fails or an admin returns it. Diamonds become cents through two per-creator accounts
//! (`redeemed`, coins, and `redemption-cash`, cents), so conversion is a pair of ordinary
//! transfers and no platform account is written by a payout run.

use super::admin::AdminAction;
pub use super::ledger::PayeeKind;
use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};

/// DOMAIN.md: $50 minimum payout (Twitch).
pub const DEFAULT_MINIMUM_CENTS: u64 = 5_000;
/// DOMAIN.md: $1,000 a day at most (TikTok).
pub const DEFAULT_DAILY_CAP_CENTS: u64 = 100_000;
/// Longest reason kept on a failed or held payout: a provider's message, trimmed.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutPolicy {
    pub minimum_cents: u64,
    pub daily_cap_cents: u64,
}

impl Default for PayoutPolicy {
    fn default() -> Self {
        Self {
            minimum_cents: DEFAULT_MINIMUM_CENTS,
            daily_cap_cents: DEFAULT_DAILY_CAP_CENTS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    #[error("a payout is at least {minimum_cents} cents")]
    BelowMinimum { minimum_cents: u64 },
    #[error("payouts are capped at {cap_cents} cents a day")]
    DailyCap { cap_cents: u64 },
    #[error("only {payable_cents} cents are available to pay out")]
    InsufficientAvailable { payable_cents: u64 },
}

/// Whole cents that `diamonds` pay out at `millicents` each; the fraction stays as diamonds.
pub fn payable_cents(diamonds: u64, millicents: u64) -> u64 {
    let cents = u128::from(diamonds) * u128::from(millicents) / 1000;
    u64::try_from(cents).unwrap_or(u64::MAX)
}

/// What a creator can be paid out now: available cents plus the whole cents their available
/// diamonds convert to.
pub fn payable(cents_available: u64, diamonds_available: u64, millicents: u64) -> u64 {
    cents_available.saturating_add(payable_cents(diamonds_available, millicents))
}

/// Where a payout's cents come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Draw {
    /// From available commissions (cents).
    pub cents: u64,
    /// Available diamonds redeemed...
    pub diamonds: u64,
    /// ...for these cents.
    pub cents_from_diamonds: u64,
}

/// What a payout of `amount_cents` may draw: within the policy's limits, from cents first, then
/// the fewest diamonds that cover the rest. The creator is never paid a fraction of a cent and
/// keeps every diamond not needed; when the rate does not divide the rest evenly, the last
/// diamond's leftover fraction of a cent goes with it.
pub fn draw(
    amount_cents: u64,
    cents_available: u64,
    diamonds_available: u64,
    millicents: u64,
    policy: &PayoutPolicy,
) -> Result<Draw, PayoutError> {
    if amount_cents < policy.minimum_cents {
        return Err(PayoutError::BelowMinimum {
            minimum_cents: policy.minimum_cents,
        });
    }
    if amount_cents > policy.daily_cap_cents {
        return Err(PayoutError::DailyCap {
            cap_cents: policy.daily_cap_cents,
        });
    }
    let payable = payable(cents_available, diamonds_available, millicents);
    if amount_cents > payable {
        return Err(PayoutError::InsufficientAvailable {
            payable_cents: payable,
        });
    }
    let cents = amount_cents.min(cents_available);
    let rest = amount_cents - cents;
    let diamonds = if rest == 0 {
        0
    } else {
        // `rest` ≤ the diamonds' payable cents, so millicents > 0 and this fits.
        u64::try_from((u128::from(rest) * 1000).div_ceil(u128::from(millicents)))
            .expect("no more diamonds than available")
    };
    debug_assert!(diamonds <= diamonds_available);
    Ok(Draw {
        cents,
        diamonds,
        cents_from_diamonds: rest,
    })
}

/// One payee: a kind and the user id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payee {
    pub kind: PayeeKind,
    pub id: String,
}

impl Payee {
    pub fn new(kind: PayeeKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    pub fn creator(id: impl Into<String>) -> Self {
        Self::new(PayeeKind::Creator, id)
    }

    pub fn seller(id: impl Into<String>) -> Self {
        Self::new(PayeeKind::Seller, id)
    }

    pub fn account(&self, kind: AccountKind) -> AccountId {
        AccountId::new(kind, &self.id)
    }

    /// The payee as one string, unique across kinds: `<kind>#<id>` (a key part; the payouts
    /// queue's message group is a digest of it).
    pub fn key(&self) -> String {
        format!("{}#{}", self.kind.as_str(), self.id)
    }
}

/// A payee's balances as a payout decides on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Available {
    pub cents: u64,
    pub diamonds: u64,
    /// What the payee owes back (`PayeeKind::debt`), in the debt's unit: a seller owes cents, a
    /// creator diamonds, so at most one of these is non-zero.
    pub owed_cents: u64,
    pub owed_diamonds: u64,
}

impl Available {
    /// What pays off the debt first, in the payout's own transaction, in the debt's unit.
    pub fn payoff(&self) -> u64 {
        self.cents.min(self.owed_cents) + self.diamonds.min(self.owed_diamonds)
    }

    /// The cents a payout may draw once the debt is paid off.
    pub fn drawable_cents(&self) -> u64 {
        self.cents - self.cents.min(self.owed_cents)
    }

    /// The diamonds a payout may redeem once the debt is paid off.
    pub fn drawable_diamonds(&self) -> u64 {
        self.diamonds - self.diamonds.min(self.owed_diamonds)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    Requested,
    Processing,
    Paid,
    /// The provider refused for good: the money is back in available, with a reason.
    Failed,
    /// The provider holds it (an account under review): the money stays in payout, with a
    /// reason, until someone decides.
    Held,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 5] = [
        PayoutStatus::Requested,
        PayoutStatus::Processing,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
        PayoutStatus::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Requested => "requested",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the executor still has work to do for a payout in this status.
    pub fn in_flight(self) -> bool {
        matches!(self, PayoutStatus::Requested | PayoutStatus::Processing)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub payout_id: String,
    pub payee: Payee,
    pub amount_cents: u64,
    pub draw: Draw,
    pub status: PayoutStatus,
    pub reason: Option<String>,
    /// Sortable UTC time; its day is the one the daily cap counts against.
    pub requested_at: String,
    pub settled_at: Option<String>,
    /// The provider's id for the transfer, once paid.
    pub provider_ref: Option<String>,
    /// How many times an admin released it from `held`.
    pub releases: u32,
    /// The last admin action on it (a release or a return).
    pub admin: Option<AdminAction>,
    /// Cents of the paid transfer the provider took back since (Stripe's `transfer.reversed`),
    /// booked back to the payee's available cents.
    pub reversed_cents: u64,
}

impl Payout {
    /// The key the provider is asked under: the payout id, then a new one per admin release —
    /// a provider replays the answer it gave a key (the hold), and a release asks afresh. The
    /// executor looks the payout up by its id (the provider's reference) before any of these
    /// is sent, so a release never pays twice.
    pub fn idempotency_key(&self) -> String {
        match self.releases {
            0 => self.payout_id.clone(),
            n => format!("{}~release-{n}", self.payout_id),
        }
    }

    /// An admin may release or return a payout only while it is held.
    pub fn admin_exit(&self) -> Result<(), PayoutStatus> {
        match self.status {
            PayoutStatus::Held => Ok(()),
            other => Err(other),
        }
    }

    fn transfer(
        &self,
        step: &str,
        debit: AccountId,
        credit: AccountId,
        amount: u64,
        kind: TransferKind,
    ) -> Result<Option<Transfer>, LedgerError> {
        if amount == 0 {
            return Ok(None);
        }
        let id = format!("payout:{}:{step}", self.payout_id);
        Transfer::new(id, debit, credit, amount, kind, &self.payout_id).map(Some)
    }

    fn account(&self, kind: AccountKind) -> AccountId {
        self.payee.account(kind)
    }

    fn in_payout(&self) -> AccountId {
        self.account(self.payee.kind.in_payout())
    }

    fn cents_source(&self) -> AccountId {
        self.account(self.payee.kind.cents_source())
    }

    /// Where the diamonds come from; a payee without diamonds never draws any (see [`draw`]).
    fn diamonds_source(&self) -> AccountId {
        self.account(
            self.payee
                .kind
                .diamonds_source()
                .unwrap_or(AccountKind::Earnings),
        )
    }

    /// Available → in payout, diamonds converted on the way.
    pub fn request_transfers(&self) -> Result<Vec<Transfer>, LedgerError> {
        use AccountKind::*;
        let kind = TransferKind::PayoutRequest;
        let d = self.draw;
        Ok([
            self.transfer(
                "cents",
                self.cents_source(),
                self.in_payout(),
                d.cents,
                kind,
            )?,
            self.transfer(
                "diamonds",
                self.diamonds_source(),
                self.account(self.payee.kind.diamonds_redeemed()),
                d.diamonds,
                kind,
            )?,
            self.transfer(
                "redeemed",
                self.account(RedemptionCash),
                self.in_payout(),
                d.cents_from_diamonds,
                kind,
            )?,
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    /// Available money paying off what the payee owes, before the payout draws: final, whatever
    /// becomes of the payout (the money never leaves the platform).
    pub fn payoff_transfer(&self, amount: u64) -> Result<Option<Transfer>, LedgerError> {
        let kind = self.payee.kind;
        self.transfer(
            "payoff",
            self.account(kind.debt_source()),
            self.account(kind.debt()),
            amount,
            TransferKind::ClawbackRecovery,
        )
    }

    /// In payout → paid out: the money left the platform.
    pub fn paid_transfers(&self) -> Result<Vec<Transfer>, LedgerError> {
        let paid = self.transfer(
            "paid",
            self.in_payout(),
            self.account(self.payee.kind.paid_out()),
            self.amount_cents,
            TransferKind::PayoutPaid,
        )?;
        Ok(paid.into_iter().collect())
    }

    /// A reversal of the paid transfer, `amount_reversed` cents in all so far (Stripe's total):
    /// what was not booked yet goes from paid out back to the payee's available cents, once per
    /// total (the transfer id carries it). `None` when nothing is new.
    pub fn reversal_transfer(&self, amount_reversed: u64) -> Result<Option<Transfer>, LedgerError> {
        let total = amount_reversed.min(self.amount_cents);
        if total <= self.reversed_cents {
            return Ok(None);
        }
        self.transfer(
            &format!("reversed-{total}"),
            self.account(self.payee.kind.paid_out()),
            self.cents_source(),
            total - self.reversed_cents,
            TransferKind::PayoutReturned,
        )
    }

    /// The request, exactly reversed: the creator's balances are what they were before it.
    pub fn returned_transfers(&self) -> Result<Vec<Transfer>, LedgerError> {
        use AccountKind::*;
        let kind = TransferKind::PayoutReturned;
        let d = self.draw;
        Ok([
            self.transfer(
                "cents-back",
                self.in_payout(),
                self.cents_source(),
                d.cents,
                kind,
            )?,
            self.transfer(
                "redeemed-back",
                self.in_payout(),
                self.account(RedemptionCash),
                d.cents_from_diamonds,
                kind,
            )?,
            self.transfer(
                "diamonds-back",
                self.account(self.payee.kind.diamonds_redeemed()),
                self.diamonds_source(),
                d.diamonds,
                kind,
            )?,
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// What the provider said about one payout, as far as the ledger cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOutcome {
    Paid { provider_ref: String },
    Failed { reason: String },
    Held { reason: String },
}

impl ProviderOutcome {
    pub fn status(&self) -> PayoutStatus {
        match self {
            ProviderOutcome::Paid { .. } => PayoutStatus::Paid,
            ProviderOutcome::Failed { .. } => PayoutStatus::Failed,
            ProviderOutcome::Held { .. } => PayoutStatus::Held,
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            ProviderOutcome::Paid { .. } => None,
            ProviderOutcome::Failed { reason } | ProviderOutcome::Held { reason } => {
                Some(reason.chars().take(MAX_REASON_CHARS).collect())
            }
        }
    }

    /// The transfers that record this outcome for `payout`.
    pub fn transfers(&self, payout: &Payout) -> Result<Vec<Transfer>, LedgerError> {
        match self {
            ProviderOutcome::Paid { .. } => payout.paid_transfers(),
            ProviderOutcome::Failed { .. } => payout.returned_transfers(),
            ProviderOutcome::Held { .. } => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::postings;

    const P: PayoutPolicy = PayoutPolicy {
        minimum_cents: 5_000,
        daily_cap_cents: 100_000,
    };

    #[test]
    fn only_whole_cents_are_payable() {
        assert_eq!(payable_cents(1, 500), 0);
        assert_eq!(payable_cents(3, 500), 1);
        assert_eq!(payable_cents(10_000, 500), 5_000);
    }

    #[test]
    fn a_draw_takes_cents_first_then_the_fewest_diamonds() {
        assert_eq!(
            draw(6_000, 8_000, 0, 500, &P),
            Ok(Draw {
                cents: 6_000,
                ..Draw::default()
            })
        );
        assert_eq!(
            draw(6_000, 1_000, 20_001, 500, &P),
            Ok(Draw {
                cents: 1_000,
                diamonds: 10_000,
                cents_from_diamonds: 5_000
            })
        );
        // 3 millicents a diamond: 1 cent needs 334 diamonds (never a fraction of a cent paid).
        assert_eq!(draw(5_000, 4_999, 334, 3, &P).unwrap().diamonds, 334);
    }

    #[test]
    fn a_draw_refuses_below_minimum_over_cap_and_over_available() {
        assert_eq!(
            draw(4_999, 10_000, 0, 500, &P),
            Err(PayoutError::BelowMinimum {
                minimum_cents: 5_000
            })
        );
        assert_eq!(
            draw(100_001, 1_000_000, 0, 500, &P),
            Err(PayoutError::DailyCap { cap_cents: 100_000 })
        );
        // 9,999 diamonds pay 4,999 whole cents (the half cent stays): 1,000 + 4,999 < 6,000.
        assert_eq!(
            draw(6_000, 1_000, 9_999, 500, &P),
            Err(PayoutError::InsufficientAvailable {
                payable_cents: 5_999
            })
        );
        assert!(draw(6_000, 0, 1_000_000, 0, &P).is_err());
    }

    fn payout(draw: Draw) -> Payout {
        Payout {
            reversed_cents: 0,
            payout_id: "po1".into(),
            payee: Payee::creator("c"),
            amount_cents: draw.cents + draw.cents_from_diamonds,
            draw,
            status: PayoutStatus::Requested,
            reason: None,
            requested_at: "2026-11-22T10:00:00Z".into(),
            settled_at: None,
            provider_ref: None,
            releases: 0,
            admin: None,
        }
    }

    #[test]
    fn each_release_asks_under_a_new_key_and_only_held_payouts_have_exits() {
        let mut p = payout(Draw::default());
        assert_eq!(p.idempotency_key(), "po1");
        p.releases = 2;
        assert_eq!(p.idempotency_key(), "po1~release-2");
        assert_eq!(p.admin_exit(), Err(PayoutStatus::Requested));
        p.status = PayoutStatus::Held;
        assert_eq!(p.admin_exit(), Ok(()));
    }

    #[test]
    fn a_debt_is_paid_off_before_anything_is_drawn() {
        let owing = Available {
            cents: 9_400,
            owed_cents: 10_000,
            ..Available::default()
        };
        assert_eq!((owing.payoff(), owing.drawable_cents()), (9_400, 0));
        let after = Available {
            cents: 12_000,
            owed_cents: 2_000,
            ..Available::default()
        };
        assert_eq!((after.payoff(), after.drawable_cents()), (2_000, 10_000));
        // A creator owes diamonds: their diamonds pay it, their cents are untouched.
        let creator = Available {
            cents: 500,
            diamonds: 3_000,
            owed_diamonds: 1_200,
            ..Available::default()
        };
        assert_eq!(
            (
                creator.payoff(),
                creator.drawable_cents(),
                creator.drawable_diamonds()
            ),
            (1_200, 500, 1_800)
        );
        let mut p = payout(Draw::default());
        let t = p.payoff_transfer(1_200).unwrap().unwrap();
        assert_eq!(
            (t.debit.to_string(), t.credit.to_string()),
            ("earnings:c".into(), "earnings-clawback:c".into())
        );
        p.payee = Payee::seller("s");
        let t = p.payoff_transfer(2_000).unwrap().unwrap();
        assert_eq!(
            (t.debit.to_string(), t.credit.to_string()),
            ("seller:s".into(), "seller-clawback:s".into())
        );
        assert_eq!(p.payoff_transfer(0).unwrap(), None);
    }

    #[test]
    fn request_then_return_leaves_every_account_as_it_was() {
        let p = payout(Draw {
            cents: 1_000,
            diamonds: 10_000,
            cents_from_diamonds: 5_000,
        });
        let mut all = p.request_transfers().unwrap();
        assert_eq!(all.len(), 3);
        all.extend(p.returned_transfers().unwrap());
        assert!(postings(&all).unwrap().is_empty());
    }

    #[test]
    fn request_then_paid_moves_the_amount_out_and_nothing_else() {
        let p = payout(Draw {
            cents: 6_000,
            ..Draw::default()
        });
        let mut all = p.request_transfers().unwrap();
        all.extend(p.paid_transfers().unwrap());
        let net = postings(&all).unwrap();
        assert_eq!(net.len(), 2, "{net:?}");
        assert!(net
            .iter()
            .any(|x| x.account.kind == AccountKind::PaidOut && x.delta == 6_000));
        assert!(net
            .iter()
            .any(|x| x.account.kind == AccountKind::Commission && x.delta == -6_000));
    }

    #[test]
    fn statuses_round_trip_and_reasons_are_trimmed() {
        for s in PayoutStatus::ALL {
            assert_eq!(PayoutStatus::parse(s.as_str()), Some(s));
        }
        let long = ProviderOutcome::Failed {
            reason: "x".repeat(2 * MAX_REASON_CHARS),
        };
        assert_eq!(long.reason().unwrap().len(), MAX_REASON_CHARS);
        assert_eq!(long.status(), PayoutStatus::Failed);
    }
}

//! What an admin may do to money, and the record each action leaves: who (`sub` from the
//! authorizer) and why, kept on the record it changes and on every statement entry it makes
//! (DESIGN.md invariant 8).
//!
//! A correction is one transfer between two accounts, refused unless both are of a kind a person
//! or the platform holds as a plain balance. Records that carry their own rules (a gift's or an
//! order's account, a payout in flight, a creator's diamonds, which the audit ties to settled
//! gifts) change only through their own operations: release, return, refund.

use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind, Unit};
use crate::input::{bounded_str, InvalidInput};

/// Longest reason or note an admin may give.
pub const MAX_NOTE_BYTES: usize = 500;

/// Who did something to money, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAction {
    /// The admin's `sub`.
    pub by: String,
    pub note: String,
}

impl AdminAction {
    /// `note` named `field` in the request: not blank, at most 500 bytes.
    pub fn new(by: &str, field: &str, note: &str) -> Result<Self, InvalidInput> {
        bounded_str(field, note, MAX_NOTE_BYTES)?;
        Ok(Self {
            by: by.to_owned(),
            note: note.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrectionError {
    #[error("{0} is not an account a correction may touch")]
    NotCorrectable(AccountId),
    #[error("the accounts hold {debit} and {credit}, not {unit}")]
    UnitMismatch {
        debit: &'static str,
        credit: &'static str,
        unit: &'static str,
    },
    #[error("{0} would go below zero")]
    WouldOverdraw(AccountId),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Account kinds that are plain balances: a viewer's coins, a payee's available cents, a seller's
/// clawback, and the platform's cash, expense and loss accounts (money owed to a buyer leaves
/// only through a refund, which the audit ties to it). The
/// world outside (the payment provider, the coin issuer) mirrors what the provider holds and the
/// coins sold: a correction there would make money no payment backs.
pub fn correctable(kind: AccountKind) -> bool {
    use AccountKind::*;
    matches!(
        kind,
        Wallet
            | Commission
            | SellerProceeds
            | SellerClawback
            | PlatformCash
            | PlatformExpense
            | ChargebackLoss
    )
}

/// The transfer a correction makes, once its accounts and unit are allowed.
pub fn correction_transfer(
    correction_id: &str,
    debit: AccountId,
    credit: AccountId,
    amount: u64,
    unit: Unit,
) -> Result<Transfer, CorrectionError> {
    for account in [&debit, &credit] {
        if !correctable(account.kind) {
            return Err(CorrectionError::NotCorrectable(account.clone()));
        }
    }
    if debit.kind.unit() != unit || credit.kind.unit() != unit {
        return Err(CorrectionError::UnitMismatch {
            debit: debit.kind.unit().as_str(),
            credit: credit.kind.unit().as_str(),
            unit: unit.as_str(),
        });
    }
    Ok(Transfer::new(
        format!("correction:{correction_id}"),
        debit,
        credit,
        amount,
        TransferKind::Correction,
        correction_id,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_moves_plain_balances_of_one_unit_only() {
        let cash = AccountId::parse("platform-cash:fix").unwrap();
        let seller = AccountId::parse("seller:s").unwrap();
        let t = correction_transfer("c1", cash.clone(), seller.clone(), 500, Unit::Cents).unwrap();
        assert_eq!(
            (t.kind, t.reference.as_str()),
            (TransferKind::Correction, "c1")
        );
        assert!(matches!(
            correction_transfer("c1", cash.clone(), seller.clone(), 500, Unit::Coins),
            Err(CorrectionError::UnitMismatch { .. })
        ));
        let wallet = AccountId::wallet("v");
        assert!(matches!(
            correction_transfer("c1", cash.clone(), wallet, 5, Unit::Cents),
            Err(CorrectionError::UnitMismatch { .. })
        ));
        for record in [
            "order:o1",
            "gift:g1",
            "in-payout:c",
            "earnings:c",
            "paid-out:c",
            "provider:evt_1",
            "issuer:evt_1",
            "refund-owed:b",
        ] {
            let account = AccountId::parse(record).unwrap();
            assert_eq!(
                correction_transfer("c1", cash.clone(), account.clone(), 1, account.kind.unit()),
                Err(CorrectionError::NotCorrectable(account)),
                "{record}"
            );
        }
        assert!(matches!(
            correction_transfer("c1", cash, seller, 0, Unit::Cents),
            Err(CorrectionError::Ledger(LedgerError::ZeroAmount(_)))
        ));
    }

    #[test]
    fn an_admin_must_say_why() {
        assert!(AdminAction::new("a", "reason", " ").is_err());
        assert!(AdminAction::new("a", "reason", &"x".repeat(MAX_NOTE_BYTES + 1)).is_err());
        assert_eq!(AdminAction::new("a", "reason", "ok").unwrap().by, "a");
    }
}

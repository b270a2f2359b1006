//! A viewer's wallet: coin balance plus the spend caps that brake gift spending.
//!
//! The rules are decided here on a snapshot of the wallet; the store commits the decision only if
//! the wallet still has the snapshot's version (and, belt and braces, enough coins), so the caps
//! and the balance hold under any concurrency.

/// The platform's caps (DOMAIN.md: $500/day, $2,000/week at ≈ $0.0143/coin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendLimits {
    pub daily_cap_coins: u64,
    pub weekly_cap_coins: u64,
}

impl Default for SpendLimits {
    fn default() -> Self {
        Self {
            daily_cap_coins: 35_000,
            weekly_cap_coins: 140_000,
        }
    }
}

/// The calendar buckets "now" falls in (see `domain::time`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendWindow {
    pub day: String,
    pub week: String,
}

/// A snapshot of a wallet. `version` changes with every write to the wallet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletState {
    pub balance: u64,
    pub version: u64,
    pub spend_day: Option<String>,
    pub spent_day: u64,
    pub spend_week: Option<String>,
    pub spent_week: u64,
    /// The cap the viewer set for themself, if any.
    pub own_daily_cap: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendError {
    #[error("the wallet holds {balance} coins; {needed} are needed")]
    InsufficientCoins { balance: u64, needed: u64 },
    #[error("this would exceed the daily cap of {cap} coins ({spent} spent today)")]
    DailyCapExceeded { cap: u64, spent: u64 },
    #[error("this would exceed the weekly cap of {cap} coins ({spent} spent this week)")]
    WeeklyCapExceeded { cap: u64, spent: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a daily cap of {requested} coins is above the platform's cap of {platform} coins")]
pub struct AbovePlatformCap {
    pub requested: u64,
    pub platform: u64,
}

/// What a debit writes: the new balance and spend counters, valid only on `expected_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDebit {
    pub expected_version: u64,
    pub coins: u64,
    pub balance_after: u64,
    pub window: SpendWindow,
    pub spent_day_after: u64,
    pub spent_week_after: u64,
}

impl WalletState {
    pub fn spent_today(&self, window: &SpendWindow) -> u64 {
        if self.spend_day.as_deref() == Some(window.day.as_str()) {
            self.spent_day
        } else {
            0
        }
    }

    pub fn spent_this_week(&self, window: &SpendWindow) -> u64 {
        if self.spend_week.as_deref() == Some(window.week.as_str()) {
            self.spent_week
        } else {
            0
        }
    }

    /// The tighter of the platform's cap and the viewer's own.
    pub fn daily_cap(&self, limits: &SpendLimits) -> u64 {
        self.own_daily_cap.map_or(limits.daily_cap_coins, |own| {
            own.min(limits.daily_cap_coins)
        })
    }

    /// Spending `coins` now: enough coins first (402), then the caps (422).
    pub fn debit(
        &self,
        coins: u64,
        window: &SpendWindow,
        limits: &SpendLimits,
    ) -> Result<WalletDebit, SpendError> {
        let balance_after =
            self.balance
                .checked_sub(coins)
                .ok_or(SpendError::InsufficientCoins {
                    balance: self.balance,
                    needed: coins,
                })?;
        let spent_day = self.spent_today(window);
        let cap = self.daily_cap(limits);
        let spent_day_after = spent_day
            .checked_add(coins)
            .filter(|after| *after <= cap)
            .ok_or(SpendError::DailyCapExceeded {
                cap,
                spent: spent_day,
            })?;
        let spent_week = self.spent_this_week(window);
        let spent_week_after = spent_week
            .checked_add(coins)
            .filter(|after| *after <= limits.weekly_cap_coins)
            .ok_or(SpendError::WeeklyCapExceeded {
                cap: limits.weekly_cap_coins,
                spent: spent_week,
            })?;
        Ok(WalletDebit {
            expected_version: self.version,
            coins,
            balance_after,
            window: window.clone(),
            spent_day_after,
            spent_week_after,
        })
    }
}

/// A viewer may tighten their own cap, never loosen it past the platform's.
pub fn check_own_daily_cap(requested: u64, limits: &SpendLimits) -> Result<u64, AbovePlatformCap> {
    if requested > limits.daily_cap_coins {
        return Err(AbovePlatformCap {
            requested,
            platform: limits.daily_cap_coins,
        });
    }
    Ok(requested)
}

/// A chargeback takes back `coins`: first from the wallet, and what was already spent is the
/// platform's loss (a wallet never goes negative). Returns `(from_wallet, from_loss)`.
pub fn chargeback_split(balance: u64, coins: u64) -> (u64, u64) {
    let from_wallet = balance.min(coins);
    (from_wallet, coins - from_wallet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(day: &str, week: &str) -> SpendWindow {
        SpendWindow {
            day: day.into(),
            week: week.into(),
        }
    }

    fn limits() -> SpendLimits {
        SpendLimits {
            daily_cap_coins: 100,
            weekly_cap_coins: 250,
        }
    }

    #[test]
    fn a_debit_needs_coins_first() {
        let w = WalletState {
            balance: 10,
            version: 3,
            ..Default::default()
        };
        let now = window("d1", "w1");
        assert_eq!(
            w.debit(11, &now, &limits()),
            Err(SpendError::InsufficientCoins {
                balance: 10,
                needed: 11
            })
        );
        let d = w.debit(10, &now, &limits()).unwrap();
        assert_eq!(
            (d.balance_after, d.expected_version, d.spent_day_after),
            (0, 3, 10)
        );
    }

    #[test]
    fn daily_and_weekly_caps_count_only_their_own_period() {
        let w = WalletState {
            balance: 1_000,
            spend_day: Some("d1".into()),
            spent_day: 95,
            spend_week: Some("w1".into()),
            spent_week: 240,
            ..Default::default()
        };
        assert_eq!(
            w.debit(6, &window("d1", "w1"), &limits()),
            Err(SpendError::DailyCapExceeded {
                cap: 100,
                spent: 95
            })
        );
        // A new day resets the daily count but not the week's.
        assert_eq!(
            w.debit(11, &window("d2", "w1"), &limits()),
            Err(SpendError::WeeklyCapExceeded {
                cap: 250,
                spent: 240
            })
        );
        let d = w.debit(10, &window("d2", "w1"), &limits()).unwrap();
        assert_eq!((d.spent_day_after, d.spent_week_after), (10, 250));
        // A new week resets both.
        let d = w.debit(100, &window("d9", "w2"), &limits()).unwrap();
        assert_eq!((d.spent_day_after, d.spent_week_after), (100, 100));
    }

    #[test]
    fn a_viewers_own_cap_only_tightens() {
        let mut w = WalletState {
            balance: 1_000,
            own_daily_cap: Some(20),
            ..Default::default()
        };
        assert_eq!(w.daily_cap(&limits()), 20);
        assert_eq!(
            w.debit(21, &window("d", "w"), &limits()),
            Err(SpendError::DailyCapExceeded { cap: 20, spent: 0 })
        );
        w.own_daily_cap = Some(10_000);
        assert_eq!(w.daily_cap(&limits()), 100);
        assert_eq!(
            check_own_daily_cap(101, &limits()).unwrap_err().platform,
            100
        );
        assert_eq!(check_own_daily_cap(0, &limits()), Ok(0));
    }

    #[test]
    fn chargebacks_take_what_is_left_and_book_the_rest_as_loss() {
        assert_eq!(chargeback_split(100, 30), (30, 0));
        assert_eq!(chargeback_split(10, 30), (10, 20));
        assert_eq!(chargeback_split(0, 30), (0, 30));
    }
}

//! Configuration from the environment the infra code sets. Every business number has the
//! DOMAIN.md default and can be overridden; a bad value stops the cold start, loudly.

use crate::domain::gifts::GiftCatalog;
use crate::domain::wallet::SpendLimits;
use crate::store::Tables;

/// Idempotency keys are kept at least this long (API.md, after Stripe).
pub const MIN_IDEMPOTENCY_TTL_HOURS: u64 = 24;

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub gifts: GiftCatalog,
    pub spend_limits: SpendLimits,
    pub idempotency_ttl_hours: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.parse().map_err(|e| ConfigError::Invalid {
                    name,
                    reason: format!("{e}"),
                })
            })
        };
        let defaults = SpendLimits::default();
        let gifts = match get("GIFT_CATALOG") {
            Some(json) => GiftCatalog::from_json(&json).map_err(|e| ConfigError::Invalid {
                name: "GIFT_CATALOG",
                reason: e.to_string(),
            })?,
            None => GiftCatalog::default(),
        };
        let idempotency_ttl_hours = number("IDEMPOTENCY_TTL_HOURS", MIN_IDEMPOTENCY_TTL_HOURS)?;
        if idempotency_ttl_hours < MIN_IDEMPOTENCY_TTL_HOURS {
            return Err(ConfigError::Invalid {
                name: "IDEMPOTENCY_TTL_HOURS",
                reason: format!("must be at least {MIN_IDEMPOTENCY_TTL_HOURS}"),
            });
        }
        Ok(Self {
            tables: Tables {
                ledger: required("LEDGER_TABLE")?,
                commerce: required("COMMERCE_TABLE")?,
                idempotency: required("IDEMPOTENCY_TABLE")?,
            },
            gifts,
            spend_limits: SpendLimits {
                daily_cap_coins: number("DAILY_CAP_COINS", defaults.daily_cap_coins)?,
                weekly_cap_coins: number("WEEKLY_CAP_COINS", defaults.weekly_cap_coins)?,
            },
            idempotency_ttl_hours,
        })
    }
}

/// A setting only some functions need (a queue URL, a secret), read at their cold start.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TABLES: [(&str, &str); 3] = [
        ("LEDGER_TABLE", "l"),
        ("COMMERCE_TABLE", "c"),
        ("IDEMPOTENCY_TABLE", "i"),
    ];

    #[test]
    fn defaults_come_from_the_domain() {
        let c = Config::from_lookup(env(&TABLES)).unwrap();
        assert_eq!(c.spend_limits, SpendLimits::default());
        assert_eq!(c.gifts, GiftCatalog::default());
        assert_eq!(c.idempotency_ttl_hours, 24);
    }

    #[test]
    fn bad_or_missing_settings_stop_the_cold_start() {
        assert!(matches!(
            Config::from_lookup(env(&[])),
            Err(ConfigError::Missing("LEDGER_TABLE"))
        ));
        let mut bad = TABLES.to_vec();
        bad.push(("IDEMPOTENCY_TTL_HOURS", "1"));
        assert!(matches!(
            Config::from_lookup(env(&bad)),
            Err(ConfigError::Invalid { .. })
        ));
        let mut bad = TABLES.to_vec();
        bad.push(("DAILY_CAP_COINS", "-5"));
        assert!(matches!(
            Config::from_lookup(env(&bad)),
            Err(ConfigError::Invalid { .. })
        ));
    }
}

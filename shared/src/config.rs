//! Configuration from the environment the infra code sets. Every business number has the
//! DOMAIN.md default and can be overridden; a bad value stops the cold start, loudly.

use crate::domain::gifts::GiftCatalog;
use crate::domain::payouts::PayoutPolicy;
use crate::domain::settlement::{SettlementPolicy, BPS, DEFAULT_GIFT_HOLD_SECONDS};
use crate::domain::shop::{ShopPolicy, MAX_PLATFORM_FEE_BPS};
use crate::domain::streams::StreamPolicy;
use crate::domain::wallet::SpendLimits;
use crate::secrets::{Secret, SecretPolicy};
use crate::store::Tables;

/// Idempotency keys are kept at least this long (API.md, after Stripe).
pub const MIN_IDEMPOTENCY_TTL_HOURS: u64 = 24;

#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub gifts: GiftCatalog,
    pub spend_limits: SpendLimits,
    pub idempotency_ttl_hours: u64,
    pub settlement: SettlementPolicy,
    /// What one diamond pays out, in thousandths of a cent (DOMAIN.md: $0.005 = 500).
    pub diamond_value_millicents: u64,
    /// How old an unfinished gift must be before the sweeper re-drives it (docs/design.md, "Settlement").
    pub sweep_grace_seconds: u64,
    pub shop: ShopPolicy,
    pub payouts: PayoutPolicy,
    /// How long send-gift trusts a stream it read, and how long after the end a gift counts
    /// (`STREAM_CACHE_SECONDS`, `STREAM_END_GRACE_SECONDS`, `ROOM_MAX_GUESTS`; see
    /// `domain::streams` and `domain::rooms`).
    pub streams: StreamPolicy,
    /// Whether init opens the AWS connections (`App::warm_up`). On by default; off trades a
    /// first request that opens them for a shorter init (docs/performance.md, "Measuring cold starts").
    pub warm_up_connections: bool,
}

/// DOMAIN.md: 1 diamond = $0.005.
pub const DEFAULT_DIAMOND_VALUE_MILLICENTS: u64 = 500;
/// Ten minutes: longer than a healthy gift takes from commit to settled (seconds), so the sweeper
/// rarely duplicates the queue's work; short enough that a lost message costs a creator minutes.
pub const DEFAULT_SWEEP_GRACE_SECONDS: u64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("the AWS clients' TLS trust store cannot be built: {0}")]
    Tls(String),
    #[error("{0}")]
    Secret(String),
}

impl Config {
    /// How long committed work may wait before the sweeper re-drives it.
    pub fn sweep_grace(&self) -> time::Duration {
        crate::domain::time::seconds(self.sweep_grace_seconds)
    }

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
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            get(name).map_or(Ok(default), |v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    name,
                    reason: "true or false".into(),
                }),
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
        let creator_share_bps = number(
            "CREATOR_SHARE_BPS",
            SettlementPolicy::default().creator_share_bps,
        )?;
        if creator_share_bps > BPS {
            return Err(ConfigError::Invalid {
                name: "CREATOR_SHARE_BPS",
                reason: format!("a share is at most {BPS} basis points"),
            });
        }
        // Every duration is whole seconds, at most a year.
        let duration = |name: &'static str, default: i64| -> Result<time::Duration, ConfigError> {
            let default = u64::try_from(default).expect("defaults are not negative");
            i64::try_from(number(name, default)?)
                .ok()
                .filter(|s| *s <= 366 * 86_400)
                .map(time::Duration::seconds)
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: "at most a year, in seconds".into(),
                })
        };
        let hold = duration("GIFT_HOLD_SECONDS", DEFAULT_GIFT_HOLD_SECONDS)?;
        let shop_defaults = ShopPolicy::default();
        let platform_fee_bps = number("SHOP_FEE_BPS", shop_defaults.platform_fee_bps)?;
        if platform_fee_bps > MAX_PLATFORM_FEE_BPS {
            return Err(ConfigError::Invalid {
                name: "SHOP_FEE_BPS",
                reason: format!("at most {MAX_PLATFORM_FEE_BPS} basis points"),
            });
        }
        let shop = ShopPolicy {
            platform_fee_bps,
            payment_window: duration(
                "ORDER_PAYMENT_WINDOW_SECONDS",
                shop_defaults.payment_window.whole_seconds(),
            )?,
            payment_grace: duration(
                "ORDER_PAYMENT_GRACE_SECONDS",
                shop_defaults.payment_grace.whole_seconds(),
            )?,
            seller_hold: duration(
                "SELLER_HOLD_SECONDS",
                shop_defaults.seller_hold.whole_seconds(),
            )?,
            commission_hold: duration(
                "COMMISSION_HOLD_SECONDS",
                shop_defaults.commission_hold.whole_seconds(),
            )?,
        };
        let payout_defaults = PayoutPolicy::default();
        let payouts = PayoutPolicy {
            minimum_cents: number("PAYOUT_MINIMUM_CENTS", payout_defaults.minimum_cents)?,
            daily_cap_cents: number("PAYOUT_DAILY_CAP_CENTS", payout_defaults.daily_cap_cents)?,
        };
        if payouts.minimum_cents == 0 || payouts.daily_cap_cents < payouts.minimum_cents {
            return Err(ConfigError::Invalid {
                name: "PAYOUT_DAILY_CAP_CENTS",
                reason: "the minimum payout is at least 1 cent and at most the daily cap".into(),
            });
        }
        let stream_defaults = StreamPolicy::default();
        let streams = StreamPolicy {
            cache_seconds: number("STREAM_CACHE_SECONDS", stream_defaults.cache_seconds)?,
            end_grace_seconds: number(
                "STREAM_END_GRACE_SECONDS",
                stream_defaults.end_grace_seconds,
            )?,
            max_guests: number("ROOM_MAX_GUESTS", stream_defaults.max_guests)?,
        };
        if streams.end_grace_seconds < streams.cache_seconds {
            return Err(ConfigError::Invalid {
                name: "STREAM_END_GRACE_SECONDS",
                reason: "at least STREAM_CACHE_SECONDS, so a gift admitted on a remembered stream counts".into(),
            });
        }
        Ok(Self {
            payouts,
            streams,
            settlement: SettlementPolicy {
                creator_share_bps,
                hold,
            },
            shop,
            diamond_value_millicents: number(
                "DIAMOND_VALUE_MILLICENTS",
                DEFAULT_DIAMOND_VALUE_MILLICENTS,
            )?,
            sweep_grace_seconds: number("SWEEP_GRACE_SECONDS", DEFAULT_SWEEP_GRACE_SECONDS)?,
            tables: Tables {
                ledger: required("LEDGER_TABLE")?,
                commerce: required("COMMERCE_TABLE")?,
                idempotency: required("IDEMPOTENCY_TABLE")?,
                ledger_sweep_index: required("LEDGER_SWEEP_INDEX")?,
                ledger_open_orders_index: required("LEDGER_OPEN_ORDERS_INDEX")?,
                ledger_sender_gifts_index: required("LEDGER_SENDER_GIFTS_INDEX")?,
                commerce_boards_index: required("COMMERCE_BOARDS_INDEX")?,
            },
            gifts,
            spend_limits: SpendLimits {
                daily_cap_coins: number("DAILY_CAP_COINS", defaults.daily_cap_coins)?,
                weekly_cap_coins: number("WEEKLY_CAP_COINS", defaults.weekly_cap_coins)?,
            },
            idempotency_ttl_hours,
            warm_up_connections: flag("WARM_UP_CONNECTIONS", true)?,
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

/// A secret of Secrets Manager, named by the ARN in `name` (`*_SECRET_ARN`), cached as
/// `SECRET_CACHE_SECONDS` and `SECRET_ROTATION_OVERLAP_SECONDS` say (see `secrets`).
pub async fn secret(
    sdk: &aws_config::SdkConfig,
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Secret, ConfigError> {
    let seconds = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
        get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("{e}"),
            })
        })
    };
    let cache_seconds = seconds(
        "SECRET_CACHE_SECONDS",
        crate::secrets::DEFAULT_CACHE_SECONDS,
    )?;
    if cache_seconds == 0 {
        // 0 would read Secrets Manager on every request.
        return Err(ConfigError::Invalid {
            name: "SECRET_CACHE_SECONDS",
            reason: "at least 1".into(),
        });
    }
    let policy = SecretPolicy {
        cache: std::time::Duration::from_secs(cache_seconds),
        rotation_overlap: crate::domain::time::seconds(seconds(
            "SECRET_ROTATION_OVERLAP_SECONDS",
            crate::secrets::DEFAULT_ROTATION_OVERLAP_SECONDS,
        )?),
    };
    let id = get(name)
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))?;
    Ok(Secret::load(aws_sdk_secretsmanager::Client::new(sdk), id, policy).await?)
}

/// The webhooks' secrets: the provider-neutral webhook's, and Stripe's endpoint secrets with the
/// mode of the account they belong to.
pub struct WebhookSecrets {
    /// `LIVEPAY_WEBHOOK_SECRET_ARN`.
    pub payments: Secret,
    /// `LIVEPAY_STRIPE_WEBHOOK_SECRET_ARN`: the Stripe endpoint secret (`whsec_…`), and the
    /// Connect endpoint's after a space when Stripe sends connected accounts' events
    /// (`account.updated`) to this same URL. Until it holds one, every Stripe delivery is `401`.
    pub stripe: Secret,
    /// `LIVEPAY_STRIPE_LIVEMODE` (`true` for a live account; default `false`): events of the
    /// other mode are refused.
    pub stripe_livemode: bool,
}

impl WebhookSecrets {
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::load(sdk, |name| std::env::var(name).ok()).await
    }

    pub async fn load(
        sdk: &aws_config::SdkConfig,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let stripe_livemode = match get("LIVEPAY_STRIPE_LIVEMODE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "LIVEPAY_STRIPE_LIVEMODE",
                    reason: "true or false".into(),
                })
            }
        };
        Ok(Self {
            payments: secret(sdk, &get, "LIVEPAY_WEBHOOK_SECRET_ARN").await?,
            stripe: secret(sdk, &get, "LIVEPAY_STRIPE_WEBHOOK_SECRET_ARN").await?,
            stripe_livemode,
        })
    }
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

    const TABLES: [(&str, &str); 7] = [
        ("LEDGER_TABLE", "l"),
        ("COMMERCE_TABLE", "c"),
        ("IDEMPOTENCY_TABLE", "i"),
        ("LEDGER_SWEEP_INDEX", "sweep"),
        ("LEDGER_OPEN_ORDERS_INDEX", "open_orders"),
        ("LEDGER_SENDER_GIFTS_INDEX", "sender_gifts"),
        ("COMMERCE_BOARDS_INDEX", "boards"),
    ];

    #[test]
    fn defaults_come_from_the_domain() {
        let c = Config::from_lookup(env(&TABLES)).unwrap();
        assert_eq!(c.spend_limits, SpendLimits::default());
        assert_eq!(c.gifts, GiftCatalog::default());
        assert_eq!(c.idempotency_ttl_hours, 24);
        assert_eq!(c.settlement, SettlementPolicy::default());
        assert_eq!(c.diamond_value_millicents, 500);
        assert_eq!(c.shop, ShopPolicy::default());
        assert_eq!(c.payouts, PayoutPolicy::default());
        assert!(c.warm_up_connections);
        let mut cold = TABLES.to_vec();
        cold.push(("WARM_UP_CONNECTIONS", "false"));
        assert!(!Config::from_lookup(env(&cold)).unwrap().warm_up_connections);
    }

    #[tokio::test]
    async fn a_secret_cache_of_zero_seconds_is_refused_before_any_read() {
        let sdk = aws_config::SdkConfig::builder().build();
        let get = |k: &str| (k == "SECRET_CACHE_SECONDS").then(|| "0".to_owned());
        assert!(matches!(
            secret(&sdk, &get, "ANY_SECRET_ARN").await,
            Err(ConfigError::Invalid {
                name: "SECRET_CACHE_SECONDS",
                ..
            })
        ));
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
        for (name, value) in [
            ("CREATOR_SHARE_BPS", "10001"),
            ("GIFT_HOLD_SECONDS", "99999999999"),
            ("SHOP_FEE_BPS", "2001"),
            ("SELLER_HOLD_SECONDS", "-1"),
            ("PAYOUT_MINIMUM_CENTS", "0"),
            ("PAYOUT_DAILY_CAP_CENTS", "4999"),
            ("WARM_UP_CONNECTIONS", "no"),
        ] {
            let mut bad = TABLES.to_vec();
            bad.push((name, value));
            assert!(matches!(
                Config::from_lookup(env(&bad)),
                Err(ConfigError::Invalid { .. })
            ));
        }
        let mut bad = TABLES.to_vec();
        bad.push(("DAILY_CAP_COINS", "-5"));
        assert!(matches!(
            Config::from_lookup(env(&bad)),
            Err(ConfigError::Invalid { .. })
        ));
    }
}

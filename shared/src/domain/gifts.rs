//! The gift catalog and the rules for sending a gift: who may send, what a combo may be, what
//! it costs.

use serde::{Deserialize, Serialize};

use super::ledger::{AccountId, Transfer, TransferKind};

/// Most gifts in one combo (API.md: `count` is 1–999).
pub const MAX_COMBO: u64 = 999;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Gift {
    pub gift_id: String,
    pub name: String,
    pub coins: u64,
    /// Only streakable gifts may be sent as a combo (count > 1).
    pub streakable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftCatalog {
    gifts: Vec<Gift>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("gift catalog is not valid JSON: {0}")]
    Json(String),
    #[error("gift catalog must not be empty")]
    Empty,
    #[error("gift {0} appears twice")]
    Duplicate(String),
    #[error("gift {0} must cost at least 1 coin")]
    Free(String),
}

impl GiftCatalog {
    pub fn new(gifts: Vec<Gift>) -> Result<Self, CatalogError> {
        if gifts.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut ids = std::collections::HashSet::new();
        for g in &gifts {
            if !ids.insert(&g.gift_id) {
                return Err(CatalogError::Duplicate(g.gift_id.clone()));
            }
            if g.coins == 0 {
                return Err(CatalogError::Free(g.gift_id.clone()));
            }
        }
        Ok(Self { gifts })
    }

    /// A catalog from a JSON array of gifts (the `GIFT_CATALOG` setting).
    pub fn from_json(json: &str) -> Result<Self, CatalogError> {
        let gifts = serde_json::from_str(json).map_err(|e| CatalogError::Json(e.to_string()))?;
        Self::new(gifts)
    }

    pub fn gifts(&self) -> &[Gift] {
        &self.gifts
    }

    pub fn get(&self, gift_id: &str) -> Option<&Gift> {
        self.gifts.iter().find(|g| g.gift_id == gift_id)
    }
}

impl Default for GiftCatalog {
    /// DOMAIN.md's reference prices (third-party TikTok gift lists).
    fn default() -> Self {
        let g = |id: &str, name: &str, coins, streakable| Gift {
            gift_id: id.into(),
            name: name.into(),
            coins,
            streakable,
        };
        Self::new(vec![
            g("rose", "Rose", 1, true),
            g("finger_heart", "Finger Heart", 5, true),
            g("doughnut", "Doughnut", 30, true),
            g("hand_hearts", "Hand Hearts", 100, true),
            g("galaxy", "Galaxy", 1_000, false),
            g("lion", "Lion", 29_999, false),
            g("universe", "Universe", 34_999, false),
        ])
        .expect("the default catalog is valid")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GiftRuleError {
    #[error("sending gifts requires a verified adult account")]
    AgeRestricted,
    #[error("nobody can send a gift to themself")]
    CannotGiftSelf,
    #[error("no gift with id {0}")]
    GiftNotFound(String),
    #[error("count must be between 1 and {MAX_COMBO}")]
    CountOutOfRange,
    #[error("gift {0} is not streakable: count must be 1")]
    NotStreakable(String),
    #[error("count times price overflows")]
    CostOverflow,
}

/// A priced, allowed gift: what the sender will be charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedGift {
    pub gift: Gift,
    pub count: u64,
    pub coins: u64,
}

/// Who may send: adults, never to themselves (`recipient_id`: the host or a guest).
pub fn check_sender(sender_id: &str, adult: bool, recipient_id: &str) -> Result<(), GiftRuleError> {
    if !adult {
        return Err(GiftRuleError::AgeRestricted);
    }
    if sender_id == recipient_id {
        return Err(GiftRuleError::CannotGiftSelf);
    }
    Ok(())
}

pub fn price(
    catalog: &GiftCatalog,
    gift_id: &str,
    count: u64,
) -> Result<PricedGift, GiftRuleError> {
    if !(1..=MAX_COMBO).contains(&count) {
        return Err(GiftRuleError::CountOutOfRange);
    }
    let gift = catalog
        .get(gift_id)
        .ok_or_else(|| GiftRuleError::GiftNotFound(gift_id.to_owned()))?;
    if count > 1 && !gift.streakable {
        return Err(GiftRuleError::NotStreakable(gift.gift_id.clone()));
    }
    let coins = gift
        .coins
        .checked_mul(count)
        .filter(|c| i64::try_from(*c).is_ok())
        .ok_or(GiftRuleError::CostOverflow)?;
    Ok(PricedGift {
        gift: gift.clone(),
        count,
        coins,
    })
}

/// A gift that was sent: the record the settlement path works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentGift {
    pub gift_txn_id: String,
    pub stream_id: String,
    /// Whom the gift is for and who earns it: the stream's host or one of its guests.
    pub creator_id: String,
    pub sender_id: String,
    pub gift_id: String,
    pub count: u64,
    pub coins: u64,
    pub sent_at: String,
}

impl SentGift {
    /// The sender's coins move into the gift's own pending account, where they wait for
    /// settlement; no shared balance is written per gift (DESIGN.md invariant 6).
    pub fn transfer(&self) -> Transfer {
        Transfer::new(
            format!("{}/send", self.gift_txn_id),
            AccountId::wallet(&self.sender_id),
            AccountId::pending_gift(&self.gift_txn_id),
            self.coins,
            TransferKind::Gift,
            &self.gift_txn_id,
        )
        .expect("a priced gift costs at least one coin, from a wallet to a gift account")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combos_only_for_streakable_gifts_and_within_range() {
        let c = GiftCatalog::default();
        assert_eq!(price(&c, "rose", 999).unwrap().coins, 999);
        assert_eq!(price(&c, "lion", 1).unwrap().coins, 29_999);
        assert_eq!(price(&c, "rose", 0), Err(GiftRuleError::CountOutOfRange));
        assert_eq!(price(&c, "rose", 1000), Err(GiftRuleError::CountOutOfRange));
        assert_eq!(
            price(&c, "lion", 2),
            Err(GiftRuleError::NotStreakable("lion".into()))
        );
        assert_eq!(
            price(&c, "nope", 1),
            Err(GiftRuleError::GiftNotFound("nope".into()))
        );
    }

    #[test]
    fn a_cost_that_overflows_is_refused_not_wrapped() {
        let c = GiftCatalog::new(vec![Gift {
            gift_id: "whale".into(),
            name: "Whale".into(),
            coins: u64::MAX / 2 + 1,
            streakable: true,
        }])
        .unwrap();
        assert_eq!(price(&c, "whale", 3), Err(GiftRuleError::CostOverflow));
        // Fits u64 but not the signed amounts the ledger stores.
        assert_eq!(price(&c, "whale", 1), Err(GiftRuleError::CostOverflow));
    }

    #[test]
    fn senders_must_be_adults_and_not_the_creator() {
        assert_eq!(
            check_sender("a", false, "c"),
            Err(GiftRuleError::AgeRestricted)
        );
        assert_eq!(
            check_sender("c", true, "c"),
            Err(GiftRuleError::CannotGiftSelf)
        );
        assert_eq!(check_sender("a", true, "c"), Ok(()));
    }

    #[test]
    fn catalogs_from_configuration_are_checked() {
        assert_eq!(GiftCatalog::from_json("[]"), Err(CatalogError::Empty));
        let dup = r#"[{"gift_id":"a","name":"A","coins":1,"streakable":true},{"gift_id":"a","name":"B","coins":2,"streakable":false}]"#;
        assert_eq!(
            GiftCatalog::from_json(dup),
            Err(CatalogError::Duplicate("a".into()))
        );
        let free = r#"[{"gift_id":"a","name":"A","coins":0,"streakable":true}]"#;
        assert_eq!(
            GiftCatalog::from_json(free),
            Err(CatalogError::Free("a".into()))
        );
        assert!(matches!(
            GiftCatalog::from_json("{"),
            Err(CatalogError::Json(_))
        ));
    }
}

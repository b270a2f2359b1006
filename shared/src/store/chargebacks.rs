//! Chargebacks in the ledger table: the purchase a chargeback names, its marker, and the gifts
//! its coins paid for (`domain::chargebacks`).
//!
//! A chargeback of a purchase writes `CHARGEBACK#<purchase event id>` (once: a second one of the
//! same purchase finds it), and every purchase checks that no such marker exists in its own
//! transaction, so a purchase delivered after its chargeback credits nothing. An order's dispute
//! that reversed something writes `CHARGEBACK#<order id>` (sort key `O`) the same way.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure as OnFail,
    TransactWriteItem, Update,
};

use super::attrs::{get_n, get_s, key, n, opt_n, opt_s, s, Item};
use super::holds::hold_clawback_edit;
use super::ledger::{AccountEdit, ACCOUNT_SK};
use super::settlement::{
    AGENCY_ID, AGENCY_RELEASE_AT, AGENCY_SHARE, RELEASE_AT, SETTLEMENT_PENDING, SETTLEMENT_SETTLED,
};
use super::transaction::{put_new, Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::chargebacks::{
    AgencyShare, Attribution, ClawbackFrom, SpentGift, MAX_TRACED_GIFTS,
};
use crate::domain::ledger::{AccountId, AccountKind};
use crate::domain::payments::ChargedBackOf;
use crate::domain::reinstatement::{Marker, Moved, Taken, Untrace};

/// On a gift account: how many of its coins chargebacks have traced so far, and how many of its
/// creator's diamonds they took back.
const CHARGED_BACK_COINS: &str = "charged_back_coins";
pub(crate) const CHARGED_BACK_DIAMONDS: &str = "charged_back_diamonds";
/// On a gift account that gave an agency its cut: how much of the cut chargebacks took back.
pub(crate) const CHARGED_BACK_AGENCY_DIAMONDS: &str = "charged_back_agency_diamonds";

/// What a chargeback reversed: a coin purchase (its event id), or an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged<'a> {
    Purchase(&'a str),
    Order(&'a str),
}

impl Charged<'_> {
    fn key(&self) -> Item {
        match self {
            Charged::Purchase(id) => key(format!("CHARGEBACK#{id}"), "C"),
            Charged::Order(id) => key(format!("CHARGEBACK#{id}"), "O"),
        }
    }

    fn role(&self) -> Role {
        Role::Chargeback(match self {
            Charged::Purchase(id) => (*id).to_owned(),
            Charged::Order(id) => format!("order:{id}"),
        })
    }
}

impl<'a> From<&'a ChargedBackOf> for Charged<'a> {
    fn from(of: &'a ChargedBackOf) -> Self {
        match of {
            ChargedBackOf::Purchase(id) => Charged::Purchase(id),
            ChargedBackOf::Order(id) => Charged::Order(id),
        }
    }
}

const TAKEN_MOVED: &str = "taken_moved";
/// A round a refund made at the provider opened (a dispute's has none).
const ROUND: &str = "round";
const ROUND_REFUND: &str = "refund";
const TAKEN_TRACED: &str = "taken_traced";

fn taken_attributes(taken: &Taken) -> [(String, AttributeValue); 2] {
    let map = |pairs: Vec<(&str, AttributeValue)>| {
        AttributeValue::M(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let moved = taken.moved.iter().map(|m| {
        map(vec![
            ("id", s(&m.id)),
            ("from", s(m.from.to_string())),
            ("to", s(m.to.to_string())),
            ("amount", n(m.amount)),
        ])
    });
    let traced = taken.traced.iter().map(|g| {
        map(vec![
            ("gift", s(&g.gift_txn_id)),
            ("coins", n(g.coins)),
            ("diamonds", n(g.diamonds)),
            ("agency_diamonds", n(g.agency_diamonds)),
        ])
    });
    [
        (TAKEN_MOVED.to_owned(), AttributeValue::L(moved.collect())),
        (TAKEN_TRACED.to_owned(), AttributeValue::L(traced.collect())),
    ]
}

fn marker_from_item(item: &Item) -> Result<Marker, StoreError> {
    let list = |name: &str| -> Result<Option<Vec<Item>>, StoreError> {
        item.get(name)
            .map(|v| {
                let list = v.as_l().map_err(|_| corrupt(name))?;
                list.iter()
                    .map(|e| e.as_m().cloned().map_err(|_| corrupt(name)))
                    .collect()
            })
            .transpose()
    };
    let account = |m: &Item, name: &str| {
        AccountId::parse(get_s(m, name)?).ok_or_else(|| corrupt(TAKEN_MOVED))
    };
    let taken = match (list(TAKEN_MOVED)?, list(TAKEN_TRACED)?) {
        (None, None) => None,
        (Some(moved), Some(traced)) => Some(Taken {
            moved: moved
                .iter()
                .map(|m| {
                    Ok(Moved {
                        id: get_s(m, "id")?.to_owned(),
                        from: account(m, "from")?,
                        to: account(m, "to")?,
                        amount: get_n(m, "amount")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            traced: traced
                .iter()
                .map(|g| {
                    Ok(Untrace {
                        gift_txn_id: get_s(g, "gift")?.to_owned(),
                        coins: get_n(g, "coins")?,
                        diamonds: get_n(g, "diamonds")?,
                        // Absent on markers from before agencies' cuts came back.
                        agency_diamonds: opt_n(g, "agency_diamonds")?.unwrap_or(0),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        }),
        _ => return Err(corrupt(TAKEN_TRACED)),
    };
    Ok(Marker {
        event_id: get_s(item, "event_id")?.to_owned(),
        taken,
        reinstated_by: opt_s(item, "reinstated_by"),
        by_refund: opt_s(item, ROUND).as_deref() == Some(ROUND_REFUND),
    })
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Corrupt(format!("chargeback marker attribute {name} is malformed"))
}

/// The gift edits that untrace what a chargeback traced: added back, not pinned, so a concurrent
/// chargeback that pinned the gift reads it again.
pub fn untrace_edits(traced: &[Untrace]) -> HashMap<AccountId, AccountEdit> {
    let minus = |v: u64| AttributeValue::N(format!("-{v}"));
    traced
        .iter()
        .map(|g| {
            let mut add = vec![
                (CHARGED_BACK_COINS.into(), minus(g.coins)),
                (CHARGED_BACK_DIAMONDS.into(), minus(g.diamonds)),
            ];
            if g.agency_diamonds > 0 {
                add.push((
                    CHARGED_BACK_AGENCY_DIAMONDS.into(),
                    minus(g.agency_diamonds),
                ));
            }
            let edit = AccountEdit {
                add,
                ..AccountEdit::default()
            };
            (AccountId::pending_gift(&g.gift_txn_id), edit)
        })
        .collect()
}

/// What the ledger recorded under the event id a chargeback names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Nothing,
    /// An event of another type: not a purchase.
    Other,
    /// A payment for this order.
    OrderPayment(String),
    Purchase(Purchase),
}

/// A coin purchase as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// When its event took effect (RFC 3339).
    pub received_at: String,
    /// Whose coins it bought (not recorded before chargebacks named purchases).
    pub user_id: Option<String>,
    pub coins: u64,
    /// Its cash still on the platform's books (less what earlier chargebacks reversed).
    pub cents: u64,
}

impl Store {
    /// The purchase `purchase_id` took effect as, if it did.
    pub async fn purchase(&self, purchase_id: &str) -> Result<Recorded, StoreError> {
        let event = self
            .get_item(
                &self.tables.ledger,
                key(format!("EVENT#{purchase_id}"), "E"),
            )
            .await?;
        let Some(event) = event else {
            return Ok(Recorded::Nothing);
        };
        match (opt_s(&event, "type").as_deref(), opt_s(&event, "order_id")) {
            (Some("coins.purchased"), _) => {}
            (Some("order.paid"), Some(order_id)) => return Ok(Recorded::OrderPayment(order_id)),
            _ => return Ok(Recorded::Other),
        }
        let issuer = AccountId::outside(AccountKind::CoinIssuer, purchase_id);
        let cash = AccountId::outside(AccountKind::PlatformCash, purchase_id);
        let (issued, cash) =
            futures::try_join!(self.account_balance(&issuer), self.account_balance(&cash))?;
        Ok(Recorded::Purchase(Purchase {
            received_at: get_s(&event, "received_at")?.to_owned(),
            user_id: opt_s(&event, "user_id"),
            coins: issued.min(0).unsigned_abs(),
            cents: u64::try_from(cash).unwrap_or(0),
        }))
    }

    /// The chargeback that reversed `what`, if one did.
    pub async fn chargeback(&self, what: Charged<'_>) -> Result<Option<Marker>, StoreError> {
        let marker = self.get_item(&self.tables.ledger, what.key()).await?;
        marker.map(|m| marker_from_item(&m)).transpose()
    }

    /// Marks `what` charged back by `event_id`, with what it took if a won dispute can give that
    /// back, as a new round over the ended one it `replaces`; fails if the marker is not what
    /// was read.
    pub fn add_chargeback_marker(
        &self,
        tx: &mut Tx,
        what: Charged<'_>,
        (event_id, at, by_refund): (&str, &str, bool),
        taken: Option<&Taken>,
        replaces: Option<&Marker>,
    ) {
        let mut item = what.key();
        item.extend([
            ("event_id".to_owned(), s(event_id)),
            ("charged_back_at".to_owned(), s(at)),
        ]);
        if by_refund {
            item.insert(ROUND.to_owned(), s(ROUND_REFUND));
        }
        if let Some(taken) = taken {
            item.extend(taken_attributes(taken));
        }
        self.add_marker(tx, what, item, replaces);
    }

    /// Marks the chargeback `chargeback_event_id` of `what` won before it came (or when it took
    /// nothing), so that it takes nothing when it comes, over the ended round it `replaces`;
    /// fails if the marker is not what was read.
    pub fn add_won_first(
        &self,
        tx: &mut Tx,
        what: Charged<'_>,
        chargeback_event_id: &str,
        (won_event_id, at): (&str, &str),
        replaces: Option<&Marker>,
    ) {
        let mut item = what.key();
        item.extend([
            ("event_id".to_owned(), s(chargeback_event_id)),
            ("reinstated_by".to_owned(), s(won_event_id)),
            ("reinstated_at".to_owned(), s(at)),
        ]);
        self.add_marker(tx, what, item, replaces);
    }

    /// A new round's marker: where there was none, or over the ended round `replaces` (its
    /// transfers stay in the ledger; only the marker moves on).
    fn add_marker(&self, tx: &mut Tx, what: Charged<'_>, item: Item, replaces: Option<&Marker>) {
        let put = match replaces {
            None => put_new(&self.tables.ledger, item),
            Some(ended) => {
                let put = Put::builder()
                    .table_name(&self.tables.ledger)
                    .set_item(Some(item))
                    .condition_expression("event_id = :ended AND attribute_exists(reinstated_by)")
                    .expression_attribute_values(":ended", s(&ended.event_id))
                    .build()
                    .expect("table and item are set");
                TransactWriteItem::builder().put(put).build()
            }
        };
        tx.push(what.role(), put);
    }

    /// Marks `what`'s chargeback `marker` given back by the won dispute `won_event_id`; fails if
    /// it was already, or another chargeback's marker is there now.
    pub fn add_reinstatement(
        &self,
        tx: &mut Tx,
        what: Charged<'_>,
        marker: &Marker,
        (won_event_id, at): (&str, &str),
    ) {
        let update = Update::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(what.key()))
            .update_expression("SET reinstated_by = :won, reinstated_at = :at")
            .condition_expression("event_id = :chargeback AND attribute_not_exists(reinstated_by)")
            .expression_attribute_values(":won", s(won_event_id))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":chargeback", s(&marker.event_id))
            .build()
            .expect("table, key and update are set");
        tx.push(
            what.role(),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// Fails the transaction if `purchase_id` was charged back before it took effect, unless that
    /// dispute was won already (then the payment stands).
    pub fn add_not_charged_back(&self, tx: &mut Tx, purchase_id: &str) {
        let what = Charged::Purchase(purchase_id);
        let condition = "attribute_not_exists(pk) OR attribute_exists(reinstated_by)";
        self.add_check(tx, what.role(), what.key(), condition);
    }

    /// Fails the transaction if `purchase_id` took effect after all: a chargeback that found no
    /// purchase is checked against it committing meanwhile (and then reads again).
    pub fn add_purchase_not_seen(&self, tx: &mut Tx, purchase_id: &str) {
        let role = Charged::Purchase(purchase_id).role();
        let event = key(format!("EVENT#{purchase_id}"), "E");
        self.add_check(tx, role, event, "attribute_not_exists(pk)");
    }

    fn add_check(&self, tx: &mut Tx, role: Role, item: Item, condition: &str) {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.ledger)
            .set_key(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and condition are set");
        tx.push(
            role,
            TransactWriteItem::builder().condition_check(check).build(),
        );
    }

    /// The gifts `sender_id` sent since `since` (a sortable time or a prefix of one), oldest
    /// first, at most [`MAX_TRACED_GIFTS`], read strongly after the (keys-only) index names them:
    /// the settled ones, and whether any is still to settle.
    pub async fn spent_gifts(
        &self,
        sender_id: &str,
        since: &str,
    ) -> Result<(Vec<SpentGift>, bool), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .index_name(&self.tables.ledger_sender_gifts_index)
            .key_condition_expression("sender_id = :sender AND sent_at >= :since")
            .expression_attribute_values(":sender", s(sender_id))
            .expression_attribute_values(":since", s(since))
            .limit(MAX_TRACED_GIFTS)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let keys: Vec<Item> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| Some(key(get_s(&k, "pk").ok()?.to_owned(), ACCOUNT_SK)))
            .collect();
        if keys.is_empty() {
            return Ok((Vec::new(), false));
        }
        let mut gifts = Vec::new();
        let mut settling = false;
        for item in self.batch_get(&self.tables.ledger, keys).await? {
            match opt_s(&item, "settlement").as_deref() {
                Some(SETTLEMENT_SETTLED) => {
                    gifts.push((get_s(&item, "sent_at")?.to_owned(), spent_gift(&item)?))
                }
                Some(SETTLEMENT_PENDING) => settling = true,
                // Refunded to the sender: its coins were not spent.
                _ => {}
            }
        }
        // Oldest first again: a batch read answers in no particular order.
        gifts.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.gift_txn_id.cmp(&b.1.gift_txn_id))
        });
        Ok((gifts.into_iter().map(|(_, g)| g).collect(), settling))
    }
}

/// The account edits an attribution makes: each traced gift pinned to the version read, with
/// its new traced totals; each pending account (a creator's earnings, an agency's share of
/// them) refused unless every hold taken from still holds what is taken; and the available
/// diamonds of each earner whose part came from them or became debt pinned to
/// `available_versions` as read, so a debt is never booked while a release or a payout changes
/// what they hold.
pub fn attribution_edits(
    a: &Attribution,
    available_versions: &HashMap<AccountId, u64>,
) -> HashMap<AccountId, AccountEdit> {
    let mut edits = HashMap::new();
    for (earner, from) in a.clawbacks.keys() {
        if matches!(from, ClawbackFrom::Available | ClawbackFrom::Debt) {
            let available = earner.available();
            let version = available_versions.get(&available).copied().unwrap_or(0);
            edits.insert(available, AccountEdit::pinned(version));
        }
    }
    for g in &a.gifts {
        let mut set = vec![
            (CHARGED_BACK_COINS.into(), n(g.charged_back_coins)),
            (CHARGED_BACK_DIAMONDS.into(), n(g.charged_back_diamonds)),
        ];
        if g.charged_back_agency_diamonds > 0 {
            set.push((
                CHARGED_BACK_AGENCY_DIAMONDS.into(),
                n(g.charged_back_agency_diamonds),
            ));
        }
        edits.insert(
            AccountId::pending_gift(&g.gift_txn_id),
            AccountEdit {
                set,
                ..AccountEdit::pinned(g.version)
            },
        );
    }
    for (pending, holds) in a.from_holds() {
        let mut edit = AccountEdit::default();
        for (release_at, amount) in holds {
            let hold = hold_clawback_edit(release_at, amount);
            edit.add.extend(hold.add);
            edit.at_least.extend(hold.at_least);
        }
        edits.insert(pending, edit);
    }
    edits
}

fn spent_gift(item: &Item) -> Result<SpentGift, StoreError> {
    Ok(SpentGift {
        gift_txn_id: get_s(item, "gift_txn_id")?.to_owned(),
        creator_id: get_s(item, "creator_id")?.to_owned(),
        coins: get_n(item, "coins")?,
        creator_share: get_n(item, "creator_share")?,
        charged_back_coins: opt_n(item, CHARGED_BACK_COINS)?.unwrap_or(0),
        charged_back_diamonds: opt_n(item, CHARGED_BACK_DIAMONDS)?.unwrap_or(0),
        agency: match opt_s(item, AGENCY_ID) {
            Some(agency_id) => Some(AgencyShare {
                agency_id,
                share: opt_n(item, AGENCY_SHARE)?.unwrap_or(0),
                charged_back: opt_n(item, CHARGED_BACK_AGENCY_DIAMONDS)?.unwrap_or(0),
                release_at: opt_s(item, AGENCY_RELEASE_AT),
            }),
            None => None,
        },
        release_at: opt_s(item, RELEASE_AT),
        version: get_n(item, "version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chargebacks::{Earner, TracedGift};
    use std::collections::BTreeMap;

    #[test]
    fn attribution_edits_pin_each_gift_and_guard_each_hold() {
        let creator = Earner::Creator("c".into());
        let agency = Earner::Agency {
            agency_id: "ag".into(),
            creator_id: "c".into(),
        };
        let a = Attribution {
            gifts: vec![TracedGift {
                gift_txn_id: "g1".into(),
                version: 3,
                charged_back_coins: 40,
                charged_back_diamonds: 20,
                charged_back_agency_diamonds: 4,
                coins: 10,
                diamonds: 5,
                agency_diamonds: 1,
            }],
            clawbacks: BTreeMap::from([
                ((creator.clone(), ClawbackFrom::Hold("T1".into())), 5),
                ((creator.clone(), ClawbackFrom::Hold("T2".into())), 7),
                ((creator, ClawbackFrom::Debt), 9),
                ((agency.clone(), ClawbackFrom::Hold("T1".into())), 1),
                ((agency, ClawbackFrom::Debt), 2),
            ]),
        };
        let agency_diamonds = AccountId::new(AccountKind::AgencyEarnings, "ag");
        let versions = HashMap::from([(AccountId::earnings("c"), 7), (agency_diamonds.clone(), 2)]);
        let edits = attribution_edits(&a, &versions);
        assert_eq!(edits.len(), 5);
        assert_eq!(edits[&AccountId::earnings("c")].version, Some(7));
        assert_eq!(edits[&agency_diamonds].version, Some(2));
        let share = AccountId::agency_share(AccountKind::AgencyEarningsPending, "ag", "c");
        assert_eq!(edits[&share].at_least, [("hold:T1".to_owned(), 1)]);
        let gift = &edits[&AccountId::pending_gift("g1")];
        assert_eq!(gift.version, Some(3));
        assert!(gift
            .set
            .contains(&(CHARGED_BACK_AGENCY_DIAMONDS.to_owned(), n(4))));
        let pending = &edits[&AccountId::earnings_pending("c")];
        assert_eq!(
            pending.at_least,
            [("hold:T1".to_owned(), 5), ("hold:T2".to_owned(), 7)]
        );
    }
}

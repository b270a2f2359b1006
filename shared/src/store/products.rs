//! Products and the units each buyer holds of them, in the commerce table.
//!
//! - `PRODUCT#<product>` / `P`: the product; `stock_available` is changed only by `ADD` under the
//!   condition that it stays at or above zero, so stock can never be oversold.
//! - `LIMITS#<seller>#<buyer>` / `L`: units the buyer holds (reserved or bought) of each of that
//!   seller's limited products, as `p:<product>` numbers. An order's lines all come from one
//!   seller, so one item carries every limit an order checks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    KeysAndAttributes, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_n, get_s, key, n, opt_n, s, Item};
use super::transaction::{put_new, Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::shop::Product;

const PRODUCT_SK: &str = "P";
const LIMITS_SK: &str = "L";
/// BatchGetItem rounds before giving up on keys DynamoDB keeps returning unprocessed.
const MAX_BATCH_GET_ROUNDS: usize = 8;

fn product_key(product_id: &str) -> Item {
    key(format!("PRODUCT#{product_id}"), PRODUCT_SK)
}

fn limits_key(seller_id: &str, buyer_id: &str) -> Item {
    key(format!("LIMITS#{seller_id}#{buyer_id}"), LIMITS_SK)
}

fn held_attribute(product_id: &str) -> String {
    format!("p:{product_id}")
}

/// A product's units in one stock change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units<'a> {
    pub product_id: &'a str,
    pub quantity: u64,
    /// The product's per-buyer limit, if it has one.
    pub limit: Option<u64>,
}

impl Store {
    pub fn add_new_product(&self, tx: &mut Tx, p: &Product) {
        let mut item = product_key(&p.product_id);
        item.extend([
            ("product_id".to_owned(), s(&p.product_id)),
            ("seller_id".to_owned(), s(&p.seller_id)),
            ("title".to_owned(), s(&p.title)),
            ("price_cents".to_owned(), n(p.price_cents)),
            ("stock_available".to_owned(), n(p.stock_available)),
            ("affiliate_rate_bps".to_owned(), n(p.affiliate_rate_bps)),
            ("created_at".to_owned(), s(&p.created_at)),
        ]);
        if let Some(limit) = p.per_buyer_limit {
            item.insert("per_buyer_limit".into(), n(limit));
        }
        tx.push(
            Role::Product(p.product_id.clone()),
            put_new(&self.tables.commerce, item),
        );
    }

    pub async fn product(&self, product_id: &str) -> Result<Option<Product>, StoreError> {
        let item = self
            .get_item(&self.tables.commerce, product_key(product_id))
            .await?;
        let product = item.as_ref().map(product_from_item).transpose()?;
        if let Some(p) = &product {
            self.product_snapshots.put(product_id, p.clone());
        }
        Ok(product)
    }

    /// The products an order names, for pricing. A product's price, seller, rate and limit never
    /// change, so what this container saw once is reused; only the ones it has not seen are read
    /// (one `BatchGetItem`). Stock in the result may be stale: the order's transaction checks it.
    pub async fn products_for_order(
        &self,
        product_ids: &[&str],
    ) -> Result<HashMap<String, Product>, StoreError> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for id in product_ids {
            match self.product_snapshots.get(id) {
                Some(p) => {
                    found.insert((*id).to_owned(), p);
                }
                None => missing.push(product_key(id)),
            }
        }
        let mut rounds = 0;
        while !missing.is_empty() {
            rounds += 1;
            if rounds > MAX_BATCH_GET_ROUNDS {
                return Err(StoreError::Throttled {
                    op: "BatchGetItem",
                    message: "keys stayed unprocessed".into(),
                });
            }
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut missing)))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.tables.commerce, keys)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.tables.commerce))
                .unwrap_or_default()
            {
                let p = product_from_item(&item)?;
                self.product_snapshots.put(&p.product_id, p.clone());
                found.insert(p.product_id.clone(), p);
            }
            missing = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.tables.commerce))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        Ok(found)
    }

    /// Takes `quantity` units out of stock, refused (with the product as it was) if fewer are
    /// available.
    pub fn add_stock_reservation(&self, tx: &mut Tx, product_id: &str, quantity: u64) {
        let values = HashMap::from([
            (":delta".to_owned(), n(-signed(quantity))),
            (":need".to_owned(), n(quantity)),
        ]);
        self.add_stock_change(tx, product_id, "stock_available >= :need", values);
    }

    /// Puts reserved units back.
    pub fn add_stock_release(&self, tx: &mut Tx, product_id: &str, quantity: u64) {
        let values = HashMap::from([(":delta".to_owned(), n(signed(quantity)))]);
        self.add_stock_change(tx, product_id, "attribute_exists(pk)", values);
    }

    /// A seller's stock adjustment, pinned to the stock they saw (so the answer can state the
    /// stock after it) and refused unless the product is theirs.
    pub fn add_stock_adjustment(
        &self,
        tx: &mut Tx,
        product: &Product,
        seller_id: &str,
        delta: i64,
    ) {
        let values = HashMap::from([
            (":delta".to_owned(), n(delta)),
            (":seen".to_owned(), n(product.stock_available)),
            (":seller".to_owned(), s(seller_id)),
        ]);
        self.add_stock_change(
            tx,
            &product.product_id,
            "seller_id = :seller AND stock_available = :seen",
            values,
        );
    }

    fn add_stock_change(&self, tx: &mut Tx, product_id: &str, condition: &str, values: Item) {
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(product_key(product_id)))
            .update_expression("ADD stock_available :delta")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Product(product_id.to_owned()),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// Adds units to what the buyer holds of the seller's limited products, refused if any
    /// product would go over its limit. Units without a limit are not counted.
    pub fn add_buyer_limit_hold(
        &self,
        tx: &mut Tx,
        seller_id: &str,
        buyer_id: &str,
        units: &[Units<'_>],
    ) {
        self.add_buyer_limit_change(tx, seller_id, buyer_id, units, true);
    }

    /// Gives units back to the buyer's limits (the order was cancelled, expired or refunded).
    pub fn add_buyer_limit_release(
        &self,
        tx: &mut Tx,
        seller_id: &str,
        buyer_id: &str,
        units: &[Units<'_>],
    ) {
        self.add_buyer_limit_change(tx, seller_id, buyer_id, units, false);
    }

    fn add_buyer_limit_change(
        &self,
        tx: &mut Tx,
        seller_id: &str,
        buyer_id: &str,
        units: &[Units<'_>],
        hold: bool,
    ) {
        let mut adds = Vec::new();
        let mut conditions = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for (i, (u, limit)) in units
            .iter()
            .filter_map(|u| u.limit.map(|l| (u, l)))
            .enumerate()
        {
            names.insert(format!("#p{i}"), held_attribute(u.product_id));
            let quantity = if hold {
                signed(u.quantity)
            } else {
                -signed(u.quantity)
            };
            values.insert(format!(":q{i}"), n(quantity));
            adds.push(format!("#p{i} :q{i}"));
            if hold {
                // Held so far + this order ≤ limit, written without subtraction in the expression.
                values.insert(format!(":max{i}"), n(limit.saturating_sub(u.quantity)));
                conditions.push(format!("(attribute_not_exists(#p{i}) OR #p{i} <= :max{i})"));
            }
        }
        if adds.is_empty() {
            return;
        }
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(limits_key(seller_id, buyer_id)))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_condition_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::BuyerLimits,
            TransactWriteItem::builder().update(update).build(),
        );
    }
}

/// Which product a failed limit hold went over, from the limits item as it was.
pub fn limit_exceeded<'a>(units: &'a [Units<'a>], old: Option<&Item>) -> Option<&'a Units<'a>> {
    units.iter().find(|u| {
        let held: u64 = old
            .and_then(|item| opt_n(item, &held_attribute(u.product_id)).ok().flatten())
            .unwrap_or(0);
        u.limit.is_some_and(|limit| held + u.quantity > limit)
    })
}

fn signed(quantity: u64) -> i64 {
    i64::try_from(quantity).expect("quantities are bounded far below i64::MAX")
}

pub fn product_from_item(item: &Item) -> Result<Product, StoreError> {
    Ok(Product {
        product_id: get_s(item, "product_id")?.to_owned(),
        seller_id: get_s(item, "seller_id")?.to_owned(),
        title: get_s(item, "title")?.to_owned(),
        price_cents: get_n(item, "price_cents")?,
        stock_available: get_n(item, "stock_available")?,
        per_buyer_limit: opt_n(item, "per_buyer_limit")?,
        affiliate_rate_bps: get_n(item, "affiliate_rate_bps")?,
        created_at: get_s(item, "created_at")?.to_owned(),
    })
}

//! Products and the units each buyer holds of them, in the commerce table.
//!
//! - `PRODUCT#<product>` / `P`: the product, never changed after it is created (its number of
//!   stock shards included).
//! - `STOCK#<product>#<shard>` / `K`: `units` of the product's stock (`domain::stock`), changed
//!   only by `ADD` under the condition that it stays at or above zero, so stock can never be
//!   oversold; the product's stock is the sum of its shards.
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
use crate::domain::stock::split_stock;

const PRODUCT_SK: &str = "P";
const STOCK_SK: &str = "K";
/// Where released units go back to: every product has a shard 0.
const RELEASE_SHARD: u32 = 0;
const LIMITS_SK: &str = "L";
/// BatchGetItem rounds before giving up on keys DynamoDB keeps returning unprocessed.
const MAX_BATCH_GET_ROUNDS: usize = 8;

fn product_key(product_id: &str) -> Item {
    key(format!("PRODUCT#{product_id}"), PRODUCT_SK)
}

fn stock_key(product_id: &str, shard: u32) -> Item {
    key(format!("STOCK#{product_id}#{shard:02}"), STOCK_SK)
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
    /// The product and its stock, `stock` units split over its shards.
    pub fn add_new_product(&self, tx: &mut Tx, p: &Product, stock: u64) {
        let mut item = product_key(&p.product_id);
        item.extend([
            ("product_id".to_owned(), s(&p.product_id)),
            ("seller_id".to_owned(), s(&p.seller_id)),
            ("title".to_owned(), s(&p.title)),
            ("price_cents".to_owned(), n(p.price_cents)),
            ("stock_shards".to_owned(), n(p.stock_shards)),
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
        for (shard, units) in (0u32..).zip(split_stock(stock, p.stock_shards)) {
            let mut item = stock_key(&p.product_id, shard);
            item.extend([
                ("product_id".to_owned(), s(&p.product_id)),
                ("units".to_owned(), n(units)),
            ]);
            tx.push(
                Role::Stock(p.product_id.clone(), shard),
                put_new(&self.tables.commerce, item),
            );
        }
    }

    /// The units each of the product's shards holds now (strongly consistent reads; they
    /// never conflict with the orders taking from them).
    pub async fn stock(&self, product: &Product) -> Result<Vec<u64>, StoreError> {
        let keys = (0..product.stock_shards)
            .map(|k| stock_key(&product.product_id, k))
            .collect();
        let mut units = vec![0; product.stock_shards as usize];
        for item in self.batch_get(&self.tables.commerce, keys).await? {
            let shard = get_s(&item, "pk")?
                .rsplit('#')
                .next()
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|k| *k < units.len())
                .ok_or_else(|| StoreError::Corrupt("stock shard key".into()))?;
            units[shard] = get_n(&item, "units")?;
        }
        Ok(units)
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
        for item in self.batch_get(&self.tables.commerce, missing).await? {
            let p = product_from_item(&item)?;
            self.product_snapshots.put(&p.product_id, p.clone());
            found.insert(p.product_id.clone(), p);
        }
        Ok(found)
    }

    /// Consistent reads of `keys` in `table` (one `BatchGetItem`, again for what DynamoDB
    /// leaves unprocessed).
    pub(crate) async fn batch_get(
        &self,
        table: &str,
        mut keys: Vec<Item>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut rounds = 0;
        while !keys.is_empty() {
            rounds += 1;
            if rounds > MAX_BATCH_GET_ROUNDS {
                return Err(StoreError::Throttled {
                    op: "BatchGetItem",
                    message: "keys stayed unprocessed".into(),
                });
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let out = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(table))
                    .unwrap_or_default(),
            );
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        Ok(items)
    }

    /// Takes `quantity` units out of one stock shard, refused if it holds fewer.
    pub fn add_stock_take(&self, tx: &mut Tx, product_id: &str, shard: u32, quantity: u64) {
        let values = HashMap::from([
            (":delta".to_owned(), n(-signed(quantity))),
            (":need".to_owned(), n(quantity)),
        ]);
        self.add_stock_change(tx, product_id, shard, "units >= :need", values);
    }

    /// Puts reserved units back (to shard 0: any shard counts the same).
    pub fn add_stock_release(&self, tx: &mut Tx, product_id: &str, quantity: u64) {
        let values = HashMap::from([(":delta".to_owned(), n(signed(quantity)))]);
        self.add_stock_change(
            tx,
            product_id,
            RELEASE_SHARD,
            "attribute_exists(pk)",
            values,
        );
    }

    /// A seller's stock adjustment, `changes` per shard: units added where the change is
    /// positive, taken (refused unless the shard still holds them) where it is negative, and
    /// shards left alone otherwise, so a restock does not wait for a sale's orders to pause.
    pub fn add_stock_adjustment(&self, tx: &mut Tx, product_id: &str, changes: &[i64]) {
        for (shard, change) in (0u32..).zip(changes) {
            match *change {
                0 => {}
                add if add > 0 => {
                    let values = HashMap::from([(":delta".to_owned(), n(add))]);
                    self.add_stock_change(tx, product_id, shard, "attribute_exists(pk)", values);
                }
                take => self.add_stock_take(tx, product_id, shard, take.unsigned_abs()),
            }
        }
    }

    fn add_stock_change(
        &self,
        tx: &mut Tx,
        product_id: &str,
        shard: u32,
        condition: &str,
        values: Item,
    ) {
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(stock_key(product_id, shard)))
            .update_expression("ADD units :delta")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Stock(product_id.to_owned(), shard),
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
        stock_shards: get_n(item, "stock_shards")?,
        per_buyer_limit: opt_n(item, "per_buyer_limit")?,
        affiliate_rate_bps: get_n(item, "affiliate_rate_bps")?,
        created_at: get_s(item, "created_at")?.to_owned(),
    })
}

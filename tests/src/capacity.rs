//! What DynamoDB would bill for the calls a [`crate::calls::CallCounter`] saw: every item written
//! (transactional or not, condition checks included) and every item read, with the sizes the
//! billing rules need. moto reports no consumed capacity for transactions (DESIGN.md), so sizes
//! come from the items themselves, computed the way DynamoDB documents.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// One item a committed write touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    pub table: String,
    pub pk: String,
    pub sk: String,
    /// A transaction's items, condition checks included, cost twice a plain write.
    pub transactional: bool,
    /// A transaction's condition check: billed like a write, but changes nothing.
    pub condition_check: bool,
}

/// One read call and the sizes of the items it returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadCall {
    /// Query sums its items before rounding to 4 KB; GetItem and BatchGetItem round each item.
    pub summed: bool,
    pub consistent: bool,
    pub item_sizes: Vec<usize>,
}

impl ReadCall {
    /// Read request units: 4 KB per unit, half for an eventually consistent read.
    pub fn units(&self) -> f64 {
        let rounded: usize = if self.summed {
            self.item_sizes.iter().sum::<usize>().div_ceil(4096).max(1)
        } else {
            self.item_sizes
                .iter()
                .map(|s| s.div_ceil(4096).max(1))
                .sum()
        };
        rounded as f64 * if self.consistent { 1.0 } else { 0.5 }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CapacityLog {
    pub writes: Vec<ItemWrite>,
    pub reads: Vec<ReadCall>,
    /// The items of each committed `TransactWriteItems`, one entry per transaction: which
    /// items commits share.
    pub transactions: Vec<Vec<ItemWrite>>,
}

impl ItemWrite {
    /// What kind of item this is, for counting writes: `idempotency` for the idempotency
    /// table's records, `ACCT#<account kind>` and `BOARD#<board kind>`, else the key's head
    /// (`XFER`, `STMT`, `STREAM`, ...).
    pub fn kind(&self, idempotency_table: &str) -> String {
        item_kind(self.table == idempotency_table, &self.pk)
    }
}

/// The kind of the item with key `pk` (see [`ItemWrite::kind`]).
pub fn item_kind(idempotency_table: bool, pk: &str) -> String {
    if idempotency_table {
        return "idempotency".into();
    }
    let (head, rest) = pk.split_once('#').unwrap_or((pk, ""));
    match head {
        "ACCT" | "BOARD" => format!("{head}#{}", rest.split([':', '#']).next().unwrap_or("")),
        _ => head.to_owned(),
    }
}

pub fn key_of(table: &str, key: &Item, transactional: bool, condition_check: bool) -> ItemWrite {
    let s = |name: &str| {
        key.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    ItemWrite {
        table: table.to_owned(),
        pk: s("pk"),
        sk: s("sk"),
        transactional,
        condition_check,
    }
}

/// DynamoDB's item size: attribute names' UTF-8 bytes plus each value's size
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// One byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item: Item = [
            ("pk".to_owned(), AttributeValue::S("ACCT#a".into())),
            ("coins".to_owned(), AttributeValue::N("12300".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]
        .into();
        // 2 + 6, 5 + (3 digits -> 2) + 1, 2 + 1
        assert_eq!(item_size(&item), 8 + 8 + 3);
        let read = ReadCall {
            summed: true,
            consistent: false,
            item_sizes: vec![3000, 3000],
        };
        assert_eq!(read.units(), 1.0);
        let read = ReadCall {
            summed: false,
            consistent: true,
            item_sizes: vec![3000, 3000],
        };
        assert_eq!(read.units(), 2.0);
    }
}

//! A product's stock, split over shards.
//!
//! Every order of a product takes units out of its stock inside the order's transaction, and
//! DynamoDB cancels concurrent transactions that touch one item (DESIGN.md invariant 7): with
//! the stock on one item, the buyers of a flash sale would take turns. So the units are spread
//! over up to [`MAX_SHARDS`] items, each one a counter that never goes below zero. An order
//! takes from the shard its id picks; only when that shard cannot cover it does it read every
//! shard and take from the ones that can ([`take_plan`]). Exactly the stock is sold: each take
//! is conditioned on its shard holding enough, and an order is refused `out_of_stock` only when
//! the shards, read after its own take failed, hold fewer units than it asks for.

/// Most shards a product's stock is split over: 16 items take ~16 concurrent orders at once.
pub const MAX_SHARDS: u32 = 16;
/// Units a shard starts with at least: a tiny stock stays on one item, and 64 units are already
/// spread over all 16, because a flash sale's buyers arrive together whatever its size.
pub const UNITS_PER_SHARD: u64 = 4;

/// How many shards a product created with `stock` units gets (fixed for its life).
pub fn shard_count(stock: u64) -> u32 {
    let wanted = stock.div_ceil(UNITS_PER_SHARD).max(1);
    u32::try_from(wanted).unwrap_or(MAX_SHARDS).min(MAX_SHARDS)
}

/// `stock` spread as evenly as it goes over `shards` (the first ones take the remainder).
pub fn split_stock(stock: u64, shards: u32) -> Vec<u64> {
    let shards = u64::from(shards.max(1));
    (0..shards)
        .map(|i| stock / shards + u64::from(i < stock % shards))
        .collect()
}

/// The shard an order (or any id) takes from first: FNV-1a of the id, so concurrent orders
/// spread over every shard, and the same order always picks the same one.
pub fn preferred_shard(id: &str, shards: u32) -> u32 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(id.as_bytes());
    (h.finish() % u64::from(shards.max(1))) as u32
}

/// Where to take `quantity` units from, given what each shard holds now: the first shard from
/// `start` on (wrapping) that has them, so orders that lost their first shard spread over the
/// others instead of all meeting on one; else the fewest shards that together cover it
/// (fullest first). `None` when all of them together hold less.
pub fn take_plan(units: &[u64], quantity: u64, start: u32) -> Option<Vec<(u32, u64)>> {
    let n = units.len();
    let one = (0..n)
        .map(|i| (start as usize + i) % n)
        .find(|k| units[*k] >= quantity);
    if let Some(k) = one {
        return Some(vec![(k as u32, quantity)]);
    }
    let mut fullest: Vec<(u32, u64)> = (0u32..).zip(units.iter().copied()).collect();
    fullest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut plan = Vec::new();
    let mut left = quantity;
    for (shard, held) in fullest.into_iter().filter(|(_, held)| *held > 0) {
        let take = held.min(left);
        plan.push((shard, take));
        left -= take;
        if left == 0 {
            return Some(plan);
        }
    }
    None
}

/// How a seller's adjustment by `delta` changes each shard holding `seen`: an addition spread
/// over every shard (so a restocked flash sale spreads again), a removal taken from the fullest
/// shards. `None` when fewer units are left than the removal asks for.
pub fn adjustment(seen: &[u64], delta: i64) -> Option<Vec<i64>> {
    let mut changes = vec![0i64; seen.len()];
    if delta >= 0 {
        let shards = u32::try_from(seen.len()).ok()?;
        for (c, add) in changes
            .iter_mut()
            .zip(split_stock(delta.unsigned_abs(), shards))
        {
            *c = i64::try_from(add).ok()?;
        }
    } else {
        for (shard, take) in take_plan(seen, delta.unsigned_abs(), 0)? {
            changes[shard as usize] = -i64::try_from(take).ok()?;
        }
    }
    Some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stocks_stay_on_one_shard_and_large_ones_spread_to_the_limit() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(4), 1);
        assert_eq!(shard_count(5), 2);
        assert_eq!(shard_count(50), 13);
        assert_eq!(shard_count(500), 16);
        assert_eq!(shard_count(u64::MAX), MAX_SHARDS);
    }

    #[test]
    fn the_split_adds_up_to_the_stock() {
        assert_eq!(split_stock(500, 16).iter().sum::<u64>(), 500);
        assert_eq!(split_stock(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(split_stock(0, 1), vec![0]);
    }

    #[test]
    fn the_preferred_shard_is_stable_and_in_range() {
        assert_eq!(preferred_shard("ord_1", 16), preferred_shard("ord_1", 16));
        let picked: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| preferred_shard(&format!("ord_{i}"), 16))
            .collect();
        assert_eq!(picked.len(), 16, "200 orders reach every shard");
        assert!((0..50).all(|i| preferred_shard(&format!("x{i}"), 1) == 0));
    }

    #[test]
    fn a_take_uses_one_shard_when_one_suffices_and_never_more_than_there_is() {
        assert_eq!(take_plan(&[5, 5, 5], 2, 1), Some(vec![(1, 2)]));
        assert_eq!(take_plan(&[5, 0, 3], 2, 1), Some(vec![(2, 2)]));
        assert_eq!(take_plan(&[5, 0, 3], 2, 4), Some(vec![(2, 2)]));
        assert_eq!(take_plan(&[2, 0, 3], 4, 1), Some(vec![(2, 3), (0, 1)]));
        assert_eq!(take_plan(&[2, 0, 1], 4, 0), None);
        assert_eq!(take_plan(&[], 1, 0), None);
    }

    #[test]
    fn an_adjustment_spreads_additions_and_takes_removals_from_the_fullest() {
        assert_eq!(adjustment(&[1, 0, 4], 5), Some(vec![2, 2, 1]));
        assert_eq!(adjustment(&[1, 0, 4], -5), Some(vec![-1, 0, -4]));
        assert_eq!(adjustment(&[1, 0, 4], -6), None);
    }
}

//! What a gift costs on AWS, from measurements: a burst of gifts through send-gift and then
//! settlement (in 490-record batches, as the event source delivers them), with every DynamoDB
//! item written or read and every SQS call logged by the SDK interceptor, item sizes taken from
//! the tables afterwards, and each handler invocation timed. Prints one `cost-inputs:` JSON line
//! that `scripts/cost-per-million-gifts` prices (98 gifts here; that command sends 980).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use livepay_tests::capacity::{item_size, CapacityLog, Item, ItemWrite};
use livepay_tests::{Identity, TestEnv};
use serde_json::{json, Value};

/// Settlement records per invocation: infra's SETTLEMENT_BATCH_SIZE is 500; 490 keeps a whole
/// number of 98-gift chunks.
const BATCH: usize = 490;
const CREATORS: usize = 5;

#[derive(Default)]
struct Timings(Vec<f64>);

impl Timings {
    fn summary(&self) -> Value {
        let mut ms = self.0.clone();
        ms.sort_by(f64::total_cmp);
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        json!({"invocations": ms.len(), "mean_ms": mean, "p50_ms": ms[ms.len() / 2],
            "p99_ms": ms[(ms.len() * 99 / 100).min(ms.len() - 1)]})
    }
}

/// Every item in the three tables, by (table, pk, sk): the size each write is billed at.
async fn item_sizes(env: &TestEnv) -> HashMap<(String, String, String), usize> {
    let s = |item: &Item, k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    env.all_items()
        .await
        .into_iter()
        .map(|(table, item)| ((table, s(&item, "pk"), s(&item, "sk")), item_size(&item)))
        .collect()
}

/// Write request units for a phase's writes: 1 KB per unit, doubled in a transaction; an item
/// gone by the end (none in this flow) counts as 1 KB. Global secondary index writes are
/// modelled from what each item is: a gift's account is in the `sweep` index from send-gift
/// until its boards are applied (insert, update, delete: one index write each) and in the
/// keys-only `sender_gifts` index from its insert on (one write: its keys never change), and a
/// leaderboard entry is ranked by `coins`, so every increment after the first moves it in the
/// `boards` index (a delete and a put).
fn write_units(
    env: &TestEnv,
    log: &CapacityLog,
    sizes: &HashMap<(String, String, String), usize>,
    seen: &mut HashSet<(String, String)>,
) -> Value {
    let idempotency = &env.env["IDEMPOTENCY_TABLE"];
    let mut table_units = 0usize;
    let mut index_units = 0usize;
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for ItemWrite {
        table,
        pk,
        sk,
        transactional,
        ..
    } in &log.writes
    {
        let size = sizes
            .get(&(table.clone(), pk.clone(), sk.clone()))
            .copied()
            .unwrap_or(1024);
        let units = size.div_ceil(1024).max(1) * if *transactional { 2 } else { 1 };
        table_units += units;
        *by_kind
            .entry(livepay_tests::capacity::item_kind(table == idempotency, pk))
            .or_default() += units;
        if pk.starts_with("ACCT#gift:") {
            let first = seen.insert((pk.clone(), sk.clone()));
            index_units += size.div_ceil(1024).max(1) + usize::from(first);
        } else if pk.starts_with("BOARD#") {
            let first = seen.insert((pk.clone(), sk.clone()));
            index_units += if first { 1 } else { 2 };
        }
    }
    json!({"items": log.writes.len(), "table_wru": table_units, "index_wru": index_units,
        "wru_by_item": by_kind,
        "rru": log.reads.iter().fold(0.0, |sum, r| sum + r.units()), "read_calls": log.reads.len()})
}

#[tokio::test]
async fn a_gift_costs_what_its_measured_calls_and_items_cost() {
    let gifts: usize = std::env::var("LIVEPAY_COST_GIFTS")
        .map(|n| n.parse().expect("a whole number"))
        .unwrap_or(98);
    let env = TestEnv::new().await;
    let viewers: Vec<String> = (0..gifts.div_ceil(10).max(10))
        .map(|i| format!("viewer-{i:03}"))
        .collect();
    let mut streams = Vec::new();
    for c in 0..CREATORS {
        streams.push(env.open_stream(&format!("creator-{c}")).await);
    }
    for v in &viewers {
        env.buy_coins(v, 10_000).await;
    }
    // A warm container: a sender's first gift in a container reads their wallet once.
    let warm = env
        .gift(
            Identity::adult(&viewers[0]),
            &streams[0],
            "warm-up",
            json!({"gift_id": "rose", "count": 1}),
        )
        .await;
    assert_eq!(warm.status, 201, "{warm:?}");
    env.drain_settlement_queue().await;
    env.calls.take();
    env.calls.take_capacity();

    let mut send_ms = Timings::default();
    for i in 0..gifts {
        let viewer = &viewers[i % viewers.len()];
        let started = Instant::now();
        let a = env
            .gift(
                Identity::adult(viewer),
                &streams[i % CREATORS],
                &format!("gift-{i}"),
                json!({"gift_id": "rose", "count": 1 + i as u64 % 5}),
            )
            .await;
        send_ms.0.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(a.status, 201, "{a:?}");
    }
    let send_calls = env.calls.take();
    let send_log = env.calls.take_capacity();
    let messages = env.drain_settlement_queue().await;
    assert_eq!(messages.len(), gifts, "one settlement message per gift");
    env.calls.take();
    env.calls.take_capacity();

    let mut settle_ms = Timings::default();
    for batch in messages.chunks(BATCH) {
        let started = Instant::now();
        assert!(env.settle(batch).await.is_empty());
        settle_ms.0.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let settle_calls = env.calls.take();
    let settle_log = env.calls.take_capacity();
    assert_eq!(env.sweep().await.unfinished_gifts, 0, "every gift settled");

    let sizes = item_sizes(&env).await;
    let mut seen = HashSet::new();
    let inputs = json!({
        "gifts": gifts,
        "send_gift": {"lambda": send_ms.summary(), "calls": send_calls,
            "dynamodb": write_units(&env, &send_log, &sizes, &mut seen)},
        "settlement": {"lambda": settle_ms.summary(), "batch": BATCH, "calls": settle_calls,
            "dynamodb": write_units(&env, &settle_log, &sizes, &mut seen)},
    });
    println!("cost-inputs: {inputs}");
    // Every gift wrote its sender's wallet, its own account, its transfer and its idempotency
    // record; settlement wrote at least the gift account twice (settled, boards applied).
    assert!(send_log.writes.len() >= 4 * gifts, "{send_log:?}");
    assert!(settle_log.writes.len() >= 2 * gifts);
    assert_eq!(send_calls.get("SendMessage"), Some(&gifts));
}

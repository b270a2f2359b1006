//! Under DynamoDB's real concurrency: many requests at once, from several instances of the
//! functions, against the local conflict layer (scripts/test runs it in front of each engine).
//! Nothing many requests share may be written or condition-checked per request (DESIGN.md
//! invariant 7), so the only conflicts allowed are on a viewer's own wallet; contention is
//! retried in one place and never answered as a business error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use livepay::domain::ledger::AccountKind;
use livepay_tests::conflicts::{conflicts, Conflict};
use livepay_tests::{Answer, Func, Identity, TestEnv};
use serde_json::json;

/// Requests in flight at once, and instances of each function serving them.
const IN_FLIGHT: usize = 32;
const INSTANCES: usize = 4;

fn viewer(i: usize) -> String {
    format!("viewer-{i:03}")
}

/// Viewers `0..n` buy `coins` each, many at once.
async fn fund(env: &TestEnv, n: usize, coins: u64) {
    let viewers: Vec<String> = (0..n).map(viewer).collect();
    env.fund_all(&viewers, coins).await;
}

/// One request of a storm: its answer, how long it took, and the transactions it sent.
type Timed = (Answer, Duration, usize);

/// Runs a request, timing it and counting its transactions (every attempt).
async fn timed(request: impl std::future::Future<Output = Answer>) -> Timed {
    let t = Instant::now();
    let (a, sent) = livepay_tests::calls::count_transactions(request).await;
    (a, t.elapsed(), sent)
}

/// The p50 and p99 of some values.
fn quantiles<T: Ord + Copy>(mut values: Vec<T>) -> (T, T) {
    values.sort();
    let at = |q: f64| values[((values.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// A storm's answers by status, and a line with latency and transactions per request (p50,
/// p99, max).
fn summary(answers: &[Timed]) -> (BTreeMap<u16, usize>, String) {
    let mut statuses = BTreeMap::new();
    for (a, ..) in answers {
        *statuses.entry(a.status).or_default() += 1;
    }
    let (p50, p99) = quantiles(answers.iter().map(|(_, t, _)| *t).collect());
    let (a50, a99) = quantiles(answers.iter().map(|(.., n)| *n).collect());
    let most = answers.iter().map(|(.., n)| *n).max().unwrap_or(0);
    let line = format!(
        "latency p50 {p50:?} p99 {p99:?}; transactions per request p50 {a50} p99 {a99} max {most}"
    );
    (statuses, line)
}

/// The transactions sent (every attempt counted) per request since the last take, and a line
/// with the reads too: with as many transactions as requests, every request committed at its
/// first attempt.
fn per_request(env: &TestEnv, requests: usize) -> (f64, String) {
    let calls = env.calls.take();
    let per = |op: &str| calls.get(op).copied().unwrap_or(0) as f64 / requests as f64;
    let line = format!(
        "per request: {:.3} TransactWriteItems, {:.3} GetItem, {:.3} BatchGetItem",
        per("TransactWriteItems"),
        per("GetItem"),
        per("BatchGetItem")
    );
    (per("TransactWriteItems"), line)
}

/// The conflicts on this test's tables, by kind of item; `None` without the conflict layer.
async fn conflicts_by_kind(env: &TestEnv) -> Option<(BTreeMap<String, u64>, Vec<Conflict>)> {
    let all = conflicts(&env.table_prefix()).await?;
    let mut by_kind = BTreeMap::new();
    for c in &all {
        // `ACCT#wallet:v` → `ACCT#wallet`, `STOCK#p#03` → `STOCK`.
        let kind = match c.pk.split_once(':') {
            Some((kind, _)) => kind,
            None => c.pk.split('#').next().unwrap_or(&c.pk),
        }
        .to_owned();
        *by_kind.entry(kind).or_default() += c.count;
    }
    Some((by_kind, all))
}

#[tokio::test]
async fn a_gift_storm_to_one_stream_conflicts_on_nothing_but_each_senders_wallet() {
    const VIEWERS: usize = 300;
    const GIFTS: usize = 3_000;
    let env = TestEnv::new().await;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let stream = env.open_stream("creator-hot").await;
    fund(&env, VIEWERS, 50).await;

    env.calls.take();
    let started = Instant::now();
    let answers: Vec<Timed> = futures::stream::iter((0..GIFTS).map(|i| {
        let (instance, stream) = (&instances[i % INSTANCES], &stream);
        timed(async move {
            instance
                .gift(
                    Identity::adult(&viewer(i % VIEWERS)),
                    stream,
                    &format!("storm-{i}"),
                    json!({"gift_id": "finger_heart", "count": 1}),
                )
                .await
        })
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    let wall = started.elapsed();
    let (statuses, timing) = summary(&answers);
    let (transactions, calls) = per_request(&env, GIFTS);
    println!(
        "gift storm: {GIFTS} gifts from {VIEWERS} viewers, {IN_FLIGHT} in flight, {INSTANCES} instances: \
         answers {statuses:?}, {timing}, wall {wall:?}, {calls}"
    );
    // 10 gifts of 5 coins for 50 coins each: every one is accepted, in one transaction each but
    // for a sender's own gifts colliding on their wallet (DESIGN.md invariant 5).
    assert_eq!(statuses, BTreeMap::from([(201, GIFTS)]), "{answers:?}");
    assert!(transactions <= 1.05, "{transactions} transactions per gift");
    for i in 0..VIEWERS {
        assert_eq!(env.coins(&viewer(i)).await, 0);
    }

    env.settle_everything().await;
    let balance = env.creator_balance("creator-hot").await;
    let creator_share = livepay::domain::settlement::split(5, 5_000).creator as u64;
    assert_eq!(
        balance["diamonds_available"].as_u64(),
        Some(creator_share * GIFTS as u64),
        "every gift settled once: {balance}"
    );
    // The board lists the top 100: every viewer gave 50 coins.
    let board = env.stream_board(&stream).await;
    assert_eq!(board.len(), 100);
    assert!(board.values().all(|coins| *coins == 50), "{board:?}");
    env.assert_conserved().await;

    match conflicts_by_kind(&env).await {
        Some((by_kind, all)) => {
            println!("gift storm conflicts by item kind: {by_kind:?}");
            let shared: Vec<&Conflict> = all
                .iter()
                .filter(|c| !c.pk.starts_with("ACCT#wallet:"))
                .collect();
            assert!(
                shared.is_empty(),
                "conflicts on items other than a sender's wallet: {shared:?}"
            );
        }
        None => println!("gift storm: the conflict layer is off; conflicts not checked"),
    }
}

#[tokio::test]
async fn the_creator_ends_the_stream_mid_storm_and_no_gift_counts_after_the_end_and_grace() {
    const VIEWERS: usize = 100;
    let env = TestEnv::new().await;
    let grace = env.app.config.streams.end_grace_seconds as i64;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let stream = env.open_stream("creator-end").await;
    fund(&env, VIEWERS, 100).await;
    // One more instance's clock runs ahead by more than the grace. It remembers the stream as
    // live from before the end; everything it admits is sent "after the end plus the grace" and
    // must be refunded by settlement, not counted.
    let ahead = env.instance();
    ahead.set_now(env.now() + time::Duration::seconds(grace + 30));
    let (ahead, stream) = (&ahead, &stream);
    let late_gift = |i: usize| async move {
        ahead
            .gift(
                Identity::adult(&viewer(i)),
                stream,
                &format!("late-{i}"),
                json!({"gift_id": "rose", "count": 1}),
            )
            .await
    };
    assert_eq!(late_gift(0).await.status, 201);

    enum Op {
        Gift(usize),
        End,
    }
    let ops = (0..600).map(|i| if i == 300 { Op::End } else { Op::Gift(i) });
    let answers: Vec<(Option<usize>, Answer)> = futures::stream::iter(ops.map(|op| {
        let (instances, stream, env) = (&instances, &stream, &env);
        async move {
            match op {
                Op::End => (None, env.end_stream("creator-end", stream, "end-1").await),
                Op::Gift(i) => {
                    let a = instances[i % INSTANCES]
                        .gift(
                            Identity::adult(&viewer(i % VIEWERS)),
                            stream,
                            &format!("g-{i}"),
                            json!({"gift_id": "rose", "count": 1}),
                        )
                        .await;
                    (Some(i), a)
                }
            }
        }
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    let end = answers.iter().find(|(i, _)| i.is_none()).unwrap();
    assert_eq!(
        end.1.status, 200,
        "ending the stream mid-storm: {:?}",
        end.1
    );
    let mut statuses = BTreeMap::new();
    for (_, a) in answers.iter().filter(|(i, _)| i.is_some()) {
        *statuses.entry((a.status, a.code().to_owned())).or_insert(0) += 1;
        assert!(
            a.status == 201 || (a.status, a.code()) == (409, "stream_not_live"),
            "{a:?}"
        );
    }
    // An instance whose memory of the stream has run out reads it again: not live any more.
    let later = &instances[1];
    later.set_now(
        env.now() + time::Duration::seconds(env.app.config.streams.cache_seconds as i64 + 1),
    );
    let refused = later
        .gift(
            Identity::adult(&viewer(0)),
            stream,
            "after-cache",
            json!({"gift_id": "rose", "count": 1}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "stream_not_live"),
        "{refused:?}"
    );
    // The instance ahead keeps gifting on the stream it remembers.
    for i in 1..20 {
        let a = late_gift(i).await;
        assert_eq!(a.status, 201, "{a:?}");
    }
    println!("stream ended mid-storm: answers {statuses:?}; 20 gifts admitted by a clock past the end + grace");

    env.settle_everything().await;
    // What counted: exactly the gifts sent no later than the end plus the grace.
    let ended_at = time::OffsetDateTime::parse(
        end.1.body["ended_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(ahead.now() > ended_at + time::Duration::seconds(grace));
    let counted = answers
        .iter()
        .filter(|(i, a)| i.is_some() && a.status == 201)
        .count() as u64;
    let balance = env.creator_balance("creator-end").await;
    let share = livepay::domain::settlement::split(1, 5_000).creator as u64;
    assert_eq!(
        balance["diamonds_available"].as_u64(),
        Some(counted * share),
        "only gifts up to the end plus the grace count: {balance}"
    );
    let board: u64 = env.stream_board(stream).await.values().sum();
    assert_eq!(board, counted, "the leaderboard counts the same gifts");
    // Every refused or refunded coin is back with its sender.
    let spent: u64 = futures::future::join_all((0..VIEWERS).map(|i| {
        let env = &env;
        async move { env.coins(&viewer(i)).await }
    }))
    .await
    .into_iter()
    .map(|left| 100 - left)
    .sum();
    assert_eq!(
        spent, counted,
        "senders paid for exactly the gifts that count"
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_webhook_burst_applies_every_payment_without_a_conflict() {
    const PURCHASES: usize = 500;
    const ORDERS: usize = 200;
    let env = TestEnv::new().await;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let mut products = Vec::new();
    for p in 0..10 {
        let body = json!({"title": "Lamp", "price_cents": 1_000 + p, "stock": ORDERS});
        products.push(env.create_product(&format!("seller-{p}"), body).await);
    }
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        let body = json!({"lines": [{"product_id": products[i % 10], "quantity": 1}]});
        orders.push(env.placed(&format!("buyer-{i}"), body).await);
    }

    let purchases = (0..PURCHASES).map(|i| {
        json!({"id": format!("evt_coins_{i}"), "type": "coins.purchased",
            "data": {"user_id": viewer(i), "coins": 70, "amount_cents": 99}})
    });
    let payments = orders.iter().enumerate().map(|(i, (order_id, total))| {
        json!({"id": format!("evt_pay_{i}"), "type": "order.paid",
            "data": {"order_id": order_id, "amount_cents": total}})
    });
    let events: Vec<_> = purchases.chain(payments).collect();
    env.calls.take();
    let started = Instant::now();
    let answers: Vec<Timed> = futures::stream::iter(events.iter().enumerate().map(|(i, event)| {
        let instance = &instances[i % INSTANCES];
        timed(instance.call(Func::PaymentsWebhook, instance.webhook(event)))
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    let (statuses, timing) = summary(&answers);
    println!(
        "webhook burst: {PURCHASES} coins.purchased + {ORDERS} order.paid, 64 in flight: answers \
         {statuses:?}, {timing}, wall {:?}, {}",
        started.elapsed(),
        per_request(&env, events.len()).1
    );
    for (a, ..) in &answers {
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["status"], "applied", "{a:?}");
        if let Some(outcome) = a.body.get("outcome") {
            assert_eq!(
                outcome, "order_paid",
                "no order is owed back wrongly: {a:?}"
            );
        }
    }
    for i in 0..PURCHASES {
        assert_eq!(env.coins(&viewer(i)).await, 70);
    }
    for (i, _) in orders.iter().enumerate() {
        assert_eq!(
            env.balance(AccountKind::RefundOwed, &format!("buyer-{i}"))
                .await,
            0
        );
    }
    env.assert_conserved().await;
    match conflicts_by_kind(&env).await {
        Some((by_kind, _)) => {
            println!("webhook burst conflicts by item kind: {by_kind:?}");
            assert!(by_kind.is_empty(), "payments collided: {by_kind:?}");
        }
        None => println!("webhook burst: the conflict layer is off; conflicts not checked"),
    }
}

#[tokio::test]
async fn a_flash_sale_sells_exactly_its_stock_across_shards() {
    const BUYERS: usize = 2_000;
    const UNITS: u64 = 500;
    let env = TestEnv::new().await;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let product = env
        .create_product(
            "seller-flash",
            json!({"title": "Flash lamp", "price_cents": 1_999, "stock": UNITS}),
        )
        .await;
    let shards = env.stock_shards(&product).await;
    assert!(shards.len() > 1, "a 500-unit stock is spread: {shards:?}");

    env.calls.take();
    let started = Instant::now();
    let answers: Vec<Timed> = futures::stream::iter((0..BUYERS).map(|i| {
        let instance = &instances[i % INSTANCES];
        let body = json!({"lines": [{"product_id": product, "quantity": 1}]});
        timed(async move {
            let (buyer, key) = (format!("buyer-{i}"), format!("flash-{i}"));
            let mut a = instance.place_order(&buyer, &key, body.clone()).await;
            // `503 busy` says "retry with the same Idempotency-Key" (contention outlasted the
            // server's retries, on a starved machine): a client does, after a pause.
            for _ in 0..5 {
                if a.status != 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                a = instance.place_order(&buyer, &key, body.clone()).await;
            }
            a
        })
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    let (statuses, timing) = summary(&answers);
    println!(
        "flash sale: {BUYERS} buyers for {UNITS} units over {} shards, {IN_FLIGHT} in flight: \
         answers {statuses:?}, {timing}, wall {:?}, {}",
        shards.len(),
        started.elapsed(),
        per_request(&env, BUYERS).1
    );
    let refused = answers
        .iter()
        .filter(|(a, ..)| (a.status, a.code()) == (409, "out_of_stock"))
        .count();
    assert_eq!(statuses.get(&201), Some(&(UNITS as usize)), "{statuses:?}");
    assert_eq!(refused, BUYERS - UNITS as usize, "{statuses:?}");
    assert_eq!(env.stock_shards(&product).await, vec![0; shards.len()]);
    if let Some((by_kind, _)) = conflicts_by_kind(&env).await {
        println!("flash sale conflicts by item kind: {by_kind:?}");
    }
}

#[tokio::test]
async fn a_due_hold_is_released_on_time_while_its_creator_keeps_earning() {
    let env = TestEnv::with_settings(&[("GIFT_HOLD_SECONDS", "3600")]).await;
    let stream = env.open_stream("creator-busy").await;
    fund(&env, 100, 1_000).await;
    let send = |round: usize, n: usize| {
        let (env, stream) = (&env, &stream);
        futures::stream::iter((0..n).map(move |i| async move {
            let a = env
                .gift(
                    Identity::adult(&viewer(i % 100)),
                    stream,
                    &format!("r{round}-{i}"),
                    json!({"gift_id": "finger_heart", "count": 1}),
                )
                .await;
            assert_eq!(a.status, 201, "{a:?}");
        }))
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
    };
    send(0, 100).await;
    env.settle_everything().await;
    let held = env.creator_balance("creator-busy").await["diamonds_pending"]
        .as_u64()
        .unwrap();
    assert!(held > 0);

    // Two hours on, the first hold is due while gifts keep settling: every small batch writes
    // the same pending account (a new hold), so its version never stands still.
    env.set_now(env.now() + time::Duration::hours(2));
    send(1, 300).await;
    let messages = env.drain_settlement_queue().await;
    let storm = async {
        for batch in messages.chunks(10) {
            assert!(env.settle(batch).await.is_empty());
        }
    };
    let (_, swept) = tokio::join!(storm, env.sweep());
    println!(
        "hold release under a settlement storm: {} released ({} diamonds), {} deferred",
        swept.holds_released, swept.diamonds_released, swept.holds_deferred
    );
    assert_eq!((swept.holds_released, swept.diamonds_released), (1, held));
    let balance = env.creator_balance("creator-busy").await;
    assert_eq!(balance["diamonds_available"].as_u64(), Some(held));
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_sweep_backlog_is_worked_off_in_bounded_runs_past_a_corrupt_item() {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    const GIFTS: usize = 5_000;
    let env = TestEnv::new().await;
    let ledger = env.env["LEDGER_TABLE"].clone();
    let sent_at = livepay::domain::time::sortable(env.now() - time::Duration::hours(1));
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: u64| AttributeValue::N(v.to_string());
    // Gifts whose messages were all lost (as send-gift writes them, spread over every shard),
    // the coins they hold balanced by an issuer account, and one item that is not a gift.
    let gift = |i: usize| {
        let id = format!("gift_backlog_{i:05}");
        std::collections::HashMap::from([
            ("pk".to_owned(), s(&format!("ACCT#gift:{id}"))),
            ("sk".to_owned(), s("A")),
            ("account_id".to_owned(), s(&format!("gift:{id}"))),
            ("unit".to_owned(), s("coins")),
            ("balance".to_owned(), n(5)),
            ("version".to_owned(), n(1)),
            ("gift_txn_id".to_owned(), s(&id)),
            ("stream_id".to_owned(), s("st_backlog")),
            ("creator_id".to_owned(), s(&format!("creator-{}", i % 7))),
            ("sender_id".to_owned(), s(&viewer(i % 300))),
            ("gift_id".to_owned(), s("finger_heart")),
            ("count".to_owned(), n(1)),
            ("coins".to_owned(), n(5)),
            ("sent_at".to_owned(), s(&sent_at)),
            ("settlement".to_owned(), s("pending")),
            ("sweep_shard".to_owned(), s(&format!("gift#{:02}", i % 16))),
            ("sweep_at".to_owned(), s(&sent_at)),
        ])
    };
    let mut items: Vec<_> = (0..GIFTS).map(gift).collect();
    // The corrupt item is the oldest of its shard, so every run meets it first.
    let mut corrupt = gift(GIFTS);
    corrupt.remove("coins");
    corrupt.insert("balance".into(), n(0));
    let older = livepay::domain::time::sortable(env.now() - time::Duration::hours(2));
    corrupt.insert("sweep_at".into(), s(&older));
    items.push(corrupt);
    items.push(std::collections::HashMap::from([
        ("pk".to_owned(), s("ACCT#issuer:backlog")),
        ("sk".to_owned(), s("A")),
        ("account_id".to_owned(), s("issuer:backlog")),
        ("unit".to_owned(), s("coins")),
        (
            "balance".to_owned(),
            AttributeValue::N(format!("-{}", 5 * GIFTS)),
        ),
        ("version".to_owned(), n(1)),
    ]));
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let out = env
            .app
            .store
            .client()
            .batch_write_item()
            .request_items(&ledger, writes)
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items.unwrap_or_default().is_empty());
    }

    let mut runs = Vec::new();
    loop {
        let report = env.sweep().await;
        assert_eq!(
            report.skipped, 1,
            "the corrupt item is skipped every run: {report:?}"
        );
        assert!(
            report.unfinished_gifts <= 16 * livepay::store::sweep::SWEEP_BUDGET_PER_SHARD,
            "{report:?}"
        );
        runs.push((report.unfinished_gifts, report.settled, report.boarded));
        if !report.more_due {
            break;
        }
        assert!(runs.len() < 10, "the backlog is not shrinking: {runs:?}");
    }
    println!("sweep backlog of {GIFTS} gifts: runs (due, settled, boarded) {runs:?}");
    assert!(runs.len() > 1, "one run takes on a bounded part: {runs:?}");
    assert_eq!(runs.iter().map(|r| r.1).sum::<usize>(), GIFTS);
    assert_eq!(runs.iter().map(|r| r.2).sum::<usize>(), GIFTS);
    let last = env.sweep().await;
    assert_eq!((last.unfinished_gifts, last.skipped), (0, 1));
    env.assert_conserved().await;
}

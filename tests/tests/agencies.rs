//! Creator agencies (API.md "LIVE formats"), under the conflict layer and with several
//! instances per function: the cut of each earning, funded by the platform or by the creator,
//! exactly at the attachment's and the detachment's times; the agency's balance, statement and
//! payout.

use std::collections::BTreeMap;

use futures::StreamExt;
use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::{attach_req, create_agency_req, detach_req, Func, Identity, Req, TestEnv};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const INSTANCES: usize = 4;
const IN_FLIGHT: usize = 32;
const CAPS: [(&str, &str); 3] = [
    ("DAILY_CAP_COINS", "100000000"),
    ("WEEKLY_CAP_COINS", "100000000"),
    // Each agency is paid out whatever its cuts come to.
    ("PAYOUT_MINIMUM_CENTS", "1"),
];
/// Counts of 1-coin roses and 5-coin finger hearts: odd amounts, so every share rounds.
const COUNTS: [u64; 7] = [1, 3, 7, 13, 37, 99, 333];

/// A gift as sent: its id, creator and coins.
struct Sent {
    gift_txn_id: String,
    creator: String,
    coins: u64,
    sent_at: OffsetDateTime,
}

/// `n` gifts to each stream's creator at `at`, from `INSTANCES` instances whose clocks read
/// `at`, `IN_FLIGHT` at a time.
async fn send_at(
    env: &TestEnv,
    at: OffsetDateTime,
    streams: &[(&str, &str)],
    viewers: &[String],
    n: usize,
) -> Vec<Sent> {
    let instances: Vec<TestEnv> = (0..INSTANCES)
        .map(|_| {
            let i = env.instance();
            i.set_now(at);
            i
        })
        .collect();
    let answers: Vec<(String, Value)> = futures::stream::iter((0..n * streams.len()).map(|i| {
        let (creator, stream) = streams[i % streams.len()];
        let (instance, viewer) = (&instances[i % INSTANCES], &viewers[i % viewers.len()]);
        let gift = if (i / streams.len()).is_multiple_of(2) {
            "rose"
        } else {
            "finger_heart"
        };
        let count = COUNTS[(i / 2) % COUNTS.len()];
        async move {
            let a = instance
                .gift(
                    Identity::adult(viewer),
                    stream,
                    &format!("g-{}", ulid::Ulid::new()),
                    json!({"gift_id": gift, "count": count}),
                )
                .await;
            assert_eq!(a.status, 201, "{a:?}");
            (creator.to_owned(), a.body)
        }
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    answers
        .into_iter()
        .map(|(creator, body)| Sent {
            gift_txn_id: body["gift_txn_id"].as_str().unwrap().to_owned(),
            creator,
            coins: body["coins_spent"].as_u64().unwrap(),
            sent_at: at,
        })
        .collect()
}

fn time(at: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(at.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Stored shares of every gift account: gift id → (creator share, agency share, what the
/// account still holds: the platform's).
async fn stored_shares(env: &TestEnv) -> BTreeMap<String, (u64, u64, u64)> {
    let n = |item: &livepay_tests::capacity::Item, name: &str| {
        item.get(name)
            .map_or(0, |v| v.as_n().unwrap().parse::<u64>().unwrap())
    };
    env.all_items()
        .await
        .iter()
        .filter_map(|(_, item)| {
            let pk = item["pk"].as_s().ok()?;
            let id = pk.strip_prefix("ACCT#gift:")?;
            Some((
                id.to_owned(),
                (
                    n(item, "creator_share"),
                    n(item, "agency_share"),
                    n(item, "balance"),
                ),
            ))
        })
        .collect()
}

#[tokio::test]
async fn an_agency_at_2000_bps_takes_its_cut_funded_either_way_exactly_while_attached() {
    let env = TestEnv::with_settings(&CAPS).await;
    let viewers: Vec<String> = (0..60).map(|i| format!("agency-fan-{i:02}")).collect();
    env.fund_all(&viewers, 20_000).await;
    let by_platform = env.create_agency("owner-platform").await;
    let by_creator = env.create_agency("owner-creator").await;
    let creators = [
        ("cp", &by_platform, "platform"),
        ("cc", &by_creator, "creator"),
    ];
    let streams: Vec<(String, String)> = {
        let mut s = Vec::new();
        for (creator, _, _) in creators {
            s.push((creator.to_owned(), env.open_stream(creator).await));
        }
        s
    };
    let streams: Vec<(&str, &str)> = streams
        .iter()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect();
    let t0 = env.now();
    let mut since = Vec::new();
    for (creator, agency, funded_by) in creators {
        let a = env.attach(creator, agency, 2_000, funded_by).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(
            (a.body["share_bps"].as_u64(), a.body["funded_by"].as_str()),
            (Some(2_000), Some(funded_by))
        );
        since.push(time(&a.body["since"]));
    }
    assert_eq!(since[0], since[1]);
    let since = since[0];
    assert!(
        since >= t0 + Duration::seconds(29),
        "the lead: {since} after {t0}"
    );

    // Before the attachment applies, at its first instant, and well inside it.
    let mut sent = send_at(
        &env,
        since - Duration::milliseconds(1),
        &streams,
        &viewers,
        20,
    )
    .await;
    sent.extend(send_at(&env, since, &streams, &viewers, 20).await);
    sent.extend(send_at(&env, since + Duration::seconds(30), &streams, &viewers, 150).await);
    // Detached a minute in: the cut stops exactly at the detachment's time.
    let detaching = env.instance();
    detaching.set_now(since + Duration::seconds(60));
    let mut until = Vec::new();
    for (creator, agency, _) in creators {
        let a = detaching.detach(creator).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["agency_id"], agency.as_str());
        until.push(time(&a.body["until"]));
    }
    let until = until[0];
    let lead = livepay::domain::agencies::CHANGE_LEAD_SECONDS as i64;
    assert_eq!(until, since + Duration::seconds(60 + lead));
    assert_eq!(detaching.detach("cp").await.code(), "not_attached");
    for at in [
        until - Duration::milliseconds(1),
        until,
        until + Duration::seconds(5),
    ] {
        sent.extend(send_at(&env, at, &streams, &viewers, 20).await);
    }

    // Settled from every batch, then every message again: nothing moves twice.
    let messages = env.drain_settlement_queue().await;
    for batch in messages.chunks(97) {
        assert!(env.settle(batch).await.is_empty());
    }
    let before = stored_shares(&env).await;
    assert!(env.settle(&messages).await.is_empty());
    assert_eq!(
        stored_shares(&env).await,
        before,
        "a redelivery moves nothing"
    );

    // Each gift: creator + agency + platform = its coins to the unit, with the cut exactly
    // inside [since, until).
    let mut creator_due: BTreeMap<&str, u64> = BTreeMap::new();
    let mut agency_due: BTreeMap<&str, u64> = BTreeMap::new();
    let mut cut_gifts = 0;
    for g in &sent {
        let (_, agency, funded_by) = creators.iter().find(|c| c.0 == g.creator).unwrap();
        let attached = since <= g.sent_at && g.sent_at < until;
        // Worked out here on its own: half the coins, rounded down, is the creator's share;
        // a fifth of that, rounded down, the agency's, out of whichever share funds it.
        let share = g.coins / 2;
        let fifth = if attached { share / 5 } else { 0 };
        let expected = match *funded_by {
            "creator" => (share - fifth, fifth, g.coins - share),
            _ => (share, fifth, g.coins - share - fifth),
        };
        let (creator, cut, platform) = before[&g.gift_txn_id];
        assert_eq!(
            (creator, cut, platform),
            expected,
            "gift of {} coins at {} to {}",
            g.coins,
            g.sent_at,
            g.creator
        );
        assert_eq!(creator + cut + platform, g.coins);
        cut_gifts += usize::from(cut > 0);
        *creator_due.entry(&g.creator).or_default() += creator;
        *agency_due.entry(agency).or_default() += cut;
    }
    assert!(cut_gifts > 100, "{cut_gifts} gifts gave a cut");
    let owner = |agency: &String| {
        if agency == &by_platform {
            "owner-platform"
        } else {
            "owner-creator"
        }
    };
    // With no hold the creator's share is available at once; the agency's cut waits in its
    // share of the creator until the next minute's sweep releases it (no settlement writes
    // the agency's own account).
    for (_, agency, _) in creators {
        let pending = env.agency_get(owner(agency), "balance").await;
        assert_eq!(
            (
                pending["diamonds_pending"].as_u64(),
                pending["diamonds_available"].as_u64()
            ),
            (Some(agency_due[agency.as_str()]), Some(0)),
            "{pending}"
        );
    }
    assert_eq!(env.sweep().await.holds_released, 0, "not due yet");
    env.set_now(env.now() + Duration::minutes(1));
    assert_eq!(env.sweep().await.holds_released, creators.len());
    for (creator, agency, _) in creators {
        let balance = env.creator_balance(creator).await;
        assert_eq!(
            balance["diamonds_available"], creator_due[creator],
            "{creator}"
        );
        let owner = owner(agency);
        let agency_balance = env.agency_get(owner, "balance").await;
        assert_eq!(agency_balance["agency_id"], agency.as_str());
        assert_eq!(
            (
                agency_balance["diamonds_pending"].as_u64(),
                agency_balance["diamonds_available"].as_u64()
            ),
            (Some(0), Some(agency_due[agency.as_str()])),
            "{agency_balance}"
        );
        // The creator's statement shows each entry's cut; they add up to the agency's.
        let entries = env.statement(creator, 200).await;
        let cuts: u64 = entries
            .iter()
            .filter(|e| e["agency_id"] == agency.as_str())
            .map(|e| e["agency_cut"].as_u64().unwrap())
            .sum();
        assert_eq!(cuts, agency_due[agency.as_str()], "{creator}'s statement");
        let agency_entries = env
            .statement_of(Identity::user(owner), "agencies", 200)
            .await;
        // The cuts into the agency's pending diamonds, and their release into its available.
        let sum = |kind: &str, balance: &str| -> i64 {
            agency_entries
                .iter()
                .filter(|e| e["kind"] == kind && e["balance"] == balance)
                .map(|e| e["amount"].as_i64().unwrap())
                .sum()
        };
        let due = agency_due[agency.as_str()] as i64;
        assert_eq!(sum("agency_cut", "diamonds_pending"), due);
        assert_eq!(sum("hold_release", "diamonds_pending"), -due);
        assert_eq!(sum("hold_release", "diamonds_available"), due);
        assert!(agency_entries
            .iter()
            .all(|e| ["agency_cut", "hold_release"].contains(&e["kind"].as_str().unwrap())));
    }
    // Each agency, funded either way, is paid out all it can be (half a cent a diamond), and its
    // statement explains the payout.
    for (_, agency, _) in creators {
        let owner = owner(agency);
        let cents = agency_due[agency.as_str()] / 2;
        let request = Req::post("/v1/agencies/me/payouts", "POST /v1/agencies/me/payouts")
            .identity(Identity::user(owner))
            .key(&format!("payout-{owner}"))
            .json(json!({ "amount_cents": cents }));
        let a = env.call(Func::CreatorsApi, request).await;
        assert_eq!(a.status, 202, "{a:?}");
        assert!(env.run_payouts().await.is_empty());
        let paid = env.agency_get(owner, "balance").await;
        assert_eq!(
            (
                paid["cents_paid_out"].as_u64(),
                paid["diamonds_available"].as_u64()
            ),
            (Some(cents), Some(agency_due[agency.as_str()] - 2 * cents)),
            "{paid}"
        );
        let kinds: Vec<_> = env
            .statement_of(Identity::user(owner), "agencies", 200)
            .await
            .iter()
            .map(|e| (e["kind"].clone(), e["balance"].clone()))
            .collect();
        for step in [
            ("payout_request", "diamonds_available"),
            ("payout_request", "cents_in_payout"),
            ("payout_paid", "cents_paid_out"),
        ] {
            assert!(kinds.contains(&(json!(step.0), json!(step.1))), "{kinds:?}");
        }
    }
    println!(
        "agency split: {} gifts, {cut_gifts} with a cut; creators {creator_due:?}, agencies \
         {agency_due:?}",
        sent.len()
    );
    env.assert_audited().await;
}

/// An agency of many creators, all earning at once and settled by several instances: each
/// creator's settlement writes only that creator's items (the agency's cut lands in its share
/// of the creator), so however many creators an agency has, their settlements contend on
/// nothing they would not without it. The agency's balance is still all its cuts, pending
/// across the shares and, once released, in its one available balance.
#[tokio::test]
async fn creators_of_one_agency_settle_at_once_and_their_settlements_share_no_item() {
    const CREATORS: usize = 8;
    let env = TestEnv::with_settings(&CAPS).await;
    let viewers: Vec<String> = (0..40).map(|i| format!("guild-fan-{i:02}")).collect();
    env.fund_all(&viewers, 20_000).await;
    let agency = env.create_agency("big-guild-owner").await;
    let mut streams = Vec::new();
    let mut since = env.now();
    for i in 0..CREATORS {
        let creator = format!("guild-creator-{i}");
        streams.push((creator.clone(), env.open_stream(&creator).await));
        let a = env.attach(&creator, &agency, 2_000, "platform").await;
        assert_eq!(a.status, 200, "{a:?}");
        since = since.max(time(&a.body["since"]));
    }
    let streams: Vec<(&str, &str)> = streams
        .iter()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect();
    let sent = send_at(&env, since, &streams, &viewers, 30).await;
    env.set_now(since);
    let messages = env.drain_settlement_queue().await;
    env.calls.take_capacity();
    // Every batch holds gifts of every creator; the instances settle them at once, and what
    // contention fails comes back, as SQS redelivers it.
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let mut pending: Vec<Vec<(String, String)>> = messages
        .chunks(messages.len().div_ceil(INSTANCES))
        .map(<[_]>::to_vec)
        .collect();
    for _ in 0..10 {
        let failed = futures::future::join_all(
            pending
                .iter()
                .zip(&instances)
                .map(|(batch, i)| i.settle(batch)),
        )
        .await;
        for (batch, failed) in pending.iter_mut().zip(failed) {
            batch.retain(|(id, _)| failed.contains(id));
        }
        if pending.iter().all(Vec::is_empty) {
            break;
        }
    }
    assert!(pending.iter().all(Vec::is_empty), "unsettled: {pending:?}");

    // Which creators' settlements wrote each item: the creator a transaction credits.
    let mut writers: BTreeMap<(String, String), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    let log = env.calls.take_capacity();
    for tx in &log.transactions {
        let Some(creator) = tx.iter().find_map(|w| w.pk.strip_prefix("ACCT#earnings:")) else {
            continue;
        };
        for w in tx {
            writers
                .entry((w.pk.clone(), w.sk.clone()))
                .or_default()
                .insert(creator.to_owned());
        }
    }
    let shared: Vec<_> = writers.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(
        shared.is_empty(),
        "written for several creators: {shared:?}"
    );
    let shares: Vec<_> = writers
        .keys()
        .filter(|(pk, _)| pk.starts_with("ACCT#agency"))
        .collect();
    assert_eq!(shares.len(), CREATORS, "one share per creator: {shares:?}");

    // Funded by the platform: a fifth of the creator's half, rounded down each time.
    let due: u64 = sent.iter().map(|g| g.coins / 2 / 5).sum();
    let balance = |b: &Value, name: &str| b[name].as_u64().unwrap();
    let before = env.agency_get("big-guild-owner", "balance").await;
    assert_eq!(
        (
            balance(&before, "diamonds_pending"),
            balance(&before, "diamonds_available")
        ),
        (due, 0),
        "{before}"
    );
    env.set_now(since + Duration::minutes(1));
    assert_eq!(env.sweep().await.holds_released, CREATORS);
    let after = env.agency_get("big-guild-owner", "balance").await;
    assert_eq!(
        (
            balance(&after, "diamonds_pending"),
            balance(&after, "diamonds_available")
        ),
        (0, due),
        "{after}"
    );
    println!(
        "{CREATORS} creators of one agency, {} gifts settled by {INSTANCES} instances in {} \
         transactions: no item shared; the agency's cut {due} diamonds",
        sent.len(),
        log.transactions.len()
    );
    env.assert_audited().await;
}

#[tokio::test]
async fn an_agency_is_paid_out_through_the_payout_machine_and_its_statement_explains_it() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let admin = Identity::admin("agency-admin");
    let agency = env.create_agency("guild-owner").await;
    // Refusals, each changing nothing.
    let again = env
        .call(
            Func::CreatorsApi,
            create_agency_req("Second", "guild-owner")
                .identity(admin.clone())
                .key("second"),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "owner_has_agency"));
    for (req, status, code) in [
        (
            attach_req("guilded", "ag_none", 2_000, "creator"),
            404,
            "agency_not_found",
        ),
        (
            attach_req("guilded", &agency, 0, "creator"),
            400,
            "invalid_request",
        ),
        (
            attach_req("guilded", &agency, 5_001, "creator"),
            400,
            "invalid_request",
        ),
        (
            attach_req("guilded", &agency, 2_000, "nobody"),
            400,
            "invalid_request",
        ),
        (detach_req("guilded"), 404, "not_attached"),
    ] {
        let a = env
            .call(
                Func::CreatorsApi,
                req.identity(admin.clone())
                    .key(&ulid::Ulid::new().to_string()),
            )
            .await;
        assert_eq!((a.status, a.code()), (status, code), "{a:?}");
    }
    let early = attach_req("guilded", &agency, 2_000, "creator").json(json!({
        "agency_id": agency, "share_bps": 2_000, "funded_by": "creator",
        "since": livepay::domain::time::rfc3339(env.now())}));
    let a = env
        .call(
            Func::CreatorsApi,
            early.identity(admin.clone()).key("early"),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "invalid_request"), "{a:?}");
    let stranger = env
        .call(
            Func::CreatorsApi,
            Req::get("/v1/agencies/me/balance", "GET /v1/agencies/me/balance")
                .identity(Identity::creator("guilded")),
        )
        .await;
    assert_eq!(stranger.status, 403);

    // Half of each earning, out of the creator's share: a crown's 10,000 diamonds ($50) give
    // the agency 5,000 ($25).
    env.attached_from_now("guilded", &agency, 5_000, "creator")
        .await;
    env.fund_creator("guilded", 100).await;
    assert_eq!(env.creator_balance("guilded").await["payable_cents"], 5_000);
    env.set_now(env.now() + Duration::minutes(1));
    env.sweep().await;
    let balance = env.agency_get("guild-owner", "balance").await;
    assert_eq!(
        (
            balance["diamonds_available"].as_u64(),
            balance["payable_cents"].as_u64()
        ),
        (Some(10_000), Some(5_000)),
        "{balance}"
    );
    let request = |amount: u64| {
        Req::post("/v1/agencies/me/payouts", "POST /v1/agencies/me/payouts")
            .identity(Identity::user("guild-owner"))
            .key(&format!("agency-payout-{amount}"))
            .json(json!({ "amount_cents": amount }))
    };
    let too_much = env.call(Func::CreatorsApi, request(5_001)).await;
    assert_eq!(too_much.code(), "insufficient_available_balance");
    let a = env.call(Func::CreatorsApi, request(5_000)).await;
    assert_eq!(a.status, 202, "{a:?}");
    assert!(env.run_payouts().await.is_empty());
    let payouts = env.agency_get("guild-owner", "payouts").await;
    assert_eq!(payouts["payouts"][0]["status"], "paid", "{payouts}");
    let balance = env.agency_get("guild-owner", "balance").await;
    assert_eq!(
        (
            balance["diamonds_available"].as_u64(),
            balance["cents_paid_out"].as_u64()
        ),
        (Some(0), Some(5_000)),
        "{balance}"
    );
    // Entry by entry: the cut in, redeemed into the payout, paid out.
    let entries = env
        .statement_of(Identity::user("guild-owner"), "agencies", 2)
        .await;
    let mut steps: Vec<(&str, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["balance"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    // One commit's entries (a request's, a payment's) carry no order among themselves.
    steps.sort();
    assert_eq!(
        steps,
        [
            ("cents_in_payout", "payout_paid", -5_000),
            ("cents_in_payout", "payout_request", 5_000),
            ("cents_paid_out", "payout_paid", 5_000),
            ("diamonds_available", "hold_release", 10_000),
            ("diamonds_available", "payout_request", -10_000),
            ("diamonds_pending", "agency_cut", 10_000),
            ("diamonds_pending", "hold_release", -10_000),
        ],
        "{entries:#?}"
    );
    env.assert_audited().await;
}

/// `creator`'s stream sells 3 lamps of $19.99 at 15 % commission to `buyer`, delivered: the
/// order's id.
async fn delivered_sale(env: &TestEnv, creator: &str, buyer: &str) -> String {
    let stream = env.open_stream(creator).await;
    let product = env
        .create_product(
            "lamp-seller",
            json!({"title": "Lamp", "price_cents": 1999, "stock": 10, "affiliate_rate_bps": 1500}),
        )
        .await;
    let (order_id, total) = env
        .placed(
            buyer,
            json!({"lines": [{"product_id": product, "quantity": 3}], "stream_id": stream}),
        )
        .await;
    assert_eq!(
        env.pay_order(&order_id, total).await.body["outcome"],
        "order_paid"
    );
    env.ship_and_deliver("lamp-seller", &order_id).await;
    order_id
}

#[tokio::test]
async fn a_commission_gives_the_agency_of_its_sale_its_cut_and_a_late_refund_takes_both_back() {
    use livepay::domain::ledger::AccountKind;
    let env = TestEnv::new().await;
    let agency = env.create_agency("shop-guild").await;
    let mut since = Vec::new();
    for (creator, funded_by) in [("seller-of-c", "creator"), ("seller-of-p", "platform")] {
        let a = env.attach(creator, &agency, 2_000, funded_by).await;
        assert_eq!(a.status, 200, "{a:?}");
        since.push(time(&a.body["since"]));
    }
    // A sale before the attachment applies gives no cut, however late it completes.
    let before = delivered_sale(&env, "seller-of-c", "early-buyer").await;
    env.set_now(since[1]);
    let by_creator = delivered_sale(&env, "seller-of-c", "buyer-1").await;
    let by_platform = delivered_sale(&env, "seller-of-p", "buyer-2").await;
    let kept = delivered_sale(&env, "seller-of-p", "buyer-3").await;
    let delivered = env.now();
    env.set_now(delivered + Duration::days(7) + Duration::seconds(1));
    assert!(env.sweep_and_settle().await.is_empty());
    // 5,997 cents: fee 359 (6 %), commission 899 (15 %); the cut is 20 % of 899: 179.
    for (order, fee) in [
        (&before, 359),
        (&by_creator, 359),
        (&by_platform, 359 - 179),
        (&kept, 359 - 179),
    ] {
        assert_eq!(env.balance(AccountKind::Order, order).await, fee, "{order}");
    }
    assert_eq!(
        env.balance(AccountKind::CommissionPending, "seller-of-c")
            .await,
        899 + 899 - 179
    );
    assert_eq!(
        env.balance(AccountKind::CommissionPending, "seller-of-p")
            .await,
        2 * 899
    );
    let balance = env.agency_get("shop-guild", "balance").await;
    assert_eq!(balance["cents_pending"], 3 * 179, "{balance}");
    let entries = env.statement("seller-of-c", 50).await;
    let cuts: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "affiliate_commission")
        .map(|e| (e["ref"].as_str().unwrap(), e["agency_cut"].as_u64()))
        .collect();
    assert_eq!(cuts.len(), 2, "{entries:#?}");
    assert!(cuts.contains(&(before.as_str(), None)));
    assert!(cuts.contains(&(by_creator.as_str(), Some(179))));

    // An admin's refund inside the commission's hold takes back the creator's part and the
    // agency's; the seller owes the rest.
    let refund = env
        .order_action(
            Identity::admin("ops"),
            &by_creator,
            "refund",
            json!({"reason": "fraud"}),
        )
        .await;
    assert_eq!(refund.body["status"], "refunded", "{refund:?}");
    assert_eq!(
        env.agency_get("shop-guild", "balance").await["cents_pending"],
        2 * 179
    );
    assert_eq!(
        env.balance(AccountKind::CommissionPending, "seller-of-c")
            .await,
        899
    );
    assert_eq!(
        env.balance(AccountKind::SellerClawback, "lamp-seller")
            .await,
        -(5_997 - 720 - 179)
    );
    // Funded by the platform, the cut a refund takes back is the platform's fee again; the
    // seller repays what the commission does not, as without an agency.
    let refund = env
        .order_action(
            Identity::admin("ops"),
            &by_platform,
            "refund",
            json!({"reason": "fraud"}),
        )
        .await;
    assert_eq!(refund.body["status"], "refunded", "{refund:?}");
    assert_eq!(env.balance(AccountKind::Order, &by_platform).await, 359);
    assert_eq!(
        env.balance(AccountKind::SellerClawback, "lamp-seller")
            .await,
        -(5_997 - 720 - 179) - (5_997 - 899)
    );
    // The hold ends: what is left of the agency's cut becomes payable.
    env.set_now(delivered + Duration::days(15) + Duration::hours(1));
    env.sweep().await;
    let balance = env.agency_get("shop-guild", "balance").await;
    assert_eq!(
        (
            balance["cents_pending"].as_i64(),
            balance["cents_available"].as_i64()
        ),
        (Some(0), Some(179)),
        "{balance}"
    );
    // The buyer's refund leaves through the provider.
    assert!(env.run_payouts().await.is_empty());
    env.assert_audited().await;
}

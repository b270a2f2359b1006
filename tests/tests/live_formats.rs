//! The LIVE formats on the gift path (API.md "LIVE formats"), under the conflict layer and with
//! several instances per function: multi-guest rooms and LIVE matches.

use std::collections::BTreeMap;

use futures::StreamExt;
use livepay::domain::settlement::{split, Board};
use livepay_tests::conflicts::conflicts;
use livepay_tests::{
    accept_req, add_guest_req, invite_req, match_req, remove_guest_req, Answer, Func, Identity,
    TestEnv,
};
use serde_json::json;
use time::Duration;

const HOST: &str = "room-host";
const INSTANCES: usize = 4;
const IN_FLIGHT: usize = 32;

async fn add_guest(env: &TestEnv, stream: &str, guest: &str) -> Answer {
    env.call(
        Func::StreamsApi,
        add_guest_req(stream, guest)
            .identity(Identity::creator(HOST))
            .key(&format!("add-{guest}-{}", ulid::Ulid::new())),
    )
    .await
}

async fn remove_guest(env: &TestEnv, stream: &str, guest: &str) -> Answer {
    env.call(
        Func::StreamsApi,
        remove_guest_req(stream, guest).identity(Identity::creator(HOST)),
    )
    .await
}

/// Every gifter's coins on one board, however many gifters it has (the API lists 100).
async fn whole_board(env: &TestEnv, board: &Board) -> u64 {
    let entries = env.app.store.board_top(board, 10_000).await.unwrap();
    entries.iter().map(|e| e.coins).sum()
}

#[tokio::test]
async fn a_room_of_four_takes_a_storm_and_each_recipient_earns_exactly_their_gifts() {
    const VIEWERS: usize = 200;
    const GIFTS: usize = 2_000;
    // Odd prices, so each gift's split rounds (rose: 0 diamonds of 1 coin).
    const PRICES: [(&str, u64); 3] = [("rose", 1), ("finger_heart", 5), ("doughnut", 30)];
    let env = TestEnv::new().await;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let stream = env.open_stream(HOST).await;
    let guests = ["guest-a", "guest-b", "guest-c"];
    for g in guests {
        let a = add_guest(&env, &stream, g).await;
        assert_eq!(a.status, 201, "{a:?}");
    }
    let a = add_guest(&env, &stream, "guest-a").await;
    assert_eq!(
        a.body["guests"].as_array().unwrap().len(),
        3,
        "joining twice: {a:?}"
    );
    let recipients = [HOST, guests[0], guests[1], guests[2]];
    let viewers: Vec<String> = (0..VIEWERS)
        .map(|i| format!("room-viewer-{i:03}"))
        .collect();
    env.fund_all(&viewers, 400).await;

    let answers: Vec<Answer> = futures::stream::iter((0..GIFTS).map(|i| {
        let (instance, stream, viewer) =
            (&instances[i % INSTANCES], &stream, &viewers[i % VIEWERS]);
        let (gift_id, _) = PRICES[i % PRICES.len()];
        let recipient = recipients[(i / VIEWERS) % recipients.len()];
        async move {
            instance
                .gift(
                    Identity::adult(viewer),
                    stream,
                    &format!("room-{i}"),
                    json!({"gift_id": gift_id, "count": 1, "recipient_id": recipient}),
                )
                .await
        }
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    // Recipient → (coins sent them, diamonds owed them: each gift's share rounded down).
    let mut sent: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for a in &answers {
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.body["creator_id"], HOST);
        let recipient = a.body["recipient_id"].as_str().unwrap().to_owned();
        let coins = a.body["coins_spent"].as_u64().unwrap();
        let entry = sent.entry(recipient).or_default();
        entry.0 += coins;
        entry.1 += split(coins, 5_000).creator;
    }
    assert_eq!(sent.len(), 4, "every recipient was gifted: {sent:?}");

    env.settle_everything().await;
    let mut stream_total = 0;
    for (recipient, (coins, diamonds)) in &sent {
        let balance = env.creator_balance(recipient).await;
        assert_eq!(
            balance["diamonds_available"].as_u64(),
            Some(*diamonds),
            "{recipient} earns exactly their gifts' shares: {balance}"
        );
        let board = Board::Recipient {
            stream_id: stream.clone(),
            recipient_id: recipient.clone(),
        };
        assert_eq!(
            whole_board(&env, &board).await,
            *coins,
            "{recipient}'s board"
        );
        stream_total += coins;
    }
    assert_eq!(
        whole_board(&env, &Board::Stream(stream.clone())).await,
        stream_total
    );
    // The API's filtered board is that recipient's board.
    let top = env
        .call(
            Func::StreamsApi,
            livepay_tests::Req::get(
                &format!("/v1/streams/{stream}/leaderboard"),
                "GET /v1/streams/{stream_id}/leaderboard",
            )
            .path_param("stream_id", &stream)
            .query("recipient_id", "guest-b")
            .query("limit", "100")
            .identity(Identity::user("anyone")),
        )
        .await;
    assert_eq!(top.status, 200, "{top:?}");
    let listed = livepay_tests::board_entries(&top.body["top"]);
    assert_eq!(listed.len(), 100);
    let best = env
        .app
        .store
        .board_top(
            &Board::Recipient {
                stream_id: stream.clone(),
                recipient_id: "guest-b".into(),
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        listed,
        best.iter().map(|e| (e.user_id.clone(), e.coins)).collect()
    );

    // A removed guest is refused once the room is read again (at most STREAM_CACHE_SECONDS).
    let a = remove_guest(&env, &stream, "guest-c").await;
    assert_eq!(a.status, 200, "{a:?}");
    env.set_now(env.now() + Duration::seconds(6));
    let refused = env
        .gift(
            Identity::adult(&viewers[0]),
            &stream,
            "to-removed",
            json!({"gift_id": "rose", "count": 1, "recipient_id": "guest-c"}),
        )
        .await;
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.code(), "recipient_not_in_stream");
    env.assert_audited().await;

    if let Some(all) = conflicts(&env.table_prefix()).await {
        let shared: Vec<_> = all
            .iter()
            .filter(|c| !c.pk.starts_with("ACCT#wallet:"))
            .collect();
        assert!(
            shared.is_empty(),
            "conflicts beyond senders' wallets: {shared:?}"
        );
    }
}

#[tokio::test]
async fn the_host_alone_runs_the_room_within_its_limit() {
    let env = TestEnv::with_settings(&[("ROOM_MAX_GUESTS", "2")]).await;
    let stream = env.open_stream(HOST).await;
    assert_eq!(add_guest(&env, &stream, "g1").await.status, 201);
    assert_eq!(add_guest(&env, &stream, "g2").await.status, 201);
    let full = add_guest(&env, &stream, "g3").await;
    assert_eq!((full.status, full.code()), (409, "room_full"), "{full:?}");
    let host = add_guest(&env, &stream, HOST).await;
    assert_eq!((host.status, host.code()), (409, "host_is_not_a_guest"));
    let stranger = env
        .call(
            Func::StreamsApi,
            add_guest_req(&stream, "g4")
                .identity(Identity::creator("not-the-host"))
                .key("k"),
        )
        .await;
    assert_eq!(stranger.status, 403, "{stranger:?}");
    let gone = remove_guest(&env, &stream, "nobody").await;
    assert_eq!((gone.status, gone.code()), (404, "guest_not_found"));
    let left = remove_guest(&env, &stream, "g1").await;
    assert_eq!(
        left.body["guests"],
        json!([{"user_id": "g2", "joined_at": left.body["guests"][0]["joined_at"]}])
    );
    // A seat freed is a seat taken.
    assert_eq!(add_guest(&env, &stream, "g3").await.status, 201);

    env.buy_coins("fan", 100).await;
    let stranger_gift = env
        .gift(
            Identity::adult("fan"),
            &stream,
            "to-stranger",
            json!({"gift_id": "rose", "count": 1, "recipient_id": "g1"}),
        )
        .await;
    assert_eq!(stranger_gift.code(), "recipient_not_in_stream");
    // A guest may gift the host, never themself.
    env.buy_coins("g2", 100).await;
    let own = env
        .gift(
            Identity::adult("g2"),
            &stream,
            "to-self",
            json!({"gift_id": "rose", "count": 1, "recipient_id": "g2"}),
        )
        .await;
    assert_eq!((own.status, own.code()), (403, "cannot_gift_self"));
    let to_host = env
        .gift(
            Identity::adult("g2"),
            &stream,
            "to-host",
            json!({"gift_id": "rose", "count": 1}),
        )
        .await;
    assert_eq!(
        (to_host.status, &to_host.body["recipient_id"]),
        (201, &json!(HOST))
    );
    assert_eq!(env.coins("fan").await, 100, "refusals change nothing");

    let ended = env.end_stream(HOST, &stream, "end").await;
    assert_eq!(ended.status, 200);
    let late = add_guest(&env, &stream, "g5").await;
    assert_eq!((late.status, late.code()), (409, "stream_not_live"));
}

#[tokio::test]
async fn a_gift_admitted_on_a_stale_room_after_the_grace_is_refunded_at_settlement() {
    let env = TestEnv::new().await;
    let stream = env.open_stream(HOST).await;
    assert_eq!(add_guest(&env, &stream, "guest").await.status, 201);
    env.buy_coins("fan", 100).await;
    // An instance whose clock runs 28 s ahead remembers the room with its guest (a gift stamped
    // within the grace of the removal to come, which counts)...
    let ahead = env.instance();
    ahead.set_now(env.now() + Duration::seconds(28));
    let gift = |key: &'static str| {
        let ahead = &ahead;
        let stream = &stream;
        async move {
            ahead
                .gift(
                    Identity::adult("fan"),
                    stream,
                    key,
                    json!({"gift_id": "doughnut", "count": 1, "recipient_id": "guest"}),
                )
                .await
        }
    };
    assert_eq!(gift("before").await.status, 201);
    // ...and, the guest removed now, still admits a gift to them from memory 4 s later, stamped
    // 32 s after the removal: past the 30 s grace.
    assert_eq!(remove_guest(&env, &stream, "guest").await.status, 200);
    ahead.set_now(ahead.now() + Duration::seconds(4));
    assert_eq!(gift("after").await.status, 201);
    assert_eq!(env.coins("fan").await, 40);

    env.settle_everything().await;
    // The gift before the removal counts; the one after is refunded in full, exactly once.
    assert_eq!(env.coins("fan").await, 70);
    let balance = env.creator_balance("guest").await;
    assert_eq!(balance["diamonds_available"], json!(15), "{balance}");
    env.settle_everything().await;
    assert_eq!(env.coins("fan").await, 70);
    env.assert_audited().await;
}

async fn call_as(env: &TestEnv, who: &str, req: livepay_tests::Req, key: &str) -> Answer {
    env.call(
        Func::StreamsApi,
        req.identity(Identity::creator(who)).key(key),
    )
    .await
}

async fn score(env: &TestEnv, match_id: &str) -> serde_json::Value {
    let a = env
        .call(
            Func::StreamsApi,
            match_req(match_id).identity(Identity::user("anyone")),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

fn points(score: &serde_json::Value) -> [u64; 2] {
    [0, 1].map(|i| score["sides"][i]["points"].as_u64().unwrap())
}

#[tokio::test]
async fn a_match_scores_the_coins_sent_inside_its_window_once_and_ends_final_when_they_settle() {
    const VIEWERS: usize = 200;
    let env = TestEnv::new().await;
    let instances: Vec<TestEnv> = (0..INSTANCES).map(|_| env.instance()).collect();
    let (a, b) = (
        env.open_stream("host-a").await,
        env.open_stream("host-b").await,
    );
    assert_eq!(
        add_guest_req_as(&env, &b, "host-b", "guest-b").await.status,
        201
    );
    let viewers: Vec<String> = (0..VIEWERS)
        .map(|i| format!("match-viewer-{i:02}"))
        .collect();
    env.fund_all(&viewers, 1_000).await;

    let invited = call_as(&env, "host-a", invite_req(&a, &b), "invite").await;
    assert_eq!(
        (invited.status, &invited.body["status"]),
        (201, &json!("invited"))
    );
    let match_id = invited.body["match_id"].as_str().unwrap().to_owned();
    // Each stream is in one match at a time.
    let again = call_as(&env, "host-b", invite_req(&b, &a), "invite-back").await;
    assert_eq!((again.status, again.code()), (409, "already_in_match"));
    let c = env.open_stream("host-c").await;
    let third = call_as(&env, "host-c", invite_req(&c, &a), "invite-third").await;
    assert_eq!(third.code(), "already_in_match");
    let stranger = call_as(&env, "host-c", accept_req(&match_id), "accept-c").await;
    assert_eq!(stranger.status, 403);
    let own = env.open_stream("host-c").await;
    let alone = call_as(&env, "host-c", invite_req(&c, &own), "invite-own").await;
    assert_eq!(
        (alone.status, alone.code()),
        (400, "invalid_request"),
        "{alone:?}"
    );

    // (side, recipient, gift): b's side scores its guest's gifts too.
    let plan = |i: usize| match i % 3 {
        0 => (&a, "host-a", "finger_heart"),
        1 => (&b, "host-b", "doughnut"),
        _ => (&b, "guest-b", "finger_heart"),
    };
    let storm = |tag: &'static str, n: usize| {
        let (instances, viewers) = (&instances, &viewers);
        futures::stream::iter((0..n).map(move |i| {
            let (stream, recipient, gift_id) = plan(i);
            async move {
                instances[i % INSTANCES]
                    .gift(
                        Identity::adult(&viewers[i % VIEWERS]),
                        stream,
                        &format!("{tag}-{i}"),
                        json!({"gift_id": gift_id, "count": 1, "recipient_id": recipient}),
                    )
                    .await
            }
        }))
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<Answer>>()
    };
    let coins_by_side = |answers: &[Answer]| {
        let mut sides = [0, 0];
        for ans in answers {
            assert_eq!(ans.status, 201, "{ans:?}");
            sides[usize::from(ans.body["stream_id"] != json!(a))] +=
                ans.body["coins_spent"].as_u64().unwrap();
        }
        sides
    };
    let set_all = |at: time::OffsetDateTime| {
        env.set_now(at);
        instances.iter().for_each(|i| i.set_now(at));
    };
    let t0 = env.now();
    // Just before the window: sent while invited.
    let before = storm("before", 30).await;
    coins_by_side(&before);
    set_all(t0 + Duration::seconds(2));
    let accepted = call_as(&env, "host-b", accept_req(&match_id), "accept").await;
    assert_eq!(
        (accepted.status, &accepted.body["status"]),
        (200, &json!("live")),
        "{accepted:?}"
    );
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            accepted.body[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let (starts_at, ends_at) = (at("starts_at"), at("ends_at"));
    let whole = |t: time::OffsetDateTime| t.replace_nanosecond(0).unwrap();
    assert_eq!(
        starts_at,
        whole(t0 + Duration::seconds(12)),
        "a 10 s countdown"
    );
    let twice = call_as(&env, "host-b", accept_req(&match_id), "accept-again").await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_transition"));

    // During the countdown: accepted, not yet scoring.
    set_all(t0 + Duration::seconds(3));
    let countdown = storm("countdown", 30).await;
    coins_by_side(&countdown);
    // Inside: from the window's first second to its last.
    set_all(starts_at);
    let mut inside = storm("inside", 300).await;
    set_all(ends_at - Duration::seconds(1));
    inside.extend(storm("last-second", 30).await);
    // Just after: the window is closed from its end on.
    set_all(ends_at);
    let after = storm("after", 30).await;
    let expected = coins_by_side(&inside);
    coins_by_side(&after);

    let live = score(&env, &match_id).await;
    assert_eq!(
        (points(&live), &live["final"]),
        ([0, 0], &json!(false)),
        "nothing settled yet"
    );
    // One gift of the window stays unsettled for a while: the result is not final without it.
    let records = env.drain_settlement_queue().await;
    let held_back = inside.last().unwrap().body["gift_txn_id"].as_str().unwrap();
    let (held, rest): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|(_, body)| body.contains(held_back));
    for batch in rest.chunks(100) {
        assert!(env.settle(batch).await.is_empty());
    }
    // Redelivered messages change nothing.
    for batch in rest.chunks(100) {
        assert!(env.settle(batch).await.is_empty());
    }
    set_all(ends_at + Duration::seconds(31));
    let pending = score(&env, &match_id).await;
    assert_eq!(pending["final"], json!(false), "{pending}");
    let held_coins = inside.last().unwrap().body["coins_spent"].as_u64().unwrap();
    let side = usize::from(inside.last().unwrap().body["stream_id"] != json!(a));
    let mut without = expected;
    without[side] -= held_coins;
    assert_eq!(points(&pending), without);

    assert!(env.settle(&held).await.is_empty());
    let ended = score(&env, &match_id).await;
    assert_eq!(
        (&ended["status"], &ended["final"]),
        (&json!("ended"), &json!(true)),
        "{ended}"
    );
    assert_eq!(points(&ended), expected);
    let winner = if expected[0] > expected[1] { &a } else { &b };
    assert_eq!(ended["winner_stream_id"], json!(winner));
    // Top contributors are the side's gifters, by the coins they sent inside the window: each
    // one's points worked out here from the stored gifts (sent before, in the countdown and
    // after, they sent more).
    let (from, until) = (
        livepay::domain::time::sortable(starts_at),
        livepay::domain::time::sortable(ends_at),
    );
    let mut window_coins: BTreeMap<String, u64> = BTreeMap::new();
    for (_, item) in env.all_items().await {
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let is_gift = s("pk").is_some_and(|pk| pk.starts_with("ACCT#gift:"));
        let sent_at = s("sent_at").unwrap_or_default();
        if is_gift
            && s("stream_id").as_deref() == Some(b.as_str())
            && from <= sent_at
            && sent_at < until
        {
            let coins: u64 = item["coins"].as_n().unwrap().parse().unwrap();
            *window_coins.entry(s("sender_id").unwrap()).or_default() += coins;
        }
    }
    let top = ended["sides"][1]["top"].as_array().unwrap();
    assert_eq!(top.len(), window_coins.len().min(10), "{top:?}");
    assert!(top
        .windows(2)
        .all(|w| w[0]["points"].as_u64() >= w[1]["points"].as_u64()));
    for entry in top {
        let user = entry["user_id"].as_str().unwrap();
        assert_eq!(entry["points"].as_u64(), Some(window_coins[user]), "{user}");
    }
    // Once final, the result is fixed: a redelivery afterwards changes nothing.
    assert!(env.settle(&held).await.is_empty());
    assert_eq!(points(&score(&env, &match_id).await), expected);
    env.assert_audited().await;
}

async fn add_guest_req_as(env: &TestEnv, stream: &str, host: &str, guest: &str) -> Answer {
    call_as(
        env,
        host,
        add_guest_req(stream, guest),
        &format!("add-{guest}"),
    )
    .await
}

/// Item writes by kind (`ACCT#wallet`, `BOARD#room`, `STREAM`, `idempotency`, ...) since the
/// last take.
fn writes_by_kind(env: &TestEnv) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for w in env.calls.take_capacity().writes {
        *kinds
            .entry(w.kind(&env.env["IDEMPOTENCY_TABLE"]))
            .or_default() += 1;
    }
    kinds
}

#[tokio::test]
async fn a_gift_to_a_guest_in_a_match_or_an_agency_creator_writes_what_a_gift_to_a_host_writes() {
    const GIFTS: usize = 98;
    let env = TestEnv::new().await;
    let (plain, room, guilded) = (
        env.open_stream("plain-host").await,
        env.open_stream(HOST).await,
        env.open_stream("agency-host").await,
    );
    let agency = env.create_agency("writes-guild").await;
    let attached = env.attach("agency-host", &agency, 2_000, "platform").await;
    assert_eq!(attached.status, 200, "{attached:?}");
    let opponent = env.open_stream("opponent-host").await;
    assert_eq!(add_guest(&env, &room, "guest").await.status, 201);
    let invited = call_as(&env, HOST, invite_req(&room, &opponent), "invite").await;
    let match_id = invited.body["match_id"].as_str().unwrap().to_owned();
    let accepted = call_as(&env, "opponent-host", accept_req(&match_id), "accept").await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    // Doughnuts (30 coins): each earns 15 diamonds, of which the agency takes 3.
    // Past the countdown (and the attachment's lead): the gifts below score, and give a cut.
    let at = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    env.set_now(at(&accepted.body["starts_at"]).max(at(&attached.body["since"])));
    let viewers: Vec<String> = (0..GIFTS).map(|i| format!("w-viewer-{i:02}")).collect();
    env.fund_all(&viewers, 400).await;
    // Warm: each sender's wallet and each stream read once, as in a warm container.
    let recipients = [
        (&plain, "plain-host"),
        (&room, "guest"),
        (&guilded, "agency-host"),
    ];
    for (i, v) in viewers.iter().enumerate() {
        for (stream, to) in recipients {
            let body = json!({"gift_id": "doughnut", "count": 1, "recipient_id": to});
            let a = env
                .gift(Identity::adult(v), stream, &format!("warm-{to}-{i}"), body)
                .await;
            assert_eq!(a.status, 201, "{a:?}");
        }
    }
    env.settle_everything().await;

    let mut report = Vec::new();
    let mut per_gift = Vec::new();
    for (stream, to) in recipients {
        writes_by_kind(&env);
        for (i, v) in viewers.iter().enumerate() {
            let body = json!({"gift_id": "doughnut", "count": 1, "recipient_id": to});
            let a = env
                .gift(Identity::adult(v), stream, &format!("{to}-{i}"), body)
                .await;
            assert_eq!(a.status, 201, "{a:?}");
        }
        let sent = writes_by_kind(&env);
        env.settle_everything().await;
        let settled = writes_by_kind(&env);
        report.push(format!(
            "{to}: send-gift {sent:?}; settlement of {GIFTS} gifts {settled:?}"
        ));
        per_gift.push((sent, settled));
    }
    println!(
        "writes per {GIFTS} gifts, host of a plain stream vs guest of a room in a match vs a \
         creator with an agency:\n{}",
        report.join("\n")
    );
    let (host, guest, guilded) = (&per_gift[0], &per_gift[1], &per_gift[2]);
    // send-gift: the same items per gift, and none shared (no stream, match or board item).
    assert_eq!(host.0, guest.0);
    assert_eq!(host.0, guilded.0);
    // Settlement with an agency: the same per-gift items; the agency's share of this creator
    // and its statement entry once per transaction of up to 96 gifts, as the creator's own.
    assert_eq!(host.1["ACCT#gift"], guilded.1["ACCT#gift"]);
    let chunks = GIFTS.div_ceil(96);
    assert_eq!(guilded.1["ACCT#agency-pending"], chunks);
    assert!(!guilded.1.contains_key("ACCT#agency-earnings"));
    assert_eq!(guilded.1["ACCT#earnings"], chunks);
    assert_eq!(guilded.1["STMT"], 2 * chunks);
    assert!(guest
        .0
        .keys()
        .all(|k| !k.starts_with("STREAM") && !k.starts_with("MATCH") && !k.starts_with("BOARD")));
    // Settlement: the gift accounts as for the host; the room's and the match's boards and
    // totals are written once per gifter per batch (each of these gifters sent one gift).
    assert_eq!(host.1["ACCT#gift"], guest.1["ACCT#gift"]);
    assert!(guest
        .1
        .keys()
        .all(|k| !k.starts_with("STREAM") && !k.starts_with("MATCH")));
    // A match side: one entry per gifter, and one total per board transaction.
    let side = guest.1["BOARD#match"];
    assert!(
        (GIFTS + 1..=GIFTS + GIFTS.div_ceil(15)).contains(&side),
        "{side} match items for {GIFTS} gifters"
    );
    let boards = |w: &BTreeMap<String, usize>| {
        w.iter()
            .filter(|(k, _)| k.starts_with("BOARD"))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    println!(
        "board items per gift: host {:.2}, guest in a match {:.2}",
        boards(&host.1) as f64 / GIFTS as f64,
        boards(&guest.1) as f64 / GIFTS as f64
    );
}

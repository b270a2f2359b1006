//! A seeded, fault-injecting simulation of the whole system (Jepsen's bank test and
//! TigerBeetle's simulator are the models): thousands of random operations — top-ups,
//! chargebacks of purchases whose coins were spent (inside the gift hold and after it), gifts,
//! orders, payments, cancels, expiries, deliveries, refunds, order disputes, payouts, admins
//! releasing, returning and retrying, guests joining and leaving rooms, LIVE matches —
//! through the real handlers against the emulator, with the queues' event sources, the sweeper,
//! the payout provider and the clock played by the simulation, and faults injected:
//!
//! - infrastructure calls that never arrive or whose answer is lost (the SDK interceptor in
//!   [`crate::faults`]), and processes killed at their k-th AWS call — between a commit and its
//!   enqueue, or half way through a settlement batch;
//! - duplicated, reordered and redelivered queue messages;
//! - payout provider timeouts, lost responses, refusals and reviews;
//! - concurrent requests with one `Idempotency-Key`, replayed webhooks, clock jumps.
//!
//! Every answer the clients get is checked as it comes (no 5xx without an injected fault), and
//! after a drain the ledger audit (`livepay::domain::audit`) and the payout provider's own
//! records must agree with every invariant of DESIGN.md. A failure names the seed that
//! reproduces its sequence of operations.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use livepay::domain::audit::{after_weekly_run, violations, GiftState, Moment, Policies};
use livepay::domain::payouts::PayoutStatus;
use livepay::domain::refunds::RefundStatus;
use livepay::provider::sandbox::SandboxBehavior;
use livepay::provider::Rail;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use time::Duration;

use crate::payouts::PayoutMessage;
use crate::shop::order_req;
use crate::{end_req, gift_req, Answer, Func, Identity, Req, TestEnv};

/// Settings for the simulation: small gifts and payouts so that money moves often, holds and
/// windows short enough for clock jumps to cross them.
pub const SIM_SETTINGS: [(&str, &str); 11] = [
    (
        "GIFT_CATALOG",
        r#"[{"gift_id":"rose","name":"Rose","coins":1,"streakable":true},{"gift_id":"galaxy","name":"Galaxy","coins":1000,"streakable":false}]"#,
    ),
    ("DAILY_CAP_COINS", "100000000"),
    ("WEEKLY_CAP_COINS", "100000000"),
    ("PAYOUT_MINIMUM_CENTS", "100"),
    ("PAYOUT_DAILY_CAP_CENTS", "5000"),
    ("GIFT_HOLD_SECONDS", "3600"),
    ("SELLER_HOLD_SECONDS", "7200"),
    ("COMMISSION_HOLD_SECONDS", "10800"),
    ("ORDER_PAYMENT_WINDOW_SECONDS", "900"),
    ("SWEEP_GRACE_SECONDS", "60"),
    ("IDEMPOTENCY_TTL_HOURS", "24"),
];

const VIEWERS: [&str; 6] = ["v0", "v1", "v2", "v3", "v4", "v5"];
const CREATORS: [&str; 3] = ["c0", "c1", "c2"];
const SELLERS: [&str; 2] = ["s0", "s1"];
const AGENCY_OWNERS: [&str; 2] = ["ag-owner-0", "ag-owner-1"];

#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    pub seed: u64,
    pub ops: usize,
    /// Chance per mille that an operation runs with random infrastructure faults armed.
    pub faulty_ops_per_mille: u32,
    /// Print each operation as it starts (`LIVEPAY_SIM_TRACE=1`), to follow a failing seed.
    pub trace: bool,
}

impl SimConfig {
    /// `LIVEPAY_SIM_SEED` and `LIVEPAY_SIM_OPS` override the seed (else a fresh one, printed)
    /// and the number of operations.
    pub fn from_env(default_ops: usize) -> Self {
        let seed = std::env::var("LIVEPAY_SIM_SEED")
            .ok()
            .map(|s| s.parse().expect("LIVEPAY_SIM_SEED is a whole number"))
            .unwrap_or_else(|| rand::random::<u32>().into());
        let ops = std::env::var("LIVEPAY_SIM_OPS")
            .ok()
            .map(|s| s.parse().expect("LIVEPAY_SIM_OPS is a whole number"))
            .unwrap_or(default_ops);
        Self {
            seed,
            ops,
            faulty_ops_per_mille: 250,
            trace: std::env::var_os("LIVEPAY_SIM_TRACE").is_some(),
        }
    }
}

/// A request whose answer the client never saw: sent again later, as a client would.
#[derive(Debug, Clone)]
enum Unanswered {
    Http(Func, Req),
    /// Webhooks are signed again when the provider retries.
    Webhook(Value),
}

#[derive(Debug, Default)]
pub struct SimReport {
    pub ops: BTreeMap<&'static str, usize>,
    /// Answers by status and error code.
    pub statuses: BTreeMap<String, usize>,
    pub killed: usize,
    pub retried: usize,
    pub redelivered: usize,
    pub duplicate_key_races: usize,
    pub clock_jumped_hours: i64,
    pub provider_calls: usize,
    pub gifts: usize,
    pub orders: usize,
    pub payouts: BTreeMap<String, usize>,
    /// Buyer refunds by status.
    pub refunds: BTreeMap<&'static str, usize>,
    /// Provider events by what they did (the ack's `outcome`, up to its first `:`).
    pub webhook_outcomes: BTreeMap<String, usize>,
    /// Creator diamonds chargebacks took back, and what creators still owe after the drain.
    pub clawed_back_diamonds: u64,
    pub creator_debt_diamonds: i64,
    /// Diamonds agencies took of their creators' gifts (held, available or paid out).
    pub agency_diamonds: i64,
    /// Cents agencies hold or were paid: their cuts of commissions and converted diamonds.
    pub agency_cents: i64,
    /// Matches whose window had ended by the audit, each checked final with its winner.
    pub matches_final: usize,
}

struct Order {
    id: String,
    buyer: String,
    seller: String,
    total: u64,
}

pub struct Sim<'e> {
    env: &'e TestEnv,
    rng: StdRng,
    config: SimConfig,
    streams: BTreeMap<&'static str, (String, bool)>,
    /// The guests the simulation last saw in each host's room.
    guests: BTreeMap<&'static str, std::collections::BTreeSet<&'static str>>,
    /// Matches invited (accepted or not).
    matches: Vec<String>,
    /// Agencies: (owner, agency id).
    agencies: Vec<(String, String)>,
    products: Vec<(String, &'static str)>,
    orders: Vec<Order>,
    webhooks: Vec<Value>,
    /// Coin purchases sent: event id, user, coins, cents (what a chargeback names).
    purchases: Vec<(String, String, u64, u64)>,
    unanswered: Vec<Unanswered>,
    /// Gift ids the clients were told were sent: each must exist, settled, after the drain.
    sent_gifts: Vec<String>,
    /// Answers no client should ever get.
    bad_answers: Vec<String>,
    report: SimReport,
    key_seq: u64,
    /// Draining: no more faults, kills, lost deletes or provider trouble.
    calm: bool,
}

impl<'e> Sim<'e> {
    pub fn new(env: &'e TestEnv, config: SimConfig) -> Self {
        Self {
            env,
            rng: StdRng::seed_from_u64(config.seed),
            config,
            streams: BTreeMap::new(),
            guests: BTreeMap::new(),
            matches: Vec::new(),
            agencies: Vec::new(),
            products: Vec::new(),
            orders: Vec::new(),
            webhooks: Vec::new(),
            purchases: Vec::new(),
            unanswered: Vec::new(),
            sent_gifts: Vec::new(),
            bad_answers: Vec::new(),
            report: SimReport::default(),
            key_seq: 0,
            calm: false,
        }
    }

    /// Runs the operations, drains, audits; panics with the seed on any violation.
    pub async fn run(mut self) -> SimReport {
        let started = Instant::now();
        self.setup().await;
        // Boxed: the operations' futures nest too deep for the compiler's layout otherwise.
        for _ in 0..self.config.ops {
            Box::pin(self.step()).await;
        }
        Box::pin(self.drain()).await;
        let found = self.audit().await;
        let faults = self.env.faults.counts();
        println!(
            "simulation seed={} ops={} in {:.1} s: {:?}; answers {:?}; faults: {} requests dropped, {} responses lost, {} processes killed; {} requests retried, {} messages redelivered, {} same-key races, clock moved {} h; {} provider calls; {} gifts, {} orders, payouts {:?}, refunds {:?}; provider events {:?}; chargebacks took back {} diamonds, creators owe {} after the drain; agencies took {} diamonds and hold or were paid {} cents; {} matches final",
            self.config.seed,
            self.config.ops,
            started.elapsed().as_secs_f64(),
            self.report.ops,
            self.report.statuses,
            faults.dropped_requests,
            faults.lost_responses,
            self.report.killed,
            self.report.retried,
            self.report.redelivered,
            self.report.duplicate_key_races,
            self.report.clock_jumped_hours,
            self.report.provider_calls,
            self.report.gifts,
            self.report.orders,
            self.report.payouts,
            self.report.refunds,
            self.report.webhook_outcomes,
            self.report.clawed_back_diamonds,
            self.report.creator_debt_diamonds,
            self.report.agency_diamonds,
            self.report.agency_cents,
            self.report.matches_final,
        );
        assert!(
            found.is_empty(),
            "simulation seed={seed} broke invariants (reproduce: LIVEPAY_SIM_SEED={seed} LIVEPAY_SIM_OPS={ops} scripts/simulate):\n{}",
            found.join("\n"),
            seed = self.config.seed,
            ops = self.config.ops,
        );
        self.report
    }

    fn key(&mut self, what: &str) -> String {
        self.key_seq += 1;
        format!("sim-{what}-{}", self.key_seq)
    }

    async fn setup(&mut self) {
        for owner in AGENCY_OWNERS {
            let agency = self.env.create_agency(owner).await;
            self.agencies.push((owner.to_owned(), agency));
        }
        for creator in CREATORS {
            let stream = self.env.open_stream(creator).await;
            self.streams.insert(creator, (stream, true));
        }
        for (i, seller) in SELLERS.iter().enumerate() {
            let body = json!({"title": format!("Item {i}"), "price_cents": 700 + 300 * i as u64,
                "stock": 5, "per_buyer_limit": 6, "affiliate_rate_bps": 1_000});
            let id = self.env.create_product(seller, body).await;
            self.products.push((id, seller));
        }
    }

    async fn step(&mut self) {
        let op = *[
            ("top_up", 10),
            ("chargeback", 4),
            ("stolen_card", 2),
            ("gift", 22),
            ("same_key_race", 3),
            ("stream", 1),
            ("room", 3),
            ("match", 2),
            ("agency", 2),
            ("stock", 2),
            ("order", 8),
            ("pay", 8),
            ("webhook_replay", 2),
            ("cancel", 2),
            ("fulfil", 7),
            ("refund", 2),
            ("dispute", 1),
            ("admin", 2),
            ("payout", 6),
            ("bad_input", 2),
            ("settle", 10),
            ("execute_payouts", 5),
            ("sweep", 3),
            ("schedule_payouts", 1),
            ("clock", 4),
            ("retry", 5),
        ]
        .choose_weighted(&mut self.rng, |(_, w)| *w)
        .map(|(op, _)| op)
        .unwrap();
        *self.report.ops.entry(op).or_default() += 1;
        if self.config.trace {
            eprintln!(
                "sim op {}: {op} at {}",
                self.report.ops.values().sum::<usize>(),
                self.env.now()
            );
        }
        match op {
            "top_up" => {
                let user = self.viewer();
                let coins = self.rng.random_range(100..=20_000u64);
                let cents = coins.div_ceil(70) * 99;
                let id = self
                    .webhook(json!({"type": "coins.purchased",
                        "data": {"user_id": user, "coins": coins, "amount_cents": cents}}))
                    .await;
                self.purchases.push((id, user.to_owned(), coins, cents));
            }
            // A card thief: a fresh buyer whose coins all go on galaxies to live creators, so
            // its chargeback (a later "chargeback" op) must reach the creators' earnings.
            "stolen_card" => {
                let thief = format!("thief{}", self.key_seq);
                let (coins, cents) = (3_000, 4_257);
                let id = self
                    .webhook(json!({"type": "coins.purchased",
                        "data": {"user_id": thief, "coins": coins, "amount_cents": cents}}))
                    .await;
                self.purchases.push((id, thief.clone(), coins, cents));
                for _ in 0..3 {
                    let creator = *CREATORS.choose(&mut self.rng).unwrap();
                    let stream = self.streams[creator].0.clone();
                    let req = gift_req(&stream)
                        .identity(Identity::adult(&thief))
                        .key(&self.key("gift"))
                        .json(json!({"gift_id": "galaxy", "count": 1}));
                    self.call(Func::SendGift, req).await;
                }
            }
            // Mostly a chargeback of a purchase (its coins spent or not, inside the hold or
            // after it, now and then twice); sometimes an older body naming coins only.
            "chargeback" => match self.purchases.choose(&mut self.rng).cloned() {
                Some((purchase, user, coins, cents)) if self.rng.random_bool(0.8) => {
                    self.webhook(json!({"type": "payment.charged_back",
                        "data": {"user_id": user, "coins": coins, "amount_cents": cents,
                            "purchase_event_id": purchase}}))
                        .await;
                }
                _ => {
                    let user = self.viewer();
                    let coins = self.rng.random_range(1..=3_000u64);
                    self.webhook(json!({"type": "payment.charged_back",
                        "data": {"user_id": user, "coins": coins}}))
                        .await;
                }
            },
            "gift" => {
                let (func, req) = self.gift_request();
                self.call(func, req).await;
            }
            "same_key_race" => self.same_key_race().await,
            "stream" => self.toggle_stream().await,
            "room" => self.change_room().await,
            "match" => self.start_match().await,
            "agency" => self.change_agency().await,
            "stock" => {
                let (product, seller) = self.products.choose(&mut self.rng).unwrap().clone();
                let delta = self.rng.random_range(-3..=6i64);
                let req = Req::post(
                    &format!("/v1/products/{product}/stock"),
                    "POST /v1/products/{product_id}/stock",
                )
                .path_param("product_id", &product)
                .identity(Identity::seller(seller))
                .key(&self.key("stock"))
                .json(json!({ "delta": delta }));
                self.call(Func::ShopApi, req).await;
            }
            "order" => {
                let req = self.order_request();
                if let Some(a) = self.call(Func::PlaceOrder, req).await {
                    self.remember_order(&a);
                }
            }
            "pay" => {
                let Some(order) = self.orders.choose(&mut self.rng) else {
                    return;
                };
                // Now and then the provider reports a wrong amount: owed back, never lost.
                let amount = if self.rng.random_bool(0.9) {
                    order.total
                } else {
                    order.total + 1
                };
                let id = order.id.clone();
                self.webhook(json!({"type": "order.paid",
                    "data": {"order_id": id, "amount_cents": amount}}))
                    .await;
            }
            "webhook_replay" => {
                if let Some(body) = self.webhooks.choose(&mut self.rng).cloned() {
                    let req = self.env.webhook(&body);
                    self.call(Func::PaymentsWebhook, req).await;
                }
            }
            "cancel" => {
                if let Some(order) = self.orders.choose(&mut self.rng) {
                    let req = order_req(&order.id, "cancel")
                        .identity(Identity::adult(&order.buyer))
                        .json(json!({}));
                    let req = req.key(&self.key("cancel"));
                    self.call(Func::ShopApi, req).await;
                }
            }
            "fulfil" => {
                if let Some(order) = self.orders.choose(&mut self.rng) {
                    let status = *["shipped", "delivered"].choose(&mut self.rng).unwrap();
                    let req = order_req(&order.id, "fulfillment")
                        .identity(Identity::seller(&order.seller))
                        .json(json!({ "status": status }));
                    let req = req.key(&self.key("fulfil"));
                    self.call(Func::ShopApi, req).await;
                }
            }
            "refund" => {
                if let Some(order) = self.orders.choose(&mut self.rng) {
                    let who = if self.rng.random_bool(0.3) {
                        Identity::admin("a0")
                    } else {
                        Identity::seller(&order.seller)
                    };
                    let req = order_req(&order.id, "refund")
                        .identity(who)
                        .json(json!({"reason": "not as described"}));
                    let req = req.key(&self.key("refund"));
                    self.call(Func::ShopApi, req).await;
                }
            }
            "dispute" => {
                if let Some(order) = self.orders.choose(&mut self.rng) {
                    let (id, total) = (order.id.clone(), order.total);
                    self.webhook(json!({"type": "order.charged_back",
                        "data": {"order_id": id, "amount_cents": total}}))
                        .await;
                }
            }
            "admin" => self.admin_exit().await,
            "payout" => {
                let (func, req) = self.payout_request();
                self.call(func, req).await;
            }
            "bad_input" => self.bad_input().await,
            "settle" => {
                self.deliver_settlement().await;
            }
            "execute_payouts" => {
                self.deliver_payouts().await;
            }
            "sweep" => {
                self.maybe_faulty();
                let _ =
                    livepay::jobs::sweep::sweep(&self.env.app, &self.env.queue, &self.env.payouts)
                        .await;
                self.env.faults.disarm();
            }
            "schedule_payouts" => {
                self.maybe_faulty();
                let _ = livepay::jobs::payout_run::schedule(&self.env.app, &self.env.payouts).await;
                self.env.faults.disarm();
            }
            "clock" => {
                let minutes = *[1, 5, 20, 90, 240, 1_440, 4_000]
                    .choose(&mut self.rng)
                    .unwrap();
                self.jump(Duration::minutes(minutes));
            }
            "retry" => {
                if !self.unanswered.is_empty() {
                    let i = self.rng.random_range(0..self.unanswered.len());
                    let u = self.unanswered.swap_remove(i);
                    self.retry(u).await;
                }
            }
            _ => unreachable!("every operation above has an arm"),
        }
    }

    fn viewer(&mut self) -> &'static str {
        VIEWERS.choose(&mut self.rng).unwrap()
    }

    fn jump(&mut self, by: Duration) {
        self.env.set_now(self.env.now() + by);
        self.report.clock_jumped_hours += by.whole_hours();
    }

    fn gift_request(&mut self) -> (Func, Req) {
        let viewer = self.viewer();
        let creator = *CREATORS.choose(&mut self.rng).unwrap();
        let stream = self.streams[creator].0.clone();
        let mut body = if self.rng.random_bool(0.6) {
            json!({"gift_id": "rose", "count": self.rng.random_range(1..=50)})
        } else {
            json!({"gift_id": "galaxy", "count": 1})
        };
        // Now and then to a guest of the room (one removed a moment ago, too: refused, or
        // counted inside the grace).
        let guests: Vec<&str> = self
            .guests
            .get(creator)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if let Some(guest) = guests
            .choose(&mut self.rng)
            .filter(|_| self.rng.random_bool(0.4))
        {
            body["recipient_id"] = (*guest).into();
        }
        let req = gift_req(&stream)
            .identity(Identity::adult(viewer))
            .key(&self.key("gift"))
            .json(body);
        (Func::SendGift, req)
    }

    /// A creator's payout request, or now and then an agency owner's.
    fn payout_request(&mut self) -> (Func, Req) {
        let creator = *CREATORS.choose(&mut self.rng).unwrap();
        let amount = *[100u64, 150, 250, 600, 1_500]
            .choose(&mut self.rng)
            .unwrap();
        let req = if self.rng.random_bool(0.25) {
            let owner = *AGENCY_OWNERS.choose(&mut self.rng).unwrap();
            Req::post("/v1/agencies/me/payouts", "POST /v1/agencies/me/payouts")
                .identity(Identity::user(owner))
        } else {
            Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts")
                .identity(Identity::creator(creator))
        };
        let req = req
            .key(&self.key("payout"))
            .json(json!({ "amount_cents": amount }));
        (Func::CreatorsApi, req)
    }

    fn order_request(&mut self) -> Req {
        let buyer = self.viewer();
        let (product, _) = self.products.choose(&mut self.rng).unwrap().clone();
        let mut body =
            json!({"lines": [{"product_id": product, "quantity": self.rng.random_range(1..=3)}]});
        if self.rng.random_bool(0.5) {
            let creator = *CREATORS.choose(&mut self.rng).unwrap();
            body["stream_id"] = self.streams[creator].0.clone().into();
        }
        Req::post("/v1/orders", "POST /v1/orders")
            .identity(Identity::adult(buyer))
            .key(&self.key("order"))
            .json(body)
    }

    fn remember_order(&mut self, a: &Answer) {
        if a.status == 201 && !a.replayed {
            self.orders.push(Order {
                id: a.body["order_id"].as_str().unwrap().to_owned(),
                buyer: a.body["buyer_id"].as_str().unwrap().to_owned(),
                seller: self.seller_of(a.body["lines"][0]["product_id"].as_str().unwrap()),
                total: a.body["total_cents"].as_u64().unwrap(),
            });
        }
    }

    fn seller_of(&self, product: &str) -> String {
        let (_, seller) = self.products.iter().find(|(p, _)| p == product).unwrap();
        (*seller).to_owned()
    }

    async fn toggle_stream(&mut self) {
        let creator = *CREATORS.choose(&mut self.rng).unwrap();
        let (stream, live) = self.streams[creator].clone();
        if live {
            let req = end_req(&stream)
                .identity(Identity::creator(creator))
                .key(&self.key("end"));
            if let Some(a) = self.call(Func::StreamsApi, req).await {
                if a.status == 200 {
                    self.streams.insert(creator, (stream, false));
                }
            }
        } else {
            let req = Req::post("/v1/streams", "POST /v1/streams")
                .identity(Identity::creator(creator))
                .key(&self.key("open"))
                .json(json!({"title": "back again"}));
            if let Some(a) = self.call(Func::StreamsApi, req).await {
                if a.status == 201 {
                    let id = a.body["stream_id"].as_str().unwrap().to_owned();
                    self.streams.insert(creator, (id, true));
                    self.guests.remove(creator);
                }
            }
        }
    }

    /// A host brings another creator into their room, or sends one back.
    async fn change_room(&mut self) {
        let host = *CREATORS.choose(&mut self.rng).unwrap();
        let guest = *CREATORS
            .iter()
            .filter(|c| **c != host)
            .collect::<Vec<_>>()
            .choose(&mut self.rng)
            .unwrap();
        let stream = self.streams[host].0.clone();
        let present = self.guests.get(host).is_some_and(|g| g.contains(guest));
        let req = if present {
            crate::remove_guest_req(&stream, guest)
        } else {
            crate::add_guest_req(&stream, guest).key(&self.key("guest"))
        };
        let req = req.identity(Identity::creator(host));
        if let Some(a) = self.call(Func::StreamsApi, req).await {
            if a.status == 200 || a.status == 201 {
                let room = self.guests.entry(host).or_default();
                if present {
                    room.remove(guest);
                } else {
                    room.insert(guest);
                }
            }
        }
    }

    /// An admin attaches a creator to an agency (another share, the other funding, another
    /// agency), or detaches them; either applies 30 s later.
    async fn change_agency(&mut self) {
        let creator = *CREATORS.choose(&mut self.rng).unwrap();
        let req = if self.rng.random_bool(0.3) {
            crate::detach_req(creator)
        } else {
            let (_, agency) = self.agencies.choose(&mut self.rng).unwrap().clone();
            let bps = *[1u64, 2_000, 3_333, 5_000].choose(&mut self.rng).unwrap();
            let funded_by = *["platform", "creator"].choose(&mut self.rng).unwrap();
            crate::attach_req(creator, &agency, bps, funded_by)
        };
        let req = req.identity(Identity::admin("a0")).key(&self.key("agency"));
        self.call(Func::CreatorsApi, req).await;
    }

    /// One host invites another's stream to a LIVE match, which mostly accepts at once.
    async fn start_match(&mut self) {
        let mut hosts = CREATORS.to_vec();
        hosts.shuffle(&mut self.rng);
        let (host, opponent) = (hosts[0], hosts[1]);
        let req = crate::invite_req(&self.streams[host].0, &self.streams[opponent].0)
            .identity(Identity::creator(host))
            .key(&self.key("match"));
        let Some(a) = self.call(Func::StreamsApi, req).await else {
            return;
        };
        let Some(match_id) = a.body["match_id"].as_str().map(str::to_owned) else {
            return;
        };
        self.matches.push(match_id.clone());
        if self.rng.random_bool(0.8) {
            let req = crate::accept_req(&match_id)
                .identity(Identity::creator(opponent))
                .key(&self.key("accept"));
            self.call(Func::StreamsApi, req).await;
        }
    }

    /// Two copies of one request, same key, at once: one effect, and the other answer is the
    /// replay or "in progress", never a second effect.
    async fn same_key_race(&mut self) {
        self.report.duplicate_key_races += 1;
        let (func, req) = match self.rng.random_range(0..3) {
            0 => self.gift_request(),
            1 => self.payout_request(),
            _ => (Func::PlaceOrder, self.order_request()),
        };
        let (a, b) = futures::join!(
            self.env.call(func, req.clone()),
            self.env.call(func, req.clone())
        );
        for x in [&a, &b] {
            self.check_answer(&req, x, false);
        }
        let firsts = [&a, &b]
            .iter()
            .filter(|x| x.status < 300 && !x.replayed)
            .count();
        if firsts > 1 {
            self.bad_answers
                .push(format!("two first answers for one key: {a:?} / {b:?}"));
        }
        if a.status < 300 && b.status < 300 && a.body != b.body {
            self.bad_answers.push(format!(
                "a replay differs from the first answer: {a:?} / {b:?}"
            ));
        }
        for x in [a, b] {
            self.note_effect(func, &x);
        }
    }

    /// Malformed requests of every kind: a 4xx each, no change (the audit would see one).
    async fn bad_input(&mut self) {
        let stream = self.streams["c0"].0.clone();
        let viewer = self.viewer();
        let cases = [
            (
                Func::SendGift,
                gift_req(&stream).json(json!({"gift_id": "rose", "count": -1})),
            ),
            (
                Func::SendGift,
                gift_req(&stream)
                    .json(json!({"gift_id": "rose", "count": 18446744073709551615u64})),
            ),
            (
                Func::PlaceOrder,
                Req::post("/v1/orders", "POST /v1/orders").raw_body("{\"lines\": ["),
            ),
            (
                Func::CreatorsApi,
                Req::post("/v1/creators/me/payouts", "POST /v1/creators/me/payouts")
                    .json(json!({"amount_cents": "5000"})),
            ),
        ];
        let (func, req) = cases.choose(&mut self.rng).unwrap().clone();
        let identity = if func == Func::CreatorsApi {
            Identity::creator("c1")
        } else {
            Identity::adult(viewer)
        };
        let req = req.identity(identity).key(&self.key("bad"));
        let a = self.env.call(func, req).await;
        *self.report.statuses.entry(status_and_code(&a)).or_default() += 1;
        if a.status != 400 {
            self.bad_answers
                .push(format!("malformed input answered {} {}", a.status, a.body));
        }
    }

    /// Arms random faults for the next piece of work, sometimes.
    fn maybe_faulty(&mut self) {
        if !self.calm && self.rng.random_range(0..1000) < self.config.faulty_ops_per_mille {
            let seed = self.rng.random();
            self.env.faults.arm(seed, 300);
        }
    }

    /// Whether the process running the next piece of work dies; if so, at which AWS call.
    fn maybe_killed(&mut self, chance: f64, max_calls: usize) -> bool {
        let killed = !self.calm && self.rng.random_bool(chance);
        if killed {
            self.report.killed += 1;
            let k = self.rng.random_range(0..max_calls);
            self.env.faults.kill_after(k);
        } else {
            self.maybe_faulty();
        }
        killed
    }

    /// Sends one request, sometimes under faults or killed at its k-th AWS call; an answer the
    /// client never saw is kept for a retry.
    async fn call(&mut self, func: Func, req: Req) -> Option<Answer> {
        let killed = self.maybe_killed(0.05, 4);
        let before = self.env.faults.counts().total();
        let a = self.env.call(func, req.clone()).await;
        self.env.faults.disarm();
        let struck = self.env.faults.counts().total() > before;
        self.check_answer(&req, &a, struck);
        if killed || a.status >= 500 {
            self.unanswered.push(match func {
                Func::PaymentsWebhook => Unanswered::Webhook(req_body(&req)),
                _ => Unanswered::Http(func, req),
            });
            return None;
        }
        self.note_effect(func, &a);
        Some(a)
    }

    fn check_answer(&mut self, req: &Req, a: &Answer, struck: bool) {
        *self.report.statuses.entry(status_and_code(a)).or_default() += 1;
        // A chargeback waits, by design, while the gifts it traces settle or the order's refund
        // is with the provider: the provider retries it, as the simulation does.
        let waits = a.status == 503
            && a.code() == "busy"
            && req.event()["rawPath"] == "/v1/webhooks/payments"
            && matches!(
                req_body(req)["type"].as_str(),
                Some("payment.charged_back" | "order.charged_back")
            );
        if a.status >= 500 && !struck && !waits {
            self.bad_answers.push(format!(
                "{} without an injected fault: {} for {}",
                a.status,
                a.body,
                req.event()
            ));
        }
    }

    fn note_effect(&mut self, func: Func, a: &Answer) {
        if let (Func::PaymentsWebhook, Some(outcome)) = (func, a.body["outcome"].as_str()) {
            let (what, detail) = outcome.split_once(':').unwrap_or((outcome, ""));
            *self
                .report
                .webhook_outcomes
                .entry(what.to_owned())
                .or_default() += 1;
            if let Some(diamonds) = detail.strip_prefix("clawed_back_") {
                self.report.clawed_back_diamonds += diamonds.parse::<u64>().unwrap_or(0);
            }
        }
        if func == Func::SendGift && a.status == 201 {
            self.sent_gifts
                .push(a.body["gift_txn_id"].as_str().unwrap().to_owned());
        }
        if func == Func::PlaceOrder {
            self.remember_order(a);
        }
    }

    /// Sends a provider event under a new id; the id.
    async fn webhook(&mut self, mut body: Value) -> String {
        self.key_seq += 1;
        let id = format!("evt_sim_{}", self.key_seq);
        body["id"] = id.clone().into();
        self.webhooks.push(body.clone());
        let req = self.env.webhook(&body);
        self.call(Func::PaymentsWebhook, req).await;
        id
    }

    /// An admin decides: a held payout released or returned, or a failed refund retried.
    async fn admin_exit(&mut self) {
        let admin = Identity::admin("a0");
        let held = Req::get("/v1/admin/payouts", "GET /v1/admin/payouts")
            .query("status", "held")
            .identity(admin.clone());
        let Some(listed) = self.call(Func::CreatorsApi, held).await else {
            return;
        };
        let first = listed.body["payouts"]
            .as_array()
            .and_then(|p| p.first())
            .and_then(|p| p["payout_id"].as_str())
            .map(str::to_owned);
        if let Some(payout) = first {
            let (exit, body) = match self.rng.random_bool(0.5) {
                true => ("release", json!({"note": "sim: review passed"})),
                false => ("return", json!({"reason": "sim: account closed"})),
            };
            let req = Req::post(
                &format!("/v1/admin/payouts/{payout}/{exit}"),
                &format!("POST /v1/admin/payouts/{{payout_id}}/{exit}"),
            )
            .path_param("payout_id", &payout)
            .identity(admin)
            .key(&self.key("exit"))
            .json(body);
            self.call(Func::CreatorsApi, req).await;
            return;
        }
        let buyer = self.viewer();
        let mine =
            Req::get("/v1/me/refunds", "GET /v1/me/refunds").identity(Identity::adult(buyer));
        let Some(refunds) = self.call(Func::ShopApi, mine).await else {
            return;
        };
        let failed = refunds.body["refunds"].as_array().and_then(|r| {
            r.iter()
                .find(|r| r["status"] == "failed")
                .and_then(|r| r["refund_id"].as_str())
                .map(str::to_owned)
        });
        if let Some(refund) = failed {
            let req = Req::post(
                &format!("/v1/admin/refunds/{refund}/retry"),
                "POST /v1/admin/refunds/{refund_id}/retry",
            )
            .path_param("refund_id", &refund)
            .identity(admin)
            .key(&self.key("retry"))
            .json(json!({"note": "sim: new card"}));
            self.call(Func::CreatorsApi, req).await;
        }
    }

    async fn retry(&mut self, u: Unanswered) {
        self.report.retried += 1;
        match u {
            Unanswered::Http(func, req) => {
                self.call(func, req).await;
            }
            Unanswered::Webhook(body) => {
                let req = self.env.webhook(&body);
                self.call(Func::PaymentsWebhook, req).await;
            }
        }
    }

    /// Lambda's SQS event source for the settlement queue, unreliable on purpose: a batch in
    /// any order, sometimes under faults or killed half way; what failed, and now and then what
    /// succeeded, is delivered again.
    async fn deliver_settlement(&mut self) -> usize {
        let mut batch = self.receive(&self.env.queue_url.clone()).await;
        if batch.is_empty() {
            return 0;
        }
        batch.shuffle(&mut self.rng);
        let killed = self.maybe_killed(0.2, 6);
        let failed = livepay::jobs::settle_payouts::handle(&self.env.app, sqs_event(&batch))
            .await
            .expect("every record has an id")
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect::<Vec<_>>();
        self.env.faults.disarm();
        // A killed invocation reports nothing: the whole batch comes back.
        let done = |m: &Message| !killed && !failed.contains(&m.message_id().unwrap().to_owned());
        self.settle_receipts(&self.env.queue_url.clone(), &batch, done)
            .await;
        batch.len()
    }

    /// The FIFO payouts queue's event source, with the provider answering at random.
    async fn deliver_payouts(&mut self) -> usize {
        let url = self.env.payout_queue_url.clone();
        let batch = self.receive(&url).await;
        if batch.is_empty() {
            return 0;
        }
        let calm = self.calm;
        let answers: Vec<SandboxBehavior> = (0..batch.len())
            .map(|_| match self.rng.random_range(0..100) {
                _ if calm => SandboxBehavior::Succeed,
                0..70 => SandboxBehavior::Succeed,
                70..80 => SandboxBehavior::TimeOut,
                80..90 => SandboxBehavior::SucceedButLoseResponse,
                90..97 => SandboxBehavior::FailPermanently("sim: account closed".into()),
                _ => SandboxBehavior::UnderReview("sim: under review".into()),
            })
            .collect();
        self.env.sandbox.script(answers);
        self.maybe_faulty();
        let failed = self.execute(&batch).await;
        self.env.faults.disarm();
        let done = |m: &Message| !failed.contains(&m.message_id().unwrap().to_owned());
        self.settle_receipts(&url, &batch, done).await;
        batch.len()
    }

    async fn execute(&mut self, batch: &[Message]) -> Vec<String> {
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        let before = self.env.sandbox.calls().len();
        let failed = livepay::jobs::payouts::handle(
            &self.env.app,
            &self.env.sandbox,
            sqs_event(batch),
            deadline,
        )
        .await
        .expect("every record has an id")
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
        self.report.provider_calls += self.env.sandbox.calls().len() - before;
        failed
    }

    async fn receive(&mut self, url: &str) -> Vec<Message> {
        self.env
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    }

    /// Deletes the messages `done` says finished, except now and then one whose delete is
    /// "lost"; everything else becomes visible again at once (rather than after the visibility
    /// timeout, which the simulated clock does not move).
    async fn settle_receipts(
        &mut self,
        url: &str,
        batch: &[Message],
        done: impl Fn(&Message) -> bool,
    ) {
        for m in batch {
            let receipt = m.receipt_handle().unwrap();
            let delete_lost = !self.calm && self.rng.random_bool(0.1);
            if done(m) && !delete_lost {
                self.env
                    .sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .unwrap();
            } else {
                self.report.redelivered += 1;
                self.env
                    .sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// No more faults: every unanswered request is retried until answered, and the clock, the
    /// sweeper and both event sources run until nothing is left to do.
    async fn drain(&mut self) {
        self.calm = true;
        // A week per round: each round's payout run is a new week's, so what a payee could not be
        // paid under one week's cap is paid the next.
        for _ in 0..16 {
            let mut work = self.unanswered.len();
            // Once per round: a request that keeps failing must fail the run, not hang it.
            for u in std::mem::take(&mut self.unanswered) {
                self.retry(u).await;
            }
            self.jump(Duration::days(7));
            let swept =
                livepay::jobs::sweep::sweep(&self.env.app, &self.env.queue, &self.env.payouts)
                    .await
                    .expect("the sweeper runs without faults");
            work += swept.unfinished_gifts
                + swept.holds_released
                + swept.orders_expired
                + swept.orders_due_for_completion
                + swept.payouts_resent
                + swept.refunds_resent;
            // The weekly run, every round: what sellers and creators are due leaves.
            let scheduled = livepay::jobs::payout_run::schedule(&self.env.app, &self.env.payouts)
                .await
                .expect("the payout run runs without faults");
            work += scheduled.requested;
            // Bounded: a message that fails for ever must fail the run, not hang it.
            for deliveries in 0.. {
                let moved = self.deliver_settlement().await + self.deliver_payouts().await;
                if moved == 0 {
                    break;
                }
                if deliveries == 100 {
                    self.bad_answers.push(
                        "the queues still deliver after 100 batches: messages fail for ever".into(),
                    );
                    return;
                }
                work += moved;
            }
            if work == 0 {
                return;
            }
        }
        self.bad_answers
            .push("the drain did not come to rest in 16 rounds".into());
    }

    /// Every recipient's board in every stream holds exactly the coins of the gifts to them
    /// that counted, and every match side's points exactly those of its window's gifts.
    async fn room_and_match_sums(
        &mut self,
        gifts: &[(livepay::domain::settlement::GiftToSettle, GiftState)],
    ) -> Vec<String> {
        use livepay::domain::settlement::Board;
        let store = &self.env.app.store;
        let counted: Vec<_> = gifts
            .iter()
            .filter(|(_, state)| matches!(state, GiftState::Settled { .. }))
            .map(|(g, _)| g)
            .collect();
        let mut found = Vec::new();
        let mut boards: BTreeMap<Board, u64> = BTreeMap::new();
        for g in &counted {
            let board = Board::Recipient {
                stream_id: g.stream_id.clone(),
                recipient_id: g.creator_id.clone(),
            };
            *boards.entry(board).or_default() += g.coins;
        }
        for (board, coins) in boards {
            let entries = store.board_top(&board, 10_000).await.unwrap();
            let on_board: u64 = entries.iter().map(|e| e.coins).sum();
            if on_board != coins {
                found.push(format!(
                    "{} holds {on_board} coins, its gifts {coins}",
                    board.key()
                ));
            }
        }
        for match_id in &self.matches {
            let Some(m) = store.find_match(match_id).await.unwrap() else {
                continue;
            };
            for (stream_id, _) in &m.sides {
                let window = m.starts_at.as_deref().zip(m.ends_at.as_deref());
                let expected: u64 = counted
                    .iter()
                    .filter(|g| &g.stream_id == stream_id)
                    .filter(|g| {
                        window
                            .is_some_and(|(s, e)| s <= g.sent_at.as_str() && g.sent_at.as_str() < e)
                    })
                    .map(|g| g.coins)
                    .sum();
                let side = Board::MatchSide {
                    match_id: match_id.clone(),
                    stream_id: stream_id.clone(),
                };
                let points = store.board_total(&side).await.unwrap();
                if points != expected {
                    found.push(format!("match {match_id} side {stream_id} has {points} points, its window's gifts {expected}"));
                }
            }
            // Its window over and everything drained: the result is final, and the winner is
            // the side with more points (none on a tie).
            let now = livepay::domain::time::sortable(self.env.now());
            if m.ends_at.as_deref().is_some_and(|end| end <= now.as_str()) {
                let req = crate::match_req(match_id).identity(Identity::user("sim-auditor"));
                let view = self.env.call(Func::StreamsApi, req).await.body;
                let sides: Vec<(&Value, u64)> = view["sides"]
                    .as_array()
                    .map(|s| {
                        s.iter()
                            .map(|s| (&s["stream_id"], s["points"].as_u64().unwrap_or(0)))
                            .collect()
                    })
                    .unwrap_or_default();
                let winner = match sides.as_slice() {
                    [(a, pa), (_, pb)] if pa > pb => (*a).clone(),
                    [(_, pa), (b, pb)] if pb > pa => (*b).clone(),
                    _ => Value::Null,
                };
                if view["final"] != true || view["winner_stream_id"] != winner {
                    found.push(format!("match {match_id} ended but reads {view}"));
                }
                self.report.matches_final += 1;
            }
        }
        found
    }

    /// DESIGN.md's invariants over everything stored, plus what the clients and the payout
    /// provider saw.
    async fn audit(&mut self) -> Vec<String> {
        let app = &self.env.app;
        let snapshot = app
            .store
            .audit_snapshot()
            .await
            .expect("the audit reads every table");
        let policies = Policies {
            settlement: &app.config.settlement,
            shop: &app.config.shop,
        };
        let mut found = violations(&snapshot, &policies, Moment::Drained);
        found.extend(after_weekly_run(
            &snapshot,
            app.config.payouts.minimum_cents,
        ));
        found.append(&mut self.bad_answers);
        found.extend(self.room_and_match_sums(&snapshot.gifts).await);
        // Every gift a client was told about exists (and, by the audit, was settled once).
        for id in &self.sent_gifts {
            if !snapshot.gifts.iter().any(|(g, _)| &g.gift_txn_id == id) {
                found.push(format!("gift {id} was answered 201 but is not stored"));
            }
        }
        // Paid once or returned: the provider made exactly one transfer for each paid payout,
        // of its amount, and none for any other.
        let all = self.env.sandbox.transfers();
        let (transfers, refunds): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|t| t.rail == Rail::Transfer);
        for p in &snapshot.payouts {
            let made: Vec<_> = transfers
                .iter()
                .filter(|t| t.reference == p.payout_id)
                .collect();
            let expected = usize::from(p.status == PayoutStatus::Paid);
            if made.len() != expected || made.iter().any(|t| t.amount_cents != p.amount_cents) {
                found.push(format!(
                    "payout {} is {:?} but the provider made {made:?}",
                    p.payout_id, p.status
                ));
            }
            *self
                .report
                .payouts
                .entry(format!("{:?}", p.status))
                .or_default() += 1;
        }
        let paid = snapshot
            .payouts
            .iter()
            .filter(|p| p.status == PayoutStatus::Paid)
            .count();
        if transfers.len() != paid {
            found.push(format!(
                "the provider made {} transfers for {paid} paid payouts",
                transfers.len()
            ));
        }
        // Refunded once: one provider refund for each succeeded refund, of its amount, for the
        // payment it names, and none for any other.
        // A refund a dispute superseded succeeded without the provider: the provider repaid the
        // buyer through the dispute (its event is the refund's reference).
        let events: std::collections::BTreeSet<&str> = self
            .webhooks
            .iter()
            .filter_map(|w| w["id"].as_str())
            .collect();
        for r in &snapshot.refunds {
            let superseded = r
                .provider_ref
                .as_deref()
                .is_some_and(|by| events.contains(by));
            // Each attempt is asked under its own reference (`Refund::attempt_key`).
            let made: Vec<_> = refunds
                .iter()
                .filter(|t| t.reference.split('~').next() == Some(r.refund_id.as_str()))
                .collect();
            let expected = usize::from(r.status == RefundStatus::Succeeded && !superseded);
            let wrong = made
                .iter()
                .any(|t| t.amount_cents != r.amount_cents || t.destination != r.payment_ref);
            if made.len() != expected || wrong {
                found.push(format!(
                    "refund {} is {} but the provider made {made:?}",
                    r.refund_id,
                    r.status.as_str()
                ));
            }
            *self.report.refunds.entry(r.status.as_str()).or_default() += 1;
        }
        if refunds.len() > snapshot.refunds.len() {
            found.push(format!(
                "the provider made {} refunds for {} refund records",
                refunds.len(),
                snapshot.refunds.len()
            ));
        }
        use livepay::domain::ledger::AccountKind::{self, *};
        let held = |kinds: &[AccountKind]| -> i64 {
            snapshot
                .accounts
                .iter()
                .filter(|(a, _, _)| kinds.contains(&a.kind))
                .map(|(_, _, b)| b)
                .sum()
        };
        self.report.agency_diamonds = held(&[
            AgencyEarnings,
            AgencyEarningsPending,
            AgencyClawback,
            AgencyDiamondsRedeemed,
        ]);
        self.report.agency_cents = held(&[
            AgencyCentsPending,
            AgencyCents,
            AgencyInPayout,
            AgencyPaidOut,
        ]);
        self.report.creator_debt_diamonds = snapshot
            .accounts
            .iter()
            .filter(|(a, _, _)| a.kind == livepay::domain::ledger::AccountKind::EarningsClawback)
            .map(|(_, _, b)| -b)
            .sum();
        self.report.gifts = snapshot.gifts.len();
        self.report.orders = snapshot.orders.len();
        found
    }
}

fn status_and_code(a: &Answer) -> String {
    match a.code() {
        "" => a.status.to_string(),
        code => format!("{} {code}", a.status),
    }
}

fn req_body(req: &Req) -> Value {
    serde_json::from_str(req.event()["body"].as_str().unwrap()).unwrap()
}

fn sqs_event(batch: &[Message]) -> SqsEvent {
    let messages: Vec<PayoutMessage> = batch.iter().map(PayoutMessage::from).collect();
    crate::payouts::sqs_event(&messages)
}

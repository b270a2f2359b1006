//! Test harness: each test gets its own tables and queues, created from the synthesized infra
//! template by the same provisioner `scripts/up` uses (with a unique name prefix, so tests run in
//! parallel and moto's per-transaction table copies stay small), and calls the real handlers with
//! API Gateway v2 events against the emulator.

pub mod calls;
pub mod capacity;
pub mod conflicts;
pub mod events;
pub mod faults;
pub mod payouts;
pub mod shop;
pub mod sim;
pub mod stripe;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use futures::StreamExt;
use livepay::config::WebhookSecrets;
use livepay::domain::payments::sign;
use livepay::provider::sandbox::{SandboxBehavior, SandboxProvider};
use livepay::queue::payouts::PayoutQueue;
use livepay::queue::settlement::{SettlementEvent, SettlementQueue};
use livepay::secrets::Secret;
use livepay::{App, Clock, Config};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub use calls::CallCounter;
pub use events::{Identity, Req};
pub use faults::Faults;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

/// A clock tests can move.
pub struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    SendGift,
    WalletApi,
    StreamsApi,
    PaymentsWebhook,
    CreatorsApi,
    PlaceOrder,
    ShopApi,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub replayed: bool,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct TestEnv {
    pub app: App,
    pub queue: SettlementQueue,
    pub queue_url: String,
    pub payouts: PayoutQueue,
    pub payout_queue_url: String,
    /// The payout provider the executor calls; tests script its answers.
    pub sandbox: SandboxProvider,
    pub sqs: aws_sdk_sqs::Client,
    pub env: HashMap<String, String>,
    pub calls: CallCounter,
    /// Faults injected into every DynamoDB and SQS call while armed.
    pub faults: Faults,
    /// The webhooks' secrets, read from the emulator's Secrets Manager as the function reads
    /// them: the provider-neutral one, and Stripe's endpoint secret in a rotation's overlap
    /// (the previous one still accepted), in test mode.
    pub secrets: Arc<WebhookSecrets>,
    /// The statement cursors' key, likewise.
    pub cursor_key: Arc<Secret>,
    clock: Arc<TestClock>,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_settings(&[]).await
    }

    /// `settings` override function environment variables (e.g. `GIFT_CATALOG`).
    pub async fn with_settings(settings: &[(&str, &str)]) -> Self {
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut env = provision(&prefix);
        // Most tests follow a gift straight to available earnings; the ones about holds and
        // chargebacks set the hold they need (the deployed default is 15 days).
        env.insert("GIFT_HOLD_SECONDS".into(), "0".into());
        for (k, v) in settings {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned())
            .expect("provisioned env is a valid config");
        let sdk = livepay::aws_sdk_config().await.unwrap();
        let calls = CallCounter::default();
        let faults = Faults::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .interceptor(faults.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .interceptor(faults.clone())
                .build(),
        );
        let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
        let secrets = WebhookSecrets::load(&sdk, |k| env.get(k).cloned())
            .await
            .expect("the provisioned secrets are readable");
        let cursor_key = livepay::config::secret(
            &sdk,
            &|k| env.get(k).cloned(),
            "STATEMENT_CURSOR_KEY_SECRET_ARN",
        )
        .await
        .expect("the provisioned cursor key is readable");
        let queue_url = env["SETTLEMENT_QUEUE_URL"].clone();
        let payout_queue_url = env["PAYOUT_QUEUE_URL"].clone();
        Self {
            app: App::new(config, dynamodb, clock.clone()),
            queue: SettlementQueue::new(sqs.clone(), queue_url.clone()),
            queue_url,
            payouts: PayoutQueue::new(sqs.clone(), payout_queue_url.clone()),
            payout_queue_url,
            sandbox: SandboxProvider::new(SandboxBehavior::Succeed),
            sqs,
            env,
            calls,
            faults,
            secrets: Arc::new(secrets),
            cursor_key: Arc::new(cursor_key),
            clock,
        }
    }

    /// Another instance of the functions, as Lambda runs many: the same tables, queues and
    /// clients, its own warm-container memory (wallets, streams, products) and its own clock,
    /// starting at this one's time.
    pub fn instance(&self) -> TestEnv {
        let clock = Arc::new(TestClock(Mutex::new(self.now())));
        TestEnv {
            app: App::new(
                self.app.config.clone(),
                self.app.store.client().clone(),
                clock.clone(),
            ),
            queue: self.queue.clone(),
            queue_url: self.queue_url.clone(),
            payouts: self.payouts.clone(),
            payout_queue_url: self.payout_queue_url.clone(),
            sandbox: SandboxProvider::new(SandboxBehavior::Succeed),
            sqs: self.sqs.clone(),
            env: self.env.clone(),
            calls: self.calls.clone(),
            faults: self.faults.clone(),
            secrets: self.secrets.clone(),
            cursor_key: self.cursor_key.clone(),
            clock,
        }
    }

    /// The prefix of this test's table names.
    pub fn table_prefix(&self) -> String {
        let ledger = &self.env["LEDGER_TABLE"];
        ledger.split('-').next().unwrap_or(ledger).to_owned()
    }

    pub fn set_now(&self, now: OffsetDateTime) {
        *self.clock.0.lock().unwrap() = now;
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub async fn call(&self, func: Func, req: Req) -> Answer {
        let request = req.into_request();
        let response = match func {
            Func::SendGift => {
                livepay::api::send_gift::handle(&self.app, &self.queue, request).await
            }
            Func::WalletApi => livepay::api::wallet::handle(&self.app, request).await,
            Func::StreamsApi => livepay::api::streams::handle(&self.app, request).await,
            Func::CreatorsApi => {
                livepay::api::creators::handle(&self.app, &self.payouts, &self.cursor_key, request)
                    .await
            }
            Func::PlaceOrder => livepay::api::place_order::handle(&self.app, request).await,
            Func::ShopApi => livepay::api::shop::handle(&self.app, &self.payouts, request).await,
            Func::PaymentsWebhook => {
                livepay::api::payments::handle(&self.app, &self.secrets, &self.payouts, request)
                    .await
            }
        }
        .expect("handlers never fail: every error is a response");
        let replayed = response
            .headers()
            .get("Idempotent-Replayed")
            .is_some_and(|v| v == "true");
        let status = response.status().as_u16();
        let body = match response.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).expect("responses are JSON"),
            other => panic!("unexpected body {other:?}"),
        };
        Answer {
            status,
            replayed,
            body,
        }
    }

    /// A live stream of `creator`.
    pub async fn open_stream(&self, creator: &str) -> String {
        let a = self
            .call(
                Func::StreamsApi,
                Req::post("/v1/streams", "POST /v1/streams")
                    .identity(Identity::creator(creator))
                    .key(&format!("open-{creator}-{}", ulid::Ulid::new()))
                    .json(json!({"title": "Live now"})),
            )
            .await;
        assert_eq!(a.status, 201, "{a:?}");
        a.body["stream_id"].as_str().unwrap().to_owned()
    }

    /// A signed webhook request for `body` at the test clock's time.
    pub fn webhook(&self, body: &Value) -> Req {
        self.webhook_bytes(body.to_string().as_bytes())
    }

    /// A correctly signed webhook request carrying any bytes at all.
    pub fn webhook_bytes(&self, raw: &[u8]) -> Req {
        let signature = sign(WEBHOOK_SECRET.as_bytes(), self.now().unix_timestamp(), raw);
        let req = Req::post("/v1/webhooks/payments", "POST /v1/webhooks/payments")
            .header("Livepay-Signature", &signature);
        match std::str::from_utf8(raw) {
            Ok(text) => req.raw_body(text),
            Err(_) => req.bytes_body(raw),
        }
    }

    /// Credits `coins` to `user` through the payment webhook.
    pub async fn buy_coins(&self, user: &str, coins: u64) {
        let body = json!({"id": format!("evt_{}", ulid::Ulid::new()), "type": "coins.purchased",
            "data": {"user_id": user, "coins": coins, "amount_cents": coins.div_ceil(70) * 99}});
        let a = self.call(Func::PaymentsWebhook, self.webhook(&body)).await;
        assert_eq!(a.status, 200, "{a:?}");
    }

    /// Each of `users` buys `coins`, many at once.
    pub async fn fund_all(&self, users: &[String], coins: u64) {
        futures::stream::iter(users.iter().map(|u| self.buy_coins(u, coins)))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    }

    /// Settles every gift message on the queue in the event source's batches; what a batch
    /// reports failed is delivered again, as SQS would.
    pub async fn settle_everything(&self) {
        let records = self.drain_settlement_queue().await;
        for batch in records.chunks(490) {
            let mut batch = batch.to_vec();
            for _ in 0..10 {
                let failed = self.settle(&batch).await;
                if failed.is_empty() {
                    break;
                }
                batch.retain(|(id, _)| failed.contains(id));
            }
            assert!(
                self.settle(&batch).await.is_empty(),
                "settlement keeps failing"
            );
        }
    }

    pub async fn coins(&self, user: &str) -> u64 {
        self.app.store.wallet(user).await.unwrap().balance
    }

    /// Sends a gift and returns the answer.
    pub async fn gift(&self, who: Identity, stream_id: &str, key: &str, body: Value) -> Answer {
        self.call(
            Func::SendGift,
            gift_req(stream_id).identity(who).key(key).json(body),
        )
        .await
    }

    /// Every message on the settlement queue (received, then left to become visible again).
    pub async fn settlement_messages(&self) -> Vec<SettlementEvent> {
        self.receive_all(false)
            .await
            .iter()
            .map(|(_, body)| SettlementEvent::parse(body).expect("well-formed settlement message"))
            .collect()
    }

    /// Every message on the settlement queue with its SQS message id, deleted from the queue (the
    /// tests play Lambda's event source and decide what is delivered when).
    pub async fn drain_settlement_queue(&self) -> Vec<(String, String)> {
        self.receive_all(true).await
    }

    async fn receive_all(&self, delete: bool) -> Vec<(String, String)> {
        self.receive(&self.queue_url, delete)
            .await
            .into_iter()
            .map(|m| (m.message_id.unwrap(), m.body.unwrap()))
            .collect()
    }

    /// Every message on the queue at `url`, with its attributes, deleted if `delete`.
    pub async fn receive(&self, url: &str, delete: bool) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(0)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let batch = r.messages.unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                if delete {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
                out.push(m);
            }
        }
    }

    /// `creator` ends `stream`.
    pub async fn end_stream(&self, creator: &str, stream: &str, key: &str) -> Answer {
        self.call(
            Func::StreamsApi,
            end_req(stream)
                .identity(Identity::creator(creator))
                .key(key),
        )
        .await
    }

    /// Invokes the settlement consumer with these `(message id, body)` records; returns the ids it
    /// reported as failed.
    pub async fn settle(&self, records: &[(String, String)]) -> Vec<String> {
        let mut event = SqsEvent::default();
        for (id, body) in records {
            let mut m = SqsMessage::default();
            m.message_id = Some(id.clone());
            m.body = Some(body.clone());
            m.event_source = Some("aws:sqs".into());
            event.records.push(m);
        }
        let response = livepay::jobs::settle_payouts::handle(&self.app, event)
            .await
            .expect("every record has an id");
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    pub async fn sweep(&self) -> livepay::jobs::sweep::SweepReport {
        livepay::jobs::sweep::sweep(&self.app, &self.queue, &self.payouts)
            .await
            .expect("sweep runs")
    }

    /// `GET /v1/streams/{stream}/leaderboard`, with `limit` when given.
    pub async fn leaderboard(&self, stream: &str, limit: Option<&str>) -> Answer {
        let mut r = Req::get(
            &format!("/v1/streams/{stream}/leaderboard"),
            "GET /v1/streams/{stream_id}/leaderboard",
        )
        .path_param("stream_id", stream)
        .identity(Identity::user("anyone"));
        if let Some(limit) = limit {
            r = r.query("limit", limit);
        }
        self.call(Func::StreamsApi, r).await
    }

    /// A stream's leaderboard (its top 100): coins by gifter.
    pub async fn stream_board(&self, stream: &str) -> std::collections::BTreeMap<String, u64> {
        let a = self.leaderboard(stream, Some("100")).await;
        assert_eq!(a.status, 200, "{a:?}");
        board_entries(&a.body["top"])
    }

    /// A new agency owned by `owner`, created by an admin: its id.
    pub async fn create_agency(&self, owner: &str) -> String {
        let a = self
            .call(
                Func::CreatorsApi,
                create_agency_req(&format!("Agency of {owner}"), owner)
                    .identity(Identity::admin("agency-admin"))
                    .key(&format!("agency-{owner}")),
            )
            .await;
        assert_eq!(a.status, 201, "{a:?}");
        a.body["agency_id"].as_str().unwrap().to_owned()
    }

    /// An admin attaches `creator` to `agency` (from 30 s after this instance's time).
    pub async fn attach(&self, creator: &str, agency: &str, bps: u64, funded_by: &str) -> Answer {
        self.call(
            Func::CreatorsApi,
            attach_req(creator, agency, bps, funded_by)
                .identity(Identity::admin("agency-admin"))
                .key(&format!("attach-{}", ulid::Ulid::new())),
        )
        .await
    }

    /// Attaches `creator` and moves this instance's clock to when the attachment applies.
    pub async fn attached_from_now(&self, creator: &str, agency: &str, bps: u64, funded_by: &str) {
        let a = self.attach(creator, agency, bps, funded_by).await;
        assert_eq!(a.status, 200, "{a:?}");
        let since = a.body["since"].as_str().unwrap();
        self.set_now(
            OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).unwrap(),
        );
    }

    /// An admin detaches `creator` from their agency (from 30 s after this instance's time).
    pub async fn detach(&self, creator: &str) -> Answer {
        self.call(
            Func::CreatorsApi,
            detach_req(creator)
                .identity(Identity::admin("agency-admin"))
                .key(&format!("detach-{}", ulid::Ulid::new())),
        )
        .await
    }

    /// `GET /v1/agencies/me/<what>` as `owner`, asserting a 200.
    pub async fn agency_get(&self, owner: &str, what: &str) -> Value {
        let path = format!("/v1/agencies/me/{what}");
        let a = self
            .call(
                Func::CreatorsApi,
                Req::get(&path, &format!("GET {path}")).identity(Identity::user(owner)),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body
    }

    /// A creator's `GET /v1/creators/me/balance`.
    pub async fn creator_balance(&self, creator: &str) -> Value {
        let a = self
            .call(
                Func::CreatorsApi,
                Req::get("/v1/creators/me/balance", "GET /v1/creators/me/balance")
                    .identity(Identity::creator(creator)),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body
    }

    /// Every item of the ledger, commerce and idempotency tables, each with its table's name.
    pub async fn all_items(&self) -> Vec<(String, capacity::Item)> {
        let mut all = Vec::new();
        for table in ["LEDGER_TABLE", "COMMERCE_TABLE", "IDEMPOTENCY_TABLE"] {
            let name = &self.env[table];
            let items: Vec<_> = self
                .app
                .store
                .client()
                .scan()
                .table_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .unwrap();
            all.extend(items.into_iter().map(|i| (name.clone(), i)));
        }
        all
    }

    /// Every DESIGN.md invariant the ledger audit checks, over what is stored, with all due
    /// work done (`Moment::Drained`): conservation included.
    pub async fn assert_audited(&self) {
        let app = &self.app;
        let snapshot = app
            .store
            .audit_snapshot()
            .await
            .expect("the audit reads every table");
        let policies = livepay::domain::audit::Policies {
            settlement: &app.config.settlement,
            shop: &app.config.shop,
        };
        let found = livepay::domain::audit::violations(
            &snapshot,
            &policies,
            livepay::domain::audit::Moment::Drained,
        );
        assert!(found.is_empty(), "audit: {found:#?}");
        self.assert_conserved().await;
    }

    /// Sum of every account balance per unit: conservation says each is zero.
    pub async fn assert_conserved(&self) {
        let totals = self.app.store.balance_totals().await.unwrap();
        assert!(!totals.is_empty(), "no accounts at all");
        for (unit, total) in totals {
            assert_eq!(total, 0, "sum over all {unit} accounts");
        }
    }
}

/// A leaderboard's `top` as coins by gifter.
pub fn board_entries(top: &Value) -> std::collections::BTreeMap<String, u64> {
    top.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["user_id"].as_str().unwrap().to_owned(),
                e["coins"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub fn end_req(stream_id: &str) -> Req {
    Req::post(
        &format!("/v1/streams/{stream_id}/end"),
        "POST /v1/streams/{stream_id}/end",
    )
    .path_param("stream_id", stream_id)
}

/// `POST /v1/streams/{stream_id}/guests` bringing `user_id` into the room.
pub fn add_guest_req(stream_id: &str, user_id: &str) -> Req {
    Req::post(
        &format!("/v1/streams/{stream_id}/guests"),
        "POST /v1/streams/{stream_id}/guests",
    )
    .path_param("stream_id", stream_id)
    .json(serde_json::json!({ "user_id": user_id }))
}

/// `DELETE /v1/streams/{stream_id}/guests/{user_id}`.
pub fn remove_guest_req(stream_id: &str, user_id: &str) -> Req {
    Req::new(
        "DELETE",
        &format!("/v1/streams/{stream_id}/guests/{user_id}"),
        "DELETE /v1/streams/{stream_id}/guests/{user_id}",
    )
    .path_param("stream_id", stream_id)
    .path_param("user_id", user_id)
}

/// `POST /v1/matches`: `stream_id`'s host invites `opponent`'s.
pub fn invite_req(stream_id: &str, opponent: &str) -> Req {
    Req::post("/v1/matches", "POST /v1/matches")
        .json(serde_json::json!({ "stream_id": stream_id, "opponent_stream_id": opponent }))
}

/// `POST /v1/matches/{match_id}/accept`.
pub fn accept_req(match_id: &str) -> Req {
    Req::post(
        &format!("/v1/matches/{match_id}/accept"),
        "POST /v1/matches/{match_id}/accept",
    )
    .path_param("match_id", match_id)
}

/// `GET /v1/matches/{match_id}`.
pub fn match_req(match_id: &str) -> Req {
    Req::get(
        &format!("/v1/matches/{match_id}"),
        "GET /v1/matches/{match_id}",
    )
    .path_param("match_id", match_id)
}

/// `POST /v1/admin/agencies`: an agency owned by `owner_id`.
pub fn create_agency_req(name: &str, owner_id: &str) -> Req {
    Req::post("/v1/admin/agencies", "POST /v1/admin/agencies")
        .json(serde_json::json!({ "name": name, "owner_id": owner_id }))
}

/// `PUT /v1/admin/creators/{creator_id}/agency`.
pub fn attach_req(creator_id: &str, agency_id: &str, share_bps: u64, funded_by: &str) -> Req {
    Req::new(
        "PUT",
        &format!("/v1/admin/creators/{creator_id}/agency"),
        "PUT /v1/admin/creators/{creator_id}/agency",
    )
    .path_param("creator_id", creator_id)
    .json(serde_json::json!({
        "agency_id": agency_id, "share_bps": share_bps, "funded_by": funded_by }))
}

/// `DELETE /v1/admin/creators/{creator_id}/agency`.
pub fn detach_req(creator_id: &str) -> Req {
    Req::new(
        "DELETE",
        &format!("/v1/admin/creators/{creator_id}/agency"),
        "DELETE /v1/admin/creators/{creator_id}/agency",
    )
    .path_param("creator_id", creator_id)
}

pub fn gift_req(stream_id: &str) -> Req {
    Req::post(
        &format!("/v1/streams/{stream_id}/gifts"),
        "POST /v1/streams/{stream_id}/gifts",
    )
    .path_param("stream_id", stream_id)
}

/// Every HTTP route key of the synthesized infra template, and whether the JWT authorizer
/// guards it.
pub fn template_routes() -> std::collections::BTreeMap<String, bool> {
    let path = std::env::var("LIVEPAY_TEMPLATE").expect("LIVEPAY_TEMPLATE is set by scripts/test");
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("template JSON");
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|r| {
            let p = &r["Properties"];
            (
                p["RouteKey"].as_str().unwrap().to_owned(),
                p["AuthorizationType"] == "JWT",
            )
        })
        .collect()
}

/// Runs the stack's provisioner for `prefix` and returns the functions' environment.
fn provision(prefix: &str) -> HashMap<String, String> {
    let python = std::env::var("LIVEPAY_PYTHON")
        .expect("LIVEPAY_PYTHON is set by scripts/test (run the tests with scripts/test)");
    let template =
        std::env::var("LIVEPAY_TEMPLATE").expect("LIVEPAY_TEMPLATE is set by scripts/test");
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL (the moto server) is set by scripts/test");
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/local");
    let out = Command::new(python)
        .current_dir(scripts)
        .args([
            "-m",
            "livepay_local",
            "provision",
            "--template",
            &template,
            "--endpoint",
            &endpoint,
            "--dynamodb-endpoint",
            &dynamodb,
            "--prefix",
            prefix,
        ])
        .args(["--webhook-secret", WEBHOOK_SECRET])
        .args(["--stripe-webhook-secret", stripe::STRIPE_WEBHOOK_SECRET])
        .args([
            "--stripe-webhook-secret-previous",
            stripe::STRIPE_PREVIOUS_WEBHOOK_SECRET,
        ])
        .output()
        .expect("the provisioner runs");
    assert!(
        out.status.success(),
        "provisioning failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

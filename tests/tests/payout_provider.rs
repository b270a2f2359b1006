//! The HTTP payout provider against a stand-in Stripe-Connect-style transfer API on 127.0.0.1:
//! what it sends (bearer secret, idempotency key, form body), how it reads each answer, its
//! deadline, and the executor paying once through it when the first answer is a 503, or when a
//! call that made the transfer timed out and the next met a 404 that was not the provider's.
//!
//! The stand-in keeps what a provider keeps: one transfer per idempotency key, listed by
//! `transfer_group`. A scripted answer either replaces the provider's (`Canned`) or comes after
//! the provider did its work (`Slow`: the transfer is made, the answer arrives late).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use livepay::domain::payouts::ProviderOutcome;
use livepay::provider::http::HttpProvider;
use livepay::provider::{Disbursement, MoneyOutProvider, Rail};
use livepay::secrets::Secret;
use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::stripe::event;
use livepay_tests::{Func, Identity, Req, TestEnv};
use serde_json::json;

/// What the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    authorization: String,
    idempotency_key: String,
    body: String,
}

/// One scripted answer.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// This status and body, and nothing done.
    Canned(u16, &'static str, Duration),
    /// The provider's own answer, after this long.
    Slow(Duration),
}

#[derive(Clone, Default)]
struct TransferApi {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Transfers made: idempotency key, transfer group, id.
    made: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl TransferApi {
    /// Serves on a free port until the test ends; returns the base URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let api = api.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| api.clone().answer(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.answers.lock().unwrap().extend(answers);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let mut seen = Seen {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().unwrap_or_default().to_owned(),
            authorization: header("authorization"),
            idempotency_key: header("idempotency-key"),
            body: String::new(),
        };
        seen.body = String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        let query = seen.query.clone();
        self.seen.lock().unwrap().push(seen.clone());
        let scripted = self.answers.lock().unwrap().pop_front();
        let (status, body) = match scripted {
            Some(Answer::Canned(status, body, delay)) => {
                tokio::time::sleep(delay).await;
                (status, body.to_owned())
            }
            Some(Answer::Slow(delay)) => {
                let answer = self.provide(&seen, &query);
                tokio::time::sleep(delay).await;
                answer
            }
            None => self.provide(&seen, &query),
        };
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    }

    /// What the provider itself answers: a transfer per key, or the list for a group.
    fn provide(&self, seen: &Seen, query: &str) -> (u16, String) {
        let mut made = self.made.lock().unwrap();
        if seen.method == "GET" {
            let group = query
                .split('&')
                .find_map(|p| p.strip_prefix("transfer_group="))
                .unwrap_or_default();
            let data: Vec<String> = made
                .iter()
                .filter(|(_, g, _)| g == group)
                .map(|(_, g, id)| {
                    format!(r#"{{"id":"{id}","object":"transfer","transfer_group":"{g}"}}"#)
                })
                .collect();
            return (
                200,
                format!(r#"{{"object":"list","data":[{}]}}"#, data.join(",")),
            );
        }
        let group = seen
            .body
            .split('&')
            .find_map(|p| p.strip_prefix("transfer_group="))
            .unwrap_or_default()
            .to_owned();
        let id = match made.iter().find(|(k, _, _)| *k == seen.idempotency_key) {
            Some((_, _, id)) => id.clone(),
            None => {
                let id = format!("tr_{}", made.len() + 1);
                made.push((seen.idempotency_key.clone(), group, id.clone()));
                id
            }
        };
        (200, format!(r#"{{"id":"{id}","object":"transfer"}}"#))
    }

    fn transfers_made(&self) -> usize {
        self.made.lock().unwrap().len()
    }
}

fn req(payout_id: &str) -> Disbursement<'_> {
    Disbursement {
        rail: Rail::Transfer,
        reference: payout_id,
        idempotency_key: payout_id,
        destination: "creator one",
        amount_cents: 6_000,
    }
}

/// An admin sets `payee`'s Stripe connected account.
async fn set_account(env: &TestEnv, payee: &str, account: &str) -> livepay_tests::Answer {
    env.call(
        Func::CreatorsApi,
        Req::new(
            "PUT",
            &format!("/v1/admin/payees/{payee}/payout-account"),
            "PUT /v1/admin/payees/{payee_id}/payout-account",
        )
        .path_param("payee_id", payee)
        .identity(Identity::admin("boss"))
        .key(&format!("acct-{}", ulid::Ulid::new()))
        .json(json!({"stripe_account": account})),
    )
    .await
}

/// Stripe's `account.updated` for `account`, `created` seconds after the test clock's now.
async fn account_updated(
    env: &TestEnv,
    account: &str,
    payouts_enabled: bool,
    later: i64,
) -> String {
    let mut e = event(
        "account.updated",
        &format!("evt_{}", ulid::Ulid::new()),
        json!({"id": account, "payouts_enabled": payouts_enabled}),
    );
    e["account"] = json!(account);
    e["created"] = json!(env.now().unix_timestamp() + later);
    let a = env.call(Func::PaymentsWebhook, env.stripe_signed(&e)).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body["outcome"].as_str().unwrap_or_default().to_owned()
}

/// Every payout message queued, delivered once to the executor.
async fn run(env: &TestEnv, provider: &HttpProvider) {
    let messages = env.drain_payout_queue().await;
    let event = livepay_tests::payouts::sqs_event(&messages);
    livepay::jobs::payouts::handle(&env.app, provider, event, soon())
        .await
        .unwrap();
}

/// A deadline no call here should meet: the tests about deadlines set their own. 5 s (2 s to
/// call, after the 3 s the executor keeps for its commit) timed out under a loaded CI machine.
fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn the_http_provider_sends_the_key_and_secret_and_reads_every_answer() {
    let api = TransferApi::default();
    let url = api.start().await;
    let provider = HttpProvider::new(format!("{url}/"), Secret::fixed("sk_test_secret")).unwrap();
    use Answer::Canned;
    api.script([
        Canned(200, r#"{"id":"tr_1","object":"transfer"}"#, Duration::ZERO),
        Canned(
            400,
            r#"{"error":{"code":"account_closed","message":"The destination account is closed."}}"#,
            Duration::ZERO,
        ),
        Canned(
            403,
            r#"{"error":{"code":"account_under_review","message":"Account under review"}}"#,
            Duration::ZERO,
        ),
        Canned(503, "unavailable", Duration::ZERO),
        Canned(
            409,
            r#"{"error":{"code":"idempotency_key_in_use"}}"#,
            Duration::ZERO,
        ),
        Canned(200, r#"{"id":"tr_slow"}"#, Duration::from_secs(2)),
    ]);
    assert_eq!(
        provider.send(&req("po_1"), soon()).await,
        Ok(ProviderOutcome::Paid {
            provider_ref: "tr_1".into()
        })
    );
    assert_eq!(
        provider.send(&req("po_2"), soon()).await,
        Ok(ProviderOutcome::Failed {
            reason: "The destination account is closed.".into()
        })
    );
    assert!(matches!(
        provider.send(&req("po_3"), soon()).await,
        Ok(ProviderOutcome::Held { .. })
    ));
    assert!(provider.send(&req("po_4"), soon()).await.is_err());
    assert!(provider.send(&req("po_4"), soon()).await.is_err());
    // The deadline cuts a slow answer short: unknown, to be asked again with the same key.
    let started = Instant::now();
    let slow = provider
        .send(&req("po_5"), Instant::now() + Duration::from_millis(300))
        .await;
    assert!(slow.is_err(), "{slow:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let seen = api.seen();
    assert_eq!(seen.len(), 6);
    let first = &seen[0];
    assert_eq!(first.path, "/v1/transfers");
    assert_eq!(first.authorization, "Bearer sk_test_secret");
    assert_eq!(first.idempotency_key, "po_1");
    assert_eq!(
        first.body,
        "amount=6000&currency=usd&destination=creator+one&transfer_group=po_1"
    );
    assert_eq!(seen[4].idempotency_key, "po_4");
}

#[tokio::test]
async fn the_executor_pays_once_through_http_when_the_first_answer_is_a_503() {
    let api = TransferApi::default();
    let url = api.start().await;
    let provider = HttpProvider::new(url, Secret::fixed("sk_test_secret"))
        .unwrap()
        .to_connected_accounts();
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    env.fund_creator("c", 100).await;
    assert_eq!(set_account(&env, "c", "acct_1CreatorC").await.status, 200);
    let a = env.request_payout("c", "k", 6_000).await;
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    let messages = env.drain_payout_queue().await;
    api.script([Answer::Canned(503, "try later", Duration::ZERO)]);
    let deliver = || async {
        let event = livepay_tests::payouts::sqs_event(&messages);
        livepay::jobs::payouts::handle(&env.app, &provider, event, soon())
            .await
            .unwrap()
            .batch_item_failures
            .len()
    };
    assert_eq!(deliver().await, 1, "a 503 leaves the payout processing");
    assert_eq!(deliver().await, 0);
    assert_eq!(deliver().await, 0, "a paid payout is not sent again");
    let seen = api.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        ["POST", "GET", "POST"],
        "a resumed payout is looked up first"
    );
    assert_eq!(
        seen[1].query,
        format!("transfer_group={payout_id}&limit=100")
    );
    assert!(seen
        .iter()
        .filter(|s| s.method == "POST")
        .all(|s| s.idempotency_key == payout_id
            && s.body.contains("destination=acct_1CreatorC")
            && s.body.contains(&format!("transfer_group={payout_id}"))));
    assert_eq!(api.transfers_made(), 1);
    let payouts = env.payouts_of("c").await;
    assert_eq!(payouts[0]["status"], "paid");
    assert_eq!(env.creator_balance("c").await["cents_paid_out"], 6_000);
    env.assert_conserved().await;
}

/// The double payment of the old classification: the first call made the transfer but its answer
/// came too late; on the redelivery the provider's list lagged (no transfer yet) and the send met
/// a 404 with no provider error object (a proxy's). That 404 is not the provider's refusal: the
/// payout stays processing (recording it failed would give the money back and pay it twice), and
/// the next delivery finds the transfer instead of paying again.
#[tokio::test]
async fn a_timeout_that_paid_then_a_bare_404_is_paid_exactly_once() {
    let api = TransferApi::default();
    let url = api.start().await;
    let provider = HttpProvider::new(url, Secret::fixed("sk_test_secret"))
        .unwrap()
        .to_connected_accounts();
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    env.fund_creator("c", 100).await;
    assert_eq!(set_account(&env, "c", "acct_1CreatorC").await.status, 200);
    let a = env.request_payout("c", "k", 6_000).await;
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    let messages = env.drain_payout_queue().await;
    api.script([
        Answer::Slow(Duration::from_secs(2)),
        Answer::Canned(200, r#"{"object":"list","data":[]}"#, Duration::ZERO),
        Answer::Canned(404, "<html>Not Found</html>", Duration::ZERO),
    ]);
    let (env, provider, messages) = (&env, &provider, &messages);
    let deliver = |within: Duration| async move {
        let event = livepay_tests::payouts::sqs_event(messages);
        livepay::jobs::payouts::handle(&env.app, provider, event, Instant::now() + within)
            .await
            .unwrap()
            .batch_item_failures
            .len()
    };
    // The executor keeps 3 s back from its deadline for the commit: 3.5 s leaves 0.5 s to call.
    assert_eq!(deliver(Duration::from_millis(3_500)).await, 1, "timed out");
    assert_eq!(
        api.transfers_made(),
        1,
        "the slow call did make the transfer"
    );
    assert_eq!(
        deliver(Duration::from_secs(8)).await,
        1,
        "a bare 404 is no answer"
    );
    assert_eq!(env.payouts_of("c").await[0]["status"], "processing");
    assert_eq!(deliver(Duration::from_secs(8)).await, 0);
    let payouts = env.payouts_of("c").await;
    assert_eq!(payouts[0]["status"], "paid", "{payouts:?}");
    assert_eq!(api.transfers_made(), 1, "paid once");
    let seen = api.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        ["POST", "GET", "POST", "GET"],
        "the bare 404 answered the second send; the last look-up found the transfer"
    );
    assert!(seen
        .iter()
        .filter(|s| s.method == "GET")
        .all(|s| s.query.contains(&payout_id)));
    assert_eq!(env.creator_balance("c").await["cents_paid_out"], 6_000);
    env.assert_conserved().await;
}

/// Through Stripe, a payout goes to the payee's connected account: without one it waits `held`
/// with that reason, and when Stripe disables the account's payouts mid-run (`account.updated`),
/// the payouts not yet sent wait `held` too — until Stripe enables it again and an admin
/// releases them. An older `account.updated` delivered late changes nothing.
#[tokio::test]
async fn a_payee_without_an_account_or_whose_account_disables_payouts_mid_run_is_held() {
    let api = TransferApi::default();
    let url = api.start().await;
    let provider = HttpProvider::new(url, Secret::fixed("sk_test_secret"))
        .unwrap()
        .to_connected_accounts();
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    for c in ["c1", "c2"] {
        env.fund_creator(c, 200).await;
    }
    assert_eq!(set_account(&env, "c1", "acct_1One").await.status, 200);
    let bad = set_account(&env, "c2", "acct one").await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
    let taken = set_account(&env, "c2", "acct_1One").await;
    assert_eq!((taken.status, taken.code()), (409, "payout_account_in_use"));
    for c in ["c1", "c2"] {
        assert_eq!(env.request_payout(c, "first", 6_000).await.status, 202);
    }
    run(&env, &provider).await;
    assert_eq!(env.payouts_of("c1").await[0]["status"], "paid");
    let c2 = env.payouts_of("c2").await;
    assert_eq!(c2[0]["status"], "held");
    assert!(c2[0]["reason"]
        .as_str()
        .unwrap()
        .contains("no payout account"));
    assert_eq!(api.transfers_made(), 1);

    // Mid-run: c1's next payout is requested, then Stripe disables the account's payouts.
    assert_eq!(env.request_payout("c1", "second", 6_000).await.status, 202);
    assert_eq!(
        account_updated(&env, "acct_1One", false, 10).await,
        "payouts_disabled"
    );
    assert_eq!(
        account_updated(&env, "acct_1One", true, 5).await,
        "unchanged:stale_or_replaced",
        "an older event delivered late"
    );
    assert_eq!(
        account_updated(&env, "acct_2Nobody", true, 10).await,
        "account_not_a_payee"
    );
    run(&env, &provider).await;
    let c1 = env.payouts_of("c1").await;
    assert_eq!(c1[0]["status"], "held", "{c1:?}");
    assert!(c1[0]["reason"]
        .as_str()
        .unwrap()
        .contains("disabled on Stripe account acct_1One"));
    assert_eq!(
        api.transfers_made(),
        1,
        "nothing sent to a disabled account"
    );

    // Enabled again, and released by an admin: paid once, to the account.
    assert_eq!(
        account_updated(&env, "acct_1One", true, 20).await,
        "payouts_enabled"
    );
    let payout_id = c1[0]["payout_id"].as_str().unwrap();
    let released = env
        .call(
            Func::CreatorsApi,
            Req::post(
                &format!("/v1/admin/payouts/{payout_id}/release"),
                "POST /v1/admin/payouts/{payout_id}/release",
            )
            .path_param("payout_id", payout_id)
            .identity(Identity::admin("boss"))
            .key("release-1")
            .json(json!({"note": "account enabled"})),
        )
        .await;
    assert_eq!(released.status, 200, "{released:?}");
    run(&env, &provider).await;
    assert_eq!(env.payouts_of("c1").await[0]["status"], "paid");
    assert_eq!(api.transfers_made(), 2);
    let posts: Vec<_> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert!(
        posts
            .iter()
            .all(|s| s.body.contains("destination=acct_1One")),
        "{posts:?}"
    );

    // Stripe reverses the first transfer, in two steps (its totals), one delivered twice: each
    // new part is back in c1's available cents once.
    let first = env.payouts_of("c1").await[1]["payout_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid_out = |b: serde_json::Value| b["cents_paid_out"].as_u64().unwrap();
    assert_eq!(paid_out(env.creator_balance("c1").await), 12_000);
    let mut seen = Vec::new();
    for (transfer, total) in [
        ("tr_999", 6_000),
        ("tr_1", 2_000),
        ("tr_1", 6_000),
        ("tr_1", 6_000),
    ] {
        let e = event(
            "transfer.reversed",
            &format!("evt_{}", ulid::Ulid::new()),
            json!({"id": transfer, "amount": 6_000, "amount_reversed": total,
                "transfer_group": first}),
        );
        let a = env.call(Func::PaymentsWebhook, env.stripe_signed(&e)).await;
        seen.push(a.body["outcome"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        seen,
        [
            "not_the_payouts_transfer",
            "reversed_2000_cents",
            "reversed_4000_cents",
            "already_booked"
        ]
    );
    assert_eq!(paid_out(env.creator_balance("c1").await), 6_000);
    env.assert_conserved().await;
    env.assert_audited().await;
}

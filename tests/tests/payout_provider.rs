//! The HTTP payout provider against a stand-in Stripe-Connect-style transfer API on 127.0.0.1:
//! what it sends (bearer secret, idempotency key, form body), how it reads each answer, its
//! deadline, and the executor paying once through it when the first answer is a 503.

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
use livepay::provider::{PayoutProvider, TransferRequest};
use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::TestEnv;

/// What the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: String,
    idempotency_key: String,
    body: String,
}

/// One scripted answer: status, body, and how long to wait before answering.
type Answer = (u16, &'static str, Duration);

#[derive(Clone, Default)]
struct TransferApi {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
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
            path: req.uri().path().to_owned(),
            authorization: header("authorization"),
            idempotency_key: header("idempotency-key"),
            body: String::new(),
        };
        seen.body = String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        self.seen.lock().unwrap().push(seen);
        let (status, body, delay) = self.answers.lock().unwrap().pop_front().unwrap_or((
            200,
            r#"{"id":"tr_default"}"#,
            Duration::ZERO,
        ));
        tokio::time::sleep(delay).await;
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    }
}

fn req(payout_id: &str) -> TransferRequest<'_> {
    TransferRequest {
        payout_id,
        creator_id: "creator one",
        amount_cents: 6_000,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn the_http_provider_sends_the_key_and_secret_and_reads_every_answer() {
    let api = TransferApi::default();
    let url = api.start().await;
    let provider = HttpProvider::new(format!("{url}/"), "sk_test_secret".into()).unwrap();
    api.script([
        (200, r#"{"id":"tr_1","object":"transfer"}"#, Duration::ZERO),
        (
            400,
            r#"{"error":{"code":"account_closed","message":"The destination account is closed."}}"#,
            Duration::ZERO,
        ),
        (
            403,
            r#"{"error":{"code":"account_under_review","message":"Account under review"}}"#,
            Duration::ZERO,
        ),
        (503, "unavailable", Duration::ZERO),
        (
            409,
            r#"{"error":{"code":"idempotency_key_in_use"}}"#,
            Duration::ZERO,
        ),
        (200, r#"{"id":"tr_slow"}"#, Duration::from_secs(2)),
    ]);
    assert_eq!(
        provider.transfer(&req("po_1"), soon()).await,
        Ok(ProviderOutcome::Paid {
            provider_ref: "tr_1".into()
        })
    );
    assert_eq!(
        provider.transfer(&req("po_2"), soon()).await,
        Ok(ProviderOutcome::Failed {
            reason: "The destination account is closed.".into()
        })
    );
    assert!(matches!(
        provider.transfer(&req("po_3"), soon()).await,
        Ok(ProviderOutcome::Held { .. })
    ));
    assert!(provider.transfer(&req("po_4"), soon()).await.is_err());
    assert!(provider.transfer(&req("po_4"), soon()).await.is_err());
    // The deadline cuts a slow answer short: unknown, to be asked again with the same key.
    let started = Instant::now();
    let slow = provider
        .transfer(&req("po_5"), Instant::now() + Duration::from_millis(300))
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
    let provider = HttpProvider::new(url, "sk_test_secret".into()).unwrap();
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    env.fund_creator("c", 100).await;
    let a = env.request_payout("c", "k", 6_000).await;
    let payout_id = a.body["payout_id"].as_str().unwrap().to_owned();
    let messages = env.drain_payout_queue().await;
    api.script([
        (503, "try later", Duration::ZERO),
        (200, r#"{"id":"tr_42"}"#, Duration::ZERO),
    ]);
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
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.idempotency_key == payout_id));
    let payouts = env.payouts_of("c").await;
    assert_eq!(payouts[0]["status"], "paid");
    assert_eq!(env.creator_balance("c").await["cents_paid_out"], 6_000);
    env.assert_conserved().await;
}

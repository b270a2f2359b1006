//! The refund call against localstripe (PyPI), a stateful fake of Stripe's API that keeps
//! PaymentIntents, charges and refunds: a real PaymentIntent is paid with Stripe's test card,
//! then livepay's HTTP provider refunds it (`POST /v1/refunds`, `payment_intent`, `amount`,
//! `metadata[livepay_refund_id]`) and finds it again by that metadata among the PaymentIntent's
//! refunds (`GET /v1/refunds?payment_intent=`). localstripe has no Connect transfers: those are
//! tested against the stand-ins (`payout_provider.rs`, `scripts/local/tests`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livepay::domain::payouts::ProviderOutcome;
use livepay::provider::http::HttpProvider;
use livepay::provider::{Disbursement, MoneyOutProvider, Rail};
use livepay::secrets::Secret;

struct LocalStripe {
    child: Child,
    url: String,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A form POST to localstripe (as Stripe's API takes it): the JSON answer.
fn post(url: &str, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let mut args = vec![
        "-s".to_owned(),
        "-u".into(),
        "sk_test_localstripe:".into(),
        format!("{url}{path}"),
    ];
    for (k, v) in form {
        args.extend(["--data-urlencode".to_owned(), format!("{k}={v}")]);
    }
    let out = Command::new("curl")
        .args(&args)
        .output()
        .expect("curl runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "localstripe answered {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn start() -> LocalStripe {
    let python = std::env::var("LIVEPAY_PYTHON")
        .expect("LIVEPAY_PYTHON is set by scripts/test (run the tests with scripts/test)");
    let port = free_port();
    let child = Command::new(python)
        .args([
            "-m",
            "localstripe",
            "--port",
            &port.to_string(),
            "--from-scratch",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("localstripe starts (scripts/local/requirements.txt)");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "localstripe did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    LocalStripe { child, url }
}

/// A PaymentIntent of `cents`, paid with Stripe's test card.
fn paid_intent(url: &str, cents: u64) -> String {
    let pm = post(
        url,
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ],
    );
    let pi = post(
        url,
        "/v1/payment_intents",
        &[
            ("amount", &cents.to_string()),
            ("currency", "usd"),
            ("payment_method", pm["id"].as_str().unwrap()),
            ("confirm", "true"),
        ],
    );
    assert_eq!(pi["status"], "succeeded", "{pi}");
    pi["id"].as_str().unwrap().to_owned()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn a_refund_is_made_on_the_payment_intent_and_found_by_its_metadata() {
    let stripe = start();
    let provider =
        HttpProvider::new(stripe.url.clone(), Secret::fixed("sk_test_localstripe")).unwrap();
    let pi = paid_intent(&stripe.url, 1_200);
    let refund = |reference: &'static str, cents| Disbursement {
        rail: Rail::Refund,
        reference,
        idempotency_key: reference,
        destination: &pi,
        amount_cents: cents,
    };
    assert_eq!(provider.find(&refund("rf_1", 700), soon()).await, Ok(None));
    let made = provider.send(&refund("rf_1", 700), soon()).await;
    let Ok(ProviderOutcome::Paid { provider_ref }) = made else {
        panic!("{made:?}");
    };
    assert!(provider_ref.starts_with("re_"), "{provider_ref}");
    assert_eq!(
        provider.find(&refund("rf_1", 700), soon()).await,
        Ok(Some(ProviderOutcome::Paid {
            provider_ref: provider_ref.clone()
        })),
        "found again by its metadata"
    );
    assert_eq!(
        provider.find(&refund("rf_2", 500), soon()).await,
        Ok(None),
        "another refund's look-up does not find this one"
    );
    // A PaymentIntent Stripe does not know: its own refusal (an error object), a failure.
    // (localstripe does not check a refund's amount against what is left of the payment.)
    let unknown = Disbursement {
        destination: "pi_unknown",
        ..refund("rf_3", 500)
    };
    let refused = provider.send(&unknown, soon()).await;
    assert!(
        matches!(refused, Ok(ProviderOutcome::Failed { .. })),
        "{refused:?}"
    );
}

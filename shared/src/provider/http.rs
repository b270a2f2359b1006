//! A Stripe-style money-out API, form-encoded, `Authorization: Bearer <API key>` (the secret
//! `PAYOUT_API_KEY_SECRET_ARN` names, read again as `secrets` says, so a rolled key is used
//! without a redeploy):
//! - a payout is `POST /v1/transfers` (`amount`, `currency=usd`, `destination` = the payee's
//!   payout account, `transfer_group` = the payout id), found again with
//!   `GET /v1/transfers?transfer_group=<payout id>`;
//! - a refund is `POST /v1/refunds` (`payment_intent`, `amount`,
//!   `metadata[livepay_refund_id]`), found again among `GET /v1/refunds?payment_intent=…` by
//!   that metadata.
//!
//! Answers: 2xx with the object → paid (a refund only once its `status` is `succeeded`; a
//! `failed` or `canceled` one failed, with its `failure_reason`); a 400/402/403/404 that carries
//! the provider's own error object → failed, or held for `account_under_review`; anything else —
//! the same statuses without that object (a proxy's 404, a firewall's 403), an idempotency
//! error, 409, 429, 5xx, a timeout, a broken connection — is unsettled, and the executor looks
//! the money up before it sends again. The call gives up at the caller's deadline.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::{Disbursement, MoneyOutProvider, Rail, Unsettled};
use crate::config::ConfigError;
use crate::domain::payouts::ProviderOutcome;
use crate::secrets::Secret;

/// Largest answer read: a list of a payment's refunds is a few tens of kilobytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// The longest one call may take, whatever the deadline.
const MAX_CALL: Duration = Duration::from_secs(20);
/// The error code a provider answers for an account it has frozen for review.
pub const UNDER_REVIEW_CODE: &str = "account_under_review";
pub use crate::domain::stripe::REFUND_ID_METADATA;

pub struct HttpProvider {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base_url: String,
    key: Secret,
    /// Stripe Connect: a transfer goes to the payee's connected account
    /// (`store::payout_accounts`), not to the payee's id.
    connected_accounts: bool,
}

impl HttpProvider {
    pub fn new(base_url: String, key: Secret) -> Result<Self, ConfigError> {
        let connector = HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ConfigError::Invalid {
                name: "PAYOUT_API_URL",
                reason: format!("no TLS roots: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "PAYOUT_API_URL",
                reason: "an http(s) URL".into(),
            });
        }
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            connected_accounts: false,
        })
    }

    /// Pays payees' Stripe connected accounts (`PAYOUT_PROVIDER=stripe`).
    pub fn to_connected_accounts(self) -> Self {
        Self {
            connected_accounts: true,
            ..self
        }
    }

    /// One call, cut short at `deadline`: the status and body, or unsettled.
    async fn call(
        &self,
        request: hyper::http::request::Builder,
        body: String,
        deadline: Instant,
    ) -> Result<(u16, Bytes), Unsettled> {
        let time = deadline
            .saturating_duration_since(Instant::now())
            .min(MAX_CALL);
        let key = self.key.values().await;
        let request = request
            .header(
                "authorization",
                format!("Bearer {}", String::from_utf8_lossy(key.signing())),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Unsettled(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Unsettled(format!("call failed: {e}")))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| Unsettled(format!("reading the answer failed: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(time, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Unsettled(format!(
                    "no answer within {} ms",
                    time.as_millis()
                )))
            })
    }
}

impl MoneyOutProvider for HttpProvider {
    fn pays_connected_accounts(&self) -> bool {
        self.connected_accounts
    }

    async fn send(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> Result<ProviderOutcome, Unsettled> {
        let (path, form) = send_form(d);
        let request = hyper::Request::post(format!("{}/v1/{path}", self.base_url))
            .header("idempotency-key", d.idempotency_key)
            .header("content-type", "application/x-www-form-urlencoded");
        let (status, body) = self.call(request, form, deadline).await?;
        classify(d.rail, status, &body)
    }

    async fn find(
        &self,
        d: &Disbursement<'_>,
        deadline: Instant,
    ) -> Result<Option<ProviderOutcome>, Unsettled> {
        let (path, query) = find_query(d);
        let request = hyper::Request::get(format!("{}/v1/{path}?{query}", self.base_url));
        let (status, body) = self.call(request, String::new(), deadline).await?;
        found(d, status, &body)
    }
}

/// The path and form body that send `d`.
fn send_form(d: &Disbursement<'_>) -> (&'static str, String) {
    let amount = d.amount_cents.to_string();
    let mut form = form_urlencoded::Serializer::new(String::new());
    let path = match d.rail {
        Rail::Transfer => {
            form.append_pair("amount", &amount)
                .append_pair("currency", "usd")
                .append_pair("destination", d.destination)
                .append_pair("transfer_group", d.reference);
            "transfers"
        }
        Rail::Refund => {
            form.append_pair("payment_intent", d.destination)
                .append_pair("amount", &amount)
                .append_pair(&format!("metadata[{REFUND_ID_METADATA}]"), d.reference);
            "refunds"
        }
    };
    (path, form.finish())
}

/// The path and query that list what was made for `d`.
fn find_query(d: &Disbursement<'_>) -> (&'static str, String) {
    let (path, name, value) = match d.rail {
        Rail::Transfer => ("transfers", "transfer_group", d.reference),
        Rail::Refund => ("refunds", "payment_intent", d.destination),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .append_pair("limit", "100")
        .finish();
    (path, query)
}

/// A transfer or refund object, as far as livepay reads it.
#[derive(Deserialize)]
struct MoneyObject {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    transfer_group: Option<String>,
}

#[derive(Deserialize)]
struct List {
    data: Vec<MoneyObject>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

fn unsettled(status: u16, body: &[u8]) -> Unsettled {
    Unsettled(format!(
        "the provider answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    ))
}

/// What a made object says for the money.
fn outcome_of(rail: Rail, object: MoneyObject) -> Result<ProviderOutcome, Unsettled> {
    let paid = ProviderOutcome::Paid {
        provider_ref: object.id.clone(),
    };
    match (rail, object.status.as_deref()) {
        (Rail::Transfer, _) | (Rail::Refund, Some("succeeded")) => Ok(paid),
        (Rail::Refund, Some("failed" | "canceled")) => Ok(ProviderOutcome::Failed {
            reason: object
                .failure_reason
                .unwrap_or_else(|| "the provider could not refund the payment".into()),
        }),
        // pending, requires_action: the provider confirms later (a webhook, or the next look).
        (Rail::Refund, other) => Err(Unsettled(format!(
            "refund {} is {}",
            object.id,
            other.unwrap_or("without a status")
        ))),
    }
}

/// What an answer to a send means.
pub fn classify(rail: Rail, status: u16, body: &[u8]) -> Result<ProviderOutcome, Unsettled> {
    match status {
        200..=299 => serde_json::from_slice::<MoneyObject>(body)
            // Made, most likely, but with nothing to show for it: the next look finds it.
            .map_err(|e| Unsettled(format!("{status} without an object id: {e}")))
            .and_then(|object| outcome_of(rail, object)),
        400 | 402 | 403 | 404 => {
            // Only the provider's own error object is an answer; the same status from anything
            // in between says nothing about the money.
            let error = serde_json::from_slice::<ErrorEnvelope>(body)
                .map_err(|_| unsettled(status, body))?
                .error;
            if error.kind.as_deref() == Some("idempotency_error")
                || (error.kind.is_none() && error.code.is_none() && error.message.is_none())
            {
                return Err(unsettled(status, body));
            }
            let reason = error
                .message
                .or(error.code.clone())
                .unwrap_or_else(|| format!("the provider refused it ({status})"));
            Ok(if error.code.as_deref() == Some(UNDER_REVIEW_CODE) {
                ProviderOutcome::Held { reason }
            } else {
                ProviderOutcome::Failed { reason }
            })
        }
        _ => Err(unsettled(status, body)),
    }
}

/// What an answer to a look-up means: `None` only for a list the provider returned without it.
pub fn found(
    d: &Disbursement<'_>,
    status: u16,
    body: &[u8],
) -> Result<Option<ProviderOutcome>, Unsettled> {
    if !(200..=299).contains(&status) {
        return Err(unsettled(status, body));
    }
    let list: List = serde_json::from_slice(body).map_err(|_| unsettled(status, body))?;
    // Matched on the object itself, not trusted to the filter: a provider (or a proxy) that
    // ignored the query would list other payouts' transfers.
    let mine = list.data.into_iter().find(|o| match d.rail {
        Rail::Transfer => o.transfer_group.as_deref() == Some(d.reference),
        Rail::Refund => o.metadata.get(REFUND_ID_METADATA).map(String::as_str) == Some(d.reference),
    });
    mine.map(|o| outcome_of(d.rail, o)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_answers_map_to_outcomes() {
        let t = |status, body: &[u8]| classify(Rail::Transfer, status, body);
        assert_eq!(
            t(200, br#"{"id":"tr_1","object":"transfer"}"#),
            Ok(ProviderOutcome::Paid {
                provider_ref: "tr_1".into()
            })
        );
        assert!(t(200, b"not json").is_err());
        assert_eq!(
            t(
                400,
                br#"{"error":{"code":"account_closed","message":"The destination account is closed."}}"#
            ),
            Ok(ProviderOutcome::Failed {
                reason: "The destination account is closed.".into()
            })
        );
        assert!(matches!(
            t(
                403,
                br#"{"error":{"code":"account_under_review","message":"Under review"}}"#
            ),
            Ok(ProviderOutcome::Held { .. })
        ));
        for unknown in [409, 429, 500, 503] {
            assert!(t(unknown, b"{}").is_err(), "{unknown}");
        }
    }

    /// A proxy's 404, a firewall's 403, an HTML error page: not the provider's word.
    #[test]
    fn refusals_without_the_providers_error_object_are_unknown() {
        for status in [400, 402, 403, 404] {
            for body in [
                &b""[..],
                b"<html>Not Found</html>",
                b"{}",
                br#"{"error":{}}"#,
                br#"{"message":"forbidden"}"#,
            ] {
                assert!(
                    classify(Rail::Transfer, status, body).is_err(),
                    "{status} {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        let reused = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#;
        assert!(classify(Rail::Transfer, 400, reused).is_err());
    }

    #[test]
    fn a_refund_is_paid_only_once_it_succeeded() {
        let r = |body: &[u8]| classify(Rail::Refund, 200, body);
        assert!(matches!(
            r(br#"{"id":"re_1","status":"succeeded"}"#),
            Ok(ProviderOutcome::Paid { .. })
        ));
        assert!(r(br#"{"id":"re_1","status":"pending"}"#).is_err());
        assert_eq!(
            r(br#"{"id":"re_1","status":"failed","failure_reason":"expired_or_canceled_card"}"#),
            Ok(ProviderOutcome::Failed {
                reason: "expired_or_canceled_card".into()
            })
        );
    }

    #[test]
    fn a_look_up_finds_only_what_was_made_for_the_reference() {
        let d = Disbursement {
            rail: Rail::Refund,
            reference: "rf_1",
            idempotency_key: "rf_1",
            destination: "pi_1",
            amount_cents: 100,
        };
        let list = br#"{"object":"list","data":[{"id":"re_0","status":"succeeded","metadata":{"livepay_refund_id":"rf_0"}},{"id":"re_1","status":"succeeded","metadata":{"livepay_refund_id":"rf_1"}}]}"#;
        assert_eq!(
            found(&d, 200, list),
            Ok(Some(ProviderOutcome::Paid {
                provider_ref: "re_1".into()
            }))
        );
        assert_eq!(found(&d, 200, br#"{"data":[]}"#), Ok(None));
        assert!(found(&d, 404, b"").is_err());
        assert!(found(&d, 200, b"<html>").is_err());
        let t = Disbursement {
            rail: Rail::Transfer,
            ..d
        };
        assert!(matches!(
            found(
                &t,
                200,
                br#"{"data":[{"id":"tr_9","transfer_group":"rf_1"}]}"#
            ),
            Ok(Some(ProviderOutcome::Paid { .. }))
        ));
        // Another payout's transfer, listed by a provider that ignored the filter, is not ours.
        assert_eq!(
            found(
                &t,
                200,
                br#"{"data":[{"id":"tr_8","transfer_group":"po_other"},{"id":"tr_7"}]}"#
            ),
            Ok(None)
        );
    }
}

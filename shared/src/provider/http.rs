//! A Stripe-Connect-style transfer API: `POST {PAYOUT_API_URL}/v1/transfers`, form-encoded
//! (`amount`, `currency=usd`, `destination` = the creator's id, `transfer_group` = the payout
//! id), `Authorization: Bearer {PAYOUT_API_KEY}`, `Idempotency-Key` = the payout id.
//!
//! Answers: 2xx `{"id"}` → paid; 4xx with `error.code = "account_under_review"` → held; any
//! other 400/402/403/404 → failed, with the provider's message as the reason; 409 (this key's
//! request is still running), 429, 5xx, a timeout or a broken connection → unsettled, asked
//! again later with the same key. The call gives up at the caller's deadline.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::{PayoutProvider, TransferRequest, Unsettled};
use crate::config::ConfigError;
use crate::domain::payouts::ProviderOutcome;

/// Largest answer read: a transfer object is a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest one call may take, whatever the deadline.
const MAX_CALL: Duration = Duration::from_secs(20);
/// The error code a provider answers for an account it has frozen for review.
pub const UNDER_REVIEW_CODE: &str = "account_under_review";

pub struct HttpProvider {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    transfers_url: String,
    secret: String,
}

impl HttpProvider {
    pub fn new(base_url: String, secret: String) -> Result<Self, ConfigError> {
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
            transfers_url: format!("{}/v1/transfers", base_url.trim_end_matches('/')),
            secret,
        })
    }

    async fn call(&self, req: &TransferRequest<'_>) -> Result<(u16, Bytes), Unsettled> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("amount", &req.amount_cents.to_string())
            .append_pair("currency", "usd")
            .append_pair("destination", req.creator_id)
            .append_pair("transfer_group", req.payout_id)
            .finish();
        let request = hyper::Request::post(&self.transfers_url)
            .header("authorization", format!("Bearer {}", self.secret))
            .header("idempotency-key", req.payout_id)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Unsettled(format!("cannot build the request: {e}")))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| Unsettled(format!("transfer call failed: {e}")))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| Unsettled(format!("reading the answer failed: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

impl PayoutProvider for HttpProvider {
    async fn transfer(
        &self,
        req: &TransferRequest<'_>,
        deadline: Instant,
    ) -> Result<ProviderOutcome, Unsettled> {
        let time = deadline
            .saturating_duration_since(Instant::now())
            .min(MAX_CALL);
        match tokio::time::timeout(time, self.call(req)).await {
            Ok(answer) => {
                let (status, body) = answer?;
                classify(status, &body)
            }
            Err(_) => Err(Unsettled(format!(
                "no answer within {} ms",
                time.as_millis()
            ))),
        }
    }
}

#[derive(Deserialize)]
struct TransferObject {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: Option<String>,
    message: Option<String>,
}

/// What an HTTP answer means for the payout.
pub fn classify(status: u16, body: &[u8]) -> Result<ProviderOutcome, Unsettled> {
    match status {
        200..=299 => serde_json::from_slice::<TransferObject>(body)
            .map(|t| ProviderOutcome::Paid { provider_ref: t.id })
            // Paid, most likely, but with no id to show for it: ask again, the key replays.
            .map_err(|e| Unsettled(format!("{status} without a transfer id: {e}"))),
        400 | 402 | 403 | 404 => {
            let error = serde_json::from_slice::<ErrorEnvelope>(body)
                .ok()
                .map(|e| e.error);
            let code = error.as_ref().and_then(|e| e.code.clone());
            let reason = error
                .and_then(|e| e.message.or(e.code))
                .unwrap_or_else(|| format!("the provider refused the transfer ({status})"));
            Ok(if code.as_deref() == Some(UNDER_REVIEW_CODE) {
                ProviderOutcome::Held { reason }
            } else {
                ProviderOutcome::Failed { reason }
            })
        }
        _ => Err(Unsettled(format!(
            "the provider answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(
            classify(200, br#"{"id":"tr_1","object":"transfer"}"#),
            Ok(ProviderOutcome::Paid {
                provider_ref: "tr_1".into()
            })
        );
        assert!(classify(200, b"not json").is_err());
        assert_eq!(
            classify(
                400,
                br#"{"error":{"code":"account_closed","message":"The destination account is closed."}}"#
            ),
            Ok(ProviderOutcome::Failed {
                reason: "The destination account is closed.".into()
            })
        );
        assert!(matches!(
            classify(
                403,
                br#"{"error":{"code":"account_under_review","message":"Under review"}}"#
            ),
            Ok(ProviderOutcome::Held { .. })
        ));
        assert!(matches!(
            classify(404, b""),
            Ok(ProviderOutcome::Failed { .. })
        ));
        for unknown in [409, 429, 500, 503] {
            assert!(classify(unknown, b"{}").is_err(), "{unknown}");
        }
    }
}

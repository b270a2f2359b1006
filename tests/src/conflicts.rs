//! What the local conflict layer (`scripts/local/livepay_local/conflicts.py`, in front of the
//! DynamoDB engine unless `LIVEPAY_DYNAMODB_CONFLICTS=off`) counted: transactions and writes it
//! refused as DynamoDB would, by item key.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub table: String,
    /// The item's `pk`.
    pub pk: String,
    pub count: u64,
}

/// Every conflict on the tables whose names start with `table_prefix`; `None` only when the
/// layer was turned off (`LIVEPAY_DYNAMODB_CONFLICTS=off`). A layer that should be there and
/// cannot be read fails the test: a check that silently did not run is no check.
pub async fn conflicts(table_prefix: &str) -> Option<Vec<Conflict>> {
    if std::env::var("LIVEPAY_DYNAMODB_CONFLICTS").is_ok_and(|v| v == "off") {
        return None;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB (the conflict layer) is set by scripts/test");
    let url: hyper::Uri = format!("{endpoint}/livepay/conflicts?table_prefix={table_prefix}")
        .parse()
        .expect("a valid URL");
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client.get(url).await.expect("the conflict layer answers");
    assert_eq!(response.status(), 200, "the conflict layer's log");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("the log is JSON");
    Some(
        rows.iter()
            .map(|r| Conflict {
                table: r["table"].as_str().unwrap_or_default().to_owned(),
                pk: r["key"]["pk"]["S"].as_str().unwrap_or_default().to_owned(),
                count: r["conflicts"].as_u64().unwrap_or_default(),
            })
            .collect(),
    )
}

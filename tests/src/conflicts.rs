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

/// Every conflict on the tables whose names start with `table_prefix`, or `None` when DynamoDB
/// is reached without the conflict layer.
pub async fn conflicts(table_prefix: &str) -> Option<Vec<Conflict>> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok()?;
    let url: hyper::Uri = format!("{endpoint}/livepay/conflicts?table_prefix={table_prefix}")
        .parse()
        .ok()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client.get(url).await.ok()?;
    if response.status() != 200 {
        return None;
    }
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let rows: Vec<Value> = serde_json::from_slice(&body).ok()?;
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

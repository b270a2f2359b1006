//! Idempotency records: the first response to `(caller, route, key)`, kept for replay.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem,
};

use super::attrs::{get_n, get_s, key, n, s, Item};
use super::transaction::{Role, Tx};
use super::{Store, StoreError};

const IDEMPOTENCY_SK: &str = "K";

/// What a replay needs: the request's fingerprint and the response it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

impl Store {
    /// Records the completed request in the business transaction itself (one round trip). The
    /// write fails if the key is held and unexpired; TTL deletes lazily, so expiry is checked
    /// here too.
    pub fn add_idempotency(
        &self,
        tx: &mut Tx,
        key_hash: &str,
        record: &IdempotencyRecord,
        now_unix: i64,
        expires_unix: i64,
    ) {
        let mut item = key(key_hash, IDEMPOTENCY_SK);
        item.extend([
            ("fingerprint".to_owned(), s(&record.fingerprint)),
            ("status".to_owned(), n(record.status)),
            ("body".to_owned(), s(&record.body)),
            ("created_at".to_owned(), n(now_unix)),
            ("expires_at".to_owned(), n(expires_unix)),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.idempotency)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .set_expression_attribute_values(Some(HashMap::from([(
                ":now".to_owned(),
                n(now_unix),
            )])))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, item and condition are set");
        tx.push(
            Role::Idempotency,
            TransactWriteItem::builder().put(put).build(),
        );
    }
}

pub fn idempotency_from_item(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        fingerprint: get_s(item, "fingerprint")?.to_owned(),
        status: get_n(item, "status")?,
        body: get_s(item, "body")?.to_owned(),
    })
}

impl Store {
    /// The unexpired record for `key_hash`, if any (strongly consistent).
    pub async fn idempotency_record(
        &self,
        key_hash: &str,
        now_unix: i64,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(key_hash, IDEMPOTENCY_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let expires: i64 = get_n(&item, "expires_at")?;
        if expires < now_unix {
            return Ok(None);
        }
        idempotency_from_item(&item).map(Some)
    }
}

//! API.md idempotency: the key scoped to caller and route, the first response replayed, a
//! changed body refused, a concurrent duplicate told to wait. The record is written inside the
//! business transaction, so "did it happen" and "what was answered" can never disagree.

use time::OffsetDateTime;

use super::{ApiError, ApiRequest, ApiResponse, Caller};
use crate::domain::ids::digest;
use crate::input::InvalidInput;
use crate::store::idempotency::{idempotency_from_item, IdempotencyRecord};
use crate::store::{Role, Store, Tx, TxError};
use crate::App;

/// Longest accepted `Idempotency-Key` (API.md).
pub const MAX_KEY_CHARS: usize = 255;

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    /// Where the record is stored: a hash of caller, method, path and key.
    pub key_hash: String,
    /// What "the same body" means: the body as canonical JSON (key order and spacing ignored).
    pub fingerprint: String,
}

impl Idempotency {
    pub fn from_request(req: &ApiRequest, caller: &Caller) -> Result<Self, ApiError> {
        let key = req
            .header("idempotency-key")
            .ok_or(ApiError::IdempotencyKeyRequired)?;
        if key.is_empty() {
            return Err(ApiError::IdempotencyKeyRequired);
        }
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(InvalidInput::new(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_CHARS} characters"),
            )
            .into());
        }
        let canonical = match serde_json::from_slice::<serde_json::Value>(&req.body) {
            Ok(v) => v.to_string(),
            Err(_) => hex::encode(&req.body),
        };
        Ok(Self {
            key: key.to_owned(),
            key_hash: hex::encode(digest(&[&caller.user_id, &req.method, &req.path, key])),
            fingerprint: hex::encode(digest(&[&canonical])),
        })
    }

    /// A stable id for the effect this key asks for (e.g. the gift it sends).
    pub fn derived_id(&self, prefix: &str) -> String {
        crate::domain::ids::derived_id(prefix, &[&self.key_hash])
    }

    /// Commits `tx` together with the record of `response`. On success the response is final;
    /// if the key was already used, the outcome is the replay, a 422 or a 409; any other
    /// cancellation is returned for the handler to explain.
    pub async fn commit(
        &self,
        app: &App,
        mut tx: Tx,
        response: ApiResponse,
        now: OffsetDateTime,
    ) -> Result<Result<ApiResponse, TxError>, ApiError> {
        let store = &app.store;
        let ttl_hours = app.config.idempotency_ttl_hours;
        let record = IdempotencyRecord {
            fingerprint: self.fingerprint.clone(),
            status: response.status,
            body: response.body.clone(),
        };
        let now_unix = now.unix_timestamp();
        let ttl_secs = i64::try_from(ttl_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
        store.add_idempotency(
            &mut tx,
            &self.key_hash,
            &record,
            now_unix,
            now_unix.saturating_add(ttl_secs),
        );
        match tx.commit(store.client()).await {
            Ok(()) => Ok(Ok(response)),
            Err(err) => match self.replay(&err)? {
                Some(replayed) => Ok(Ok(replayed)),
                None => Ok(Err(err)),
            },
        }
    }

    /// The stored outcome for this key, read outside any transaction (error paths only).
    pub async fn lookup(
        &self,
        store: &Store,
        now: OffsetDateTime,
    ) -> Result<Option<ApiResponse>, ApiError> {
        match store
            .idempotency_record(&self.key_hash, now.unix_timestamp())
            .await?
        {
            Some(record) => self.replay_record(record).map(Some),
            None => Ok(None),
        }
    }

    /// A refusal, unless this is a retry of a request that already succeeded (whose effect may
    /// be why the request is refused now: the wallet it debited, the order it cancelled).
    pub async fn replay_or(
        &self,
        store: &Store,
        now: OffsetDateTime,
        refusal: ApiError,
    ) -> Result<ApiResponse, ApiError> {
        match self.lookup(store, now).await? {
            Some(replay) => Ok(replay),
            None => Err(refusal),
        }
    }

    /// What a failed commit means for this key, if the key decided it.
    pub fn replay(&self, err: &TxError) -> Result<Option<ApiResponse>, ApiError> {
        let Some(failure) = err.failure(&Role::Idempotency) else {
            return Ok(None);
        };
        if failure.conflict() {
            return Err(ApiError::IdempotencyInProgress);
        }
        if failure.contention() {
            return Err(ApiError::Busy(format!(
                "idempotency item failed with {}",
                failure.code
            )));
        }
        let Some(old) = failure.old.as_ref() else {
            return Err(ApiError::Internal(format!(
                "idempotency item failed with {}",
                failure.code
            )));
        };
        self.replay_record(idempotency_from_item(old)?).map(Some)
    }

    fn replay_record(&self, record: IdempotencyRecord) -> Result<ApiResponse, ApiError> {
        if record.fingerprint != self.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Ok(ApiResponse {
            status: record.status,
            body: record.body,
            replayed: true,
        })
    }
}

//! Secrets from AWS Secrets Manager: webhook signing secrets, the payout provider's API key, the
//! statement cursor's key. A function reads each of its secrets at cold start and keeps it for
//! a bounded time (`SECRET_CACHE_SECONDS`), so a rotation takes effect without a redeploy; a
//! signature that matches none of the values may read the secret again early, at most once a
//! minute (never once per request: a flood of forged deliveries must not become a flood of
//! Secrets Manager calls).
//!
//! A secret's value is one or more whitespace-separated values (a Stripe endpoint secret and the
//! Connect endpoint's, when both post to one URL). After a rotation the previous version
//! (`AWSPREVIOUS`) is still accepted for `SECRET_ROTATION_OVERLAP_SECONDS` after the current
//! one was put: what the other side signed before it switched still verifies, and so does a
//! cursor handed out just before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::config::ConfigError;

/// How long a value read is used before it is read again.
pub const DEFAULT_CACHE_SECONDS: u64 = 300;
/// Stripe keeps a rolled endpoint secret signing for up to 24 hours.
pub const DEFAULT_ROTATION_OVERLAP_SECONDS: u64 = 24 * 3600;
/// The least time between two early re-reads of one secret.
pub const FORCED_REREAD_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretPolicy {
    pub cache: Duration,
    pub rotation_overlap: time::Duration,
}

impl Default for SecretPolicy {
    fn default() -> Self {
        Self {
            cache: Duration::from_secs(DEFAULT_CACHE_SECONDS),
            rotation_overlap: crate::domain::time::seconds(DEFAULT_ROTATION_OVERLAP_SECONDS),
        }
    }
}

/// What one secret holds: its current values and, after a rotation, the previous ones.
/// `Debug` prints neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValues {
    current: Vec<Vec<u8>>,
    previous: Vec<Vec<u8>>,
    /// When the current version was put: the previous one is accepted for the overlap after.
    current_since: OffsetDateTime,
}

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValues")
            .field("current", &self.current.len())
            .field("previous", &self.previous.len())
            .field("current_since", &self.current_since)
            .finish()
    }
}

impl SecretValues {
    pub fn new(current: &str, previous: Option<&str>, current_since: OffsetDateTime) -> Self {
        let split = |v: &str| {
            v.split_whitespace()
                .map(|s| s.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        Self {
            current: split(current),
            previous: previous.map(split).unwrap_or_default(),
            current_since,
        }
    }

    /// What to sign with: the current version's first value.
    pub fn signing(&self) -> &[u8] {
        self.current.first().map_or(&[], Vec::as_slice)
    }

    /// What a signature may have been made with at `now`.
    pub fn accepted(&self, now: OffsetDateTime, overlap: time::Duration) -> Vec<&[u8]> {
        // No overlap means none, even when the store's clock is ahead of ours.
        let previous =
            (overlap.is_positive() && now < self.current_since + overlap).then_some(&self.previous);
        self.current
            .iter()
            .chain(previous.into_iter().flatten())
            .map(Vec::as_slice)
            .collect()
    }
}

/// Whether values read at `read_at` are too old to use at `now`.
fn stale(read_at: Instant, now: Instant, cache: Duration) -> bool {
    now.saturating_duration_since(read_at) >= cache
}

/// Whether an early re-read is allowed at `now`, the last having been at `forced_at`.
fn may_force(forced_at: Option<Instant>, now: Instant) -> bool {
    forced_at.is_none_or(|at| now.saturating_duration_since(at) >= FORCED_REREAD_INTERVAL)
}

#[derive(Debug, thiserror::Error)]
#[error("secret {id} cannot be read: {reason}")]
pub struct SecretError {
    id: String,
    reason: String,
}

impl From<SecretError> for ConfigError {
    fn from(e: SecretError) -> Self {
        ConfigError::Secret(e.to_string())
    }
}

enum Source {
    Manager {
        client: Client,
        id: String,
    },
    /// A value that never rotates: a stand-in provider's key in a test.
    Fixed,
}

struct State {
    values: Arc<SecretValues>,
    read_at: Instant,
    forced_at: Option<Instant>,
}

/// One secret, cached.
pub struct Secret {
    source: Source,
    policy: SecretPolicy,
    state: Mutex<State>,
}

impl Secret {
    /// Reads the secret `id` (a name or an ARN) now: a cold start fails when it cannot.
    pub async fn load(
        client: Client,
        id: String,
        policy: SecretPolicy,
    ) -> Result<Self, SecretError> {
        let values = read(&client, &id).await?;
        Ok(Self {
            source: Source::Manager { client, id },
            policy,
            state: Mutex::new(State {
                values: Arc::new(values),
                read_at: Instant::now(),
                forced_at: None,
            }),
        })
    }

    pub fn fixed(value: &str) -> Self {
        Self {
            source: Source::Fixed,
            policy: SecretPolicy::default(),
            state: Mutex::new(State {
                values: Arc::new(SecretValues::new(value, None, OffsetDateTime::UNIX_EPOCH)),
                read_at: Instant::now(),
                forced_at: None,
            }),
        }
    }

    /// The values to use now, read again once the cached ones are older than the cache time.
    /// A failed re-read keeps the values it has (logged) and is tried again a cache time later.
    pub async fn values(&self) -> Arc<SecretValues> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if stale(state.read_at, now, self.policy.cache) {
            self.reread(&mut state, now).await;
        }
        state.values.clone()
    }

    /// `check` over the values accepted at `now`. When it fails as `mismatch` recognizes (a
    /// signature that matches no value), once more over the secret read again early: a rotation
    /// another instance, or the other side, has seen first.
    pub async fn verify<T, E>(
        &self,
        now: OffsetDateTime,
        check: impl Fn(&[&[u8]]) -> Result<T, E>,
        mismatch: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let overlap = self.policy.rotation_overlap;
        match check(&self.values().await.accepted(now, overlap)) {
            Err(e) if mismatch(&e) => match self.reread_early().await {
                Some(values) => check(&values.accepted(now, overlap)),
                None => Err(e),
            },
            checked => checked,
        }
    }

    /// After a value matched nothing: the secret read again, if it changed and no early re-read
    /// happened in the last minute.
    async fn reread_early(&self) -> Option<Arc<SecretValues>> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if !may_force(state.forced_at, now) {
            return None;
        }
        state.forced_at = Some(now);
        let before = state.values.clone();
        self.reread(&mut state, now).await;
        (state.values != before).then(|| state.values.clone())
    }

    async fn reread(&self, state: &mut State, now: Instant) {
        let Source::Manager { client, id } = &self.source else {
            return;
        };
        state.read_at = now;
        match read(client, id).await {
            Ok(values) => state.values = Arc::new(values),
            Err(e) => tracing::warn!(error = %e, "keeping the secret's cached values"),
        }
    }
}

async fn read(client: &Client, id: &str) -> Result<SecretValues, SecretError> {
    let failed = |reason: String| SecretError {
        id: id.to_owned(),
        reason,
    };
    let version = |stage: &'static str| {
        client
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
    };
    let current = version("AWSCURRENT")
        .await
        .map_err(|e| failed(e.into_service_error().to_string()))?;
    let previous = match version("AWSPREVIOUS").await {
        Ok(previous) => previous.secret_string,
        // A secret never rotated has no previous version.
        Err(e) if e.code() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(failed(e.into_service_error().to_string())),
    };
    let value = current
        .secret_string
        .ok_or_else(|| failed("no SecretString".into()))?;
    let since = current
        .created_date
        .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Ok(SecretValues::new(&value, previous.as_deref(), since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_version_is_accepted_only_during_the_overlap() {
        let put = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let v = SecretValues::new("new connect", Some("old"), put);
        let hour = time::Duration::hours(1);
        assert_eq!(v.signing(), b"new");
        assert_eq!(
            v.accepted(put + time::Duration::minutes(59), hour),
            vec![&b"new"[..], b"connect", b"old"]
        );
        assert_eq!(v.accepted(put + hour, hour), vec![&b"new"[..], b"connect"]);
        // No overlap is none, even read a moment before the store says the new one was put.
        let zero = time::Duration::ZERO;
        assert_eq!(
            v.accepted(put - time::Duration::SECOND, zero),
            vec![&b"new"[..], b"connect"]
        );
        let never_rotated = SecretValues::new("only", None, put);
        assert_eq!(never_rotated.accepted(put, hour), vec![&b"only"[..]]);
        assert!(!format!("{v:?}").contains("new"), "Debug prints no value");
    }

    #[test]
    fn values_are_read_again_after_the_cache_time_and_early_at_most_once_a_minute() {
        let t0 = Instant::now();
        let cache = Duration::from_secs(300);
        assert!(!stale(t0, t0 + Duration::from_secs(299), cache));
        assert!(stale(t0, t0 + cache, cache));
        assert!(may_force(None, t0));
        assert!(!may_force(Some(t0), t0 + Duration::from_secs(59)));
        assert!(may_force(Some(t0), t0 + FORCED_REREAD_INTERVAL));
    }
}

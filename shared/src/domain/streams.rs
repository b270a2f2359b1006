//! Live streams. A stream id carries its creator (`st_<ulid>_<base64url(creator)>`), so a gift's
//! response needs no read to name it.
//!
//! A popular stream takes thousands of gifts a second, and DynamoDB cancels concurrent
//! transactions that touch one item, condition checks included (DESIGN.md invariant 7). So no
//! gift reads or checks the stream item inside its transaction. Instead:
//! - send-gift admits a gift on the stream as this container last read it, at most
//!   [`StreamPolicy::cache_seconds`] ago (a plain read, which never conflicts);
//! - settlement enforces the end: a gift sent more than [`StreamPolicy::end_grace_seconds`] after
//!   its stream ended is refunded to its sender in full, exactly once, and counts for nothing.
//!
//! What a creator and a viewer get: every gift sent while the stream is live counts; after the
//! end, a viewer may still be answered `201` for up to `cache_seconds`, and such a gift counts
//! (the grace covers it, as it covers clock skew between containers); anything later is refused
//! `409 stream_not_live`, or, where a clock was off by more than the grace, refunded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Longest stream title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest user id we accept from the identity provider, in bytes (Cognito subs are 36).
pub const MAX_USER_ID_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamId(String);

impl StreamId {
    pub fn new(creator_id: &str) -> Self {
        Self(format!(
            "st_{}_{}",
            ulid::Ulid::new(),
            URL_SAFE_NO_PAD.encode(creator_id)
        ))
    }

    /// `None` for anything that is not a stream id we could have issued.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("st_")?;
        let (ulid, creator) = rest.split_once('_')?;
        ulid::Ulid::from_string(ulid).ok()?;
        let creator = URL_SAFE_NO_PAD.decode(creator).ok()?;
        let creator = String::from_utf8(creator).ok()?;
        (!creator.is_empty() && creator.len() <= MAX_USER_ID_BYTES).then(|| Self(s.to_owned()))
    }

    pub fn creator_id(&self) -> String {
        let encoded = self.0.rsplit('_').next().unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD.decode(encoded).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Live,
    Ended,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Live => "live",
            StreamStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(StreamStatus::Live),
            "ended" => Some(StreamStatus::Ended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub stream_id: String,
    pub creator_id: String,
    pub title: String,
    pub status: StreamStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
}

/// How long a container may admit gifts on a stream it read earlier, and how long after the end
/// a gift still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPolicy {
    pub cache_seconds: u64,
    /// At least `cache_seconds`: a gift admitted on a stale read still counts.
    pub end_grace_seconds: u64,
}

impl Default for StreamPolicy {
    fn default() -> Self {
        Self {
            cache_seconds: 5,
            end_grace_seconds: 30,
        }
    }
}

/// Why send-gift refuses a gift, from the stream as read (or remembered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiftAdmission {
    Open,
    NotFound,
    NotLive,
}

/// Whether `stream` takes a gift for `creator_id` (the creator the stream id names).
pub fn admit_gift(stream: Option<&Stream>, creator_id: &str) -> GiftAdmission {
    match stream {
        Some(s) if s.creator_id != creator_id => GiftAdmission::NotFound,
        Some(s) if s.status == StreamStatus::Live => GiftAdmission::Open,
        Some(_) => GiftAdmission::NotLive,
        None => GiftAdmission::NotFound,
    }
}

/// Whether a gift sent at `sent_at` (RFC 3339) counts for `stream`: always while it is live, and
/// up to the grace after its end. An unreadable time counts (the refund is for clear cases only;
/// both times are written by this code).
pub fn gift_counts(stream: &Stream, sent_at: &str, policy: &StreamPolicy) -> bool {
    use time::format_description::well_known::Rfc3339;
    let Some(ended_at) = stream.ended_at.as_deref() else {
        return true;
    };
    let (Ok(ended), Ok(sent)) = (
        time::OffsetDateTime::parse(ended_at, &Rfc3339),
        time::OffsetDateTime::parse(sent_at, &Rfc3339),
    ) else {
        return true;
    };
    sent <= ended.saturating_add(super::time::seconds(policy.end_grace_seconds))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("title must not be blank")]
    Blank,
    #[error("title must be at most {MAX_TITLE_CHARS} characters")]
    TooLong,
}

pub fn validate_title(title: &str) -> Result<String, TitleError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(TitleError::Blank);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(TitleError::TooLong);
    }
    Ok(title.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(status: StreamStatus, ended_at: Option<&str>) -> Stream {
        Stream {
            stream_id: "st".into(),
            creator_id: "c".into(),
            title: "t".into(),
            status,
            started_at: "2026-12-01T10:00:00Z".into(),
            ended_at: ended_at.map(Into::into),
        }
    }

    #[test]
    fn a_gift_is_admitted_only_on_a_live_stream_of_its_creator() {
        let live = stream(StreamStatus::Live, None);
        let ended = stream(StreamStatus::Ended, Some("2026-12-01T11:00:00Z"));
        assert_eq!(admit_gift(Some(&live), "c"), GiftAdmission::Open);
        assert_eq!(admit_gift(Some(&live), "other"), GiftAdmission::NotFound);
        assert_eq!(admit_gift(Some(&ended), "c"), GiftAdmission::NotLive);
        assert_eq!(admit_gift(None, "c"), GiftAdmission::NotFound);
    }

    #[test]
    fn a_gift_counts_until_the_grace_after_the_end_and_not_a_second_later() {
        let policy = StreamPolicy {
            cache_seconds: 5,
            end_grace_seconds: 30,
        };
        let live = stream(StreamStatus::Live, None);
        assert!(gift_counts(&live, "2030-01-01T00:00:00Z", &policy));
        let ended = stream(StreamStatus::Ended, Some("2026-12-01T11:00:00Z"));
        assert!(gift_counts(&ended, "2026-12-01T10:59:59Z", &policy));
        assert!(gift_counts(&ended, "2026-12-01T11:00:30Z", &policy));
        assert!(!gift_counts(&ended, "2026-12-01T11:00:31Z", &policy));
    }

    #[test]
    fn a_stream_id_carries_its_creator() {
        let id = StreamId::new("creator_1-é");
        let parsed = StreamId::parse(id.as_str()).unwrap();
        assert_eq!(parsed.creator_id(), "creator_1-é");
    }

    #[test]
    fn foreign_or_mangled_ids_are_refused() {
        for bad in [
            "",
            "st_",
            "st_x_Y3I",
            "xx_01J0000000000000000000000_Y3I",
            "st_01J0000000000000000000000_",
            "st_01J0000000000000000000000_!!",
        ] {
            assert!(StreamId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(validate_title("  Hi  ").unwrap(), "Hi");
        assert_eq!(validate_title("   "), Err(TitleError::Blank));
        assert_eq!(validate_title(&"x".repeat(201)), Err(TitleError::TooLong));
    }
}

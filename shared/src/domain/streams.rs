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

use super::matches::StreamMatches;
use super::rooms::{Room, DEFAULT_MAX_GUESTS};

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
    /// The host's guests (`domain::rooms`); the host is `creator_id`.
    pub room: Room,
    /// The stream's recent LIVE matches (`domain::matches`).
    pub matches: StreamMatches,
}

/// How long a container may admit gifts on a stream it read earlier, and how long after the end
/// a gift still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPolicy {
    pub cache_seconds: u64,
    /// At least `cache_seconds`: a gift admitted on a stale read still counts. Also the grace
    /// after a guest leaves the room.
    pub end_grace_seconds: u64,
    /// Guests a room holds beside its host (`ROOM_MAX_GUESTS`).
    pub max_guests: u64,
}

impl Default for StreamPolicy {
    fn default() -> Self {
        Self {
            cache_seconds: 5,
            end_grace_seconds: 30,
            max_guests: DEFAULT_MAX_GUESTS,
        }
    }
}

/// Why send-gift refuses a gift, from the stream as read (or remembered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiftAdmission {
    Open,
    NotFound,
    NotLive,
    RecipientNotInStream,
}

/// Whether `stream` takes a gift for `recipient`, the host (`creator_id`, whom the stream id
/// names) or one of its guests.
pub fn admit_gift(stream: Option<&Stream>, creator_id: &str, recipient: &str) -> GiftAdmission {
    match stream {
        Some(s) if s.creator_id != creator_id => GiftAdmission::NotFound,
        Some(s) if s.status != StreamStatus::Live => GiftAdmission::NotLive,
        Some(s) if s.room.admits(creator_id, recipient).is_err() => {
            GiftAdmission::RecipientNotInStream
        }
        Some(_) => GiftAdmission::Open,
        None => GiftAdmission::NotFound,
    }
}

/// Whether a gift to `recipient` sent at `sent_at` (RFC 3339) counts for `stream`: while the
/// stream is live and the recipient in its room, and up to the grace after either ends. An
/// unreadable stored time counts (the refund is for clear cases only; both times are written
/// by this code).
pub fn gift_counts(stream: &Stream, recipient: &str, sent_at: &str, policy: &StreamPolicy) -> bool {
    let left_at = stream.room.recipient_left_at(&stream.creator_id, recipient);
    [stream.ended_at.as_deref(), left_at]
        .into_iter()
        .flatten()
        .all(|until| sent_within_grace(sent_at, until, policy))
}

/// `sent_at` is at most the grace after `until`; a recipient never in the room has `until` ""
/// (before any time), and nothing sent to them counts.
fn sent_within_grace(sent_at: &str, until: &str, policy: &StreamPolicy) -> bool {
    use time::format_description::well_known::Rfc3339;
    if until.is_empty() {
        return false;
    }
    let (Ok(until), Ok(sent)) = (
        time::OffsetDateTime::parse(until, &Rfc3339),
        time::OffsetDateTime::parse(sent_at, &Rfc3339),
    ) else {
        return true;
    };
    sent <= until.saturating_add(super::time::seconds(policy.end_grace_seconds))
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
            room: Room::default(),
            matches: StreamMatches::default(),
        }
    }

    #[test]
    fn a_gift_is_admitted_only_on_a_live_stream_of_its_creator() {
        let live = stream(StreamStatus::Live, None);
        let ended = stream(StreamStatus::Ended, Some("2026-12-01T11:00:00Z"));
        assert_eq!(admit_gift(Some(&live), "c", "c"), GiftAdmission::Open);
        assert_eq!(
            admit_gift(Some(&live), "other", "other"),
            GiftAdmission::NotFound
        );
        assert_eq!(admit_gift(Some(&ended), "c", "c"), GiftAdmission::NotLive);
        assert_eq!(admit_gift(None, "c", "c"), GiftAdmission::NotFound);
        assert_eq!(
            admit_gift(Some(&live), "c", "g"),
            GiftAdmission::RecipientNotInStream
        );
    }

    #[test]
    fn a_gift_to_a_guest_counts_until_the_grace_after_they_left() {
        let policy = StreamPolicy::default();
        let mut live = stream(StreamStatus::Live, None);
        live.room.add("c", "g", "2026-12-01T10:00:00Z", 8).unwrap();
        assert_eq!(admit_gift(Some(&live), "c", "g"), GiftAdmission::Open);
        assert!(gift_counts(&live, "g", "2026-12-01T10:20:00Z", &policy));
        live.room.remove("g", "2026-12-01T11:00:00Z").unwrap();
        assert!(gift_counts(&live, "g", "2026-12-01T11:00:30Z", &policy));
        assert!(!gift_counts(&live, "g", "2026-12-01T11:00:31Z", &policy));
        assert!(gift_counts(&live, "c", "2026-12-01T11:00:31Z", &policy));
        assert!(!gift_counts(
            &live,
            "never-a-guest",
            "2026-12-01T10:20:00Z",
            &policy
        ));
    }

    #[test]
    fn a_gift_counts_until_the_grace_after_the_end_and_not_a_second_later() {
        let policy = StreamPolicy::default();
        let live = stream(StreamStatus::Live, None);
        assert!(gift_counts(&live, "c", "2030-01-01T00:00:00Z", &policy));
        let ended = stream(StreamStatus::Ended, Some("2026-12-01T11:00:00Z"));
        assert!(gift_counts(&ended, "c", "2026-12-01T10:59:59Z", &policy));
        assert!(gift_counts(&ended, "c", "2026-12-01T11:00:30Z", &policy));
        assert!(!gift_counts(&ended, "c", "2026-12-01T11:00:31Z", &policy));
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

//! Live streams. A stream id carries its creator (`st_<ulid>_<base64url(creator)>`): the gift
//! path learns the creator from the id alone and checks it against the stored stream inside its
//! one transaction, instead of spending a read on the hot path (DESIGN.md invariant 5).

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

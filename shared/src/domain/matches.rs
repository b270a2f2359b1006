//! LIVE matches: one live stream's host invites another's; on accept the two rooms compete for
//! the match's duration, each side scoring the coins of the gifts its room's recipients received
//! with `sent_at` inside the window (API.md "LIVE formats").
//!
//! Points come from settled gifts only: settlement adds them per batch with the leaderboards,
//! exactly once (the gift's "boards applied" mark), on sharded items. So a match adds nothing to
//! a gift's own transaction, and a side's score lags its gifts by the settlement window.
//!
//! Each stream carries its recent matches (`StreamMatch`), written only by invite and accept,
//! so the settler, which reads each stream of a batch anyway, knows the window a gift falls in.

use time::OffsetDateTime;

use super::time::{seconds, sortable};

/// TikTok LIVE Match's default length (DOMAIN.md).
pub const DEFAULT_DURATION_SECONDS: u64 = 300;
/// The shortest and longest match a host may ask for.
pub const MIN_DURATION_SECONDS: u64 = 30;
pub const MAX_DURATION_SECONDS: u64 = 3_600;
/// How long an invitation waits for the opponent; after it, both streams are free again.
pub const INVITE_SECONDS: u64 = 60;
/// Matches a stream remembers: enough for any gift still on its way to settlement to find its
/// window (a stream is in one match at a time, each at least `MIN_DURATION_SECONDS` long, so 16
/// accepted matches span at least 8 minutes; invitations never accepted are forgotten first).
pub const REMEMBERED_MATCHES: usize = 16;
/// From an accept to the window's start: longer than an accept takes to write both streams
/// (its handler gives up before), so no settler can read a stream without the window and then
/// settle a gift stamped inside it. Hosts see it as the countdown.
pub const START_LEAD_SECONDS: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("stream {0} is in a match already")]
    AlreadyInMatch(String),
    #[error("a stream cannot be matched with itself")]
    SameStream,
    #[error("a match is between two hosts: both streams are the caller's")]
    SameHost,
    #[error("duration_seconds must be {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS}")]
    DurationOutOfRange,
    #[error("the match is {0}: only an invitation can be accepted")]
    NotInvited(&'static str),
    #[error("no match with this id")]
    NotFound,
}

/// A match as stored: its two sides (the inviter first), and when it runs once accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub match_id: String,
    /// `(stream_id, creator_id)`: the inviting side, then the opponent.
    pub sides: [(String, String); 2],
    pub duration_seconds: u64,
    pub invited_at: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// Each side's points once every gift sent inside the window has settled (then fixed).
    pub final_points: Option<[u64; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchStatus {
    Invited,
    Live,
    Ended,
}

impl MatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Invited => "invited",
            MatchStatus::Live => "live",
            MatchStatus::Ended => "ended",
        }
    }
}

impl Match {
    /// `ended` covers an invitation nobody accepted in time, too.
    pub fn status(&self, now: OffsetDateTime) -> MatchStatus {
        let now = sortable(now);
        match &self.ends_at {
            Some(ends_at) if now < *ends_at => MatchStatus::Live,
            Some(_) => MatchStatus::Ended,
            None if now < invite_expiry(&self.invited_at) => MatchStatus::Invited,
            None => MatchStatus::Ended,
        }
    }

    /// The opponent accepts at `now`: the window opens [`START_LEAD_SECONDS`] later.
    pub fn accept(&mut self, now: OffsetDateTime) -> Result<(), MatchError> {
        let status = self.status(now);
        if status != MatchStatus::Invited {
            return Err(MatchError::NotInvited(status.as_str()));
        }
        let starts = now + seconds(START_LEAD_SECONDS);
        self.starts_at = Some(sortable(starts));
        self.ends_at = Some(sortable(starts + seconds(self.duration_seconds)));
        Ok(())
    }

    /// Whether an accept may still be written at `now`: comfortably before the window opens.
    pub fn accept_writable(&self, now: OffsetDateTime) -> bool {
        self.starts_at
            .as_deref()
            .and_then(parse)
            .is_some_and(|starts| now + seconds(START_LEAD_SECONDS / 2) < starts)
    }

    /// Whether the final result may be taken: the window closed more than `grace_seconds` ago
    /// (no gift stamped inside it can still be committing) — the caller then checks that none
    /// of those gifts is unsettled.
    pub fn may_be_final(&self, now: OffsetDateTime, grace_seconds: u64) -> bool {
        self.ends_at
            .as_deref()
            .and_then(parse)
            .is_some_and(|ends| now > ends + seconds(grace_seconds))
    }
}

/// The winning side's stream, if either has more points.
pub fn winner(m: &Match, points: [u64; 2]) -> Option<&str> {
    match points[0].cmp(&points[1]) {
        std::cmp::Ordering::Greater => Some(&m.sides[0].0),
        std::cmp::Ordering::Less => Some(&m.sides[1].0),
        std::cmp::Ordering::Equal => None,
    }
}

/// A duration asked for, or the default.
pub fn duration(asked: Option<u64>) -> Result<u64, MatchError> {
    let d = asked.unwrap_or(DEFAULT_DURATION_SECONDS);
    if (MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&d) {
        Ok(d)
    } else {
        Err(MatchError::DurationOutOfRange)
    }
}

/// One match as a stream remembers it: the lock it holds on the stream until `until` (the
/// invitation's expiry, then the window's end), and the window once accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMatch {
    pub match_id: String,
    pub until: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

/// A stream's recent matches, newest last, and the version every change is written over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMatches {
    pub recent: Vec<StreamMatch>,
    pub version: u64,
}

impl StreamMatches {
    /// Locks the stream for an invitation at `now`; refused while another match holds it.
    pub fn invite(
        &mut self,
        stream_id: &str,
        match_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), MatchError> {
        let at = sortable(now);
        if self.recent.iter().any(|m| m.until > at) {
            return Err(MatchError::AlreadyInMatch(stream_id.to_owned()));
        }
        // Invitations never accepted hold no window: forgotten first.
        self.recent.retain(|m| m.starts_at.is_some());
        self.recent.push(StreamMatch {
            match_id: match_id.to_owned(),
            until: invite_expiry(&at),
            starts_at: None,
            ends_at: None,
        });
        let excess = self.recent.len().saturating_sub(REMEMBERED_MATCHES);
        self.recent.drain(..excess);
        self.version += 1;
        Ok(())
    }

    /// The accepted match's window, held until it ends. Only the stream's own open invitation
    /// can be accepted: one that expired may have been followed by another's.
    pub fn accept(&mut self, m: &Match, now: OffsetDateTime) -> Result<(), MatchError> {
        let at = sortable(now);
        let entry = self
            .recent
            .last_mut()
            .filter(|e| e.match_id == m.match_id && e.starts_at.is_none() && e.until > at)
            .ok_or(MatchError::NotInvited(MatchStatus::Ended.as_str()))?;
        entry.starts_at.clone_from(&m.starts_at);
        entry.ends_at.clone_from(&m.ends_at);
        entry.until = m.ends_at.clone().unwrap_or_default();
        self.version += 1;
        Ok(())
    }

    /// The match whose window a gift stamped `sent_at` falls in: `starts_at <= sent_at <
    /// ends_at` (times of one fixed width compare as text).
    pub fn scoring(&self, sent_at: &str) -> Option<&str> {
        self.recent.iter().find_map(|m| {
            let (starts, ends) = (m.starts_at.as_deref()?, m.ends_at.as_deref()?);
            (starts <= sent_at && sent_at < ends).then_some(m.match_id.as_str())
        })
    }
}

fn parse(at: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
}

fn invite_expiry(invited_at: &str) -> String {
    parse(invited_at).map_or_else(String::new, |t| sortable(t + seconds(INVITE_SECONDS)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn invited(at: OffsetDateTime) -> Match {
        Match {
            match_id: "m".into(),
            sides: [("sa".into(), "a".into()), ("sb".into(), "b".into())],
            duration_seconds: 300,
            invited_at: sortable(at),
            starts_at: None,
            ends_at: None,
            final_points: None,
        }
    }

    #[test]
    fn an_invitation_runs_for_its_duration_once_accepted_in_time() {
        let t = datetime!(2026-12-01 10:00 UTC);
        let mut m = invited(t);
        assert_eq!(m.status(t), MatchStatus::Invited);
        m.accept(t + seconds(10)).unwrap();
        // A 10 s countdown, then 300 s.
        assert_eq!(m.starts_at.as_deref(), Some("2026-12-01T10:00:20Z"));
        assert_eq!(m.ends_at.as_deref(), Some("2026-12-01T10:05:20Z"));
        assert!(m.accept_writable(t + seconds(14)));
        assert!(!m.accept_writable(t + seconds(15)));
        assert_eq!(m.status(t + seconds(319)), MatchStatus::Live);
        assert_eq!(m.status(t + seconds(320)), MatchStatus::Ended);
        assert_eq!(
            m.accept(t + seconds(20)),
            Err(MatchError::NotInvited("live"))
        );
        assert!(!m.may_be_final(t + seconds(350), 30));
        assert!(m.may_be_final(t + seconds(351), 30));
        let late = invited(t);
        assert_eq!(
            late.clone().accept(t + seconds(60)),
            Err(MatchError::NotInvited("ended"))
        );
        assert_eq!(winner(&m, [3, 2]), Some("sa"));
        assert_eq!(winner(&m, [3, 4]), Some("sb"));
        assert_eq!(winner(&m, [3, 3]), None);
    }

    #[test]
    fn a_stream_is_in_one_match_at_a_time_and_gifts_score_inside_the_window_only() {
        let t = datetime!(2026-12-01 10:00 UTC);
        let mut s = StreamMatches::default();
        s.invite("sa", "m1", t).unwrap();
        assert_eq!(
            s.invite("sa", "m2", t + seconds(59)),
            Err(MatchError::AlreadyInMatch("sa".into()))
        );
        let mut m = invited(t);
        m.match_id = "m1".into();
        m.accept(t + seconds(5)).unwrap();
        s.accept(&m, t + seconds(5)).unwrap();
        assert!(s.invite("sa", "m2", t + seconds(314)).is_err());
        assert_eq!(s.scoring("2026-12-01T10:00:14Z"), None);
        assert_eq!(s.scoring("2026-12-01T10:00:15Z"), Some("m1"));
        assert_eq!(s.scoring("2026-12-01T10:05:14Z"), Some("m1"));
        assert_eq!(s.scoring("2026-12-01T10:05:15Z"), None);
        s.invite("sa", "m2", t + seconds(315)).unwrap();
        assert_eq!(s.version, 3);
        // An invitation that expired and was followed by another cannot be accepted.
        let mut stale = invited(t + seconds(315));
        stale.match_id = "m2".into();
        stale.accept(t + seconds(316)).unwrap();
        assert!(s.accept(&stale, t + seconds(376)).is_err());
        s.invite("sa", "m3", t + seconds(376)).unwrap();
        assert!(s.accept(&stale, t + seconds(377)).is_err());
        assert_eq!(
            s.recent.len(),
            2,
            "the unaccepted m2 is forgotten: {:?}",
            s.recent
        );
        for i in 0..REMEMBERED_MATCHES {
            let at = t + seconds(1_000 + 400 * i as u64);
            let mut x = invited(at);
            x.match_id = format!("x{i}");
            s.invite("sa", &x.match_id, at).unwrap();
            x.accept(at).unwrap();
            s.accept(&x, at).unwrap();
        }
        // The newest accepted matches, the oldest (m1) forgotten.
        assert_eq!(s.recent.len(), REMEMBERED_MATCHES);
        assert_eq!(s.recent[0].match_id, "x0");
        assert_eq!(duration(Some(29)), Err(MatchError::DurationOutOfRange));
        assert_eq!(duration(None), Ok(300));
    }
}

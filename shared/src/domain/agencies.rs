//! Creator agencies (API.md "LIVE formats"): an agency takes a share of the earnings of the
//! creators attached to it, paid either out of the platform's share or out of the creator's.
//!
//! A creator's attachments are kept as stints (`Stint`): which agency, at what share, funded by
//! whom, from when until when. Settlement finds the stint a gift's `sent_at` falls in, so an
//! attachment or a detachment changes the cut of later earnings only, however late their
//! settlement runs. Each change takes effect [`CHANGE_LEAD_SECONDS`] after it is asked for: its
//! handler gives up rather than commit later, so no settler can read the stints without it and
//! then settle an earning stamped after it (the same rule as a match's window).

use time::OffsetDateTime;

use super::time::{seconds, sortable};

/// The largest share an agency may take of an earning (API.md), in basis points.
pub const MAX_SHARE_BPS: u64 = 5_000;
/// From a change to the moment it applies; see the module's comment.
pub const CHANGE_LEAD_SECONDS: u64 = 30;
/// A change not committed this long before it applies is given up: four times a commit's
/// contention budget (`store::transaction::CONTENTION_BUDGET`).
pub const CHANGE_COMMIT_MARGIN_SECONDS: u64 = 20;

/// Whose share an agency's cut comes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// The platform's remainder (TikTok's LIVE agency programme): the creator keeps their share.
    Platform,
    /// The creator's share (guild models).
    Creator,
}

impl Funding {
    pub fn as_str(self) -> &'static str {
        match self {
            Funding::Platform => "platform",
            Funding::Creator => "creator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Funding::Platform, Funding::Creator]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// An agency: its id is its payee id (balances, statement, payouts, payout account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub agency_id: String,
    pub name: String,
    pub owner_id: String,
}

/// One attachment of a creator to an agency: earnings stamped from `since` (included) until
/// `until` (excluded) give the agency `share_bps` of their value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stint {
    pub agency_id: String,
    pub share_bps: u64,
    pub funded_by: Funding,
    /// RFC 3339, fixed width (`sortable`): stints order as text.
    pub since: String,
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgencyError {
    #[error("share_bps must be 1 to {MAX_SHARE_BPS}")]
    ShareOutOfRange,
    #[error("the creator is not attached to an agency")]
    NotAttached,
    #[error(
        "since must be at least {CHANGE_LEAD_SECONDS} s ahead and after the creator's last change"
    )]
    SinceTooEarly,
    #[error("no agency with this id")]
    AgencyNotFound,
    #[error("the owner already owns an agency")]
    OwnerHasAgency,
    #[error("not an agency's owner")]
    NotAnOwner,
}

/// A creator's stints, oldest first, and what changes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments {
    pub stints: Vec<Stint>,
    /// Optimistic concurrency: the stored version these were read at (0: never written).
    pub version: u64,
}

impl Attachments {
    /// The stint an earning stamped `sent_at` (RFC 3339) falls in, if any.
    pub fn at(&self, sent_at: &str) -> Option<&Stint> {
        let sent = parse(sent_at)?;
        self.stints.iter().find(|s| {
            parse(&s.since).is_some_and(|since| since <= sent)
                && s.until
                    .as_deref()
                    .is_none_or(|until| parse(until).is_some_and(|until| sent < until))
        })
    }

    /// The stint still open, if the creator is attached now or will be.
    pub fn current(&self) -> Option<&Stint> {
        self.stints.last().filter(|s| s.until.is_none())
    }

    /// When a change asked for `now` takes effect: `since` if given, else the lead from now.
    /// Never earlier than the lead, nor before the creator's last change (stints never overlap).
    pub fn effective(
        &self,
        now: OffsetDateTime,
        since: Option<OffsetDateTime>,
    ) -> Result<String, AgencyError> {
        let earliest = now + seconds(CHANGE_LEAD_SECONDS);
        let at = since.unwrap_or(earliest);
        let last = self
            .stints
            .last()
            .map(|s| s.until.as_deref().unwrap_or(&s.since));
        let at = sortable(at);
        if at < sortable(earliest) || last.is_some_and(|last| at.as_str() < last) {
            return Err(AgencyError::SinceTooEarly);
        }
        Ok(at)
    }

    /// Attaches from `since` (from [`Attachments::effective`]), ending the open stint there.
    pub fn attach(
        &mut self,
        agency_id: &str,
        share_bps: u64,
        funded_by: Funding,
        since: String,
    ) -> Result<&Stint, AgencyError> {
        if !(1..=MAX_SHARE_BPS).contains(&share_bps) {
            return Err(AgencyError::ShareOutOfRange);
        }
        if let Some(open) = self.stints.last_mut().filter(|s| s.until.is_none()) {
            open.until = Some(since.clone());
        }
        self.stints.push(Stint {
            agency_id: agency_id.to_owned(),
            share_bps,
            funded_by,
            since,
            until: None,
        });
        Ok(self.stints.last().expect("just pushed"))
    }

    /// Ends the open stint, asked for `now`: the lead from now on, earnings have no agency. An
    /// attachment that has not begun by then ends where it begins (it is cancelled).
    pub fn detach(&mut self, now: OffsetDateTime) -> Result<&Stint, AgencyError> {
        let earliest = sortable(now + seconds(CHANGE_LEAD_SECONDS));
        let open = self
            .stints
            .last_mut()
            .filter(|s| s.until.is_none())
            .ok_or(AgencyError::NotAttached)?;
        open.until = Some(earliest.max(open.since.clone()));
        Ok(open)
    }
}

fn parse(at: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_earning_counts_for_the_stint_its_time_falls_in_and_detaching_ends_it_there() {
        let mut a = Attachments::default();
        let now = datetime!(2026-12-01 10:00 UTC);
        let since = a.effective(now, None).unwrap();
        assert_eq!(since, "2026-12-01T10:00:30Z");
        a.attach("ag_1", 2_000, Funding::Platform, since).unwrap();
        assert_eq!(a.at("2026-12-01T10:00:29.999Z"), None);
        assert_eq!(a.at("2026-12-01T10:00:30Z").unwrap().agency_id, "ag_1");
        a.detach(datetime!(2026-12-01 11:00 UTC)).unwrap();
        assert_eq!(a.current(), None);
        assert_eq!(a.at("2026-12-01T11:00:29.5Z").unwrap().share_bps, 2_000);
        assert_eq!(a.at("2026-12-01T11:00:30Z"), None);
        assert_eq!(
            a.detach(datetime!(2026-12-01 12:00 UTC)),
            Err(AgencyError::NotAttached)
        );
        // A scheduled attachment detached before it begins never applies.
        a.attach("ag_2", 100, Funding::Creator, "2026-12-02T00:00:00Z".into())
            .unwrap();
        let cancelled = a.detach(datetime!(2026-12-01 13:00 UTC)).unwrap();
        assert_eq!(cancelled.until.as_deref(), Some("2026-12-02T00:00:00Z"));
        assert_eq!(a.at("2026-12-02T00:00:00Z"), None);
    }

    #[test]
    fn reattaching_ends_the_open_stint_and_no_change_goes_back_in_time() {
        let mut a = Attachments::default();
        a.attach(
            "ag_1",
            1_000,
            Funding::Creator,
            "2026-12-01T10:00:00Z".into(),
        )
        .unwrap();
        let now = datetime!(2026-12-01 09:00 UTC);
        // Before the open stint's start, or sooner than the lead: refused.
        assert_eq!(
            a.effective(now, Some(datetime!(2026-12-01 09:30 UTC))),
            Err(AgencyError::SinceTooEarly)
        );
        assert_eq!(
            a.effective(now, Some(datetime!(2026-12-01 09:00:05 UTC))),
            Err(AgencyError::SinceTooEarly)
        );
        let at = a
            .effective(now, Some(datetime!(2026-12-01 10:30 UTC)))
            .unwrap();
        a.attach("ag_2", 5_000, Funding::Platform, at).unwrap();
        assert_eq!(a.at("2026-12-01T10:29:59Z").unwrap().agency_id, "ag_1");
        assert_eq!(a.at("2026-12-01T10:30:00Z").unwrap().agency_id, "ag_2");
        assert_eq!(
            a.attach(
                "ag_3",
                5_001,
                Funding::Platform,
                "2026-12-02T00:00:00Z".into()
            ),
            Err(AgencyError::ShareOutOfRange)
        );
        assert_eq!(a.at("not a time"), None);
    }
}

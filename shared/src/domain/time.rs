//! Calendar keys for spend caps, and the one time format of the API (RFC 3339 UTC).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2026-11-22`: the UTC day a daily cap counts against.
pub fn day_key(now: OffsetDateTime) -> String {
    let d = now.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `2026-W47`: the ISO week a weekly cap counts against.
pub fn week_key(now: OffsetDateTime) -> String {
    let (year, week, _) = now.date().to_iso_week_date();
    format!("{year:04}-W{week:02}")
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .expect("an OffsetDateTime always formats as RFC 3339")
}

/// RFC 3339 truncated to whole seconds: one fixed width, so such times order correctly as text
/// (storage sort keys compare them that way).
pub fn sortable(at: OffsetDateTime) -> String {
    rfc3339(at.replace_nanosecond(0).expect("0 is a valid nanosecond"))
}

/// A setting in whole seconds as a duration (saturating: settings are validated, not trusted).
pub fn seconds(n: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn keys_follow_utc_days_and_iso_weeks() {
        let t = datetime!(2027-01-01 23:59:59 UTC);
        assert_eq!(day_key(t), "2027-01-01");
        // 1 January 2027 is a Friday of ISO week 53 of 2026.
        assert_eq!(week_key(t), "2026-W53");
        assert_eq!(rfc3339(t), "2027-01-01T23:59:59Z");
        assert_eq!(
            sortable(datetime!(2027-01-01 23:59:59.5 UTC)),
            "2027-01-01T23:59:59Z"
        );
    }
}

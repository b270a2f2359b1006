//! Multi-guest rooms: a live stream's host brings creators on screen as guests, and a gift names
//! which of them it is for (API.md "LIVE formats").
//!
//! The guest list lives on the stream item, so a gift checks it where it already checks the
//! stream: on the stream as this container last read it (`domain::streams`), never inside the
//! gift's transaction. A guest removed a moment ago may still be gifted for up to
//! `STREAM_CACHE_SECONDS`; settlement enforces the removal as it enforces a stream's end: a gift
//! sent to a guest more than `STREAM_END_GRACE_SECONDS` after they left is refunded to its sender.

use std::collections::BTreeMap;

/// TikTok LIVE's multi-guest limit (DOMAIN.md): a host and up to 8 guests.
pub const DEFAULT_MAX_GUESTS: u64 = 8;

/// Who is in a room beside its host, and who left when. Times are RFC 3339 of one fixed width
/// (`time::sortable`), so they order as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// Guest → when they joined.
    pub guests: BTreeMap<String, String>,
    /// Former guest → when they last left: what settlement needs to judge a gift sent to them
    /// on a stale read of the room.
    pub left: BTreeMap<String, String>,
    /// Bumped by every change; a change is written only over the version it was made from.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the room already has {max} guests")]
    RoomFull { max: u64 },
    #[error("{0} is not in this stream's room")]
    RecipientNotInStream(String),
    #[error("{0} is not a guest of this stream")]
    GuestNotFound(String),
    #[error("the host is in the room already, not as a guest")]
    HostIsNotAGuest,
}

impl Room {
    /// `guest` joins at `at`; joining again changes nothing.
    pub fn add(&mut self, host: &str, guest: &str, at: &str, max: u64) -> Result<(), RoomError> {
        if guest == host {
            return Err(RoomError::HostIsNotAGuest);
        }
        if self.guests.contains_key(guest) {
            return Ok(());
        }
        if u64::try_from(self.guests.len()).unwrap_or(u64::MAX) >= max {
            return Err(RoomError::RoomFull { max });
        }
        self.guests.insert(guest.to_owned(), at.to_owned());
        // Back in the room: what settlement needs is their current seat, not their last exit.
        self.left.remove(guest);
        self.version += 1;
        Ok(())
    }

    /// `guest` leaves at `at`.
    pub fn remove(&mut self, guest: &str, at: &str) -> Result<(), RoomError> {
        self.guests
            .remove(guest)
            .ok_or_else(|| RoomError::GuestNotFound(guest.to_owned()))?;
        self.left.insert(guest.to_owned(), at.to_owned());
        self.version += 1;
        Ok(())
    }

    /// Whether `recipient` may be gifted now: the host, or a guest in the room.
    pub fn admits(&self, host: &str, recipient: &str) -> Result<(), RoomError> {
        if recipient == host || self.guests.contains_key(recipient) {
            Ok(())
        } else {
            Err(RoomError::RecipientNotInStream(recipient.to_owned()))
        }
    }

    /// When a gift to `recipient` stops counting: never for the host or a guest in the room;
    /// their leaving time for a former guest; `Some("")` (before any time) for anyone else.
    pub fn recipient_left_at<'a>(&'a self, host: &str, recipient: &str) -> Option<&'a str> {
        if recipient == host || self.guests.contains_key(recipient) {
            return None;
        }
        Some(self.left.get(recipient).map_or("", String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_takes_guests_up_to_its_limit_and_never_the_host() {
        let mut room = Room::default();
        for g in ["a", "b"] {
            room.add("h", g, "2026-12-01T10:00:00Z", 2).unwrap();
        }
        assert_eq!(
            room.add("h", "c", "2026-12-01T10:00:00Z", 2),
            Err(RoomError::RoomFull { max: 2 })
        );
        // Joining again is not a second seat.
        room.add("h", "a", "2026-12-01T10:05:00Z", 2).unwrap();
        assert_eq!(room.guests["a"], "2026-12-01T10:00:00Z");
        assert_eq!(room.version, 2);
        assert_eq!(
            room.add("h", "h", "2026-12-01T10:00:00Z", 2),
            Err(RoomError::HostIsNotAGuest)
        );
    }

    #[test]
    fn the_host_and_guests_are_admitted_and_a_removed_guest_is_not() {
        let mut room = Room::default();
        room.add("h", "g", "2026-12-01T10:00:00Z", 8).unwrap();
        assert_eq!(room.admits("h", "h"), Ok(()));
        assert_eq!(room.admits("h", "g"), Ok(()));
        assert_eq!(room.recipient_left_at("h", "g"), None);
        room.remove("g", "2026-12-01T10:10:00Z").unwrap();
        assert_eq!(
            room.admits("h", "g"),
            Err(RoomError::RecipientNotInStream("g".into()))
        );
        assert_eq!(
            room.recipient_left_at("h", "g"),
            Some("2026-12-01T10:10:00Z")
        );
        assert_eq!(room.recipient_left_at("h", "stranger"), Some(""));
        assert_eq!(
            room.remove("g", "2026-12-01T10:11:00Z"),
            Err(RoomError::GuestNotFound("g".into()))
        );
        // Back on screen: gifts to them count again.
        room.add("h", "g", "2026-12-01T10:12:00Z", 8).unwrap();
        assert_eq!(room.recipient_left_at("h", "g"), None);
    }
}

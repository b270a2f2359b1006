//! Leaderboards from settled gifts (they outlive the stream):
//! `GET /v1/streams/{stream_id}/leaderboard?limit=N&recipient_id=` (API.md) and
//! `GET /v1/creators/{creator_id}/leaderboard/weekly?week=YYYY-Www&limit=N` (docs/api-additions.md).

use serde::Serialize;

use crate::domain::settlement::Board;
use crate::domain::streams::{StreamId, MAX_USER_ID_BYTES};
use crate::domain::time::week_key;
use crate::http::{ApiError, ApiRequest, ApiResponse};
use crate::input::{bounded_str, InvalidInput};
use crate::store::boards::BoardEntry;
use crate::App;

/// API.md: 1 ≤ N ≤ 100, default 10.
pub(super) const MAX_LIMIT: u64 = 100;
const DEFAULT_LIMIT: u64 = 10;
/// Longest creator id a weekly board is read for.
pub(super) const MAX_CREATOR_ID_BYTES: usize = 256;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EntryView<'a> {
    user_id: &'a str,
    coins: u64,
}

fn top(entries: &[BoardEntry]) -> Vec<EntryView<'_>> {
    entries
        .iter()
        .map(|e| EntryView {
            user_id: &e.user_id,
            coins: e.coins,
        })
        .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
struct StreamBoardView<'a> {
    stream_id: &'a str,
    top: Vec<EntryView<'a>>,
}

#[utoipa::path(get, path = "/v1/streams/{stream_id}/leaderboard", tag = "streams",
    security(("jwt" = [])),
    params(("stream_id" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100),
        ("recipient_id" = Option<String>, Query, min_length = 1, max_length = 128,
            pattern = "\\S",
            description = "only the gifts to this recipient, the host or a guest")),
    responses(
        (status = 200, body = StreamBoardView),
        (status = 400, body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
pub async fn stream(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let limit = req.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let stream_id =
        StreamId::parse(req.path_param("stream_id")?).ok_or(ApiError::StreamNotFound)?;
    app.store
        .stream(stream_id.as_str())
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    let board = match req.query_param("recipient_id") {
        Some(recipient_id) => {
            bounded_str("recipient_id", recipient_id, MAX_USER_ID_BYTES)?;
            Board::Recipient {
                stream_id: stream_id.as_str().to_owned(),
                recipient_id: recipient_id.to_owned(),
            }
        }
        None => Board::Stream(stream_id.as_str().to_owned()),
    };
    let entries = app.store.board_top(&board, limit).await?;
    Ok(ApiResponse::json(
        200,
        &StreamBoardView {
            stream_id: stream_id.as_str(),
            top: top(&entries),
        },
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct WeeklyBoardView<'a> {
    creator_id: &'a str,
    week: &'a str,
    top: Vec<EntryView<'a>>,
}

#[utoipa::path(get, path = "/v1/creators/{creator_id}/leaderboard/weekly", tag = "creators",
    security(("jwt" = [])),
    params(("creator_id" = String, Path, min_length = 1, max_length = 256, pattern = "\\S",
            description = "a user id: not blank, at most 256 bytes"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100),
        ("week" = Option<String>, Query, pattern = r"^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$",
            description = "ISO week, e.g. 2026-W47; the current one if absent")),
    responses(
        (status = 200, body = WeeklyBoardView),
        (status = 400, body = crate::http::ErrorBody)))]
pub async fn creator_week(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let limit = req.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let creator_id = req.path_param("creator_id")?.to_owned();
    crate::input::bounded_str("creator_id", &creator_id, MAX_CREATOR_ID_BYTES)?;
    let week = match req.query_param("week") {
        Some(w) if is_iso_week(w) => w.to_owned(),
        Some(_) => {
            return Err(InvalidInput::new("week", "must be an ISO week such as 2026-W47").into())
        }
        None => week_key(app.clock.now()),
    };
    let board = Board::CreatorWeek {
        creator_id: creator_id.clone(),
        week: week.clone(),
    };
    let entries = app.store.board_top(&board, limit).await?;
    Ok(ApiResponse::json(
        200,
        &WeeklyBoardView {
            creator_id: &creator_id,
            week: &week,
            top: top(&entries),
        },
    ))
}

/// `YYYY-Www`, weeks 01–53.
fn is_iso_week(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && &b[4..6] == b"-W"
        && b[6..].iter().all(u8::is_ascii_digit)
        && matches!(w[6..].parse::<u8>(), Ok(1..=53))
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_weeks() {
        assert!(super::is_iso_week("2026-W47"));
        assert!(super::is_iso_week("2026-W01"));
        for bad in [
            "2026-W00",
            "2026-W54",
            "2026W47",
            "2026-w47",
            "26-W47",
            "2026-W4x",
            "2026-W١٢",
        ] {
            assert!(!super::is_iso_week(bad), "{bad}");
        }
    }
}

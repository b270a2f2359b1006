//! LIVE matches (API.md "LIVE formats"): `POST /v1/matches`, `POST /v1/matches/{match_id}/accept`
//! and `GET /v1/matches/{match_id}`. The rules are `domain::matches`; the points come from
//! settlement (`jobs::settlement`), so a side's points lag its gifts by the settlement window.

use serde::{Deserialize, Serialize};

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::matches::{duration, winner, Match, MatchError, MatchStatus};
use crate::domain::settlement::Board;
use crate::domain::streams::{Stream, StreamId, StreamStatus};
use crate::domain::time::sortable;
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, ApiError, ApiRequest, ApiResponse};
use crate::store::streams::{stream_from_item, StreamPart};
use crate::store::transaction::attempts;
use crate::store::{Role, Tx, TxError};
use crate::App;

/// Top contributors shown per side.
const TOP_CONTRIBUTORS: u32 = 10;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    /// The caller's own live stream.
    stream_id: String,
    /// Another host's live stream.
    opponent_stream_id: String,
    /// 30 to 3,600; 300 if absent (`domain::matches`).
    #[schema(minimum = 30, maximum = 3600)]
    duration_seconds: Option<u64>,
}

/// `accept` takes no fields; an empty body or `{}` both mean "accept".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AcceptBody {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MatchView<'a> {
    match_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    starts_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<&'a str>,
}

impl<'a> MatchView<'a> {
    fn new(m: &'a Match, status: MatchStatus) -> Self {
        Self {
            match_id: &m.match_id,
            status: status.as_str(),
            starts_at: m.starts_at.as_deref(),
            ends_at: m.ends_at.as_deref(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ContributorView {
    user_id: String,
    points: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SideView<'a> {
    stream_id: &'a str,
    creator_id: &'a str,
    points: u64,
    top: Vec<ContributorView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ScoreView<'a> {
    #[serde(flatten)]
    r#match: MatchView<'a>,
    sides: Vec<SideView<'a>>,
    /// Every gift sent inside the window has settled: the points are final.
    #[serde(rename = "final")]
    is_final: bool,
    /// Once final, the side with more points; a tie has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    winner_stream_id: Option<&'a str>,
}

fn stream_id(raw: &str) -> Result<StreamId, ApiError> {
    StreamId::parse(raw).ok_or(ApiError::StreamNotFound)
}

async fn stream(app: &App, id: &StreamId) -> Result<Stream, ApiError> {
    app.store
        .stream(id.as_str())
        .await?
        .ok_or(ApiError::StreamNotFound)
}

fn live(stream: Stream) -> Result<Stream, ApiError> {
    match stream.status {
        StreamStatus::Live => Ok(stream),
        StreamStatus::Ended => Err(ApiError::StreamNotLive),
    }
}

#[utoipa::path(post, path = "/v1/matches", tag = "streams", security(("jwt" = [])),
    request_body = InviteBody,
    responses(
        (status = 201, body = MatchView),
        (status = 403, description = "not the stream's creator", body = crate::http::ErrorBody),
        (status = 404, description = "stream_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "already_in_match, stream_not_live",
            body = crate::http::ErrorBody)))]
pub(super) async fn invite(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: InviteBody = req.json()?;
    let (own, other) = (
        stream_id(&body.stream_id)?,
        stream_id(&body.opponent_stream_id)?,
    );
    if own == other {
        return Err(MatchError::SameStream.into());
    }
    let duration_seconds = duration(body.duration_seconds)?;
    let own_stream = stream(app, &own).await?;
    if own_stream.creator_id != caller.user_id {
        return Err(ApiError::Forbidden(
            "only the stream's creator can invite to a match".into(),
        ));
    }
    let mut streams = [live(own_stream)?, live(stream(app, &other).await?)?];
    if streams[1].creator_id == caller.user_id {
        return Err(MatchError::SameHost.into());
    }
    let now = app.clock.now();
    let m = Match {
        match_id: idem.derived_id("match"),
        sides: streams
            .each_ref()
            .map(|s| (s.stream_id.clone(), s.creator_id.clone())),
        duration_seconds,
        invited_at: sortable(now),
        starts_at: None,
        ends_at: None,
        final_points: None,
    };
    record_business_id(&m.match_id);
    let response = ApiResponse::json(201, &MatchView::new(&m, MatchStatus::Invited));
    let commit = |streams: &mut [Stream; 2]| {
        let mut tx = Tx::new();
        app.store.add_new_match(&mut tx, &m);
        for s in streams.iter_mut() {
            let from = s.matches.version;
            s.matches.invite(&s.stream_id, &m.match_id, now)?;
            app.store
                .add_stream_change(&mut tx, s, StreamPart::Matches, from, true);
        }
        Ok::<_, ApiError>(tx)
    };
    write_streams(app, &idem, &mut streams, &m, response, commit).await
}

#[utoipa::path(post, path = "/v1/matches/{match_id}/accept", tag = "streams",
    security(("jwt" = [])),
    params(("match_id" = String, Path, description = "a match id (`404 match_not_found`)")),
    request_body(content = Option<AcceptBody>, description = "empty, or {}"),
    responses(
        (status = 200, body = MatchView),
        (status = 403, description = "not the opponent stream's creator",
            body = crate::http::ErrorBody),
        (status = 404, description = "match_not_found", body = crate::http::ErrorBody),
        (status = 409, description = "invalid_transition, stream_not_live",
            body = crate::http::ErrorBody)))]
pub(super) async fn accept(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    if !req.body.iter().all(u8::is_ascii_whitespace) {
        let _: AcceptBody = req.json()?;
    }
    let mut m = find(app, &req).await?;
    if m.sides[1].1 != caller.user_id {
        return Err(ApiError::Forbidden(
            "only the opponent stream's creator can accept".into(),
        ));
    }
    let now = app.clock.now();
    if let Err(refusal) = m.accept(now) {
        // A retry of the accept that opened the match gets its first answer.
        return idem.replay_or(&app.store, now, refusal.into()).await;
    }
    let mut streams = [
        live(stream(app, &stream_id(&m.sides[0].0)?).await?)?,
        live(stream(app, &stream_id(&m.sides[1].0)?).await?)?,
    ];
    let response = ApiResponse::json(200, &MatchView::new(&m, MatchStatus::Live));
    let commit = |streams: &mut [Stream; 2]| {
        let now = app.clock.now();
        if !m.accept_writable(now) {
            // Too late to be written before the window opens: nothing was; retry to accept anew.
            return Err(ApiError::Busy(format!(
                "the accept of {} took too long",
                m.match_id
            )));
        }
        let mut tx = Tx::new();
        app.store.add_match_accepted(&mut tx, &m);
        for s in streams.iter_mut() {
            let from = s.matches.version;
            s.matches.accept(&m, now)?;
            app.store
                .add_stream_change(&mut tx, s, StreamPart::Matches, from, true);
        }
        Ok::<_, ApiError>(tx)
    };
    write_streams(app, &idem, &mut streams, &m, response, commit).await
}

/// Commits `build`'s transaction over both streams as read, again over a stream that changed
/// meanwhile (another host's invitation, the stream's end): the decision is remade on it.
async fn write_streams(
    app: &App,
    idem: &Idempotency,
    streams: &mut [Stream; 2],
    m: &Match,
    response: ApiResponse,
    build: impl Fn(&mut [Stream; 2]) -> Result<Tx, ApiError>,
) -> Result<ApiResponse, ApiError> {
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let tx = build(streams)?;
        let err = match idem
            .commit(app, tx, response.clone(), app.clock.now())
            .await?
        {
            Ok(response) => return Ok(response),
            Err(err) => err,
        };
        let mut reread = false;
        for s in streams.iter_mut() {
            if let Some(old) = condition_failed(&err, &Role::Stream(s.stream_id.clone())) {
                *s = stream_from_item(old)?;
                if s.status != StreamStatus::Live {
                    return Err(ApiError::StreamNotLive);
                }
                reread = true;
            }
        }
        if condition_failed(&err, &Role::Match(m.match_id.clone())).is_some() {
            // The match exists although this key's record does not (it expired), or it was
            // accepted by another request meanwhile.
            return Err(match m.starts_at {
                None => ApiError::IdempotencyKeyReused,
                Some(_) => MatchError::NotInvited(MatchStatus::Live.as_str()).into(),
            });
        }
        if !reread {
            return Err(err.into());
        }
    }
    Err(ApiError::Busy(format!(
        "the streams of {} kept changing",
        m.match_id
    )))
}

/// The item as it was when `role`'s condition failed.
fn condition_failed<'e>(err: &'e TxError, role: &Role) -> Option<&'e crate::store::Item> {
    err.failure(role)
        .filter(|f| f.condition_failed())
        .and_then(|f| f.old.as_ref())
}

async fn find(app: &App, req: &ApiRequest) -> Result<Match, ApiError> {
    let match_id = req.path_param("match_id")?;
    crate::input::bounded_str("match_id", match_id, MAX_MATCH_ID_BYTES)
        .map_err(|_| MatchError::NotFound)?;
    record_business_id(match_id);
    Ok(app
        .store
        .find_match(match_id)
        .await?
        .ok_or(MatchError::NotFound)?)
}

/// Match ids are derived ids (`match_<hash>`); anything much longer is no match.
const MAX_MATCH_ID_BYTES: usize = 128;

#[utoipa::path(get, path = "/v1/matches/{match_id}", tag = "streams", security(("jwt" = [])),
    params(("match_id" = String, Path, description = "a match id (`404 match_not_found`)")),
    responses(
        (status = 200, body = ScoreView),
        (status = 404, description = "match_not_found", body = crate::http::ErrorBody)))]
pub(super) async fn score(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let m = find(app, &req).await?;
    let now = app.clock.now();
    let status = m.status(now);
    let boards = m.sides.each_ref().map(|(stream_id, _)| Board::MatchSide {
        match_id: m.match_id.clone(),
        stream_id: stream_id.clone(),
    });
    // Settled first, totals after: a gift's points commit with its leaving the sweep index, so
    // totals read after the index showed none of the window's gifts hold all of them.
    let settled = m.final_points.is_none() && window_settled(app, &m, now).await?;
    let points = match m.final_points {
        Some(points) => points,
        None => [
            app.store.board_total(&boards[0]).await?,
            app.store.board_total(&boards[1]).await?,
        ],
    };
    let (is_final, points) = match (m.final_points, settled) {
        (Some(points), _) => (true, points),
        // Whoever records the result first, every reader answers the recorded one.
        (None, true) => (true, app.store.record_final(&m.match_id, points).await?),
        (None, false) => (false, points),
    };
    let mut sides = Vec::with_capacity(2);
    for ((board, (stream_id, creator_id)), points) in boards.iter().zip(&m.sides).zip(points) {
        let top = app.store.board_top(board, TOP_CONTRIBUTORS).await?;
        sides.push(SideView {
            stream_id,
            creator_id,
            points,
            top: top
                .into_iter()
                .map(|e| ContributorView {
                    user_id: e.user_id,
                    points: e.coins,
                })
                .collect(),
        });
    }
    Ok(ApiResponse::json(
        200,
        &ScoreView {
            r#match: MatchView::new(&m, status),
            sides,
            is_final,
            winner_stream_id: is_final.then(|| winner(&m, points)).flatten(),
        },
    ))
}

/// Whether every gift of either side stamped inside the window has settled and reached the
/// boards: the window closed more than the stream grace ago (no such gift can still be
/// committing), and none is left in the sweep index, which lists every gift until then. A
/// sweep index too full to read across the window, or holding an item it cannot read, is no
/// proof: not final yet.
async fn window_settled(app: &App, m: &Match, now: time::OffsetDateTime) -> Result<bool, ApiError> {
    let (Some(starts_at), Some(ends_at)) = (m.starts_at.as_deref(), m.ends_at.as_deref()) else {
        return Ok(false);
    };
    if !m.may_be_final(now, app.config.streams.end_grace_seconds) {
        return Ok(false);
    }
    let unfinished = app
        .store
        .unfinished_gifts_between(starts_at, ends_at)
        .await?;
    let pending = unfinished
        .items
        .iter()
        .any(|g| m.sides.iter().any(|(s, _)| *s == g.stream_id) && g.sent_at.as_str() < ends_at);
    if unfinished.more || unfinished.skipped > 0 {
        tracing::warn!(match_id = %m.match_id, "the sweep index holds too much of the match's window to read, or items it cannot read: not final yet");
    }
    Ok(!unfinished.more && unfinished.skipped == 0 && !pending)
}

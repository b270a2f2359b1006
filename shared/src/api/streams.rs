//! `POST /v1/streams`, `POST /v1/streams/{stream_id}/end`, the room's guests
//! (`POST /v1/streams/{stream_id}/guests`, `DELETE /v1/streams/{stream_id}/guests/{user_id}`)
//! and the stream's leaderboard.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::matches::StreamMatches;
use crate::domain::rooms::{Room, RoomError};
use crate::domain::streams::{validate_title, Stream, StreamId, StreamStatus, MAX_USER_ID_BYTES};
use crate::domain::time::rfc3339;
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse, Role};
use crate::input::{bounded_str, InvalidInput};
use crate::store::streams::{stream_from_item, StreamPart};
use crate::store::transaction::attempts;
use crate::store::Tx;
use crate::App;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateStreamBody {
    /// Trimmed, 1 to 200 characters (`domain::streams::validate_title`).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
}

/// `end` takes no fields; an empty body or `{}` both mean "end it".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EndStreamBody {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamView<'a> {
    stream_id: &'a str,
    creator_id: &'a str,
    title: &'a str,
    status: &'static str,
    started_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<&'a str>,
    guests: Vec<GuestView<'a>>,
}

impl<'a> From<&'a Stream> for StreamView<'a> {
    fn from(s: &'a Stream) -> Self {
        Self {
            stream_id: &s.stream_id,
            creator_id: &s.creator_id,
            title: &s.title,
            status: s.status.as_str(),
            started_at: &s.started_at,
            ended_at: s.ended_at.as_deref(),
            guests: guests(&s.room),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddGuestBody {
    /// The creator to bring into the room (not the host).
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    user_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GuestView<'a> {
    user_id: &'a str,
    joined_at: &'a str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RoomView<'a> {
    stream_id: &'a str,
    guests: Vec<GuestView<'a>>,
}

fn guests(room: &Room) -> Vec<GuestView<'_>> {
    room.guests
        .iter()
        .map(|(user_id, joined_at)| GuestView { user_id, joined_at })
        .collect()
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "POST /v1/streams" => create(app, r).await,
            "POST /v1/streams/{stream_id}/end" => end(app, r).await,
            "POST /v1/streams/{stream_id}/guests" => add_guest(app, r).await,
            "DELETE /v1/streams/{stream_id}/guests/{user_id}" => remove_guest(app, r).await,
            "POST /v1/matches" => super::matches::invite(app, r).await,
            "POST /v1/matches/{match_id}/accept" => super::matches::accept(app, r).await,
            "GET /v1/matches/{match_id}" => super::matches::score(app, r).await,
            "GET /v1/streams/{stream_id}/leaderboard" => super::leaderboards::stream(app, r).await,
            _ => Err(ApiError::RouteNotFound(r.route_key)),
        }
    })
    .await
}

#[utoipa::path(post, path = "/v1/streams", tag = "streams", security(("jwt" = [])),
    request_body = CreateStreamBody,
    responses(
        (status = 201, body = StreamView),
        (status = 403, description = "not a creator", body = crate::http::ErrorBody)))]
async fn create(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    caller.require(Role::Creator)?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: CreateStreamBody = req.json()?;
    let title =
        validate_title(&body.title).map_err(|e| InvalidInput::new("title", e.to_string()))?;
    let now = app.clock.now();
    let stream = Stream {
        stream_id: StreamId::new(&caller.user_id).as_str().to_owned(),
        creator_id: caller.user_id.clone(),
        title,
        status: StreamStatus::Live,
        started_at: rfc3339(now),
        ended_at: None,
        room: Room::default(),
        matches: StreamMatches::default(),
    };
    record_business_id(&stream.stream_id);
    let mut tx = Tx::new();
    app.store.add_new_stream(&mut tx, &stream);
    let response = ApiResponse::json(201, &StreamView::from(&stream));
    Ok(idem.commit(app, tx, response, now).await??)
}

#[utoipa::path(post, path = "/v1/streams/{stream_id}/end", tag = "streams",
    security(("jwt" = [])),
    params(("stream_id" = String, Path)),
    request_body(content = Option<EndStreamBody>, description = "empty, or {}"),
    responses(
        (status = 200, body = StreamView),
        (status = 403, description = "not the stream's creator", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn end(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    if !req.body.iter().all(u8::is_ascii_whitespace) {
        let _: EndStreamBody = req.json()?;
    }
    let mut stream = own_stream(app, &req, &caller.user_id, "end it").await?;
    let stream_id = stream.stream_id.clone();
    if stream.status == StreamStatus::Ended {
        return Ok(ApiResponse::json(200, &StreamView::from(&stream)));
    }
    let now = app.clock.now();
    stream.status = StreamStatus::Ended;
    stream.ended_at = Some(rfc3339(now));
    let mut tx = Tx::new();
    app.store.add_end_stream(
        &mut tx,
        &stream.stream_id,
        &caller.user_id,
        stream.ended_at.as_deref().unwrap_or_default(),
    );
    let response = ApiResponse::json(200, &StreamView::from(&stream));
    match idem.commit(app, tx, response, now).await? {
        Ok(response) => Ok(response),
        // Ended concurrently by another request: answer with the stream as it now is.
        Err(err) => match app.store.stream(&stream_id).await? {
            Some(now_stored) if now_stored.status == StreamStatus::Ended => {
                Ok(ApiResponse::json(200, &StreamView::from(&now_stored)))
            }
            // Still contended after the retries: 503 busy, never a 500.
            _ => Err(err.into()),
        },
    }
}

#[utoipa::path(post, path = "/v1/streams/{stream_id}/guests", tag = "streams",
    security(("jwt" = [])),
    params(("stream_id" = String, Path)),
    request_body = AddGuestBody,
    responses(
        (status = 201, body = RoomView),
        (status = 403, description = "not the stream's creator", body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody),
        (status = 409, description = "room_full, stream_not_live, host_is_not_a_guest",
            body = crate::http::ErrorBody)))]
async fn add_guest(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: AddGuestBody = req.json()?;
    bounded_str("user_id", &body.user_id, MAX_USER_ID_BYTES)?;
    let at = rfc3339(app.clock.now());
    let max = app.config.streams.max_guests;
    let change = |room: &mut Room, host: &str| room.add(host, &body.user_id, &at, max);
    change_room(app, &req, Some(idem), 201, true, change).await
}

#[utoipa::path(delete, path = "/v1/streams/{stream_id}/guests/{user_id}", tag = "streams",
    security(("jwt" = [])),
    params(("stream_id" = String, Path),
        ("user_id" = String, Path, description = "a guest of the room (`404 guest_not_found`)")),
    responses(
        (status = 200, body = RoomView),
        (status = 403, description = "not the stream's creator", body = crate::http::ErrorBody),
        (status = 404, description = "stream_not_found, guest_not_found",
            body = crate::http::ErrorBody)))]
async fn remove_guest(app: &App, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    req.caller()?;
    let guest = req.path_param("user_id")?.to_owned();
    let at = rfc3339(app.clock.now());
    let change = |room: &mut Room, _: &str| room.remove(&guest, &at);
    // A DELETE carries no Idempotency-Key (API.md): removing again answers 404, nothing changes.
    change_room(app, &req, None, 200, false, change).await
}

/// The host changes the room: read, change, write over the version read (the host's own
/// requests are its only writers, so a conflict is a double click and is simply redone).
async fn change_room(
    app: &App,
    req: &ApiRequest,
    idem: Option<Idempotency>,
    status: u16,
    live_only: bool,
    change: impl Fn(&mut Room, &str) -> Result<(), RoomError>,
) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let mut stream = own_stream(app, req, &caller.user_id, "change its room").await?;
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        if live_only && stream.status != StreamStatus::Live {
            return Err(ApiError::StreamNotLive);
        }
        let from = stream.room.version;
        change(&mut stream.room, &stream.creator_id)?;
        let view = RoomView {
            stream_id: &stream.stream_id,
            guests: guests(&stream.room),
        };
        let response = ApiResponse::json(status, &view);
        if stream.room.version == from {
            return Ok(response);
        }
        let mut tx = Tx::new();
        app.store
            .add_stream_change(&mut tx, &stream, StreamPart::Room, from, live_only);
        let committed = match &idem {
            Some(idem) => idem.commit(app, tx, response, app.clock.now()).await?,
            None => tx.commit(app.store.client()).await.map(|()| response),
        };
        let err = match committed {
            Ok(response) => return Ok(response),
            Err(err) => err,
        };
        match err.failure(&crate::store::Role::Stream(stream.stream_id.clone())) {
            Some(f) if f.condition_failed() => {
                let old = f.old.as_ref().ok_or(ApiError::StreamNotFound)?;
                stream = stream_from_item(old)?;
            }
            _ => return Err(err.into()),
        }
    }
    Err(ApiError::Busy(format!(
        "the room of {stream_id} kept changing",
        stream_id = stream.stream_id
    )))
}

/// The stream the path names, as stored, if `user_id` is its creator (`403` otherwise, naming
/// what only the creator may do).
async fn own_stream(
    app: &App,
    req: &ApiRequest,
    user_id: &str,
    action: &str,
) -> Result<Stream, ApiError> {
    let stream_id =
        StreamId::parse(req.path_param("stream_id")?).ok_or(ApiError::StreamNotFound)?;
    record_business_id(stream_id.as_str());
    let stream = app
        .store
        .stream(stream_id.as_str())
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    if stream.creator_id != user_id {
        return Err(ApiError::Forbidden(format!(
            "only the stream's creator can {action}"
        )));
    }
    Ok(stream)
}

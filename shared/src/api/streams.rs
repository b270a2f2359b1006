//! `POST /v1/streams`, `POST /v1/streams/{stream_id}/end` and the stream's leaderboard.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::domain::streams::{validate_title, Stream, StreamId, StreamStatus};
use crate::domain::time::rfc3339;
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse, Role};
use crate::input::InvalidInput;
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
        }
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| async move {
        match r.route_key.as_str() {
            "POST /v1/streams" => create(app, r).await,
            "POST /v1/streams/{stream_id}/end" => end(app, r).await,
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
    let stream_id =
        StreamId::parse(req.path_param("stream_id")?).ok_or(ApiError::StreamNotFound)?;
    record_business_id(stream_id.as_str());
    let mut stream = app
        .store
        .stream(stream_id.as_str())
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    if stream.creator_id != caller.user_id {
        return Err(ApiError::Forbidden(
            "only the stream's creator can end it".into(),
        ));
    }
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
        Err(err) => match app.store.stream(stream_id.as_str()).await? {
            Some(now_stored) if now_stored.status == StreamStatus::Ended => {
                Ok(ApiResponse::json(200, &StreamView::from(&now_stored)))
            }
            // Still contended after the retries: 503 busy, never a 500.
            _ => Err(err.into()),
        },
    }
}

//! API Gateway (HTTP API, payload 2.0) glue: the request as handlers see it, responses, and
//! the one wrapper that turns every error into the API.md error body and logs it once.

pub mod caller;
pub mod error;
pub mod idempotency;

use std::collections::HashMap;
use std::future::Future;

use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt, Response};
use serde::Serialize;
use tracing::{field, Instrument};

pub use caller::{Caller, Role};
pub use error::ApiError;

/// An API Gateway request reduced to what handlers use.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// `METHOD /path/{param}` as API Gateway matched it; handlers dispatch on it.
    pub route_key: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    claims: Option<HashMap<String, String>>,
    path_params: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: lambda_http::http::HeaderMap,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn from_lambda(req: lambda_http::Request) -> Self {
        let (route_key, request_id, claims) = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => (
                ctx.route_key.clone().unwrap_or_default(),
                ctx.request_id.clone().unwrap_or_default(),
                ctx.authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|j| j.claims.clone()),
            ),
            _ => (String::new(), String::new(), None),
        };
        let owned = |params: Option<&lambda_http::aws_lambda_events::query_map::QueryMap>| {
            params
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let path_params = owned(req.path_parameters_ref());
        let query = owned(req.query_string_parameters_ref());
        let method = req.method().as_str().to_owned();
        let path = req.raw_http_path().to_owned();
        let (parts, body) = req.into_parts();
        Self {
            route_key,
            request_id,
            method,
            path,
            claims,
            path_params,
            query,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    pub fn caller(&self) -> Result<Caller, ApiError> {
        Caller::from_claims(self.claims.as_ref())
    }

    /// A header's value; a value that is not visible ASCII counts as absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path_params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::RouteNotFound(self.route_key.clone()))
    }

    /// A query string parameter (the last value when it is repeated).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// `?limit=N`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: u64, max: u64) -> Result<u32, crate::input::InvalidInput> {
        let Some(raw) = self.query_param("limit") else {
            return Ok(default as u32);
        };
        let n = raw.parse::<u64>().map_err(|_| {
            crate::input::InvalidInput::new(
                "limit",
                format!("must be a whole number from 1 to {max}"),
            )
        })?;
        Ok(crate::input::in_range("limit", n, 1..=max)? as u32)
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        Ok(crate::input::parse_json(&self.body)?)
    }
}

/// A successful (or replayed) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: String,
    /// Set when this is the stored first response to an idempotent request.
    pub replayed: bool,
}

impl ApiResponse {
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_string(value).expect("response types always serialize"),
            replayed: false,
        }
    }
}

/// Runs one route handler under a span carrying the request id, the function, `cold_start` and
/// (once a handler records it) the business id; every error becomes its API.md body and is
/// logged here, once.
pub async fn serve<F, Fut>(
    req: lambda_http::Request,
    handler: F,
) -> Result<Response<Body>, std::convert::Infallible>
where
    F: FnOnce(ApiRequest) -> Fut,
    Fut: Future<Output = Result<ApiResponse, ApiError>>,
{
    let req = ApiRequest::from_lambda(req);
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id,
        function = crate::telemetry::function(),
        cold_start = crate::telemetry::take_cold_start(),
        route = %req.route_key,
        business_id = field::Empty,
    );
    async move {
        let response = match handler(req).await {
            Ok(ok) => {
                tracing::info!(status = ok.status, replayed = ok.replayed, "handled");
                ok
            }
            Err(err) => {
                let (status, code) = err.status_and_code();
                if status >= 500 {
                    tracing::error!(status, code, error = ?err, "request failed");
                } else {
                    tracing::info!(status, code, error = %err, "request refused");
                }
                error_response(&err)
            }
        };
        Ok(to_http(response))
    }
    .instrument(span)
    .await
}

/// Ties the business id (gift, stream, event) to the current request's log lines.
pub fn record_business_id(id: &str) {
    tracing::Span::current().record("business_id", id);
}

/// API.md's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// snake_case, one per refusal (API.md).
    code: &'a str,
    message: String,
    /// The offending field of a `400 invalid_request`, as a dotted path.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// The product an `out_of_stock` or `product_not_found` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<&'a str>,
}

/// A `401` as a client sees it: API Gateway's own body when its JWT authorizer refuses the
/// token, or the error body when a function finds the claims unusable. The functions only ever
/// write the second; the first is documented so the OpenAPI document describes the whole API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Unauthorized<'a> {
    Function(ErrorBody<'a>),
    Gateway { message: &'a str },
}

pub fn error_response(err: &ApiError) -> ApiResponse {
    let (status, code) = err.status_and_code();
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: err.public_message(),
            field: err.field(),
            product_id: err.product_id(),
        },
    };
    ApiResponse::json(status, &body)
}

/// What a `503 busy` asks a client to wait: contention clears in milliseconds to seconds.
pub const RETRY_AFTER_SECONDS: &str = "1";

fn to_http(r: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder()
        .status(r.status)
        .header("content-type", "application/json");
    if r.replayed {
        builder = builder.header("Idempotent-Replayed", "true");
    }
    if r.status == 503 {
        // Only contention and throttling answer 503: worth trying again (with the same key) soon.
        builder = builder.header("Retry-After", RETRY_AFTER_SECONDS);
    }
    builder
        .body(Body::Text(r.body))
        .expect("status and headers are valid")
}

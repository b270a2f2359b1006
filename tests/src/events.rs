//! API Gateway HTTP API (payload 2.0) events, built the way the gateway and its JWT authorizer
//! hand them to a function.

use serde_json::{json, Map, Value};

/// Claims a JWT authorizer would pass on.
#[derive(Debug, Clone)]
pub struct Identity(Map<String, Value>);

impl Identity {
    pub fn user(sub: &str) -> Self {
        let mut m = Map::new();
        m.insert("sub".into(), sub.into());
        Self(m)
    }

    /// An age-verified viewer.
    pub fn adult(sub: &str) -> Self {
        Self::user(sub).claim("age_verified", "true")
    }

    pub fn creator(sub: &str) -> Self {
        Self::adult(sub).claim("cognito:groups", "[creator]")
    }

    pub fn seller(sub: &str) -> Self {
        Self::adult(sub).claim("cognito:groups", "[seller]")
    }

    pub fn admin(sub: &str) -> Self {
        Self::adult(sub).claim("cognito:groups", "[admin]")
    }

    pub fn sub(&self) -> &str {
        self.0["sub"].as_str().unwrap_or_default()
    }

    pub fn claim(mut self, k: &str, v: &str) -> Self {
        self.0.insert(k.into(), v.into());
        self
    }
}

#[derive(Debug, Clone)]
pub struct Req {
    method: String,
    path: String,
    route_key: String,
    headers: Map<String, Value>,
    path_params: Map<String, Value>,
    query: Vec<(String, String)>,
    claims: Option<Identity>,
    body: Option<String>,
    /// The body is base64 (API Gateway's form for a body that is not UTF-8).
    base64: bool,
}

impl Req {
    pub fn new(method: &str, path: &str, route_key: &str) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            route_key: route_key.into(),
            headers: Map::new(),
            path_params: Map::new(),
            query: Vec::new(),
            claims: None,
            body: None,
            base64: false,
        }
    }

    pub fn post(path: &str, route_key: &str) -> Self {
        Self::new("POST", path, route_key)
    }

    pub fn get(path: &str, route_key: &str) -> Self {
        Self::new("GET", path, route_key)
    }

    pub fn identity(mut self, who: Identity) -> Self {
        self.claims = Some(who);
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.insert(k.to_lowercase(), v.into());
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("Idempotency-Key", key)
    }

    pub fn path_param(mut self, k: &str, v: &str) -> Self {
        self.path_params.insert(k.into(), v.into());
        self
    }

    /// A query string parameter (escaped in the raw query string, as the gateway does).
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.raw_body(&body.to_string())
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.into());
        self.headers
            .insert("content-type".into(), "application/json".into());
        self
    }

    /// Raw bytes as the body, any bytes, as API Gateway passes them: base64-encoded.
    pub fn bytes_body(mut self, body: &[u8]) -> Self {
        use base64::Engine;
        self.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
        self.base64 = true;
        self.headers
            .insert("content-type".into(), "application/json".into());
        self
    }

    pub fn event(&self) -> Value {
        let mut ctx = json!({
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "livepay-tests"},
            "requestId": ulid::Ulid::new().to_string(), "routeKey": self.route_key, "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0
        });
        if let Some(Identity(claims)) = &self.claims {
            ctx["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut event = json!({
            "version": "2.0", "routeKey": self.route_key, "rawPath": self.path, "rawQueryString": "",
            "headers": self.headers, "requestContext": ctx, "isBase64Encoded": self.base64
        });
        if !self.query.is_empty() {
            let raw = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.query)
                .finish();
            event["rawQueryString"] = raw.into();
            let params: Map<String, Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            event["queryStringParameters"] = Value::Object(params);
        }
        if !self.path_params.is_empty() {
            event["pathParameters"] = Value::Object(self.path_params.clone());
        }
        if let Some(b) = &self.body {
            event["body"] = b.clone().into();
        }
        event
    }

    pub fn into_request(self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event().to_string())
            .expect("a valid API Gateway v2 event")
    }
}

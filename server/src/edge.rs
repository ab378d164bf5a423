//! The edge every request passes before a handler sees it:
//!
//! * **Admission** — at most `max_in_flight` requests are served at once; up to `max_queued`
//!   more wait for a turn (at most `queue_wait_ms`), and the rest are answered 503 with
//!   `Retry-After` at once, so the latency of admitted requests stays bounded under overload.
//!   `/healthz`, `/readyz` and `/metrics` are never queued.
//! * **Bodies bounded before they cost** — each route has a body limit ([`body_limit`]): a
//!   declared `Content-Length` above it is refused (413) before a byte is read, and a body is
//!   read only up to it. The routes taking large files (uploads, roster files) also need a
//!   valid token before their body is read, and only a few of them are read at once.
//! * **Text without control characters** — the decoded path, every query parameter, every
//!   string (and key) of a JSON body and a plain-text body are checked with
//!   [`gradflow_engine::ident::is_forbidden_char`]; the first offence is answered 422
//!   `control_character` naming where it is, so both backends refuse the same input the same
//!   way (PostgreSQL would fail on NUL) and nothing invisible is stored.
//! * **A panic is an answer** — should a handler panic, the client gets the JSON 500 of
//!   `error.rs` and the connection stays up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gradflow_engine::form::FieldError;
use gradflow_engine::ident::{forbidden_char, forbidden_char_message};
use poem::http::{header, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::service::State;

/// A JSON or text body of an ordinary route.
pub const DEFAULT_BODY: usize = 256 << 10;
/// A roster batch as JSON, or the administrator's graduates.
pub const ROSTER_JSON_BODY: usize = 16 << 20;
/// A definition or overlay (YAML).
pub const DEFINITION_BODY: usize = 1 << 20;
/// A file: uploads and roster files (the documented 20 MB, plus room for nothing else).
pub const FILE_BODY: usize = 20 << 20;
/// Large bodies read at once (their memory is the limit times this).
const FILE_READERS: usize = 4;

/// How a route's body is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRule {
    pub limit: usize,
    /// A file route: needs a valid bearer token before the body is read, and takes one of
    /// the few file readers.
    pub file: bool,
    /// A file route reached by a link token in its path instead of a bearer token.
    pub link: bool,
}

/// The body rule of a route (by method and path, without the query).
pub fn body_limit(method: &Method, path: &str) -> BodyRule {
    let rule = |limit, file, link| BodyRule { limit, file, link };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&Method::POST, ["", "api", "v1", "uploads"])
        | (&Method::POST, ["", "api", "v1", "roster", "files"])
        | (&Method::POST, ["", "api", "v1", "flows", _, "imports"]) => rule(FILE_BODY, true, false),
        (&Method::POST, ["", "api", "v1", "links", _, "upload"]) => rule(FILE_BODY, true, true),
        (&Method::POST, ["", "api", "v1", "roster", "graduates"])
        | (&Method::POST, ["", "api", "v1", "admin", "schools", _, "graduates"]) => {
            rule(ROSTER_JSON_BODY, false, false)
        }
        (&Method::POST, ["", "api", "v1", "admin", "definitions"])
        | (&Method::PUT, ["", "api", "v1", "admin", "provinces", _, "overlays", _]) => {
            rule(DEFINITION_BODY, false, false)
        }
        _ => rule(DEFAULT_BODY, false, false),
    }
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{} KB", bytes >> 10)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("请求内容过大：此接口最多接受 {}", human(limit)),
    )
}

fn busy(message: &str) -> Response {
    let mut r =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    r
}

/// The place of the first forbidden character in a JSON value (`input.reason`, `rows[3]`).
fn json_offence(v: &Value, at: &mut String) -> Option<(usize, char)> {
    match v {
        Value::String(s) => forbidden_char(s),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("[{i}]"));
                if let Some(f) = json_offence(x, at) {
                    return Some(f);
                }
                at.truncate(len);
            }
            None
        }
        Value::Object(m) => {
            for (k, x) in m {
                let len = at.len();
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(k);
                if let Some(f) = forbidden_char(k).or_else(|| json_offence(x, at)) {
                    return Some(f);
                }
                at.truncate(len);
            }
            None
        }
        _ => None,
    }
}

fn offence(field: &str, (pos, c): (usize, char)) -> ApiError {
    let message = forbidden_char_message(pos, c);
    ApiError::invalid(vec![FieldError {
        field: field.to_string(),
        label: field.to_string(),
        code: "control_character".into(),
        message: format!("{field}：{message}"),
    }])
}

/// A control character in the request line: 400 like any other parameter that does not parse
/// (`invalid_path_parameter`, `invalid_parameter`), the field naming where.
fn uri_offence(code: &str, field: &str, at: (usize, char)) -> ApiError {
    let mut e = offence(field, at);
    e.status = poem::http::StatusCode::BAD_REQUEST;
    e.body.code = code.to_string();
    e
}

/// Checks the decoded path and every query parameter.
fn check_uri(req: &Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    if let Some(f) = forbidden_char(&String::from_utf8_lossy(&decoded)) {
        return Err(uri_offence("invalid_path_parameter", "path", f));
    }
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if let Some(f) = forbidden_char(&k).or_else(|| forbidden_char(&v)) {
                return Err(uri_offence("invalid_parameter", &k, f));
            }
        }
    }
    Ok(())
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (
            s[i],
            s.get(i + 1).copied().and_then(hex),
            s.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Checks a JSON or text body that was read whole.
/// Checks a body's text; a JSON body is returned parsed (for the check of its types).
fn check_body(content_type: &str, bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if content_type.starts_with("application/json") {
        // Unparsable JSON is the handler's to refuse, with its own message.
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            let mut at = String::new();
            if let Some(f) = json_offence(&v, &mut at) {
                return Err(offence(if at.is_empty() { "body" } else { &at }, f));
            }
            return Ok(Some(v));
        }
    } else if content_type.starts_with("text/") {
        if let Some(f) = forbidden_char(&String::from_utf8_lossy(bytes)) {
            return Err(offence("body", f));
        }
    }
    Ok(None)
}

/// The edge middleware (see the module documentation).
pub struct Edge {
    state: State,
    routes: Arc<crate::framework_errors::Routes>,
    in_flight: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    file_readers: Arc<Semaphore>,
}

impl Edge {
    /// `routes`: the served spec's (for the types of JSON bodies).
    pub fn new(state: State, routes: Arc<crate::framework_errors::Routes>) -> Edge {
        let in_flight = Arc::new(Semaphore::new(state.config.max_in_flight.max(1)));
        Edge {
            state,
            routes,
            in_flight,
            queued: Arc::new(AtomicUsize::new(0)),
            file_readers: Arc::new(Semaphore::new(FILE_READERS)),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            state: self.state.clone(),
            routes: self.routes.clone(),
            in_flight: self.in_flight.clone(),
            queued: self.queued.clone(),
            file_readers: self.file_readers.clone(),
        }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    state: State,
    routes: Arc<crate::framework_errors::Routes>,
    in_flight: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    file_readers: Arc<Semaphore>,
}

/// Counts a request waiting for a turn for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<E: Endpoint> EdgeEndpoint<E> {
    async fn admitted(&self, mut req: Request) -> poem::Result<Response> {
        check_uri(&req)?;
        let rule = body_limit(req.method(), req.uri().path());
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > rule.limit as u64) {
            return Err(too_large(rule.limit).into());
        }
        let mut _reader = None;
        if rule.file {
            if !rule.link {
                // The token is checked before a byte of the file is read.
                let bearer = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                self.state
                    .auth
                    .resolve(&self.state.db, bearer, self.state.clock.now())
                    .await?;
            }
            _reader = Some(
                self.file_readers
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(ApiError::internal)?,
            );
        }
        if declared != Some(0) && !matches!(*req.method(), Method::GET | Method::HEAD) {
            let body = req.take_body();
            let bytes = match body.into_bytes_limit(rule.limit).await {
                Ok(b) => b,
                Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                    return Err(too_large(rule.limit).into())
                }
                Err(e) => {
                    return Err(ApiError::bad_request(
                        "body_unreadable",
                        format!("请求内容读取失败：{e}"),
                    )
                    .into())
                }
            };
            if !rule.file {
                let ct = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if let Some(json) = check_body(&ct, &bytes)? {
                    // Text fields take strings only (poem-openapi would coerce `false`).
                    let route = req
                        .extensions()
                        .get::<crate::framework_errors::RouteId>()
                        .copied();
                    self.routes.check_body_types(route, req.method(), &json)?;
                }
            }
            req.set_body(Body::from(bytes));
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        crate::metrics::request(
            self.queued_call(req),
            |r: &poem::Result<Response>| match r {
                Ok(r) => r.status().as_u16(),
                Err(e) => e.status().as_u16(),
            },
        )
        .await
    }
}

impl<E: Endpoint> EdgeEndpoint<E> {
    /// Admission control: a free slot, or a short wait in a bounded queue, or 503.
    async fn queued_call(&self, req: Request) -> poem::Result<Response> {
        let permit = match self.in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::SeqCst) >= self.state.config.max_queued {
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    return Ok(busy("服务器繁忙，请稍后重试"));
                }
                let _waiting = Waiting(&self.queued);
                let wait = Duration::from_millis(self.state.config.queue_wait_ms);
                match tokio::time::timeout(wait, self.in_flight.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => return Ok(busy("服务器繁忙，请稍后重试")),
                }
            }
        };
        let res = self.admitted(req).await;
        drop(permit);
        res
    }
}

/// The answer to a panic in a handler: the JSON 500 of every internal error.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_have_their_limits() {
        let r = |m: Method, p: &str| body_limit(&m, p);
        assert_eq!(r(Method::POST, "/api/v1/uploads").limit, FILE_BODY);
        assert!(r(Method::POST, "/api/v1/uploads").file);
        assert!(r(Method::POST, "/api/v1/links/abc/upload").link);
        assert_eq!(r(Method::POST, "/api/v1/roster/files").limit, FILE_BODY);
        assert_eq!(
            r(Method::POST, "/api/v1/roster/graduates").limit,
            ROSTER_JSON_BODY
        );
        assert_eq!(
            r(Method::POST, "/api/v1/admin/schools/3/graduates").limit,
            ROSTER_JSON_BODY
        );
        assert_eq!(
            r(Method::POST, "/api/v1/admin/definitions").limit,
            DEFINITION_BODY
        );
        assert_eq!(
            r(Method::POST, "/api/v1/employers/register").limit,
            DEFAULT_BODY
        );
        assert!(!r(Method::POST, "/api/v1/employers/register").file);
        assert_eq!(r(Method::GET, "/api/v1/uploads").limit, DEFAULT_BODY);
    }

    #[test]
    fn json_offences_are_located() {
        let v: Value = serde_json::from_str(
            r#"{"input": {"ok": "张三", "list": ["a", "b\u0000"]}, "name": "x"}"#,
        )
        .unwrap();
        let mut at = String::new();
        assert_eq!(json_offence(&v, &mut at), Some((2, '\0')));
        assert_eq!(at, "input.list[1]");
        let v: Value = serde_json::from_str(r#"{"a\u202e": 1}"#).unwrap();
        let mut at = String::new();
        assert!(json_offence(&v, &mut at).is_some());
        let v: Value = serde_json::from_str(r#"{"reason": "第一行\n第二行\t。"}"#).unwrap();
        assert_eq!(json_offence(&v, &mut String::new()), None);
    }

    #[test]
    fn bodies_and_paths_are_checked() {
        let e = check_body("application/json", br#"{"username": "a\u0000"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.errors[0].field, "username");
        assert_eq!(e.body.errors[0].code, "control_character");
        assert!(check_body("text/plain; charset=utf-8", "key: a\u{85}".as_bytes()).is_err());
        assert!(check_body("application/json", b"{not json").is_ok());
        assert!(check_body("application/octet-stream", b"\0\0").is_ok());
        assert_eq!(percent_decode(b"/a%00b%zz%4"), b"/a\0b%zz%4".to_vec());
    }
}

//! Every request's id, its one access-log line, and every error in the one shape.
//!
//! The outermost layer of the app: each request gets an id — the caller's `X-Request-Id` when
//! it is a sane one (1–128 of `A–Z a–z 0–9 . _ : -`), else a new one — that every log line of
//! the request carries (a `request` span with `id`, `method`, `path`) and that the response
//! returns in `X-Request-Id`, so an operator finds a user's failed request from the id the
//! user's client shows. The line logged per request names the method, the path, the status
//! and the duration; never the query string (searches carry ID numbers and names) nor what
//! in the path is personal or secret: long digit runs (ID, candidate and mobile numbers) and
//! link tokens are masked ([`loggable_path`]).

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use crate::framework_errors;

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// The layer; `routes` are the served spec's (for the framework's errors).
pub struct Access {
    pub routes: Arc<framework_errors::Routes>,
}

impl<E: Endpoint> Middleware<E> for Access {
    type Output = AccessEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        AccessEndpoint {
            inner: ep,
            routes: self.routes.clone(),
        }
    }
}

pub struct AccessEndpoint<E> {
    inner: E,
    routes: Arc<framework_errors::Routes>,
}

/// The caller's request id, if it is one worth keeping.
fn given_id(req: &Request) -> Option<HeaderValue> {
    let v = req.headers().get(REQUEST_ID)?;
    let s = v.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| v.clone())
}

fn new_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
        .expect("a uuid is a header value")
}

impl<E: Endpoint> Endpoint for AccessEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = given_id(&req).unwrap_or_else(new_id);
        let span = tracing::info_span!(
            "request",
            id = %id.to_str().unwrap_or_default(),
            method = %req.method(),
            path = %loggable_path(req.uri().path()),
        );
        let start = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        // The spec's template, matched once: the layers inside read it from the request.
        let route = self.routes.find(&path);
        let out = match self.routes.check_query(route, &method, req.uri().query()) {
            Ok(()) => {
                let mut req = req;
                if let Some(r) = route {
                    req.extensions_mut().insert(r);
                }
                self.inner.call(req).instrument(span.clone()).await
            }
            Err(e) => Err(e.into()),
        };
        // The framework's refusals in the one error shape (`framework_errors`).
        let mut resp = match out {
            Ok(r) => framework_errors::reshape(&self.routes, r.into_response(), &method, &path),
            Err(e) => framework_errors::shape(&self.routes, route, e, &method, &path),
        };
        resp.headers_mut().insert(REQUEST_ID, id);
        let status = resp.status().as_u16();
        // By route: the spec's template, the service's own endpoints by name, the rest as one
        // (arbitrary paths must not grow the metric without bound).
        let name = match (route, path.as_str()) {
            (Some(r), _) => self.routes.name(r),
            (None, p @ ("/healthz" | "/readyz" | "/metrics" | "/openapi.json")) => p,
            (None, p) if p.starts_with("/docs") => "/docs",
            (None, _) => "other",
        };
        crate::metrics::route(method.as_str(), name, status);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!(status, ms = format_args!("{ms:.1}"), "answered");
            } else {
                tracing::info!(status, ms = format_args!("{ms:.1}"), "answered");
            }
        });
        Ok(resp)
    }
}

/// `path` with what may identify a person or open a door masked: runs of 11 or more digits
/// (an ID number's may end in `X`) and the segment after `links/` (a single-use link token).
pub fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut after_links = false;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if after_links && !seg.is_empty() {
            out.push('*');
        } else {
            mask_digits(seg, &mut out);
        }
        after_links = seg == "links";
    }
    out
}

fn mask_digits(seg: &str, out: &mut String) {
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j < b.len() && j > i && matches!(b[j], b'X' | b'x') {
            j += 1;
        }
        if j - i >= 11 {
            out.push('*');
            i = j;
        } else if j > i {
            out.push_str(&seg[i..j]);
            i = j;
        } else {
            let c = seg[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_ids_and_lose_what_is_personal() {
        assert_eq!(
            loggable_path("/api/v1/instances/42/actions/approve"),
            "/api/v1/instances/42/actions/approve"
        );
        assert_eq!(
            loggable_path("/api/v1/roster/graduates/26320102159999"),
            "/api/v1/roster/graduates/*"
        );
        assert_eq!(loggable_path("/x/32010220010505123X/y"), "/x/*/y");
        assert_eq!(loggable_path("/m13912345678"), "/m*");
        assert_eq!(
            loggable_path("/api/v1/links/abcDEF123secret/upload"),
            "/api/v1/links/*/upload"
        );
        assert_eq!(loggable_path("/中文/2026"), "/中文/2026");
    }
}

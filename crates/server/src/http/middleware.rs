//! Request-wide middleware: the lower-case `post` of the published curl samples, and
//! the request log and metrics (route template only: a raw path or query can carry
//! secrets, and would make the metric series unbounded).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::InternalCause;
use crate::observe::UNMATCHED;

/// The published samples send `curl -X post`. Methods are case-sensitive (RFC 9110
/// §9.1), but on the WireCash endpoints `post` is taken as `POST` (SPEC §2). Runs
/// before routing.
pub fn normalize_method(mut req: Request) -> Request {
    if req.method().as_str() == "post" {
        let path = req.uri().path();
        if path.ends_with("/authenticate") || path.ends_with("/token") {
            *req.method_mut() = Method::POST;
        }
    }
    req
}

/// Logs and counts each request once: method, route template, status, latency; and for
/// a 5xx its internal cause. Never the raw path, the query string, headers or bodies.
pub async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |m| m.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    crate::observe::request(&method, &route, status, elapsed);
    let micros = elapsed.as_micros();
    match response.extensions().get::<InternalCause>() {
        Some(cause) => {
            tracing::error!(%method, route, status, micros, cause = %cause.0, "request failed")
        }
        None => tracing::debug!(%method, route, status, micros, "request"),
    }
    response
}

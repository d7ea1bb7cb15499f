//! Request-wide middleware: the lower-case `post` of the published curl samples, and
//! the request log and metrics (route template only: a raw path or query can carry
//! secrets, and would make the metric series unbounded).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
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
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    crate::observe::request(&method, route, status, elapsed);
    let micros = elapsed.as_micros();
    match response.extensions().get::<InternalCause>() {
        // Overload (503) comes in floods — a login flood fills the hash queue and every
        // further login is refused at once — and one log line per refusal would make the
        // flood costlier to serve: at most one line per second, with the count.
        Some(cause) if status == 503 => {
            if let Some(suppressed) = OVERLOAD_LOG.admit() {
                tracing::warn!(%method, route, status, micros, cause = %cause.0, suppressed,
                               "request refused: overloaded (further ones this second are counted, not logged)")
            }
        }
        Some(cause) => {
            tracing::error!(%method, route, status, micros, cause = %cause.0, "request failed")
        }
        None => tracing::debug!(%method, route, status, micros, "request"),
    }
    response
}

/// Lets one log line through per second and counts the ones it holds back.
pub struct LogThrottle {
    /// The second (since the process's start) of the last line let through, plus one.
    last: AtomicU64,
    /// Lines held back since then.
    held: AtomicU64,
}

static OVERLOAD_LOG: LogThrottle = LogThrottle::new();

impl LogThrottle {
    /// A throttle that lets the first line through.
    pub const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back before this one)` if this line may be written now.
    pub fn admit(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != now
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for LogThrottle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_line_a_second_through_and_counts_the_rest() {
        let t = LogThrottle::new();
        assert_eq!(t.admit(), Some(0));
        let held = (0..1000).filter(|_| t.admit().is_none()).count();
        // Unless the second turned meanwhile, every further line was held back.
        assert!(held >= 999, "{held}");
    }
}

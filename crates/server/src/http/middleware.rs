//! Request-wide middleware: the lower-case `post` of the published curl samples, and
//! the request log and metrics (route template only: a raw path or query can carry
//! secrets, and would make the metric series unbounded).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

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
///
/// A plain tower layer inside the router (so that `MatchedPath` is set): unlike axum's
/// `from_fn`, it boxes no future and clones no inner service per request — this wraps
/// every request, the refresh hot path's included.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog { inner }
    }
}

/// The service of [`RequestLogLayer`].
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S> Service<Request> for RequestLog<S>
where
    S: Service<Request, Response = Response>,
    // axum's route futures are `Unpin` (a boxed future inside): polled in place, with no
    // pinning of our own.
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        Logged {
            inner: self.inner.call(req),
            started,
            method,
            route,
        }
    }
}

/// A request being answered, logged and counted once it has been.
#[derive(Debug)]
pub struct Logged<F> {
    inner: F,
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
}

impl<F, E> Future for Logged<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        if let Ok(response) = &result {
            let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            log_answer(&self.method, route, response, self.started.elapsed());
        }
        Poll::Ready(result)
    }
}

fn log_answer(method: &Method, route: &str, response: &Response, elapsed: Duration) {
    let status = response.status().as_u16();
    crate::observe::request(method, route, status, elapsed);
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

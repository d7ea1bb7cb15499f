//! The `Retry-After` of a 503 is enforced on the connection it was sent on, for the
//! routes that check passwords.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

/// Requests held because their connection ignored a 503's `Retry-After`, by `route`.
pub const HELD: &str = "wirecash_http_requests_held_total";

/// The routes the hold is enforced on (app.rs), each with a series from the start.
pub const ROUTES: [&str; 3] = [
    "/{env}/authenticate",
    "/{env}/oauth2/token",
    "/{env}/revoke",
];

/// The longest hold, whatever a `Retry-After` says.
const MAX_HOLD: Duration = Duration::from_secs(5);

/// One connection's hold: until when its next password check waits. Put into every
/// request of the connection by the accept loop.
#[derive(Debug, Clone, Default)]
pub struct ConnectionHold(Arc<Mutex<Option<Instant>>>);

impl ConnectionHold {
    /// A connection with no hold.
    pub fn new() -> Self {
        Self::default()
    }

    /// The end of the hold, if one is still running.
    fn until(&self) -> Option<Instant> {
        let held = self.0.lock().map_or(None, |g| *g);
        held.filter(|t| *t > Instant::now())
    }

    fn hold_for(&self, d: Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(Instant::now() + d.min(MAX_HOLD));
        }
    }
}

/// How long a 503 asked its client to wait (`Retry-After` in seconds; 1 s if absent
/// or not a number of seconds).
fn retry_after(response: &Response) -> Duration {
    let secs = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs)
}

/// The `Retry-After` of a 503 is enforced on the connection it was sent on, for the
/// routes that check passwords.
///
/// When the Argon2 pool is busy and its queue full, a login is refused with 503 and
/// `Retry-After: 1` at once (it costs no store lookup and no hash); so is one that finds
/// the store away. A client that waits as told never notices what follows. One that does not — a login flood comes from
/// loops that send the next guess the moment the last answer arrives — would otherwise
/// get refusal after refusal as fast as the server can write them, and serving that
/// stream of cheap refusals is itself what slows every other request down. So the
/// next password-checking request on that connection is held, without work and without
/// taking a place anywhere, until the `Retry-After` it was given has passed; then it is
/// handled like any other. Requests on other routes (a refresh on the same connection)
/// are not held. The state is per connection, so it is bounded by the connection cap and
/// ends with the connection; a client that opens a new connection for each guess pays a
/// TCP handshake each time and meets the connection cap and the per-address limits.
///
/// Middleware of the password-checking routes: waits out the connection's hold, and
/// starts one when the answer is a 503.
pub async fn enforce_retry_after(req: Request, next: Next) -> Response {
    let hold = req.extensions().get::<ConnectionHold>().cloned();
    if let Some(until) = hold.as_ref().and_then(ConnectionHold::until) {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or_else(String::new, |m| m.as_str().to_string());
        metrics::counter!(HELD, "route" => route).increment(1);
        tokio::time::sleep_until(until).await;
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && let Some(hold) = hold
    {
        hold.hold_for(retry_after(&response));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use tower::ServiceExt as _;

    fn answer(status: StatusCode, retry: Option<&'static str>) -> Response {
        let mut r = status.into_response();
        if let Some(v) = retry {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(v));
        }
        r
    }

    #[test]
    fn the_hold_is_the_retry_after_of_the_answer_capped() {
        let d = |retry| retry_after(&answer(StatusCode::SERVICE_UNAVAILABLE, retry));
        assert_eq!(d(Some("1")), Duration::from_secs(1));
        assert_eq!(d(Some("3")), Duration::from_secs(3));
        // Absent or an HTTP date: one second.
        assert_eq!(d(None), Duration::from_secs(1));
        assert_eq!(
            d(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
        let hold = ConnectionHold::new();
        hold.hold_for(Duration::from_secs(3600));
        let left = hold.until().map(|t| t - Instant::now());
        assert!(left.is_some_and(|l| l <= MAX_HOLD), "{left:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_503_the_next_request_of_the_connection_waits_out_its_retry_after() {
        let status = Arc::new(Mutex::new(StatusCode::SERVICE_UNAVAILABLE));
        let s = Arc::clone(&status);
        let app = Router::new()
            .route(
                "/login",
                post(move || {
                    let s = Arc::clone(&s);
                    async move {
                        let code = *s.lock().unwrap();
                        answer(code, Some("1"))
                    }
                }),
            )
            .layer(axum::middleware::from_fn(enforce_retry_after));
        let hold = ConnectionHold::new();
        let call = |hold: Option<ConnectionHold>| {
            let app = app.clone();
            async move {
                let mut req = Request::post("/login").body(Body::empty()).unwrap();
                if let Some(h) = hold {
                    req.extensions_mut().insert(h);
                }
                let started = Instant::now();
                let r = app.oneshot(req).await.unwrap();
                (r.status(), started.elapsed())
            }
        };
        // The first 503 comes at once.
        let (code, took) = call(Some(hold.clone())).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(took, Duration::ZERO);
        // The same connection's next request waits the second it was told to wait…
        *status.lock().unwrap() = StatusCode::OK;
        let (code, took) = call(Some(hold.clone())).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(took, Duration::from_secs(1));
        // …and, the answer being a 200, the one after it does not.
        let (_, took) = call(Some(hold.clone())).await;
        assert_eq!(took, Duration::ZERO);
        // Another connection was never held.
        *status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
        call(Some(hold.clone())).await;
        let (_, took) = call(Some(ConnectionHold::new())).await;
        assert_eq!(took, Duration::ZERO);
        // A request without a connection (in-process calls) is never held.
        let (_, took) = call(None).await;
        assert_eq!(took, Duration::ZERO);
    }
}

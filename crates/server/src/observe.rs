//! Prometheus metrics: the process-wide recorder behind the `metrics` facade (installed
//! once; every metric of the core and the server goes to it), the HTTP request metrics,
//! and the text exposition served by `GET /metrics`. Names and labels: docs/metrics.md.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests by `method`, `route` (the template, e.g. `/{env}/token`) and `status`.
pub const HTTP_REQUESTS: &str = "wirecash_http_requests_total";
/// Request latency by `method` and `route`, from the router to the response head.
pub const HTTP_DURATION: &str = "wirecash_http_request_duration_seconds";
/// Always 1, with the `version` of the running binary.
pub const BUILD_INFO: &str = "wirecash_build_info";

/// The route label of requests that matched no route (never the raw path: it is chosen
/// by the client, so it could carry secrets or grow the series without bound).
pub const UNMATCHED: &str = "unmatched";

/// Histogram buckets (seconds): from a cached refresh (sub-millisecond) to an Argon2
/// check under load (a second or more) and a timed-out store call (5 s).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histograms are compacted and idle series looked after.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle of the process's Prometheus recorder, installing it on first use. The
/// recorder is process-global (the `metrics` facade has one), so servers started in one
/// process — as in-process tests do — share it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(BUCKETS) {
                Ok(b) => b,
                // Only an empty bucket list is refused; without buckets histograms are
                // rendered as summaries, still usable.
                Err(e) => {
                    tracing::warn!(error = %e, "metric histogram buckets refused");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template"
    );
    describe_counter!(
        crate::http::hold::HELD,
        "Password-checking requests held until the Retry-After of their connection's 503"
    );
    for route in crate::http::hold::ROUTES {
        counter!(crate::http::hold::HELD, "route" => route).absolute(0);
    }
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome: delivered, retrying, failed"
    );
    describe_histogram!(
        WEBHOOK_DURATION,
        Unit::Seconds,
        "Webhook delivery attempt latency, from resolving to the response"
    );
    metrics::describe_gauge!(
        WEBHOOK_BREAKERS,
        "Webhook subscriptions whose circuit breaker is open on this node"
    );
    for outcome in ["delivered", "retrying", "failed"] {
        counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(WEBHOOK_BREAKERS).set(0.0);
    metrics::describe_gauge!(BUILD_INFO, "Always 1, labelled with the version");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    wirecash_core::metrics::describe();
}

/// Webhook delivery attempts.
pub const WEBHOOK_ATTEMPTS: &str = "wirecash_webhook_attempts_total";
/// Their latency.
pub const WEBHOOK_DURATION: &str = "wirecash_webhook_attempt_duration_seconds";
/// Open circuit breakers.
pub const WEBHOOK_BREAKERS: &str = "wirecash_webhook_breakers_open";

/// Records one webhook delivery attempt.
pub fn webhook_attempt(outcome: &wirecash_core::store::DeliveryOutcome, took: Duration) {
    use wirecash_core::store::DeliveryOutcome as O;
    let outcome = match outcome {
        O::Delivered { .. } => "delivered",
        O::Retry { .. } => "retrying",
        O::Failed { .. } => "failed",
    };
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(WEBHOOK_DURATION).record(took.as_secs_f64());
}

/// A subscription's breaker opened (`true`) or closed.
pub fn webhook_breaker(opened: bool) {
    let g = metrics::gauge!(WEBHOOK_BREAKERS);
    if opened {
        g.increment(1.0);
    } else {
        g.decrement(1.0);
    }
}

/// Compacts histograms now and then, so that memory stays bounded between scrapes.
pub async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// The method as a label: the standard ones by name, anything else (methods are
/// client-chosen tokens) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Records one answered request.
pub fn request(method: &Method, route: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let seconds = elapsed.as_secs_f64();
    if let Some((count, latency)) = series(method, route, status) {
        count.increment(1);
        latency.record(seconds);
        return;
    }
    let route = route.to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(seconds);
}

/// A request series' key: method label, route template, status.
type SeriesKey = (&'static str, &'static str, u16);

/// The handles of every request series seen, resolved once (a labelled macro call
/// allocates its labels and looks the key up in the registry on every request). Bounded
/// like the series themselves: fixed methods, the router's templates, status codes.
static SERIES: OnceLock<RwLock<HashMap<SeriesKey, (Counter, Histogram)>>> = OnceLock::new();
/// The route templates seen, kept for the process's life (a fixed, small set).
static ROUTES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// The kept handles of a series, made on first use; `None` before the recorder is
/// installed (they would be no-ops for good) or if a lock was poisoned.
fn series(method: &'static str, route: &str, status: u16) -> Option<(Counter, Histogram)> {
    HANDLE.get()?;
    let map = SERIES.get_or_init(|| RwLock::new(HashMap::new()));
    let route = intern(route)?;
    let key = (method, route, status);
    if let Some(found) = map.read().ok()?.get(&key) {
        return Some(found.clone());
    }
    let made = (
        counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status.to_string()),
        histogram!(HTTP_DURATION, "method" => method, "route" => route),
    );
    map.write().ok()?.entry(key).or_insert(made);
    map.read().ok()?.get(&key).cloned()
}

/// `route` as a `'static` string: one of the router's templates or `UNMATCHED` (the
/// only values the request log passes), stored once each.
fn intern(route: &str) -> Option<&'static str> {
    if let Some(r) = ROUTES.read().ok()?.iter().find(|r| **r == route) {
        return Some(r);
    }
    let mut routes = ROUTES.write().ok()?;
    if let Some(r) = routes.iter().find(|r| **r == route) {
        return Some(r);
    }
    let r: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.push(r);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_label(&odd), "other");
    }
}

//! The router: the only place that lists routes.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use wirecash_core::AuthService;

use crate::http::{self, docs, hold, middleware, oauth, ops, tokens};

/// Shared state of every handler: one reference count to take per extractor that
/// reads it (several per request), not one per part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state of a router made of `parts`.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What the handlers share.
pub struct AppParts {
    /// The token service.
    pub service: Arc<AuthService>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Per-address request rate limits.
    pub rate_limits: Arc<crate::http::ratelimit::RateLimits>,
    /// The process's metrics, rendered by `GET /metrics`.
    pub metrics: PrometheusHandle,
    /// The OpenAPI document served by `GET /openapi.json`, serialized once.
    pub openapi: Bytes,
}

/// The public application as `serve` runs it: the routes of [`router`] behind
/// `normalize_method`.
pub type App =
    tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request>;

/// The public application made of `parts`, as `serve` hands it each request (and the
/// bench's in-process floor does).
pub fn app(parts: AppParts) -> App {
    // A plain function before routing: tower's `MapRequest` boxes nothing (axum's
    // `map_request` boxes a future per request).
    let normalize: fn(axum::extract::Request) -> axum::extract::Request =
        middleware::normalize_method;
    tower::util::MapRequest::new(router(AppState::new(parts)), normalize)
}

/// Builds the application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::page))
        .route(docs::INIT_JS, get(docs::init))
        .route(docs::SCALAR_JS, get(docs::scalar))
        // The routes that check passwords: a connection that was told to retry later
        // (503) is held until then (see http/hold.rs).
        .route(
            "/{env}/authenticate",
            post(tokens::authenticate).layer(from_fn(hold::enforce_retry_after)),
        )
        .route("/{env}/token", post(tokens::token))
        .route("/{env}/.well-known/jwks.json", get(oauth::jwks))
        .route(
            "/{env}/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/{env}",
            get(oauth::metadata),
        )
        .route(
            "/{env}/oauth2/token",
            post(oauth::token).layer(from_fn(hold::enforce_retry_after)),
        )
        .route(
            "/{env}/revoke",
            post(oauth::revoke).layer(from_fn(hold::enforce_retry_after)),
        )
        .route("/{env}/introspect", post(oauth::introspect))
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(middleware::RequestLogLayer)
        .with_state(state)
}

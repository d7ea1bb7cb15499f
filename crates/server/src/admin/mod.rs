//! The operator plane (SPEC §11): the admin API under `/admin/v1` and the console under
//! `/console`, served on their own listener (`admin_listen`) and nowhere else.

pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod page;
pub mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use wirecash_core::AuthService;

use crate::http;

/// Shared state of the admin handlers.
#[derive(Clone)]
pub struct AdminState {
    /// The token service (its store, clock, policy and admin secrets).
    pub service: Arc<AuthService>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Failed admin keys per address.
    pub guard: Arc<auth::KeyGuard>,
    /// `GET /admin/v1/openapi.json`, serialized once.
    pub openapi: Bytes,
    /// How webhooks are delivered (new subscriptions are checked against it).
    pub webhook: Arc<crate::webhooks::Settings>,
    /// The listener serves TLS: the console's cookies get `Secure` and `__Host-`.
    pub secure_cookies: bool,
}

/// The admin listener's routes: the admin API and `/healthz`, nothing of the public API.
pub fn router(state: AdminState) -> Router {
    use api::*;
    Router::new()
        .route("/healthz", get(crate::http::ops::healthz))
        .route("/admin/v1/openapi.json", get(openapi::serve))
        .route("/admin/docs", get(crate::http::docs::admin_page))
        .route(
            crate::http::docs::ADMIN_INIT_JS,
            get(crate::http::docs::admin_init),
        )
        .route(
            crate::http::docs::ADMIN_SCALAR_JS,
            get(crate::http::docs::scalar),
        )
        .route("/admin/v1/environments", get(environments))
        .route("/admin/v1/{env}/users", get(list_users).post(create_user))
        .route(
            "/admin/v1/{env}/users/{username}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route(
            "/admin/v1/{env}/users/{username}/credentials",
            post(rotate_credentials),
        )
        .route(
            "/admin/v1/{env}/users/{username}/sessions",
            get(list_sessions).delete(revoke_user_sessions),
        )
        .route("/admin/v1/{env}/sessions", get(list_env_sessions))
        .route("/admin/v1/{env}/sessions/{id}", delete(revoke_session))
        .route(
            "/admin/v1/{env}/sessions/revoke-all",
            post(revoke_all_sessions),
        )
        .route("/admin/v1/{env}/keys", get(list_keys))
        .route("/admin/v1/{env}/keys/rotate", post(rotate_key))
        .route("/admin/v1/{env}/events", get(list_events))
        .route(
            "/admin/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/admin/v1/webhooks/{id}",
            axum::routing::patch(webhooks::patch).delete(webhooks::delete),
        )
        .route(
            "/admin/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/admin/v1/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/admin/v1/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/admin/v1/webhooks/{id}/deliveries/{event_id}/resend",
            post(webhooks::resend),
        )
        .merge(console::routes())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(DefaultBodyLimit::max(crate::http::extract::MAX_BODY))
        .layer(crate::http::middleware::RequestLogLayer)
        .with_state(state)
}

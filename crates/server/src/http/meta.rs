//! Health, readiness, JWKS and the JSON answers for unknown paths and methods.

use crate::openapi::{Status, Unready};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;
use wirecash_proto::ErrorBody;

/// `GET /healthz`: the process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    operation_id = "healthz",
    summary = "Liveness: the process is alive",
    responses((status = 200, description = "Alive", body = crate::openapi::Status)),
)]
pub async fn healthz() -> Response {
    Json(Status { status: "ok" }).into_response()
}

/// `GET /readyz`: storage answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    operation_id = "readyz",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::Status),
        (status = 503, description = "Storage is not reachable", body = crate::openapi::Unready),
    ),
)]
pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.service.ready().await {
        Ok(()) => Json(Status { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Unready {
                    status: "unavailable",
                    error: "temporarily_unavailable",
                    error_description: "storage is not reachable",
                }),
            )
                .into_response()
        }
    }
}

/// How long verifiers may cache the JWKS (its `Cache-Control: max-age`); the start-up
/// check of `tokens.key_activation_delay` counts on it.
pub const JWKS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);
/// `Cache-Control` of the JWKS: `max-age` is `JWKS_MAX_AGE` (a unit test checks).
const JWKS_CACHE_CONTROL: &str = "public, max-age=30";

/// `GET /{env}/.well-known/jwks.json` (RFC 7517).
#[utoipa::path(
    get,
    path = "/{env}/.well-known/jwks.json",
    tag = "Standards",
    operation_id = "jwks",
    summary = "The environment's public signing keys (RFC 7517)",
    params(crate::openapi::EnvPath),
    responses(
        (status = 200, description = "The key set", body = crate::openapi::JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=30`"))),
        (status = 404, description = "Unknown environment", body = ErrorBody),
    ),
)]
pub async fn jwks(State(app): State<AppState>, Env(env): Env) -> Result<Response, ApiError> {
    let set = app.service.jwks(&env)?;
    let mut response = Json(set).into_response();
    // Short enough that a verifier sees a new key well before it starts signing
    // (key_activation_delay, 60 s by default).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(JWKS_CACHE_CONTROL),
    );
    Ok(response)
}

/// Unknown path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_jwks_cache_control_says_jwks_max_age() {
        assert_eq!(
            super::JWKS_CACHE_CONTROL,
            format!("public, max-age={}", super::JWKS_MAX_AGE.as_secs())
        );
    }
}

//! `GET /{env}/.well-known/jwks.json` (RFC 7517): the public keys verifiers check
//! access tokens with.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wirecash_proto::ErrorBody;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;

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
    params(Env),
    responses(
        (status = 200, description = "The key set", body = wirecash_proto::JwkSet,
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

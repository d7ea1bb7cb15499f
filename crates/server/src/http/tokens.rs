//! `POST /{env}/authenticate` and `POST /{env}/token`: the WireCash endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wirecash_core::TokenGrant;
use wirecash_core::validate::{MAX_ACCESS_TOKEN, MAX_PASSWORD, MAX_USERNAME};
use wirecash_proto::AuthenticateResponse;
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{Env, JsonObject};
use crate::http::ratelimit::{AuthenticateQuota, TokenQuota};

/// Longest refresh token taken as a token at all (real ones are 66 characters and
/// anything else is `invalid_grant`); beyond this it is a malformed request.
const MAX_REFRESH_TOKEN: usize = MAX_ACCESS_TOKEN;

/// Tokens in a body that must never be cached (RFC 6749 §5.1).
fn token_response(grant: TokenGrant) -> Response {
    let body = AuthenticateResponse {
        access_token: grant.access_token,
        expires_in: grant.expires_in,
        refresh_token: grant.refresh_token,
        token_type: "Bearer".to_string(),
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Exchanges a username and password for an access and a refresh token.
pub async fn authenticate(
    State(app): State<AppState>,
    Env(env): Env,
    AuthenticateQuota(client): AuthenticateQuota,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let username = body.required_str("username", MAX_USERNAME)?;
    let password = Zeroizing::new(body.required_str("password", MAX_PASSWORD)?.to_string());
    let grant = app
        .service
        .authenticate(&env, username, password, client)
        .await?;
    Ok(token_response(grant))
}

/// Rotates the refresh token: new access token, new refresh token.
pub async fn token(
    State(app): State<AppState>,
    Env(env): Env,
    TokenQuota(_): TokenQuota,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let username = body.required_str("username", MAX_USERNAME)?;
    let access_token = body.required_str("access_token", MAX_ACCESS_TOKEN)?;
    let refresh_token = body.required_str("refresh_token", MAX_REFRESH_TOKEN)?;
    let grant = app
        .service
        .refresh(&env, username, access_token, refresh_token)
        .await?;
    Ok(token_response(grant))
}

//! `POST /{env}/authenticate` and `POST /{env}/token`: the WireCash endpoints.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wirecash_core::TokenGrant;
use wirecash_core::validate::{MAX_ACCESS_TOKEN, MAX_PASSWORD, MAX_USERNAME};
use wirecash_proto::{AuthenticateRequest, AuthenticateResponse, ErrorBody, RefreshTokenRequest};
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{Env, Fields, JsonBody};
use crate::http::ratelimit::{AuthenticateQuota, TokenQuota};

/// Longest refresh token taken as a token at all (real ones are 66 characters and
/// anything else is `invalid_grant`); beyond this it is a malformed request.
const MAX_REFRESH_TOKEN: usize = MAX_ACCESS_TOKEN;

/// The published `AuthenticateResponse`, serialized from borrowed fields (same names,
/// same order, so the same bytes).
#[derive(serde::Serialize)]
struct GrantBody<'a> {
    access_token: &'a str,
    expires_in: u64,
    refresh_token: &'a str,
    token_type: &'static str,
}

/// Tokens in a body that must never be cached (RFC 6749 §5.1), written into one buffer
/// of the right size (this answers every login and refresh).
fn token_response(grant: TokenGrant) -> Response {
    let body = GrantBody {
        access_token: &grant.access_token,
        expires_in: grant.expires_in,
        refresh_token: &grant.refresh_token,
        token_type: "Bearer",
    };
    let mut bytes = Vec::with_capacity(grant.access_token.len() + grant.refresh_token.len() + 96);
    if let Err(e) = serde_json::to_writer(&mut bytes, &body) {
        // Strings and a number into a Vec: cannot fail, but never a panic.
        return ApiError::Internal(format!("cannot write the token answer: {e}")).into_response();
    }
    let mut response = Response::new(axum::body::Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    crate::http::no_store(response)
}

/// The error answers both WireCash endpoints share, for their OpenAPI entries (each
/// lists its own 429 and 503 beside these).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
enum JsonErrors {
    #[response(status = 400, description = "Invalid data provided")]
    Invalid(ErrorBody),
    #[response(status = 404, description = "Unknown environment")]
    NotFound(ErrorBody),
    #[response(status = 408, description = "The request body did not arrive in time")]
    BodyTimeout(ErrorBody),
    #[response(status = 413, description = "The request body is larger than 16 KiB")]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "The body is not sent as `application/json`"
    )]
    NotJson(ErrorBody),
    #[response(status = 500, description = "Internal server error")]
    Internal(ErrorBody),
}

/// Exchanges a username and password for an access and a refresh token.
#[utoipa::path(
    post,
    path = "/{env}/authenticate",
    tag = "WireCash",
    operation_id = "authenticate",
    summary = "Authenticate",
    description = "Used to obtain an `access_token` and a `refresh_token` with the API user's \
        username and password. The request must be placed in the body in JSON format. \
        A wrong username, a wrong password and a disabled user get one and the same answer.",
    params(Env),
    request_body(
        content = AuthenticateRequest,
        content_type = "application/json",
        description = "AuthenticateRequest object in json format",
    ),
    responses(
        (status = 200, description = "Successful response", body = AuthenticateResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        JsonErrors,
        (status = 429, description = "Too many failed logins or requests", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Temporarily unavailable (storage unreachable, or too \
            many password checks queued)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub async fn authenticate(
    State(app): State<AppState>,
    Env(env): Env,
    AuthenticateQuota(client): AuthenticateQuota,
    JsonBody(bytes): JsonBody,
) -> Result<Response, ApiError> {
    let body = Fields::parse(&bytes, ["username", "password"])?;
    let username = body.required_str("username", MAX_USERNAME)?;
    let password = Zeroizing::new(body.required_str("password", MAX_PASSWORD)?.to_string());
    let grant = app
        .service
        .authenticate(&env, username, password, client)
        .await?;
    Ok(token_response(grant))
}

/// Rotates the refresh token: new access token, new refresh token.
#[utoipa::path(
    post,
    path = "/{env}/token",
    tag = "WireCash",
    operation_id = "refreshToken",
    summary = "Refresh the access token",
    description = "Used to refresh the `access_token`. The request must be placed in the body \
        in JSON format.",
    params(Env),
    request_body(
        content = RefreshTokenRequest,
        content_type = "application/json",
        description = "RefreshTokenRequest object in json format",
    ),
    responses(
        (status = 200, description = "Successful response", body = AuthenticateResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        JsonErrors,
        (status = 429, description = "Too many requests from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Temporarily unavailable (storage unreachable)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub async fn token(
    State(app): State<AppState>,
    Env(env): Env,
    TokenQuota(_): TokenQuota,
    JsonBody(bytes): JsonBody,
) -> Result<Response, ApiError> {
    let body = Fields::parse(&bytes, ["username", "access_token", "refresh_token"])?;
    let username = body.required_str("username", MAX_USERNAME)?;
    let access_token = body.required_str("access_token", MAX_ACCESS_TOKEN)?;
    let refresh_token = body.required_str("refresh_token", MAX_REFRESH_TOKEN)?;
    let grant = app
        .service
        .refresh(&env, username, access_token, refresh_token)
        .await?;
    Ok(token_response(grant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_answer_is_the_published_response_byte_for_byte() {
        let grant = TokenGrant {
            access_token: "eyJ.a\"b\\c.sig".into(),
            expires_in: 900,
            refresh_token: "wc1_r/é".into(),
        };
        let published = AuthenticateResponse {
            access_token: grant.access_token.clone(),
            expires_in: grant.expires_in,
            refresh_token: grant.refresh_token.clone(),
            token_type: "Bearer".into(),
        };
        let Ok(expected) = serde_json::to_vec(&published) else {
            panic!("serializes")
        };
        let body = GrantBody {
            access_token: &grant.access_token,
            expires_in: grant.expires_in,
            refresh_token: &grant.refresh_token,
            token_type: "Bearer",
        };
        assert_eq!(serde_json::to_vec(&body).ok(), Some(expected));
        let response = token_response(grant);
        let headers: Vec<_> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type".to_string(), "application/json".to_string()),
                ("cache-control".into(), "no-store".into()),
                ("pragma".into(), "no-cache".into()),
            ]
        );
    }
}

//! `POST /{env}/introspect` (RFC 7662) and its answer.

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;
use crate::http::form::OAuthRequest;
use crate::http::no_store;
use crate::http::ratelimit::TokenQuota;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wirecash_core::service::{ActiveToken, TokenKind};
use wirecash_proto::ErrorBody;

use super::{FormErrors, TokenHintForm};

/// RFC 7662 §2.2 answer: `{"active": false}` alone for a token that is not active.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is active.
    pub active: bool,
    /// `Bearer` for access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_kind: Option<&'static str>,
    /// The client the token was issued to (the API user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The API user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Stable user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Token id (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl IntrospectionResponse {
    fn inactive() -> Self {
        Self {
            active: false,
            token_type: None,
            token_kind: None,
            client_id: None,
            username: None,
            sub: None,
            exp: None,
            iat: None,
            iss: None,
            aud: None,
            jti: None,
            sid: None,
            env: None,
        }
    }

    fn active(t: ActiveToken) -> Self {
        let access = t.kind == TokenKind::Access;
        Self {
            active: true,
            token_type: access.then_some("Bearer"),
            token_kind: Some(t.kind.as_str()),
            client_id: Some(t.username.clone()),
            username: Some(t.username),
            sub: Some(t.sub),
            exp: Some(t.exp),
            iat: Some(t.iat),
            aud: access.then(|| t.iss.clone()),
            iss: Some(t.iss),
            jti: t.jti,
            sid: Some(t.sid.to_string()),
            env: Some(t.env),
        }
    }
}

/// `POST /{env}/introspect` (RFC 7662), for resource servers with introspection
/// credentials (`wirecash-auth introspector add`).
#[utoipa::path(
    post,
    path = "/{env}/introspect",
    tag = "Standards",
    operation_id = "introspectToken",
    summary = "Token introspection (RFC 7662)",
    description = "For resource servers with introspector credentials (`wirecash-auth \
        introspector add`), in HTTP Basic or form fields.",
    params(Env),
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Whether the token is active, and its claims", body = IntrospectionResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_client: missing or wrong introspector credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=...`"))),
        (status = 429, description = "Too many requests", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        FormErrors,
    ),
)]
pub async fn introspect(
    State(app): State<AppState>,
    Env(env): Env,
    TokenQuota(_): TokenQuota,
    OAuthRequest { form, basic }: OAuthRequest,
) -> Result<Response, ApiError> {
    const REFUSED: &str = "introspection needs the credentials of an introspector \
                           (wirecash-auth introspector add), in HTTP Basic or form fields";
    let (token, client) = TokenHintForm::read(&form, basic)?;
    let Some(c) = client else {
        return Err(ApiError::InvalidClient(REFUSED));
    };
    if !app
        .service
        .authenticate_introspector(&env, &c.id, &c.secret)
        .await?
    {
        return Err(ApiError::InvalidClient(REFUSED));
    }
    let answer = match app.service.introspect(&env, token).await? {
        Some(active) => IntrospectionResponse::active(active),
        None => IntrospectionResponse::inactive(),
    };
    Ok(no_store(Json(answer).into_response()))
}

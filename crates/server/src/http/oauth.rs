//! The standard OAuth 2.0 surface (SPEC §4), so that generic client libraries and
//! resource servers work unchanged: RFC 8414 metadata, the RFC 6749 token endpoint with
//! the `client_credentials`, `password` and `refresh_token` grants, RFC 7009 revocation
//! and RFC 7662 introspection. Same service, same rules, same tokens as the WireCash
//! endpoints; only the encoding differs (form bodies, client authentication).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wirecash_core::TokenGrant;
use wirecash_core::service::{ActiveToken, TokenKind};
use wirecash_core::validate::{MAX_ACCESS_TOKEN, MAX_PASSWORD, MAX_USERNAME};
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;
use crate::http::form::OAuthRequest;
use crate::http::no_store;
use crate::http::ratelimit::{AuthenticateQuota, TokenQuota};
use crate::openapi::EnvPath;
use wirecash_core::service::ClientSecret;
use wirecash_proto::ErrorBody;

/// The error answers the three form endpoints share, for their OpenAPI entries (each
/// lists its own 400, 401 and 429 beside these).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only
enum FormErrors {
    #[response(status = 404, description = "Unknown environment")]
    NotFound(ErrorBody),
    #[response(status = 408, description = "The request body did not arrive in time")]
    BodyTimeout(ErrorBody),
    #[response(status = 413, description = "The request body is larger than 16 KiB")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not form-encoded")]
    NotForm(ErrorBody),
    #[response(status = 500, description = "Internal server error")]
    Internal(ErrorBody),
    #[response(status = 503, description = "Temporarily unavailable",
        headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(ErrorBody),
}

/// The form of `POST /{env}/oauth2/token` (documentation of what the handler reads).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
pub struct TokenForm {
    /// `client_credentials`, `password` or `refresh_token`.
    #[schema(example = "client_credentials")]
    grant_type: String,
    /// `password` grant: the API user's username.
    #[schema(required = false)]
    username: String,
    /// `password` grant: the API user's password.
    #[schema(required = false)]
    password: String,
    /// `refresh_token` grant: the refresh token.
    #[schema(required = false)]
    refresh_token: String,
    /// Client authentication in the body (`client_secret_post`): the username.
    #[schema(required = false)]
    client_id: String,
    /// Client authentication in the body: the password.
    #[schema(required = false)]
    client_secret: String,
}

/// The form of `POST /{env}/revoke` and `POST /{env}/introspect`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
pub struct TokenHintForm {
    /// The token (refresh or access token).
    token: String,
    /// `refresh_token` or `access_token` (optional; the token's format decides).
    #[schema(required = false)]
    token_type_hint: String,
    /// Client authentication in the body (`client_secret_post`).
    #[schema(required = false)]
    client_id: String,
    /// Client authentication in the body.
    #[schema(required = false)]
    client_secret: String,
}

/// Client authentication methods of every endpoint here (RFC 8414 names).
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
/// Longest token taken from a form (longer is a malformed request).
const MAX_TOKEN: usize = MAX_ACCESS_TOKEN;
/// What a client gets without (valid) credentials.
const CLIENT_AUTH_REQUIRED: &str = "client authentication failed: send the API username and password as client_id and \
     client_secret (HTTP Basic or form fields)";

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthTokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token (not for `client_credentials`, RFC 6749 §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn token_response(
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
) -> Response {
    no_store(
        Json(OAuthTokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
        })
        .into_response(),
    )
}

fn grant_response(grant: TokenGrant) -> Response {
    token_response(
        grant.access_token,
        grant.expires_in,
        Some(grant.refresh_token),
    )
}

/// Client credentials that can be an API user's username and password at all.
fn api_user_credentials(client: Option<ClientSecret>) -> Result<ClientSecret, ApiError> {
    match client {
        Some(c)
            if c.id.len() <= MAX_USERNAME
                && !c.secret.is_empty()
                && c.secret.len() <= MAX_PASSWORD =>
        {
            Ok(c)
        }
        _ => Err(ApiError::InvalidClient(CLIENT_AUTH_REQUIRED)),
    }
}

/// `POST /{env}/oauth2/token` (RFC 6749 §3.2).
#[utoipa::path(
    post,
    path = "/{env}/oauth2/token",
    tag = "Standards",
    operation_id = "oauth2Token",
    summary = "OAuth 2.0 token endpoint (RFC 6749)",
    description = "Form-encoded grants `client_credentials` (access token only), `password` and \
        `refresh_token`. Client authentication: the API user's username and password as \
        client id and secret, in HTTP Basic (form-urlencoded inside, RFC 6749 §2.3.1) or as \
        `client_id` / `client_secret` fields; required for `client_credentials` and \
        `refresh_token`.",
    params(EnvPath),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens", body = OAuthTokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope", body = ErrorBody),
        (status = 401, description = "invalid_client: missing or wrong client credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=...`"))),
        (status = 429, description = "Too many failed logins or requests", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        FormErrors,
    ),
)]
pub async fn token(
    State(app): State<AppState>,
    Env(env): Env,
    AuthenticateQuota(address): AuthenticateQuota,
    OAuthRequest { form, client }: OAuthRequest,
) -> Result<Response, ApiError> {
    if form.get("scope").is_some() {
        return Err(ApiError::InvalidScope);
    }
    match form.required("grant_type", 64)? {
        // RFC 6749 §4.4: the API user's credentials are the client credentials.
        "client_credentials" => {
            let c = api_user_credentials(client)?;
            let grant = app
                .service
                .grant_client_credentials(&env, c, address)
                .await?;
            Ok(token_response(grant.access_token, grant.expires_in, None))
        }
        // RFC 6749 §4.3; the rules on optional client credentials are the service's.
        "password" => {
            let username = form.required("username", MAX_USERNAME)?;
            let password = form.required("password", MAX_PASSWORD)?;
            let grant = app
                .service
                .grant_password(
                    &env,
                    username,
                    Zeroizing::new(password.to_string()),
                    client.as_ref(),
                    address,
                )
                .await?;
            Ok(grant_response(grant))
        }
        // RFC 6749 §6: a confidential client authenticates; its credentials stand in for
        // the access token that the WireCash `POST /token` binds the refresh to.
        "refresh_token" => {
            let refresh_token = form.required("refresh_token", MAX_TOKEN)?;
            let c = api_user_credentials(client)?;
            let grant = app
                .service
                .grant_refresh_token(&env, c, refresh_token, address)
                .await?;
            Ok(grant_response(grant))
        }
        _ => Err(ApiError::UnsupportedGrantType),
    }
}

/// `token_type_hint` (RFC 7009 §2.1): optional; an unknown value is ignored, as the RFC
/// allows, since every token is identified by its own format anyway.
fn check_hint(form: &crate::http::form::Form) -> Result<(), ApiError> {
    form.optional("token_type_hint", 64).map(|_| ())
}

/// `POST /{env}/revoke` (RFC 7009): the client's own refresh or access token ends its
/// session. 200 with an empty body for every authenticated request, including tokens
/// that are invalid, expired, already revoked or not the client's (§2.2).
#[utoipa::path(
    post,
    path = "/{env}/revoke",
    tag = "Standards",
    operation_id = "revokeToken",
    summary = "Token revocation (RFC 7009)",
    description = "Ends the session of the client's own refresh or access token. Client \
        authentication as for the token endpoint. 200 with an empty body for any token, \
        including unknown, expired, already revoked or other clients' tokens.",
    params(EnvPath),
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (empty body)"),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_client: missing or wrong client credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=...`"))),
        (status = 429, description = "Too many failed logins or requests", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        FormErrors,
    ),
)]
pub async fn revoke(
    State(app): State<AppState>,
    Env(env): Env,
    AuthenticateQuota(address): AuthenticateQuota,
    OAuthRequest { form, client }: OAuthRequest,
) -> Result<Response, ApiError> {
    // A malformed request is refused before the (Argon2) client authentication.
    let token = form.required("token", MAX_TOKEN)?;
    check_hint(&form)?;
    let c = api_user_credentials(client)?;
    let user = app
        .service
        .authenticate_client(&env, c, address, "revoke")
        .await?;
    app.service.revoke(&env, &user, token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

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
    params(EnvPath),
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
    OAuthRequest { form, client }: OAuthRequest,
) -> Result<Response, ApiError> {
    const REFUSED: &str = "introspection needs the credentials of an introspector \
                           (wirecash-auth introspector add), in HTTP Basic or form fields";
    let token = form.required("token", MAX_TOKEN)?;
    check_hint(&form)?;
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

/// RFC 8414 §2 metadata of one environment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizationServerMetadata {
    /// The environment's issuer, `{public_url}/{env}`.
    pub issuer: String,
    /// `{issuer}/oauth2/token`.
    pub token_endpoint: String,
    /// `{issuer}/.well-known/jwks.json`.
    pub jwks_uri: String,
    /// No authorization endpoint, so no response types.
    pub response_types_supported: Vec<&'static str>,
    /// `client_credentials`, `password`, `refresh_token`.
    pub grant_types_supported: Vec<&'static str>,
    /// `client_secret_basic`, `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `{issuer}/revoke`.
    pub revocation_endpoint: String,
    /// As for the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `{issuer}/introspect`.
    pub introspection_endpoint: String,
    /// Introspector credentials, Basic or form.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The API reference.
    pub service_documentation: String,
}

/// `GET /{env}/.well-known/oauth-authorization-server` (the SPEC's path) and
/// `GET /.well-known/oauth-authorization-server/{env}` (RFC 8414 §3.1's, for an issuer
/// with a path).
#[utoipa::path(
    get,
    path = "/{env}/.well-known/oauth-authorization-server",
    tag = "Standards",
    operation_id = "authorizationServerMetadata",
    summary = "Authorization server metadata (RFC 8414)",
    description = "Also served at `/.well-known/oauth-authorization-server/{env}` (RFC 8414 §3.1).",
    params(EnvPath),
    responses(
        (status = 200, description = "The environment's metadata", body = AuthorizationServerMetadata),
        (status = 404, description = "Unknown environment", body = ErrorBody),
    ),
)]
pub async fn metadata(State(app): State<AppState>, Env(env): Env) -> Result<Response, ApiError> {
    let issuer = app
        .service
        .environment(&env)
        .map(|e| e.issuer.clone())
        .ok_or_else(|| ApiError::NotFound("unknown environment".into()))?;
    let base = issuer
        .strip_suffix(&format!("/{env}"))
        .unwrap_or(&issuer)
        .to_string();
    let body = AuthorizationServerMetadata {
        token_endpoint: format!("{issuer}/oauth2/token"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        response_types_supported: vec![],
        grant_types_supported: vec!["client_credentials", "password", "refresh_token"],
        token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        revocation_endpoint: format!("{issuer}/revoke"),
        revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        introspection_endpoint: format!("{issuer}/introspect"),
        introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        service_documentation: format!("{base}/docs"),
        issuer,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

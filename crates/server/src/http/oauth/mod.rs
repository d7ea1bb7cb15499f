//! The standard OAuth 2.0 surface (SPEC §4): RFC 8414 metadata, the RFC 6749 token
//! endpoint, RFC 7009 revocation, RFC 7662 introspection and the RFC 7517 key set.

mod introspect;
mod jwks;
mod metadata;

pub use introspect::*;
pub use jwks::*;
pub use metadata::*;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wirecash_core::TokenGrant;
use wirecash_core::validate::{MAX_ACCESS_TOKEN, MAX_PASSWORD, MAX_USERNAME};
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;
use crate::http::form::{Form, OAuthRequest, client_credentials, optional, required};
use crate::http::no_store;
use crate::http::ratelimit::AuthenticateQuota;
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

/// The form of `POST /{env}/oauth2/token`, as the handler reads it (its OpenAPI schema
/// is this type's). Each grant checks the lengths of the values it takes. No `Debug`:
/// it holds passwords and tokens.
#[derive(utoipa::ToSchema)]
pub struct TokenForm<'a> {
    /// `client_credentials`, `password` or `refresh_token`.
    #[schema(value_type = String, required = true, example = "client_credentials")]
    pub grant_type: Option<&'a str>,
    /// `password` grant: the API user's username.
    #[schema(value_type = String, required = false)]
    pub username: Option<&'a str>,
    /// `password` grant: the API user's password.
    #[schema(value_type = String, required = false)]
    pub password: Option<&'a str>,
    /// `refresh_token` grant: the refresh token.
    #[schema(value_type = String, required = false)]
    pub refresh_token: Option<&'a str>,
    /// Not supported: any value is `invalid_scope`.
    #[schema(value_type = String, required = false)]
    pub scope: Option<&'a str>,
    /// Client authentication in the body (`client_secret_post`): the username.
    #[schema(value_type = String, required = false)]
    pub client_id: Option<&'a str>,
    /// Client authentication in the body: the password.
    #[schema(value_type = String, required = false)]
    pub client_secret: Option<&'a str>,
}

impl<'a> TokenForm<'a> {
    /// The parameters of `form`.
    pub fn of(form: &'a Form) -> Self {
        Self {
            grant_type: form.get("grant_type"),
            username: form.get("username"),
            password: form.get("password"),
            refresh_token: form.get("refresh_token"),
            scope: form.get("scope"),
            client_id: form.get("client_id"),
            client_secret: form.get("client_secret"),
        }
    }
}

/// The form of `POST /{env}/revoke` and `POST /{env}/introspect`, as their handlers read
/// it (its OpenAPI schema is this type's). No `Debug`: it holds tokens and secrets.
#[derive(utoipa::ToSchema)]
pub struct TokenHintForm<'a> {
    /// The token (refresh or access token).
    #[schema(value_type = String, required = true)]
    pub token: Option<&'a str>,
    /// `refresh_token` or `access_token` (optional; an unknown value is ignored, as RFC
    /// 7009 §2.1 allows, since every token is identified by its own format anyway).
    #[schema(value_type = String, required = false)]
    pub token_type_hint: Option<&'a str>,
    /// Client authentication in the body (`client_secret_post`).
    #[schema(value_type = String, required = false)]
    pub client_id: Option<&'a str>,
    /// Client authentication in the body.
    #[schema(value_type = String, required = false)]
    pub client_secret: Option<&'a str>,
}

impl<'a> TokenHintForm<'a> {
    /// The parameters of `form`: the token, its hint checked for length only.
    fn read(
        form: &'a Form,
        basic: Option<ClientSecret>,
    ) -> Result<(&'a str, Option<ClientSecret>), ApiError> {
        let f = Self {
            token: form.get("token"),
            token_type_hint: form.get("token_type_hint"),
            client_id: form.get("client_id"),
            client_secret: form.get("client_secret"),
        };
        let client = client_credentials(basic, f.client_id, f.client_secret)?;
        let token = required("token", f.token, MAX_TOKEN)?;
        optional("token_type_hint", f.token_type_hint, 64)?;
        Ok((token, client))
    }
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
    params(Env),
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
/// The standard OAuth 2.0 surface (SPEC §4), so that generic client libraries and
/// resource servers work unchanged: RFC 8414 metadata, the RFC 6749 token endpoint with
/// the `client_credentials`, `password` and `refresh_token` grants, RFC 7009 revocation
/// and RFC 7662 introspection. Same service, same rules, same tokens as the WireCash
/// endpoints; only the encoding differs (form bodies, client authentication).
pub async fn token(
    State(app): State<AppState>,
    Env(env): Env,
    AuthenticateQuota(address): AuthenticateQuota,
    OAuthRequest { form, basic }: OAuthRequest,
) -> Result<Response, ApiError> {
    let f = TokenForm::of(&form);
    let client = client_credentials(basic, f.client_id, f.client_secret)?;
    if f.scope.is_some() {
        return Err(ApiError::InvalidScope);
    }
    match required("grant_type", f.grant_type, 64)? {
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
            let username = required("username", f.username, MAX_USERNAME)?;
            let password = required("password", f.password, MAX_PASSWORD)?;
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
            let refresh_token = required("refresh_token", f.refresh_token, MAX_TOKEN)?;
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
    params(Env),
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
    OAuthRequest { form, basic }: OAuthRequest,
) -> Result<Response, ApiError> {
    // A malformed request is refused before the (Argon2) client authentication.
    let (token, client) = TokenHintForm::read(&form, basic)?;
    let c = api_user_credentials(client)?;
    let user = app
        .service
        .authenticate_client(&env, c, address, "revoke")
        .await?;
    app.service.revoke(&env, &user, token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

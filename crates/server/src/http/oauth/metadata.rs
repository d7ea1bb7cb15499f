//! `GET /{env}/.well-known/oauth-authorization-server` (RFC 8414 metadata).

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Env;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wirecash_proto::ErrorBody;

use super::AUTH_METHODS;

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
    params(Env),
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

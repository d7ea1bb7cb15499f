//! Wire types of the WireCash token service, shared by the server, the client SDK and
//! the tests. Serde only, no I/O. Field names follow the published WireCash API pages.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Body of `POST /{env}/authenticate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateRequest {
    /// The API user's username.
    pub username: String,
    /// The API user's password.
    pub password: String,
}

/// Body of `POST /{env}/token` (the published `RefreshTokenRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRequest {
    /// The username the tokens were issued to.
    pub username: String,
    /// The access token issued together with `refresh_token` (an expired one is fine).
    pub access_token: String,
    /// The current refresh token of the session.
    pub refresh_token: String,
}

/// The published `AuthenticateResponse`: answer of `/authenticate` and `/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateResponse {
    /// A JWT access token (`typ: at+jwt`), sent in the `Authorization` header.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// An opaque refresh token, good for exactly one `POST /token`.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
}

/// Every error body: RFC 6749 §5.2 shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code (`invalid_request`, `invalid_grant`, …).
    pub error: String,
    /// Human-readable explanation; never contains secrets or internals.
    pub error_description: String,
}

/// Claims of an access token (RFC 9068 profile plus the WireCash claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: `{public_url}/{env}`.
    pub iss: String,
    /// Stable user id.
    pub sub: String,
    /// Audience (RFC 9068 §2.2): the environment's API, `{public_url}/{env}`.
    pub aud: String,
    /// The client the token was issued to: the API user's username (RFC 9068 §2.2).
    pub client_id: String,
    /// The API user's username.
    pub username: String,
    /// Session id: the token family this token belongs to.
    pub sid: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The environment (`sandbox`, `production`, …).
    pub env: String,
}

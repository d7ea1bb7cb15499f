//! Wire types of the WireCash token service, shared by the server, the client SDK and
//! the tests. Serde only, no I/O. Field names follow the published WireCash API pages.
//! With the `openapi` feature they describe themselves for the server's OpenAPI document.
#![warn(missing_docs)]

// With `openapi`, the doc comments become the schema descriptions; the length limits
// are the server's, in bytes, checked against it by a test.

mod jwks;
pub use jwks::{Jwk, JwkSet};

use std::fmt;

use serde::{Deserialize, Serialize};

/// Body of `POST /{env}/authenticate`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthenticateRequest {
    /// The API user's username (at most 256 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "YOUR USERNAME")
    )]
    pub username: String,
    /// The API user's password (at most 1024 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, example = "YOUR PASSWORD")
    )]
    pub password: String,
}

/// Body of `POST /{env}/token` (the published `RefreshTokenRequest`). `Debug` hides
/// the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshTokenRequest {
    /// The username the tokens were issued to (at most 256 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "YOUR USERNAME")
    )]
    pub username: String,
    /// The access token issued together with `refresh_token` (an expired one is fine; at
    /// most 4096 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, example = "YOUR ACCESS TOKEN")
    )]
    pub access_token: String,
    /// The current refresh token of the session (at most 4096 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, example = "YOUR REFRESH TOKEN")
    )]
    pub refresh_token: String,
}

/// The published `AuthenticateResponse`: answer of `/authenticate` and `/token`.
/// `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthenticateResponse {
    /// A JWT access token (`typ: at+jwt`), sent in the `Authorization` header.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// An opaque refresh token, good for exactly one `POST /token`.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    #[cfg_attr(feature = "openapi", schema(example = "Bearer"))]
    pub token_type: String,
}

/// What `Debug` prints in place of a password or token: these types end up in logs
/// through `{:?}` (a `tracing` field, an `unwrap` message), and a log line must never
/// hold a secret (SPEC §5).
const REDACTED: &str = "<redacted>";

impl fmt::Debug for AuthenticateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticateRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for RefreshTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRequest")
            .field("username", &self.username)
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for AuthenticateResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticateResponse")
            .field("access_token", &REDACTED)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// Every error body: RFC 6749 §5.2 shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code (`invalid_request`, `invalid_grant`, `too_many_requests`,
    /// `temporarily_unavailable`, `server_error`, `not_found`, …).
    #[cfg_attr(feature = "openapi", schema(example = "invalid_grant"))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_wire_types_hides_passwords_and_tokens() {
        let printed = [
            format!(
                "{:?}",
                AuthenticateRequest {
                    username: "alice".into(),
                    password: "SECRET-password".into(),
                }
            ),
            format!(
                "{:?}",
                RefreshTokenRequest {
                    username: "alice".into(),
                    access_token: "SECRET-access".into(),
                    refresh_token: "SECRET-refresh".into(),
                }
            ),
            format!(
                "{:?}",
                AuthenticateResponse {
                    access_token: "SECRET-access".into(),
                    expires_in: 3600,
                    refresh_token: "SECRET-refresh".into(),
                    token_type: "Bearer".into(),
                }
            ),
        ];
        for text in &printed {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        // What is not secret is still shown.
        assert!(printed[0].contains("alice") && printed[1].contains("alice"));
        assert!(printed[2].contains("3600") && printed[2].contains("Bearer"));
    }
}

//! Why a request was not let through ([`RejectionKind`]), and the answer it gets
//! ([`Rejection`]).

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wirecash_proto::ErrorBody;

/// The class of a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No `Authorization` header, an empty one, or one of another scheme (`Basic …`).
    Missing,
    /// The `Authorization` header is malformed or repeated: `400 invalid_request`
    /// (RFC 6750 §3.1).
    InvalidRequest,
    /// The token is malformed, forged, altered, for another environment, signed with an
    /// algorithm or key that is not accepted, or refused by a [`TokenCheck`].
    ///
    /// [`TokenCheck`]: crate::TokenCheck
    Invalid,
    /// The token has expired (beyond the leeway).
    Expired,
    /// The keys needed to check the token could not be fetched: our problem, not the
    /// caller's, so `503` rather than `401`.
    KeysUnavailable,
}

/// A refused request. Its [`IntoResponse`] is what the caller gets: `401` with the
/// WireCash JSON error body and a `WWW-Authenticate` challenge (RFC 6750 §3), `400` for
/// a malformed `Authorization` header, or `503` when the keys to check the token could
/// not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct Rejection {
    kind: RejectionKind,
    description: Cow<'static, str>,
}

impl Rejection {
    /// A rejection of kind `kind`. The description goes to the caller (in the body and
    /// the challenge), so it must not contain secrets; quotes and backslashes are
    /// dropped from the challenge.
    pub fn new(kind: RejectionKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }

    /// An invalid token.
    pub fn invalid(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionKind::Invalid, description)
    }

    /// The class of rejection.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The human-readable reason.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::InvalidRequest => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The JSON error body of the answer.
    pub fn body(&self) -> ErrorBody {
        let error = match self.kind {
            RejectionKind::KeysUnavailable => "temporarily_unavailable",
            RejectionKind::InvalidRequest => "invalid_request",
            _ => "invalid_token",
        };
        ErrorBody {
            error: error.to_string(),
            error_description: self.description.to_string(),
        }
    }

    /// The `WWW-Authenticate` challenge. RFC 6750 §3.1: a request that carried no
    /// credentials at all gets the bare challenge without an error code.
    pub fn challenge(&self) -> Option<HeaderValue> {
        let text = match self.kind {
            RejectionKind::KeysUnavailable => return None,
            RejectionKind::Missing => "Bearer".to_string(),
            RejectionKind::Invalid | RejectionKind::Expired | RejectionKind::InvalidRequest => {
                let code = if self.kind == RejectionKind::InvalidRequest {
                    "invalid_request"
                } else {
                    "invalid_token"
                };
                let safe: String = self
                    .description
                    .chars()
                    .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
                    .collect();
                format!("Bearer error=\"{code}\", error_description=\"{safe}\"")
            }
        };
        HeaderValue::from_str(&text).ok()
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge() {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.kind == RejectionKind::KeysUnavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let r = Rejection::new(RejectionKind::Expired, "the access token has \"expired\"");
        assert_eq!(
            r.challenge().unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"the access token has expired\""
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.body().error, "invalid_token");
        let missing = Rejection::new(RejectionKind::Missing, "no access token");
        assert_eq!(missing.challenge().unwrap(), "Bearer");
        let down = Rejection::new(RejectionKind::KeysUnavailable, "keys unavailable");
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(down.challenge().is_none());
    }
}

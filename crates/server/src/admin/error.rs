//! The admin API's errors, in the shape of every other error of the service (SPEC §2):
//! `{"error", "error_description"}`, never cached.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// What an admin request can fail with.
#[derive(Debug)]
pub enum AdminError {
    /// No admin key, or not a live one (401).
    Unauthorized,
    /// The key's role may not do this (403).
    Forbidden(&'static str),
    /// Too many bad admin keys from this address (429).
    Locked(u64),
    /// Malformed input (400).
    BadRequest(String),
    /// No such thing (404).
    NotFound(String),
    /// It exists already, or the `Idempotency-Key` belongs to a request in flight (409).
    Conflict(String),
    /// The `Idempotency-Key` was used for another request (422).
    IdempotencyMismatch,
    /// Anything the public API's errors cover (body checks, 5xx).
    Api(ApiError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError::Api(e)
    }
}

impl From<wirecash_core::Error> for AdminError {
    fn from(e: wirecash_core::Error) -> Self {
        use wirecash_core::Error as E;
        match e {
            E::InvalidRequest(m) => AdminError::BadRequest(m),
            E::NotFound(m) => AdminError::NotFound(m),
            E::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Api(other.into()),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            AdminError::Locked(secs) => Some(*secs),
            _ => None,
        };
        let (status, code, description) = match self {
            AdminError::Api(e) => return e.into_response(),
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a live admin key as `Authorization: Bearer wcak_…`".to_string(),
            ),
            AdminError::Forbidden(needs) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this admin key's role may not do this; it needs the {needs} role"),
            ),
            AdminError::Locked(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many bad admin keys from this address; retry in {secs} s"),
            ),
            AdminError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m),
            AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            AdminError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            AdminError::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request; use a new key".to_string(),
            ),
        };
        let body = ErrorBody {
            error: code,
            error_description: description,
        };
        let mut response = crate::http::no_store((status, Json(body)).into_response());
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"wirecash-auth-admin\""),
            );
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

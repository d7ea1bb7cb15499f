//! `ApiError`: the one `IntoResponse` of the service, with one `match` from case to
//! status and RFC 6749 §5.2 error code. The cause of a 5xx travels in a response
//! extension and is logged once by the request middleware; the body stays opaque.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wirecash_proto::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `invalid_request`.
    InvalidRequest(String),
    /// 400 `invalid_grant`.
    InvalidGrant(&'static str),
    /// 404 `not_found`.
    NotFound(String),
    /// 405 `invalid_request`.
    MethodNotAllowed,
    /// 413 `invalid_request`.
    PayloadTooLarge(usize),
    /// 431 `invalid_request`: the header section is over this many bytes.
    HeadersTooLarge(usize),
    /// 415 `invalid_request`.
    UnsupportedMediaType,
    /// 415 `invalid_request` on an RFC 6749 endpoint (form-encoded bodies).
    FormMediaType,
    /// 401 `invalid_client` with `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    InvalidClient(&'static str),
    /// 400 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// 400 `invalid_scope`.
    InvalidScope,
    /// 408 `invalid_request`.
    RequestTimeout,
    /// 503 `temporarily_unavailable`.
    Unavailable(String),
    /// 429 `too_many_requests` with `Retry-After` (seconds) and why.
    TooManyRequests(u64, &'static str),
    /// 500 `server_error`.
    Internal(String),
}

/// The detailed cause of a 5xx, for the log only.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl From<wirecash_core::Error> for ApiError {
    fn from(e: wirecash_core::Error) -> Self {
        use wirecash_core::Error as E;
        match e {
            E::InvalidRequest(m) => ApiError::InvalidRequest(m),
            E::InvalidGrant(m) => ApiError::InvalidGrant(m),
            E::InvalidClient(m) => ApiError::InvalidClient(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Conflict(m) | E::Internal(m) => ApiError::Internal(m),
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::Locked(secs) => ApiError::TooManyRequests(secs, "too many failed logins"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::TooManyRequests(secs, _) => Some(*secs),
            _ => None,
        };
        let (status, code, description, cause) = match self {
            ApiError::InvalidRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m, None),
            ApiError::InvalidGrant(m) => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                m.to_string(),
                None,
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, None),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "this method is not allowed on this path".to_string(),
                None,
            ),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
            ApiError::HeadersTooLarge(limit) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "invalid_request",
                format!("the request's header section is larger than {limit} bytes"),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send the request body as JSON with Content-Type: application/json".to_string(),
                None,
            ),
            ApiError::FormMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send the parameters form-encoded with Content-Type: \
                 application/x-www-form-urlencoded (RFC 6749 §3.2)"
                    .to_string(),
                None,
            ),
            ApiError::InvalidClient(m) => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                m.to_string(),
                None,
            ),
            ApiError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be client_credentials, password or refresh_token".to_string(),
                None,
            ),
            ApiError::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "this server issues tokens without scopes; leave scope out".to_string(),
                None,
            ),
            ApiError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "the request body did not arrive in time".to_string(),
                None,
            ),
            ApiError::TooManyRequests(secs, why) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("{why}; retry in {secs} s"),
                None,
            ),
            ApiError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable; retry shortly".to_string(),
                Some(m),
            ),
            ApiError::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal server error".to_string(),
                Some(m),
            ),
        };
        let body = ErrorBody {
            error: code.to_string(),
            error_description: description,
        };
        let mut response = crate::http::no_store((status, Json(body)).into_response());
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"wirecash-auth\", charset=\"UTF-8\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

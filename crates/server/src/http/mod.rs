//! HTTP handlers: short functions that extract, call one service method and map the
//! result to a wire type; this file holds the answers every route shares.

pub mod address;
pub mod docs;
pub mod extract;
pub mod form;
pub mod hold;
pub mod middleware;
pub mod oauth;
pub mod ops;
pub mod ratelimit;
pub mod tokens;

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::error::ApiError;

/// Marks an answer as never to be cached (RFC 6749 §5.1 for tokens; also metrics and
/// every error).
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Unknown path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

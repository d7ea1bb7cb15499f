//! Extractors that turn malformed input into our JSON errors instead of the framework's
//! plain-text rejections (SPEC §9), with bounded work: the body is capped before it is
//! read, and every field has a length limit.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts};
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY: usize = 16 * 1024;

/// Query-string keys that carry credentials (the published Python sample sends them so).
const CREDENTIAL_KEYS: &[&str] = &["username", "password", "access_token", "refresh_token"];

/// A configured environment named by the first path segment; anything else is 404.
pub struct Env(pub String);

impl FromRequestParts<AppState> for Env {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("unknown environment".into()))?;
        if state.service.environment(&name).is_none() {
            return Err(ApiError::NotFound("unknown environment".into()));
        }
        Ok(Env(name))
    }
}

/// A JSON object body. Checks, in order: no credentials in the query string,
/// `Content-Type: application/json`, size, JSON syntax, object shape.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

fn query_has_credentials(query: &str) -> bool {
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        CREDENTIAL_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
    })
}

fn is_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if parts.uri.query().is_some_and(query_has_credentials) {
            return Err(ApiError::InvalidRequest(
                "credentials and tokens must not be sent in the query string; send them as a JSON \
                 object in the request body with Content-Type: application/json"
                    .into(),
            ));
        }
        if !is_json(&parts) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ApiError::PayloadTooLarge(MAX_BODY));
        }
        let bytes = axum::body::to_bytes(Body::new(body), MAX_BODY)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(MAX_BODY))?;
        if bytes.is_empty() {
            return Err(ApiError::InvalidRequest(
                "the request body is empty; send a JSON object".into(),
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::InvalidRequest(
                "the request body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::InvalidRequest(format!(
                "the request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }
}

impl JsonObject {
    /// A required, non-empty string field of at most `max` bytes.
    pub fn required_str(&self, field: &str, max: usize) -> Result<&str, ApiError> {
        match self.0.get(field) {
            None => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` is required"
            ))),
            Some(Value::Null) => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` must not be null"
            ))),
            Some(Value::String(s)) if s.is_empty() => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` must not be empty"
            ))),
            Some(Value::String(s)) if s.len() > max => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` is longer than {max} bytes"
            ))),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` must be a string"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_credentials_are_detected() {
        assert!(query_has_credentials("username=a&password=b"));
        assert!(query_has_credentials("x=1&Refresh_Token=z"));
        assert!(query_has_credentials("access_token"));
        assert!(!query_has_credentials("x=1&y=2"));
        assert!(!query_has_credentials(""));
    }

    proptest! {
        #[test]
        fn query_check_never_panics(q in ".{0,300}") {
            let _ = query_has_credentials(&q);
        }
    }
}

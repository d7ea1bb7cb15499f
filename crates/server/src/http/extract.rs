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
/// Longest wait for the whole body once the headers are in.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
    query_has_any(query, CREDENTIAL_KEYS)
}

/// Whether the query string has one of `keys` (ASCII case-insensitive).
pub fn query_has_any(query: &str, keys: &[&str]) -> bool {
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        keys.iter().any(|k| key.eq_ignore_ascii_case(k))
    })
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let query = parts.uri.query();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Everything that can be refused before reading the body is refused before.
        check_head(query, content_type)?;
        let bytes = read_body(&parts, body).await?;
        parse_json(&bytes)
    }
}

/// Reads a request body of at most `MAX_BODY` bytes: a declared length beyond it is
/// refused before reading, and a body that trickles in must not hold the request open
/// without end.
pub async fn read_body(parts: &Parts, body: Body) -> Result<bytes::Bytes, ApiError> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY));
    }
    tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|_| ApiError::PayloadTooLarge(MAX_BODY))
}

fn check_head(query: Option<&str>, content_type: Option<&str>) -> Result<(), ApiError> {
    if query.is_some_and(query_has_credentials) {
        return Err(ApiError::InvalidRequest(
            "credentials and tokens must not be sent in the query string; send them as a JSON \
             object in the request body with Content-Type: application/json"
                .into(),
        ));
    }
    if !content_type_is(content_type, "application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(())
}

/// Whether a `Content-Type` value names the media type `essence` (parameters such as
/// `charset` aside; case-insensitive).
pub fn content_type_is(content_type: Option<&str>, essence: &str) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case(essence))
}

/// The whole check of a WireCash request body, as a pure function of the query string,
/// the `Content-Type` and the body bytes (what the extractor and the fuzz target call).
pub fn parse_body(
    query: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<JsonObject, ApiError> {
    check_head(query, content_type)?;
    parse_json(bytes)
}

fn parse_json(bytes: &[u8]) -> Result<JsonObject, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge(MAX_BODY));
    }
    if bytes.is_empty() {
        return Err(ApiError::InvalidRequest(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
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

    #[test]
    fn body_checks_in_order() {
        let json = Some("application/json");
        assert!(matches!(
            parse_body(Some("password=x"), json, b"{}"),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_body(None, Some("text/plain"), b"{}"),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse_body(None, None, b"{}"),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse_body(None, json, &[b' '; MAX_BODY + 1]),
            Err(ApiError::PayloadTooLarge(_))
        ));
        assert!(matches!(
            parse_body(None, json, b""),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_body(None, json, b"[]"),
            Err(ApiError::InvalidRequest(_))
        ));
        let ok = parse_body(
            Some("x=1"),
            Some("application/json; charset=utf-8"),
            br#"{"a":"b","n":1}"#,
        );
        let Ok(obj) = ok else {
            panic!("a JSON object is accepted")
        };
        assert_eq!(obj.required_str("a", 10).ok(), Some("b"));
        assert!(obj.required_str("a", 0).is_err());
        assert!(obj.required_str("n", 10).is_err());
        assert!(obj.required_str("missing", 10).is_err());
    }

    proptest! {
        #[test]
        fn query_check_never_panics(q in ".{0,300}") {
            let _ = query_has_credentials(&q);
        }

        #[test]
        fn body_check_never_panics(body in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(obj) = parse_body(None, Some("application/json"), &body) {
                let _ = obj.required_str("username", 256);
            }
        }
    }
}

//! Extractors that turn malformed input into our JSON errors instead of the framework's
//! plain-text rejections (SPEC §9), with bounded work: the body is capped before it is
//! read, and every field has a length limit.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts};
use serde_json::{Map, Value};

use wirecash_core::validate::EnvName;

use crate::app::AppState;
use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY: usize = 16 * 1024;
/// Longest wait for the whole body once the headers are in.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A configured environment named by the first path segment; anything else is 404. As
/// `params(Env)` of a `#[utoipa::path]`, it is the `{env}` parameter; the served document
/// lists the configured environments as its values.
#[derive(utoipa::IntoParams)]
#[into_params(names("env"), parameter_in = Path)]
pub struct Env(
    /// The environment (stage), e.g. `sandbox` or `production`.
    #[param(value_type = String)]
    pub EnvName,
);

impl FromRequestParts<AppState> for Env {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("unknown environment".into()))?;
        if state.service.environment(&name).is_none() {
            return Err(ApiError::NotFound("unknown environment".into()));
        }
        EnvName::parse_owned(name)
            .map(Env)
            .map_err(|_| ApiError::NotFound("unknown environment".into()))
    }
}

/// A JSON object body. Checks, in order: no query string, `Content-Type:
/// application/json`, size, JSON syntax, object shape, no key twice.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

/// Refuses any query string on a route that takes credentials (SPEC §2, §9). Looking
/// for credential names would invite encodings around the check (`pass%77ord`,
/// `x=1;password`, `password[]`); these routes read nothing from the query, so none is
/// accepted at all. `how` says where the credentials go instead.
pub fn refuse_query(query: Option<&str>, how: &str) -> Result<(), ApiError> {
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(ApiError::InvalidRequest(format!(
            "this endpoint takes no query string: credentials and tokens must never be sent \
             in the URL, where proxies and logs keep them; {how}"
        )));
    }
    Ok(())
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
        .map_err(|e| {
            // Over the limit, or a body that is not valid HTTP framing (a malformed chunk).
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                ApiError::PayloadTooLarge(MAX_BODY)
            } else {
                ApiError::InvalidRequest(
                    "the request body is not valid HTTP framing (a malformed chunk, or the \
                     connection ended early)"
                        .into(),
                )
            }
        })
}

fn check_head(query: Option<&str>, content_type: Option<&str>) -> Result<(), ApiError> {
    refuse_query(
        query,
        "send them as a JSON object in the request body with Content-Type: application/json",
    )?;
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
    match serde_json::from_slice::<Unique>(bytes) {
        Ok(Unique(Value::Object(map))) => Ok(JsonObject(map)),
        Ok(_) => Err(ApiError::InvalidRequest(
            "the request body must be a JSON object".into(),
        )),
        // A repeated key: a proxy or an audit tool reading the first value would see
        // another request than the one served (SPEC §9).
        Err(e) if e.is_data() => Err(ApiError::InvalidRequest(format!(
            "{e}; send every field once"
        ))),
        Err(e) => Err(ApiError::InvalidRequest(format!(
            "the request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// A JSON value in which no object, at any depth, has a key twice (serde_json's own
/// `Value` keeps the last one). Depth is bounded by serde_json's recursion limit.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Unique, E> {
        Ok(Unique(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Unique, E> {
        Ok(Unique(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Unique, E> {
        Ok(Unique(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Unique, E> {
        Ok(Unique(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique(Value::Null))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Unique(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{key}` appears more than once"
                )));
            }
            let Unique(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Unique(Value::Object(out)))
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

    /// A field as sent, if it was.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// An optional string field: absent is `None`; present, the rules of `required_str`.
    pub fn optional_str(&self, field: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(_) => self.required_str(field, max).map(Some),
        }
    }

    /// A required boolean field.
    pub fn required_bool(&self, field: &str) -> Result<bool, ApiError> {
        match self.0.get(field) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` is required"
            ))),
            Some(_) => Err(ApiError::InvalidRequest(format!(
                "the field `{field}` must be true or false"
            ))),
        }
    }

    /// Refuses any field not in `known` (a typo must not be silently ignored).
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::InvalidRequest(format!(
                "unknown field `{}`; this endpoint takes {}",
                k.chars().take(64).collect::<String>(),
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn any_query_string_is_refused_however_it_is_encoded() {
        for q in [
            "username=a&password=b",
            "pass%77ord=x&user%6Eame=a",
            "x=1;password=x",
            "password[]=x",
            "password+=x",
            "x=1",
        ] {
            assert!(refuse_query(Some(q), "").is_err(), "{q}");
        }
        assert!(refuse_query(Some(""), "").is_ok());
        assert!(refuse_query(None, "").is_ok());
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
        for repeated in [
            &br#"{"username":"mallory","username":"alice"}"#[..],
            br#"{"a":1,"b":{"c":1,"c":2}}"#,
            br#"{"a":[{"x":1},{"x":1,"x":1}]}"#,
        ] {
            let Err(ApiError::InvalidRequest(why)) = parse_body(None, json, repeated) else {
                panic!(
                    "a repeated key passed: {}",
                    String::from_utf8_lossy(repeated)
                )
            };
            assert!(why.contains("more than once"), "{why}");
        }
        assert!(matches!(
            parse_body(Some("x=1"), json, b"{}"),
            Err(ApiError::InvalidRequest(_))
        ));
        let ok = parse_body(
            None,
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
            let _ = refuse_query(Some(&q), "");
        }

        #[test]
        fn body_check_never_panics(body in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(obj) = parse_body(None, Some("application/json"), &body) {
                let _ = obj.required_str("username", 256);
            }
        }
    }
}

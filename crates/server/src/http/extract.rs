//! Extractors that turn malformed input into our JSON errors instead of the framework's
//! plain-text rejections (SPEC §9), with bounded work: the body is capped before it is
//! read, and every field has a length limit.

use std::borrow::Cow;

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
pub struct JsonObject(Map<String, Value>);

impl std::fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys only: the values are passwords and tokens.
        f.debug_struct("JsonObject")
            .field("keys", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

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

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
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
        Err(e) => Err(json_error(&e)),
    }
}

/// The answer to a body that is not valid JSON, or that repeats a key.
fn json_error(e: &serde_json::Error) -> ApiError {
    if e.is_data() {
        // A repeated key: a proxy or an audit tool reading the first value would see
        // another request than the one served (SPEC §9).
        ApiError::InvalidRequest(format!("{e}; send every field once"))
    } else {
        ApiError::InvalidRequest(format!(
            "the request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
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
        let sent = match self.0.get(field) {
            None => Sent::Absent,
            Some(Value::Null) => Sent::Null,
            Some(Value::String(s)) => Sent::Str(s),
            Some(_) => Sent::Other,
        };
        checked_str(field, sent, max)
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

/// A field of a JSON object body as sent, as far as a string field's checks care.
enum Sent<'a> {
    Absent,
    Null,
    Str(&'a str),
    Other,
}

/// The checks of a required string field (`JsonObject::required_str`,
/// `Fields::required_str`): present, not null, a string, not empty, at most `max` bytes.
fn checked_str<'a>(field: &str, sent: Sent<'a>, max: usize) -> Result<&'a str, ApiError> {
    match sent {
        Sent::Absent => Err(ApiError::InvalidRequest(format!(
            "the field `{field}` is required"
        ))),
        Sent::Null => Err(ApiError::InvalidRequest(format!(
            "the field `{field}` must not be null"
        ))),
        Sent::Str("") => Err(ApiError::InvalidRequest(format!(
            "the field `{field}` must not be empty"
        ))),
        Sent::Str(s) if s.len() > max => Err(ApiError::InvalidRequest(format!(
            "the field `{field}` is longer than {max} bytes"
        ))),
        Sent::Str(s) => Ok(s),
        Sent::Other => Err(ApiError::InvalidRequest(format!(
            "the field `{field}` must be a string"
        ))),
    }
}

/// A JSON body, checked as `JsonObject` checks it up to the parse (no query string,
/// `Content-Type: application/json`, size) and not parsed yet: [`Fields::parse`] reads
/// the fields a handler needs from it, borrowed (the refresh hot path).
pub struct JsonBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Everything that can be refused before reading the body is refused before.
        check_head(parts.uri.query(), content_type)?;
        read_body(&parts, body).await.map(JsonBody)
    }
}

/// The named fields of a JSON object body, borrowed from it unless an escape made a
/// copy necessary. Same rules and same answers as [`parse_body`] followed by
/// `required_str` (a property test and the `request_body` fuzz target hold them to
/// it): valid JSON, an object, no key twice at any depth, then each field's checks.
/// The difference is that no map of every field is built.
pub struct Fields<'a, const N: usize> {
    names: [&'static str; N],
    values: [Option<FieldValue<'a>>; N],
}

impl<const N: usize> std::fmt::Debug for Fields<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names only: the values are passwords and tokens.
        f.debug_struct("Fields")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// A named field as sent.
enum FieldValue<'a> {
    Null,
    Str(Cow<'a, str>),
    Other,
}

impl<'a, const N: usize> Fields<'a, N> {
    /// Parses `bytes` (a body that passed [`JsonBody`]'s checks) for `names`.
    pub fn parse(bytes: &'a [u8], names: [&'static str; N]) -> Result<Self, ApiError> {
        if bytes.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge(MAX_BODY));
        }
        if bytes.is_empty() {
            return Err(ApiError::InvalidRequest(
                "the request body is empty; send a JSON object".into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = serde::de::DeserializeSeed::deserialize(FieldsSeed(&names), &mut de)
            .and_then(|values| de.end().map(|()| values));
        match parsed {
            Ok(Some(values)) => Ok(Self { names, values }),
            Ok(None) => Err(ApiError::InvalidRequest(
                "the request body must be a JSON object".into(),
            )),
            Err(e) => Err(json_error(&e)),
        }
    }

    /// A required, non-empty string field of at most `max` bytes (one of the names
    /// parsed for; any other is "required").
    pub fn required_str(&self, field: &str, max: usize) -> Result<&str, ApiError> {
        let sent = match self
            .names
            .iter()
            .position(|n| *n == field)
            .and_then(|i| self.values[i].as_ref())
        {
            None => Sent::Absent,
            Some(FieldValue::Null) => Sent::Null,
            Some(FieldValue::Str(s)) => Sent::Str(s),
            Some(FieldValue::Other) => Sent::Other,
        };
        checked_str(field, sent, max)
    }
}

/// Reads a whole body for the fields named: `None` if it is valid JSON but not an object.
struct FieldsSeed<'n, const N: usize>(&'n [&'static str; N]);

impl<'de, const N: usize> serde::de::DeserializeSeed<'de> for FieldsSeed<'_, N> {
    type Value = Option<[Option<FieldValue<'de>>; N]>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> serde::de::Visitor<'de> for FieldsSeed<'_, N> {
    type Value = Option<[Option<FieldValue<'de>>; N]>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        // Not an object, but a repeated key inside is reported as `parse_body` does.
        UniqueVisitor.visit_seq(seq).map(|_| None)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = std::array::from_fn(|_| None);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(Key(key)) = map.next_key()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{key}` appears more than once"
                )));
            }
            match self.0.iter().position(|n| *n == key) {
                Some(i) => values[i] = Some(map.next_value_seed(FieldSeed)?),
                None => {
                    let Unique(_) = map.next_value()?;
                }
            }
            seen.insert(key);
        }
        Ok(Some(values))
    }
}

/// An object key, borrowed from the body unless it has an escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// The value of a named field: a string borrowed where it can be; anything else is
/// checked for repeated keys like the rest of the body.
struct FieldSeed;

impl<'de> serde::de::DeserializeSeed<'de> for FieldSeed {
    type Value = FieldValue<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldSeed {
    type Value = FieldValue<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(FieldValue::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(FieldValue::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(FieldValue::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FieldValue::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(FieldValue::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(FieldValue::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(FieldValue::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(FieldValue::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        UniqueVisitor.visit_seq(seq).map(|_| FieldValue::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        UniqueVisitor.visit_map(map).map(|_| FieldValue::Other)
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

    /// Each field's answer, by the map path (`parse_body` + `JsonObject::required_str`)
    /// and by the borrowed one (`Fields`): the whole-body error, or one per field.
    type Answers = Result<Vec<Result<String, String>>, String>;

    const NAMES: [&str; 3] = ["username", "access_token", "refresh_token"];

    fn answers(bytes: &[u8], max: usize) -> (Answers, Answers) {
        fn each<'a>(
            get: impl Fn(&str) -> Result<&'a str, ApiError>,
        ) -> Vec<Result<String, String>> {
            NAMES
                .iter()
                .map(|n| get(n).map(str::to_string).map_err(|e| format!("{e:?}")))
                .collect()
        }
        let by_map = parse_body(None, Some("application/json"), bytes);
        let by_map = match &by_map {
            Ok(obj) => Ok(each(|n| obj.required_str(n, max))),
            Err(e) => Err(format!("{e:?}")),
        };
        let by_fields = Fields::parse(bytes, NAMES);
        let by_fields = match &by_fields {
            Ok(f) => Ok(each(|n| f.required_str(n, max))),
            Err(e) => Err(format!("{e:?}")),
        };
        (by_map, by_fields)
    }

    #[test]
    fn fields_answer_as_the_map_does() {
        for body in [
            &br#"{"username":"alice","access_token":"a.b.c","refresh_token":"wc1"}"#[..],
            br#"{"username":"al\u0069ce","access_token":"a","refresh_token":"r","x":[1,{"y":2}]}"#,
            br#"{"username":null,"access_token":1,"refresh_token":""}"#,
            br#"{"username":"a","username":"b"}"#,
            br#"{"user\u006eame":"a","username":"b"}"#,
            br#"{"x":{"y":1,"y":2},"username":"a"}"#,
            br#"[{"a":1,"a":2}]"#,
            br#"[1,2]"#,
            br#""username""#,
            br#"{"username":"a""#,
            br#"{"username":"a"} x"#,
            br#"{"username":"\ud800"}"#,
            b"",
            b"   ",
        ] {
            let (by_map, by_fields) = answers(body, 8);
            assert_eq!(by_map, by_fields, "{}", String::from_utf8_lossy(body));
        }
        let (by_map, _) = answers(br#"{"username":"alice"}"#, 8);
        assert!(
            matches!(&by_map, Ok(v) if v[0] == Ok("alice".to_string())),
            "{by_map:?}"
        );
    }

    #[test]
    fn neither_body_prints_its_values() {
        let body = br#"{"username":"alice","password":"hunter2-secret"}"#;
        let Ok(obj) = parse_body(None, Some("application/json"), body) else {
            panic!("a JSON object is accepted")
        };
        let Ok(fields) = Fields::parse(body, ["username", "password"]) else {
            panic!("a JSON object is accepted")
        };
        for printed in [format!("{obj:?}"), format!("{fields:?}")] {
            assert!(printed.contains("password"), "{printed}");
            assert!(
                !printed.contains("hunter2") && !printed.contains("alice"),
                "{printed}"
            );
        }
    }

    /// JSON text: values nested a few levels, with the field names (also escaped, also
    /// twice), strings with escapes and of every length around the limit.
    fn json_text() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            r#""username""#,
            r#""access_token""#,
            r#""refresh_token""#,
            r#""user\u006eame""#,
            r#""a""#,
            r#""""#,
        ]);
        let leaf = prop_oneof![
            prop::sample::select(vec![
                "null",
                "true",
                "0",
                "-1.5e3",
                r#""""#,
                r#""b\"c""#,
                r#""\u0041""#,
                r#""\ud800""#,
                "\"\u{e9}\"",
            ])
            .prop_map(String::from),
            "[a-z]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ];
        let value = leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| {
                    let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", kv.join(","))
                }),
            ]
        });
        prop_oneof![
            value.clone(),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        r#""username""#,
                        r#""access_token""#,
                        r#""refresh_token""#,
                        r#""x""#
                    ]),
                    value
                ),
                0..5
            )
            .prop_map(|kv| {
                let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", kv.join(","))
            }),
        ]
    }

    proptest! {
        #[test]
        fn fields_answer_as_the_map_does_for_any_json(
            text in json_text(),
            cut in any::<prop::sample::Index>(),
            mutate in any::<Option<(prop::sample::Index, u8)>>(),
            max in 0usize..14,
        ) {
            let mut bytes = text.into_bytes();
            match mutate {
                // Broken text too: a byte changed, or the text cut short.
                Some((at, b)) if !bytes.is_empty() => {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
                Some(_) => {}
                None if cut.index(4) == 0 && !bytes.is_empty() => {
                    bytes.truncate(cut.index(bytes.len()));
                }
                None => {}
            }
            let (by_map, by_fields) = answers(&bytes, max);
            prop_assert_eq!(by_map, by_fields, "{}", String::from_utf8_lossy(&bytes));
        }

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

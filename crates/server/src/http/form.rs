//! Request parsing for the RFC 6749 endpoints: form bodies and client credentials,
//! as pure functions with bounded work.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, header};
use base64::Engine as _;
use percent_encoding::percent_decode;
use wirecash_core::service::ClientSecret;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::http::extract::{MAX_BODY, content_type_is, read_body, refuse_query};

/// Most parameters a form may carry (the longest request, a password grant with client
/// credentials in the body, has six).
pub const MAX_PARAMS: usize = 16;
/// Longest client id or client secret taken from HTTP Basic.
pub const MAX_CREDENTIAL: usize = 1024;
/// Longest `Authorization` header value looked at.
const MAX_AUTHORIZATION: usize = 4096;

/// A decoded form: each parameter at most once, empty ones dropped (RFC 6749 §3.1:
/// "parameters sent without a value MUST be treated as if they were omitted").
#[derive(Default)]
pub struct Form {
    params: Vec<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are secrets; only the names are shown.
        f.debug_list()
            .entries(self.params.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Form {
    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter names, in order (for tests and diagnostics).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(k, _)| k.as_str())
    }
}

fn check_len<'a>(name: &str, v: &'a str, max: usize) -> Result<&'a str, ApiError> {
    if v.len() > max {
        return Err(ApiError::InvalidRequest(format!(
            "the parameter `{name}` is longer than {max} bytes"
        )));
    }
    Ok(v)
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte, and the result
/// must be UTF-8 (a malformed request, not a guess, if it is not).
fn decode_component(raw: &[u8]) -> Result<Zeroizing<String>, ApiError> {
    let plus_as_space: Zeroizing<Vec<u8>> = Zeroizing::new(
        raw.iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect(),
    );
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(percent_decode(&plus_as_space).collect());
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(ApiError::InvalidRequest(
            "the form body is not UTF-8 after percent-decoding".into(),
        )),
    }
}

/// Checks what can be checked before the body is read: no query string, and the
/// content type.
fn check_head(query: Option<&str>, content_type: Option<&str>) -> Result<(), ApiError> {
    refuse_query(
        query,
        "send them form-encoded in the request body (RFC 6749 §3.2)",
    )?;
    if !content_type_is(content_type, "application/x-www-form-urlencoded") {
        return Err(ApiError::FormMediaType);
    }
    Ok(())
}

/// Request parsing for the RFC 6749 endpoints: `application/x-www-form-urlencoded`
/// bodies (§3.2, Appendix B) and client credentials in HTTP Basic (§2.3.1) or in the
/// body. Pure functions of their inputs (what the extractor and the fuzz targets call),
/// with bounded work: the body size, the number of parameters and every length are
/// capped.
///
/// The whole check of an RFC 6749 request body, as a pure function of the query string,
/// the `Content-Type` and the body bytes.
pub fn parse_form(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Form, ApiError> {
    check_head(query, content_type)?;
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge(MAX_BODY));
    }
    let mut form = Form::default();
    let mut seen = 0usize;
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        seen += 1;
        if seen > MAX_PARAMS {
            return Err(ApiError::InvalidRequest(format!(
                "the form has more than {MAX_PARAMS} parameters"
            )));
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)?;
        if name.is_empty() || value.is_empty() {
            continue;
        }
        if form.get(&name).is_some() {
            return Err(ApiError::InvalidRequest(format!(
                "the parameter `{}` is sent more than once (RFC 6749 §3.1)",
                name.as_str()
            )));
        }
        form.params.push((name.to_string(), value));
    }
    Ok(form)
}

/// The client credentials of an `Authorization: Basic` header: `None` without one (or
/// with another scheme). The id and secret are form-urlencoded before base64 (RFC 6749
/// §2.3.1), so they are decoded again here. Anything malformed is `invalid_client`.
pub fn basic_credentials(
    authorization: Option<&HeaderValue>,
) -> Result<Option<ClientSecret>, ApiError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let value = value.as_bytes();
    if value.len() > MAX_AUTHORIZATION {
        return Err(ApiError::InvalidClient(
            "the Authorization header is too long",
        ));
    }
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Ok(None);
    }
    let encoded = rest.trim_ascii();
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| ApiError::InvalidClient("malformed Basic credentials"))?,
    );
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Err(ApiError::InvalidClient(
            "malformed Basic credentials: no ':' between client id and secret",
        ));
    };
    let malformed = |_| ApiError::InvalidClient("malformed Basic credentials");
    let id = decode_component(&decoded[..colon]).map_err(malformed)?;
    let secret = decode_component(&decoded[colon + 1..]).map_err(malformed)?;
    if id.is_empty() || id.len() > MAX_CREDENTIAL || secret.len() > MAX_CREDENTIAL {
        return Err(ApiError::InvalidClient("malformed Basic credentials"));
    }
    Ok(Some(ClientSecret {
        id: id.to_string(),
        secret,
    }))
}

/// An RFC 6749 request: its form body and the client credentials of its HTTP Basic
/// header, if any (the handler combines them with the body's, `client_credentials`).
#[derive(Debug)]
pub struct OAuthRequest {
    /// The form.
    pub form: Form,
    /// Client credentials from `Authorization: Basic`, if sent.
    pub basic: Option<ClientSecret>,
}

/// A required form parameter of at most `max` bytes.
pub fn required<'a>(name: &str, value: Option<&'a str>, max: usize) -> Result<&'a str, ApiError> {
    let v = value
        .ok_or_else(|| ApiError::InvalidRequest(format!("the parameter `{name}` is required")))?;
    check_len(name, v, max)
}

/// An optional form parameter of at most `max` bytes.
pub fn optional<'a>(
    name: &str,
    value: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    value.map(|v| check_len(name, v, max)).transpose()
}

/// The client credentials of a request, from either HTTP Basic or the body's
/// `client_id` / `client_secret` — not both (RFC 6749 §2.3: "MUST NOT use more than one
/// authentication method in each request").
pub fn client_credentials(
    basic: Option<ClientSecret>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<Option<ClientSecret>, ApiError> {
    let id = optional("client_id", client_id, MAX_CREDENTIAL)?;
    let secret = optional("client_secret", client_secret, MAX_CREDENTIAL)?;
    match (basic, id, secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::InvalidRequest(
            "send client credentials either in the Authorization header or in the body, not both"
                .into(),
        )),
        (Some(b), None, None) => Ok(Some(b)),
        (None, Some(id), secret) => Ok(Some(ClientSecret {
            id: id.to_string(),
            secret: Zeroizing::new(secret.unwrap_or_default().to_string()),
        })),
        (None, None, Some(_)) => Err(ApiError::InvalidRequest(
            "client_secret without client_id".into(),
        )),
        (None, None, None) => Ok(None),
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Refuse what can be refused before the body is read.
        check_head(parts.uri.query(), content_type)?;
        let basic = basic_credentials(parts.headers.get(header::AUTHORIZATION))?;
        let bytes = read_body(&parts, body).await?;
        let form = parse_form(parts.uri.query(), content_type, &bytes)?;
        Ok(OAuthRequest { form, basic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn basic(raw: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(raw).ok()
    }

    #[test]
    fn form_decodes_plus_percent_and_drops_empty_values() {
        let f = parse_form(
            None,
            FORM,
            b"grant_type=password&username=al%69ce&password=a+b%2Bc&scope=&x",
        )
        .unwrap();
        assert_eq!(f.get("grant_type"), Some("password"));
        assert_eq!(f.get("username"), Some("alice"));
        assert_eq!(f.get("password"), Some("a b+c"));
        assert_eq!(f.get("scope"), None);
        assert_eq!(f.get("x"), None);
        assert_eq!(
            f.names().collect::<Vec<_>>(),
            ["grant_type", "username", "password"]
        );
    }

    #[test]
    fn form_refuses_duplicates_bad_utf8_too_many_params_and_wrong_heads() {
        let bad =
            |q: Option<&str>, ct: Option<&str>, body: &[u8]| parse_form(q, ct, body).unwrap_err();
        assert!(
            matches!(bad(None, FORM, b"a=1&a=2"), ApiError::InvalidRequest(m) if m.contains("more than once"))
        );
        assert!(matches!(
            bad(None, FORM, b"a=%ff"),
            ApiError::InvalidRequest(_)
        ));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(matches!(
            bad(None, FORM, many.join("&").as_bytes()),
            ApiError::InvalidRequest(_)
        ));
        assert!(matches!(
            bad(None, Some("application/json"), b"a=1"),
            ApiError::FormMediaType
        ));
        assert!(matches!(bad(None, None, b"a=1"), ApiError::FormMediaType));
        assert!(matches!(
            bad(Some("client_secret=x"), FORM, b"a=1"),
            ApiError::InvalidRequest(_)
        ));
        assert!(matches!(
            bad(None, FORM, &vec![b'a'; MAX_BODY + 1]),
            ApiError::PayloadTooLarge(_)
        ));
        // Any query string is refused, harmless-looking or not; a charset is fine.
        assert!(matches!(
            bad(Some("v=1"), FORM, b"a=1"),
            ApiError::InvalidRequest(_)
        ));
        assert!(
            parse_form(
                None,
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                b"a=1"
            )
            .is_ok()
        );
    }

    #[test]
    fn required_and_optional_check_presence_and_length() {
        let f = parse_form(None, FORM, b"a=123").unwrap();
        assert_eq!(required("a", f.get("a"), 3).unwrap(), "123");
        assert!(matches!(
            required("a", f.get("a"), 2),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(
            matches!(required("b", f.get("b"), 9), Err(ApiError::InvalidRequest(m)) if m.contains("`b`"))
        );
        assert_eq!(optional("b", f.get("b"), 9).unwrap(), None);
        assert!(optional("a", f.get("a"), 2).is_err());
    }

    #[test]
    fn basic_credentials_are_base64_then_form_decoded() {
        // "al%20ice:p%3Ass+word" → id "al ice", secret "p:ss word" (RFC 6749 §2.3.1).
        let h = basic("Basic YWwlMjBpY2U6cCUzQXNzK3dvcmQ=");
        let c = basic_credentials(h.as_ref()).unwrap().unwrap();
        assert_eq!(c.id, "al ice");
        assert_eq!(c.secret.as_str(), "p:ss word");
        // Scheme is case-insensitive; a secret may be empty; the first ':' splits.
        let c = basic_credentials(basic("basic YTo=").as_ref())
            .unwrap()
            .unwrap();
        assert_eq!((c.id.as_str(), c.secret.as_str()), ("a", ""));
        let c = basic_credentials(basic("Basic YTpiOmM=").as_ref())
            .unwrap()
            .unwrap();
        assert_eq!((c.id.as_str(), c.secret.as_str()), ("a", "b:c"));
        // No header, or another scheme: no credentials.
        assert!(basic_credentials(None).unwrap().is_none());
        assert!(
            basic_credentials(basic("Bearer abc").as_ref())
                .unwrap()
                .is_none()
        );
        // Malformed: invalid_client.
        for bad in ["Basic !!!", "Basic YWJj", "Basic OmI=", "Basic JWZmOmI="] {
            assert!(
                matches!(
                    basic_credentials(basic(bad).as_ref()),
                    Err(ApiError::InvalidClient(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_authentication_method_per_request() {
        let creds = || {
            Some(ClientSecret {
                id: "a".into(),
                secret: Zeroizing::new("s".into()),
            })
        };
        let f = parse_form(None, FORM, b"client_id=a&client_secret=s").unwrap();
        assert!(matches!(
            client_credentials(creds(), f.get("client_id"), f.get("client_secret")),
            Err(ApiError::InvalidRequest(_))
        ));
        let c = client_credentials(None, f.get("client_id"), f.get("client_secret"))
            .unwrap()
            .unwrap();
        assert_eq!((c.id.as_str(), c.secret.as_str()), ("a", "s"));
        let none = parse_form(None, FORM, b"x=1").unwrap();
        assert_eq!(
            client_credentials(creds(), none.get("client_id"), none.get("client_secret"))
                .unwrap()
                .unwrap()
                .id,
            "a"
        );
        assert!(
            client_credentials(None, none.get("client_id"), none.get("client_secret"))
                .unwrap()
                .is_none()
        );
        let secret_only = parse_form(None, FORM, b"client_secret=s").unwrap();
        assert!(
            client_credentials(
                None,
                secret_only.get("client_id"),
                secret_only.get("client_secret")
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn any_body_is_parsed_or_refused_without_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_form(None, FORM, &body);
        }

        #[test]
        fn encoded_pairs_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{1,40}", 1..8)) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| {
                let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
                format!("{}={}", enc(k), enc(v))
            }).collect();
            let form = parse_form(None, FORM, body.join("&").as_bytes()).unwrap();
            for (k, v) in &pairs {
                prop_assert_eq!(form.get(k), Some(v.as_str()));
            }
        }

        #[test]
        fn any_authorization_header_is_parsed_or_refused_without_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(h) = HeaderValue::from_bytes(&raw) {
                let _ = basic_credentials(Some(&h));
            }
        }
    }
}

//! Fuzzes the RFC 6749 request parsers: `parse_form` (query string, `Content-Type`, a
//! form-urlencoded body) and `basic_credentials` (an `Authorization: Basic` header).
//! Input: a head byte (query and content type), then the header value up to the first
//! 0xff byte and the body after it (no 0xff: no header, all body). No input may panic,
//! and:
//! - every refusal is a 4xx;
//! - a form that passes came as `application/x-www-form-urlencoded` with no query
//!   string, has at most `MAX_PARAMS` parameters, each once, none empty; encoded
//!   again, it parses back to the same parameters in the same order;
//! - Basic credentials that pass have a non-empty id and both parts within
//!   `MAX_CREDENTIAL`; encoded again (RFC 6749 §2.3.1), they decode to the same; a header
//!   that is not `Basic …` gives none.
#![no_main]

use axum::http::HeaderValue;
use axum::response::IntoResponse as _;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use wirecash_auth::http::extract::MAX_BODY;
use wirecash_auth::http::form::{
    MAX_CREDENTIAL, MAX_PARAMS, basic_credentials, client_credentials, parse_form,
};

const FORM: &str = "application/x-www-form-urlencoded";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let (authorization, body) = match rest.iter().position(|b| *b == 0xff) {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let query = match head % 4 {
        0 => None,
        1 => Some("x=1"),
        2 => Some("token=abc"),
        _ => Some("a=1&Client_Secret"),
    };
    let content_type = match (head / 4) % 4 {
        0 => None,
        1 => Some(FORM),
        2 => Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        _ => Some("application/json"),
    };
    let form = match parse_form(query, content_type, body) {
        Err(e) => {
            let status = e.into_response().status();
            assert!(status.is_client_error(), "form refused with {status}");
            None
        }
        Ok(form) => {
            assert!(query.is_none(), "a query string passed");
            assert!(matches!((head / 4) % 4, 1 | 2), "{content_type:?} passed");
            assert!(body.len() <= MAX_BODY);
            let names: Vec<&str> = form.names().collect();
            assert!(names.len() <= MAX_PARAMS, "{} parameters", names.len());
            let mut pairs = Vec::new();
            for (i, name) in names.iter().enumerate() {
                assert!(!name.is_empty() && !names[..i].contains(name), "{name:?}");
                let Some(value) = form.get(name) else {
                    panic!("{name:?} listed but not there");
                };
                assert!(!value.is_empty(), "{name:?} is empty");
                pairs.push(format!("{}={}", enc(name), enc(value)));
            }
            let again = pairs.join("&");
            if again.len() <= MAX_BODY {
                let Ok(back) = parse_form(None, Some(FORM), again.as_bytes()) else {
                    panic!("the re-encoded form is refused: {again:?}");
                };
                assert_eq!(back.names().collect::<Vec<_>>(), names);
                for name in &names {
                    assert_eq!(back.get(name), form.get(name), "{name:?}");
                }
            }
            Some(form)
        }
    };
    let Some(raw) = authorization else {
        return;
    };
    let Ok(value) = HeaderValue::from_bytes(raw) else {
        return;
    };
    let is_basic = raw
        .iter()
        .position(|b| *b == b' ')
        .is_some_and(|i| raw[..i].eq_ignore_ascii_case(b"basic"));
    let basic = match basic_credentials(Some(&value)) {
        Err(e) => {
            let status = e.into_response().status();
            assert!(status.is_client_error(), "Basic refused with {status}");
            return;
        }
        Ok(None) => {
            assert!(!is_basic, "Basic credentials ignored");
            return;
        }
        Ok(Some(c)) => c,
    };
    assert!(is_basic, "credentials from a header that is not Basic");
    assert!(!basic.id.is_empty() && basic.id.len() <= MAX_CREDENTIAL);
    assert!(basic.secret.len() <= MAX_CREDENTIAL);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        enc(&basic.id),
        enc(&basic.secret)
    ));
    let again = match HeaderValue::from_str(&format!("Basic {encoded}")) {
        Ok(v) => v,
        Err(e) => panic!("re-encoded header: {e}"),
    };
    match basic_credentials(Some(&again)) {
        Ok(Some(back)) => {
            assert_eq!(back.id, basic.id);
            assert_eq!(back.secret.as_str(), basic.secret.as_str());
        }
        Ok(None) => panic!("re-encoded credentials ignored"),
        Err(_) if encoded.len() + 6 > 4096 => {}
        Err(e) => panic!("re-encoded credentials refused: {e:?}"),
    }
    if let Some(form) = form {
        if let Err(e) = client_credentials(
            Some(basic),
            form.get("client_id"),
            form.get("client_secret"),
        ) {
            let status = e.into_response().status();
            assert!(
                status.is_client_error(),
                "credentials refused with {status}"
            );
        }
    }
});

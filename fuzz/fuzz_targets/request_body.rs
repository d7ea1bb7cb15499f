//! Fuzzes the request-body check of the WireCash endpoints (query string, content type,
//! JSON, field extraction). No input may panic; every refusal is a 4xx; what passes is a
//! JSON object sent as `application/json` with no query string, and
//! a field handed out is a non-empty string within its limit, as sent.
#![no_main]

use axum::response::IntoResponse as _;
use libfuzzer_sys::fuzz_target;
use wirecash_auth::http::extract::{MAX_BODY, parse_body};

fuzz_target!(|data: &[u8]| {
    // First byte picks the head, the rest is the body.
    let (head, body) = data.split_first().map_or((0, &[][..]), |(h, b)| (*h, b));
    let query = match head % 4 {
        0 => None,
        1 => Some("x=1"),
        2 => Some("refresh_token=abc"),
        _ => Some("a=1&Password"),
    };
    let content_type = match (head / 4) % 4 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("Application/JSON; charset=utf-8"),
        _ => Some("application/jsonx"),
    };
    match parse_body(query, content_type, body) {
        Err(e) => {
            let status = e.into_response().status();
            assert!(status.is_client_error(), "refused with {status}");
        }
        Ok(obj) => {
            assert!(
                query.is_none(),
                "a query string passed"
            );
            assert!(matches!((head / 4) % 4, 1 | 2), "{content_type:?} passed");
            assert!(!body.is_empty() && body.len() <= MAX_BODY);
            let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
                panic!("a body that is not a JSON object passed");
            };
            for (field, max) in [
                ("username", 256),
                ("password", 1024),
                ("access_token", 4096),
                ("refresh_token", 4096),
            ] {
                match obj.required_str(field, max) {
                    Ok(s) => {
                        assert!(
                            !s.is_empty() && s.len() <= max,
                            "{field}: {} bytes",
                            s.len()
                        );
                        assert_eq!(map.get(field).and_then(|v| v.as_str()), Some(s));
                    }
                    Err(e) => {
                        let status = e.into_response().status();
                        assert!(status.is_client_error(), "{field} refused with {status}");
                    }
                }
            }
        }
    }
});

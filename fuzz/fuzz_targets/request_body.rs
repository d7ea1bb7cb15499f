//! Fuzzes the request-body check of the WireCash endpoints (query string, content type,
//! JSON, field extraction). No input may panic; every refusal is a 4xx; what passes is a
//! JSON object sent as `application/json` with no query string, and
//! a field handed out is a non-empty string within its limit, as sent. The borrowed
//! field parse of `/authenticate` and `/token` (`Fields`) gives the same answers as the
//! map, field by field, error by error.
#![no_main]

use axum::response::IntoResponse as _;
use libfuzzer_sys::fuzz_target;
use wirecash_auth::http::extract::{Fields, MAX_BODY, parse_body};

const FIELDS: [(&str, usize); 4] = [
    ("username", 256),
    ("password", 1024),
    ("access_token", 4096),
    ("refresh_token", 4096),
];

fuzz_target!(|data: &[u8]| {
    // First byte picks the head, the rest is the body.
    let (head, body) = data.split_first().map_or((0, &[][..]), |(h, b)| (*h, b));
    // The map and the borrowed fields agree on every body (the head is checked apart).
    let by_map = parse_body(None, Some("application/json"), body);
    let by_fields = Fields::parse(body, FIELDS.map(|(name, _)| name));
    match (&by_map, &by_fields) {
        (Ok(obj), Ok(fields)) => {
            for (field, max) in FIELDS {
                let a = obj.required_str(field, max).map_err(|e| format!("{e:?}"));
                let b = fields.required_str(field, max).map_err(|e| format!("{e:?}"));
                assert_eq!(a, b, "{field}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (a, b) => panic!("the map says {a:?}, the fields say {b:?}"),
    }
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
            for (field, max) in FIELDS {
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

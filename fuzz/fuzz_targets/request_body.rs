//! Fuzzes the request-body check of the WireCash endpoints (query string, content type,
//! JSON, field extraction): no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirecash_auth::http::extract::parse_body;

fuzz_target!(|data: &[u8]| {
    // First byte picks the head, the rest is the body.
    let (head, body) = data.split_first().map_or((0, &[][..]), |(h, b)| (*h, b));
    let query = match head % 3 {
        0 => None,
        1 => Some("x=1"),
        _ => Some("refresh_token=abc"),
    };
    let content_type = match (head / 3) % 3 {
        0 => None,
        1 => Some("application/json"),
        _ => Some("Application/JSON; charset=utf-8"),
    };
    if let Ok(obj) = parse_body(query, content_type, body) {
        for field in ["username", "password", "access_token", "refresh_token"] {
            let _ = obj.required_str(field, 4096);
        }
    }
});

//! Fuzzes what `/token` reads from the access token a client sends before any I/O:
//! `access_token::peek`, which decides whether the one-statement rotation may be tried. No
//! input may panic; tokens over the cap are never read; whatever claims it returns are
//! exactly those of the token's second segment, and they round-trip: re-encoded in the
//! same frame, they read back equal.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use wirecash_core::access_token;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let Some(claims) = access_token::peek(token) else {
        return;
    };
    assert!(token.len() <= 4096, "read a token of {} bytes", token.len());
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "read a token that is not a compact JWS");
    let Ok(payload) = URL_SAFE_NO_PAD.decode(parts[1]) else {
        panic!("read a payload that is not base64url");
    };
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(&payload) else {
        panic!("read a payload that is not a JSON object");
    };
    // Nothing defaulted or invented: each claim the rotation uses is in the token.
    for (name, value) in [
        ("username", &claims.username),
        ("sub", &claims.sub),
        ("sid", &claims.sid),
        ("env", &claims.env),
    ] {
        assert_eq!(
            obj.get(name).and_then(|v| v.as_str()),
            Some(value.as_str()),
            "{name}"
        );
    }
    let Ok(json) = serde_json::to_vec(&claims) else {
        panic!("claims do not serialize");
    };
    let again = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(json), parts[2]);
    assert_eq!(access_token::peek(&again).as_ref(), Some(&claims), "no round trip");
});

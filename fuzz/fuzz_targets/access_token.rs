//! Fuzzes what `/token` reads from the access token a client sends before any I/O:
//! `access_token::peek_owner`, which decides whether the one-statement rotation may be
//! tried, beside `access_token::peek`, the full read it stands in for. No input may
//! panic; tokens over the cap are never read; the owner claims it returns are exactly
//! those of the token's second segment, and the same `peek` reads whenever `peek` reads
//! the token at all; `peek`'s claims round-trip: re-encoded in the same frame, they read
//! back equal.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use wirecash_core::access_token;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let owner = access_token::peek_owner(token, |o| {
        [
            o.username.to_string(),
            o.sub.to_string(),
            o.sid.to_string(),
            o.env.to_string(),
        ]
    });
    let claims = access_token::peek(token);
    if let Some(c) = &claims {
        let full = [
            c.username.clone(),
            c.sub.clone(),
            c.sid.clone(),
            c.env.clone(),
        ];
        assert_eq!(owner.as_ref(), Some(&full), "peek_owner disagrees with peek");
    }
    let Some(owner) = owner else {
        return;
    };
    assert!(token.len() <= 4096, "read a token of {} bytes", token.len());
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "read a token that is not a compact JWS");
    let Ok(payload) = URL_SAFE_NO_PAD.decode(parts[1]) else {
        panic!("read a payload that is not base64url");
    };
    // Raw values: JSON allows a number of any size in a claim nobody reads (`1E800000`),
    // which `serde_json::Value` refuses as out of range.
    let Ok(obj) = serde_json::from_slice::<HashMap<String, Box<RawValue>>>(&payload) else {
        panic!("read a payload that is not a JSON object");
    };
    // Nothing defaulted or invented: each claim the rotation uses is in the token.
    for (name, value) in ["username", "sub", "sid", "env"].iter().zip(&owner) {
        let sent = obj
            .get(*name)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok());
        assert_eq!(sent.as_deref(), Some(value.as_str()), "{name}");
    }
    let Some(claims) = claims else {
        return;
    };
    let Ok(json) = serde_json::to_vec(&claims) else {
        panic!("claims do not serialize");
    };
    let again = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(json), parts[2]);
    assert_eq!(access_token::peek(&again).as_ref(), Some(&claims), "no round trip");
});

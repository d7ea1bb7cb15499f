//! Fuzzes the refresh-token parser. Mode 0 (first byte even): the rest, as a string, must
//! never parse — only a forged 128-bit MAC could make it. Mode 1: a genuine token is
//! minted from the input (session id, rotations) and must round-trip through
//! `encode`/`parse`; with one character changed, or under another environment's keys,
//! it must be refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wirecash_core::crypto::{EnvSecrets, MasterKey};
use wirecash_core::token::{ENCODED_LEN, RefreshToken};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn secrets(env: &str) -> EnvSecrets {
    match MasterKey::from_bytes([42; 32]).env_secrets(env) {
        Ok(s) => s,
        Err(e) => panic!("secrets: {e}"),
    }
}

fn sandbox() -> &'static EnvSecrets {
    static S: OnceLock<EnvSecrets> = OnceLock::new();
    S.get_or_init(|| secrets("sandbox"))
}

fn production() -> &'static EnvSecrets {
    static S: OnceLock<EnvSecrets> = OnceLock::new();
    S.get_or_init(|| secrets("production"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(s) = std::str::from_utf8(rest) {
            if let Some(t) = RefreshToken::parse(s, sandbox()) {
                // Only reachable by forging a 128-bit MAC: a real finding.
                panic!("accepted a token that was never minted: {t:?}");
            }
        }
        return;
    }
    // Structured: 8 bytes session id, 1 byte rotations, 1 byte position, 1 byte char.
    let mut b = [0u8; 11];
    for (dst, src) in b.iter_mut().zip(rest) {
        *dst = *src;
    }
    let sid = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let mut token = match RefreshToken::first(sid, sandbox()) {
        Ok(t) => t,
        Err(e) => panic!("minting failed: {e}"),
    };
    for _ in 0..b[8] % 8 {
        token = token.successor(sandbox());
    }
    let encoded = token.encode();
    assert_eq!(encoded.len(), ENCODED_LEN);
    let Some(back) = RefreshToken::parse(&encoded, sandbox()) else {
        panic!("a minted token does not parse: {encoded}");
    };
    assert_eq!(back.session_id(), sid);
    assert_eq!(back.generation(), i64::from(b[8] % 8));
    assert_eq!(back.hash(sandbox()), token.hash(sandbox()));
    assert!(
        RefreshToken::parse(&encoded, production()).is_none(),
        "a sandbox token passed in production"
    );
    // One character changed (to another of the alphabet): refused.
    let pos = usize::from(b[9]) % encoded.len();
    let mut bytes = encoded.into_bytes();
    let replacement = ALPHABET[usize::from(b[10]) % ALPHABET.len()];
    if bytes[pos] == replacement {
        return;
    }
    bytes[pos] = replacement;
    if let Ok(altered) = String::from_utf8(bytes) {
        assert!(
            RefreshToken::parse(&altered, sandbox()).is_none(),
            "an altered token passed: {altered}"
        );
    }
});

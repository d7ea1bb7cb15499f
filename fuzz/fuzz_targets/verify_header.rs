//! Fuzzes a resource server's check of the `Authorization` header (`wirecash-verify`):
//! the raw token or `Bearer <token>`, then the JOSE header, key choice, signature and
//! claims. The verifier pins two keys (EdDSA and ES256, `static_jwks`) and a fixed
//! clock. No input may panic, and a header is accepted only if its token's signed part
//! (`header.payload`) is one this target signed with valid claims: anything else
//! accepted — unsigned, re-signed, altered, expired, for another issuer, audience or
//! environment — is a forgery.
//!
//! `WIRECASH_FUZZ_SEEDS=DIR` makes the target write its seed inputs (valid and
//! invalid tokens, raw and as `Bearer`) to DIR once at start.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use axum::http::HeaderValue;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use wirecash_verify::{ManualClock, Verifier};

const ISSUER: &str = "https://auth.example/sandbox";
/// The verifier's clock: 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;
/// Ed25519 seed of the EdDSA key (a fixture, not a secret).
const ED_SEED: [u8; 32] = [7; 32];
/// PKCS#8 of the ES256 key (a fixture, not a secret).
const EC_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042061385e6f37a41cc4b757452daff1c64bba3a3ef43bc583732a21cc92a32473c1a1440342000499fbe0be2c4dfb32db1e24a11d3d2882cc3888b265eef9ca410cd68b35c252bf9a452cdec4188456e4c3f9fdda893c6e817063e26fd9c5475c3dec3aff018bcf";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    /// Signed parts (`header.payload`) of the tokens that must pass.
    valid: HashSet<String>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn keys() -> [(Algorithm, &'static str, EncodingKey); 2] {
    // PKCS#8 v1 of an Ed25519 seed: the fixed prefix and the 32 bytes.
    let mut ed = hex("302e020100300506032b657004220420");
    ed.extend_from_slice(&ED_SEED);
    [
        (Algorithm::EdDSA, "ed", EncodingKey::from_ed_der(&ed)),
        (
            Algorithm::ES256,
            "ec",
            EncodingKey::from_ec_der(&hex(EC_PKCS8)),
        ),
    ]
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": ISSUER, "sub": "u-1", "client_id": "alice",
        "username": "alice", "sid": "7", "iat": NOW - 60, "exp": NOW + 3600,
        "jti": "j-1", "env": "sandbox"
    })
}

fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    typ: Option<&str>,
    claims: &Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_string);
    header.kid = kid.map(str::to_string);
    match jsonwebtoken::encode(&header, claims, key) {
        Ok(t) => t,
        Err(e) => panic!("signing: {e}"),
    }
}

fn signed_part(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(signed, _)| signed)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys = keys();
        let mut jwks = Vec::new();
        for (alg, kid, key) in &keys {
            let mut jwk = match Jwk::from_encoding_key(key, *alg) {
                Ok(j) => j,
                Err(e) => panic!("jwk: {e}"),
            };
            jwk.common.key_id = Some((*kid).to_string());
            jwks.push(jwk);
        }
        let document = match serde_json::to_string(&JwkSet { keys: jwks }) {
            Ok(d) => d,
            Err(e) => panic!("jwks: {e}"),
        };
        let verifier = match Verifier::builder(ISSUER)
            .static_jwks(document)
            .clock(std::sync::Arc::new(ManualClock::at_millis(NOW * 1000)))
            .build()
        {
            Ok(v) => v,
            Err(e) => panic!("verifier: {e}"),
        };
        let mut valid = HashSet::new();
        let mut seeds = Vec::new();
        for (alg, kid, key) in &keys {
            for typ in ["at+jwt", "application/at+jwt"] {
                let t = sign(*alg, Some(kid), Some(typ), &claims(), key);
                valid.insert(signed_part(&t).to_string());
                seeds.push(t);
            }
            // Signed by our key, but not acceptable.
            let mut refused = Vec::new();
            for (claim, value) in [
                ("exp", json!(NOW - 3600)),
                ("env", json!("production")),
                ("iss", json!("https://evil.example/sandbox")),
                ("aud", json!("https://auth.example/production")),
                ("sub", Value::Null),
            ] {
                let mut c = claims();
                c[claim] = value;
                refused.push(sign(*alg, Some(kid), Some("at+jwt"), &c, key));
            }
            refused.push(sign(*alg, Some(kid), Some("JWT"), &claims(), key));
            refused.push(sign(*alg, None, Some("at+jwt"), &claims(), key));
            let other_kid = if *kid == "ed" { "ec" } else { "ed" };
            refused.push(sign(*alg, Some(other_kid), Some("at+jwt"), &claims(), key));
            seeds.extend(refused);
        }
        if let Ok(dir) = std::env::var("WIRECASH_FUZZ_SEEDS") {
            // `alg: none` and a bare header too.
            let none = format!(
                "{}.{}.",
                base64url(br#"{"alg":"none","typ":"at+jwt","kid":"ed"}"#),
                base64url(claims().to_string().as_bytes())
            );
            seeds.push(none);
            let mut inputs: Vec<String> = Vec::new();
            for (i, t) in seeds.iter().enumerate() {
                inputs.push(match i % 3 {
                    0 => t.clone(),
                    1 => format!("Bearer {t}"),
                    _ => format!("bearer   {t} "),
                });
            }
            for (i, input) in inputs.iter().enumerate() {
                let _ = std::fs::write(format!("{dir}/seed-{i:02}"), input);
            }
        }
        let runtime = match tokio::runtime::Builder::new_current_thread().build() {
            Ok(r) => r,
            Err(e) => panic!("runtime: {e}"),
        };
        Fixture {
            runtime,
            verifier,
            valid,
        }
    })
}

fn base64url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The token of an `Authorization` value as RFC 6750 §2.1 and the raw WireCash form
/// define it.
fn token_of(value: &str) -> &str {
    let text = value.trim();
    match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => text,
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let result = f.runtime.block_on(f.verifier.verify_header(Some(&value)));
    let Ok(claims) = result else {
        return;
    };
    let Ok(text) = value.to_str() else {
        panic!("accepted a header that is not text");
    };
    let token = token_of(text);
    assert!(
        f.valid.contains(signed_part(token)),
        "accepted a token this target never signed: {token}"
    );
    assert_eq!(claims.env, "sandbox");
    assert!(claims.exp + 30 >= NOW);
});

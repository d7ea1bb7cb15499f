//! Fuzzes the check of an access token a client sends to `/revoke` and `/introspect`
//! (`access_token::verify`): split, JOSE header, key by `kid`, algorithm,
//! signature, claims. The environment has two keys (EdDSA and ES256, fixed fixtures).
//! No input may panic, and a token is accepted only if its signed part
//! (`header.payload`) is one this target signed with the environment's `iss` and `env`:
//! anything else accepted — unsigned, altered, signed with the other key's `kid` or
//! algorithm, another environment's — is a forgery. (Expired tokens are accepted by
//! design: the caller decides what expiry means.)
//!
//! `WIRECASH_FUZZ_SEEDS=DIR` makes the target write its seed inputs to DIR at start.
#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use wirecash_core::SigningAlg;
use wirecash_core::keys::SigningKey;
use wirecash_core::access_token;

const ISSUER: &str = "https://auth.example/sandbox";
/// Ed25519 seed of the EdDSA key (a fixture, not a secret).
const ED_SEED: [u8; 32] = [9; 32];
/// PKCS#8 of the ES256 key (a fixture, not a secret).
const EC_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042061385e6f37a41cc4b757452daff1c64bba3a3ef43bc583732a21cc92a32473c1a1440342000499fbe0be2c4dfb32db1e24a11d3d2882cc3888b265eef9ca410cd68b35c252bf9a452cdec4188456e4c3f9fdda893c6e817063e26fd9c5475c3dec3aff018bcf";

struct Fixture {
    keys: Vec<Arc<SigningKey>>,
    /// Signed parts of the tokens that must pass.
    valid: HashSet<String>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn pkcs8s() -> [(SigningAlg, Algorithm, &'static str, Vec<u8>); 2] {
    let mut ed = hex("302e020100300506032b657004220420");
    ed.extend_from_slice(&ED_SEED);
    [
        (SigningAlg::EdDSA, Algorithm::EdDSA, "ed-key", ed),
        (SigningAlg::ES256, Algorithm::ES256, "ec-key", hex(EC_PKCS8)),
    ]
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": ISSUER, "sub": "u-1", "client_id": "alice",
        "username": "alice", "sid": "7", "iat": 1_800_000_000, "exp": 1_800_003_600,
        "jti": "j-1", "env": "sandbox"
    })
}

fn signed_part(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(signed, _)| signed)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut keys = Vec::new();
        let mut valid = HashSet::new();
        let mut seeds = Vec::new();
        for (alg, jose, kid, pkcs8) in pkcs8s() {
            let key = match SigningKey::from_pkcs8(kid.to_string(), alg, 0, &pkcs8) {
                Ok(k) => Arc::new(k),
                Err(e) => panic!("key: {e}"),
            };
            let good = match key.sign(&claims()) {
                Ok(t) => t,
                Err(e) => panic!("signing: {e}"),
            };
            valid.insert(signed_part(&good).to_string());
            seeds.push(good);
            // Expired is fine here; another environment or issuer is not.
            for (claim, value) in [
                ("exp", json!(1)),
                ("env", json!("production")),
                ("iss", json!("https://auth.example/production")),
            ] {
                let mut c = claims();
                c[claim] = value;
                match key.sign(&c) {
                    Ok(t) => {
                        if claim == "exp" {
                            valid.insert(signed_part(&t).to_string());
                        }
                        seeds.push(t);
                    }
                    Err(e) => panic!("signing: {e}"),
                }
            }
            // The same key under other headers (not at+jwt; the other key's kid).
            let enc = match jose {
                Algorithm::EdDSA => EncodingKey::from_ed_der(&pkcs8),
                _ => EncodingKey::from_ec_der(&pkcs8),
            };
            let other = if kid == "ed-key" { "ec-key" } else { "ed-key" };
            for (typ, k) in [(Some("JWT"), kid), (Some("at+jwt"), other), (None, kid)] {
                let mut h = Header::new(jose);
                h.typ = typ.map(str::to_string);
                h.kid = Some(k.to_string());
                if let Ok(t) = jsonwebtoken::encode(&h, &claims(), &enc) {
                    seeds.push(t);
                }
            }
            keys.push(key);
        }
        seeds.push(format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt","kid":"ed-key"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        ));
        if let Ok(dir) = std::env::var("WIRECASH_FUZZ_SEEDS") {
            for (i, s) in seeds.iter().enumerate() {
                let _ = std::fs::write(format!("{dir}/seed-{i:02}"), s);
            }
        }
        Fixture { keys, valid }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let keys: Vec<&Arc<SigningKey>> = f.keys.iter().collect();
    let Some(claims) = access_token::verify(&keys, ISSUER, "sandbox", token) else {
        return;
    };
    assert!(
        f.valid.contains(signed_part(token)),
        "accepted a token this target never signed: {token}"
    );
    assert_eq!(
        (claims.iss.as_str(), claims.env.as_str()),
        (ISSUER, "sandbox")
    );
});

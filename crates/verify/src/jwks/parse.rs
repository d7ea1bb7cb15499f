//! Reading a JWK set: the keys a verifier may trust, by `kid`; symmetric keys, keys for
//! other uses and keys whose declared algorithm disagrees with their type are skipped.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::CachedKey;

/// A JWK set as it arrives: its keys not yet checked.
#[derive(Deserialize)]
pub(super) struct RawSet {
    pub(super) keys: Vec<serde_json::Value>,
}

/// Usable keys of a JWK set: signature keys with a `kid`, of an allowed algorithm.
/// Anything else (symmetric `oct` keys above all) is skipped, never trusted.
pub(super) fn parse_keys(
    raw: Vec<serde_json::Value>,
    allowed: &[Algorithm],
) -> HashMap<String, Arc<CachedKey>> {
    let mut keys = HashMap::new();
    for value in raw {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(alg) = key_alg(&jwk) else {
            continue;
        };
        if !allowed.contains(&alg) {
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => {
                keys.insert(kid, Arc::new(CachedKey { alg, key }));
            }
            Err(e) => tracing::warn!(%kid, error = %e, "skipping a JWK that does not parse"),
        }
    }
    keys
}

/// The algorithm a key is for: its key type and curve decide; a declared `alg` must
/// agree with them.
fn key_alg(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn symmetric_and_unknown_keys_are_never_used() {
        let raw = serde_json::json!([
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "e", "alg": "EdDSA",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "lying", "alg": "ES256",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "whatever"}
        ]);
        let keys = parse_keys(
            raw.as_array().unwrap().clone(),
            &[Algorithm::EdDSA, Algorithm::ES256],
        );
        let kids: Vec<&String> = keys.keys().collect();
        assert_eq!(kids, ["e"]);
        assert!(parse_keys(raw.as_array().unwrap().clone(), &[Algorithm::ES256]).is_empty());
    }
}

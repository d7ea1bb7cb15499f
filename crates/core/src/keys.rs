//! Access-token signing keys: generation, encryption at rest, the key set of an
//! environment (which key signs now, which are published) and JWT signing.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::PublicKeyUse;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;
use wirecash_proto::{Jwk, JwkSet};
use zeroize::Zeroizing;

use crate::clock::{UnixMillis, millis};
use crate::crypto::Sealer;
use crate::error::Error;
use crate::policy::SigningAlg;
use crate::store::KeyRecord;

enum Signer {
    Ed(Ed25519KeyPair),
    Es(EcdsaKeyPair),
}

/// Access-token signing keys: generation, encryption at rest, the key set of an
/// environment (which key signs now, which are published in the JWKS) and JWT signing.
///
/// JWTs are assembled here (RFC 7515 compact serialization) with a key pair parsed once
/// and kept in memory: jsonwebtoken's `encode` re-parses the PKCS#8 document on every
/// call, which costs about as much as the signature itself on the refresh hot path.
/// jsonwebtoken still provides the JWK/JWKS types, and a start-up self-check verifies our
/// output with its `decode`.
///
/// A signing key ready for use.
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// From when it signs.
    pub activates_at: UnixMillis,
    /// Public half as a JWK (with `kid`, `alg`, `use`).
    pub jwk: Jwk,
    signer: Signer,
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

fn internal(what: &str) -> Error {
    Error::Internal(what.to_string())
}

fn key_aad(env: &str, kid: &str, alg: &str) -> Vec<u8> {
    format!("wirecash-auth signing key|{env}|{kid}|{alg}").into_bytes()
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    /// Generates a key pair and its encrypted record.
    pub fn generate(
        env: &str,
        alg: SigningAlg,
        now: UnixMillis,
        activates_at: UnixMillis,
        wrapper: &Sealer,
    ) -> Result<(Self, KeyRecord), Error> {
        let rng = SystemRandom::new();
        // PKCS#8 v1: jsonwebtoken's JWK export rejects the v2 documents (DEPENDENCIES.md).
        let pkcs8 = Zeroizing::new(match alg {
            SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| internal("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec(),
            SigningAlg::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| internal("P-256 key generation failed"))?
                    .as_ref()
                    .to_vec()
            }
        });
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let sealed = wrapper.seal(&key_aad(env, &kid, alg.as_str()), &pkcs8)?;
        let record = KeyRecord {
            env: env.to_string(),
            kid: kid.clone(),
            alg: alg.as_str().to_string(),
            private_key_sealed: sealed,
            created_at: now,
            activates_at,
        };
        let key = Self::from_pkcs8(kid, alg, activates_at, &pkcs8)?;
        Ok((key, record))
    }

    /// Decrypts a stored key. Fails when the master key is not the one it was sealed with.
    pub fn from_record(record: &KeyRecord, wrapper: &Sealer) -> Result<Self, Error> {
        let alg = SigningAlg::parse(&record.alg)
            .ok_or_else(|| internal("stored key has an unknown algorithm"))?;
        let pkcs8 = wrapper
            .open(
                &key_aad(&record.env, &record.kid, &record.alg),
                &record.private_key_sealed,
            )
            .ok_or_else(|| {
                Error::Internal(format!(
                    "cannot decrypt signing key {} of environment {}: is the master key the one \
                     this database was created with?",
                    record.kid, record.env
                ))
            })?;
        Self::from_pkcs8(record.kid.clone(), alg, record.activates_at, &pkcs8)
    }

    /// A key from its PKCS#8 v1 document, as `generate` and `from_record` make it; public
    /// for fixtures (tests, fuzz targets) that need the same key every run.
    pub fn from_pkcs8(
        kid: String,
        alg: SigningAlg,
        activates_at: UnixMillis,
        pkcs8: &[u8],
    ) -> Result<Self, Error> {
        let (signer, enc, jose) = match alg {
            SigningAlg::EdDSA => (
                Signer::Ed(
                    Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| internal("bad Ed25519 key"))?,
                ),
                EncodingKey::from_ed_der(pkcs8),
                Algorithm::EdDSA,
            ),
            SigningAlg::ES256 => (
                Signer::Es(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(|_| internal("bad P-256 key"))?,
                ),
                EncodingKey::from_ec_der(pkcs8),
                Algorithm::ES256,
            ),
        };
        let mut exported = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, jose)
            .map_err(|e| Error::Internal(format!("JWK export: {e}")))?;
        exported.common.key_id = Some(kid.clone());
        exported.common.public_key_use = Some(PublicKeyUse::Signature);
        // What is published is our own wire type; the self-check below imports it back.
        let jwk: Jwk = serde_json::to_value(&exported)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::Internal(format!("JWK export: {e}")))?;
        let header = serde_json::to_vec(&JwtHeader {
            alg: alg.as_str(),
            typ: "at+jwt",
            kid: &kid,
        })
        .map_err(|_| internal("JWT header serialization"))?;
        let key = Self {
            kid,
            alg,
            activates_at,
            jwk,
            signer,
            header_b64: URL_SAFE_NO_PAD.encode(header),
        };
        key.self_check()?;
        Ok(key)
    }

    /// Signs `claims` into a compact JWS with header `{"alg", "typ": "at+jwt", "kid"}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims).map_err(|_| internal("claims serialization"))?;
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 100);
        out.push_str(&self.header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let sig = match &self.signer {
            Signer::Ed(k) => k.sign(out.as_bytes()),
            Signer::Es(k) => k
                .sign(&SystemRandom::new(), out.as_bytes())
                .map_err(|_| internal("ECDSA signing failed"))?,
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut out);
        Ok(out)
    }

    /// Signs a probe and verifies it with jsonwebtoken against the published JWK (as it is
    /// served), so that a key whose JWK and private half disagree can never go live.
    fn self_check(&self) -> Result<(), Error> {
        #[derive(Serialize, serde::Deserialize)]
        struct Probe {
            sub: String,
            exp: u64,
        }
        let token = self.sign(&Probe {
            sub: "self-check".into(),
            exp: 4_102_444_800,
        })?;
        let published: jsonwebtoken::jwk::Jwk = serde_json::to_value(&self.jwk)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::Internal(format!("JWK import: {e}")))?;
        let dk = jsonwebtoken::DecodingKey::from_jwk(&published)
            .map_err(|e| Error::Internal(format!("JWK import: {e}")))?;
        let alg = match self.alg {
            SigningAlg::EdDSA => Algorithm::EdDSA,
            SigningAlg::ES256 => Algorithm::ES256,
        };
        let mut v = jsonwebtoken::Validation::new(alg);
        v.validate_aud = false;
        jsonwebtoken::decode::<Probe>(&token, &dk, &v)
            .map(|_| ())
            .map_err(|e| {
                Error::Internal(format!(
                    "signing key {} fails its self-check: {e}",
                    self.kid
                ))
            })
    }

    /// Whether `signature` is this key's signature of `message` (for introspection and
    /// revocation of access tokens this service minted).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
        match &self.signer {
            Signer::Ed(k) => UnparsedPublicKey::new(&ED25519, k.public_key().as_ref())
                .verify(message, signature)
                .is_ok(),
            Signer::Es(k) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }

    /// The raw public key bytes (for tests and diagnostics).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Ed(k) => k.public_key().as_ref().to_vec(),
            Signer::Es(k) => k.public_key().as_ref().to_vec(),
        }
    }
}

/// The keys of one environment, sorted by activation time.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    /// Builds a set (any order).
    pub fn new(mut keys: Vec<Arc<SigningKey>>) -> Self {
        keys.sort_by(|a, b| {
            a.activates_at
                .cmp(&b.activates_at)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        Self { keys }
    }

    /// All keys.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key that signs at `now`: the latest one already activated.
    pub fn active(&self, now: UnixMillis) -> Option<&Arc<SigningKey>> {
        (0..self.keys.len()).rev().find_map(|i| {
            let next = self.keys.get(i + 1).map(|k| k.activates_at);
            let k = &self.keys[i];
            (KeyState::at(k.activates_at, next, now) == KeyState::Active).then_some(k)
        })
    }

    /// When key `i` stopped signing: the activation of the next key, if that has come.
    fn retired_at(&self, i: usize, now: UnixMillis) -> Option<UnixMillis> {
        self.keys
            .get(i + 1)
            .map(|next| next.activates_at)
            .filter(|t| *t <= now)
    }

    /// Keys a verifier may still need at `now`: upcoming ones, the active one, and
    /// retired ones until the last token they signed has expired (`keep` = access-token
    /// lifetime plus leeway plus the key-reload interval of lagging nodes).
    pub fn published(&self, now: UnixMillis, keep: Duration) -> Vec<&Arc<SigningKey>> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(i, _)| match self.retired_at(*i, now) {
                None => true,
                Some(r) => now < r.saturating_add(millis(keep)),
            })
            .map(|(_, k)| k)
            .collect()
    }

    /// Keys no verifier can need any more: retired for longer than `keep`.
    pub fn expired(&self, now: UnixMillis, keep: Duration) -> Vec<&Arc<SigningKey>> {
        let published = self.published(now, keep);
        self.keys
            .iter()
            .filter(|k| !published.iter().any(|p| Arc::ptr_eq(p, k)))
            .collect()
    }

    /// The JWKS document of the published keys.
    pub fn jwks(&self, now: UnixMillis, keep: Duration) -> JwkSet {
        JwkSet {
            keys: self
                .published(now, keep)
                .into_iter()
                .map(|k| k.jwk.clone())
                .collect(),
        }
    }
}

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet (`key_activation_delay`).
    Pending,
    /// Signing.
    Active,
    /// A later key signs; published until its last token has expired.
    Retired,
}

impl KeyState {
    /// The state at `now` of a key activating at `activates_at`, when the next key of its
    /// environment (by activation) activates at `next`: the latest key already activated
    /// signs.
    pub fn at(activates_at: UnixMillis, next: Option<UnixMillis>, now: UnixMillis) -> Self {
        if activates_at > now {
            KeyState::Pending
        } else if next.is_some_and(|n| n <= now) {
            KeyState::Retired
        } else {
            KeyState::Active
        }
    }

    /// The states at `now` of keys listed by activation, oldest first (as stores list
    /// them).
    pub fn of_all(activations: &[UnixMillis], now: UnixMillis) -> Vec<Self> {
        (0..activations.len())
            .map(|i| Self::at(activations[i], activations.get(i + 1).copied(), now))
            .collect()
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn the_latest_activated_key_signs_later_ones_wait_earlier_ones_retire() {
        use KeyState::*;
        assert_eq!(
            KeyState::of_all(&[0, 100, 200], 150),
            vec![Retired, Active, Pending]
        );
        assert_eq!(KeyState::of_all(&[0, 100], 100), vec![Retired, Active]);
        assert_eq!(KeyState::of_all(&[50], 10), vec![Pending]);
        assert!(KeyState::of_all(&[], 10).is_empty());
    }

    fn key(alg: SigningAlg, activates_at: UnixMillis) -> Result<Arc<SigningKey>, Error> {
        let w = MasterKey::from_bytes([9; 32]).key_wrapper()?;
        let (k, rec) = SigningKey::generate("sandbox", alg, 0, activates_at, &w)?;
        let back = SigningKey::from_record(&rec, &w)?;
        assert_eq!(back.public_key(), k.public_key());
        Ok(Arc::new(k))
    }

    #[test]
    fn both_algorithms_sign_verifiable_tokens() -> Result<(), Error> {
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256] {
            let k = key(alg, 0)?;
            let t = k.sign(&serde_json::json!({"sub": "u"}))?;
            assert_eq!(t.split('.').count(), 3);
            let header =
                jsonwebtoken::decode_header(&t).map_err(|e| Error::Internal(e.to_string()))?;
            assert_eq!(header.kid.as_deref(), Some(k.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        }
        Ok(())
    }

    #[test]
    fn wrong_master_key_cannot_open_a_key() -> Result<(), Error> {
        let w = MasterKey::from_bytes([9; 32]).key_wrapper()?;
        let other = MasterKey::from_bytes([8; 32]).key_wrapper()?;
        let (_, rec) = SigningKey::generate("sandbox", SigningAlg::EdDSA, 0, 0, &w)?;
        assert!(SigningKey::from_record(&rec, &other).is_err());
        let mut moved = rec.clone();
        moved.env = "production".into();
        assert!(SigningKey::from_record(&moved, &w).is_err());
        Ok(())
    }

    #[test]
    fn rotation_publishes_early_switches_late_and_retires_after_keep() -> Result<(), Error> {
        let keep = Duration::from_secs(100);
        let old = key(SigningAlg::EdDSA, 0)?;
        let new = key(SigningAlg::EdDSA, 60_000)?;
        let set = KeySet::new(vec![new.clone(), old.clone()]);
        // Before activation: old signs, both are published.
        assert_eq!(set.active(30_000).map(|k| &k.kid), Some(&old.kid));
        assert_eq!(set.published(30_000, keep).len(), 2);
        // After activation: new signs, old is still published for `keep`.
        assert_eq!(set.active(60_000).map(|k| &k.kid), Some(&new.kid));
        assert_eq!(set.published(60_000 + 99_999, keep).len(), 2);
        // Then old goes.
        let later = set.published(160_000, keep);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].kid, new.kid);
        assert_eq!(set.expired(160_000, keep).len(), 1);
        assert!(KeySet::default().active(0).is_none());
        Ok(())
    }
}

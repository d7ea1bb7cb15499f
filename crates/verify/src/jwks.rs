//! The JWKS cache: keys by `kid`, fetched from the token service, fresh for the
//! `max-age` of its `Cache-Control`, re-fetched when a token names an unknown `kid`
//! (at most once per `min_refetch_interval`, so garbage `kid`s cannot make us hammer the
//! token service). Reads are lock-free (`ArcSwap`); fetches are single-flight. A cache
//! made from a fixed key set (`VerifierBuilder::static_jwks`) never fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::Deserialize;

use crate::clock::Clock;
use crate::rejection::{Rejection, RejectionKind};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A verification key from the JWKS.
pub(crate) struct CachedKey {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<CachedKey>>,
    /// Until here (ms) the set is fresh; after that it is used while a new one is
    /// fetched in the background.
    fresh_until: i64,
    /// Whether any fetch has ever succeeded.
    loaded: bool,
}

pub(crate) struct JwksSettings {
    pub(crate) url: Url,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) allowed: Vec<Algorithm>,
    pub(crate) min_refetch_ms: i64,
    pub(crate) default_max_age_ms: i64,
    pub(crate) max_max_age_ms: i64,
}

pub(crate) struct JwksCache {
    settings: JwksSettings,
    set: ArcSwap<KeySet>,
    /// Single flight for fetches; holds the number of fetches done.
    fetch: tokio::sync::Mutex<u64>,
    fetches: AtomicU64,
    last_fetch_started: AtomicI64,
    /// Keys given up front: never fetched, an unknown `kid` is simply unknown.
    fixed: bool,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl JwksCache {
    pub(crate) fn new(settings: JwksSettings) -> Self {
        Self {
            settings,
            set: ArcSwap::from_pointee(KeySet::default()),
            fetch: tokio::sync::Mutex::new(0),
            fetches: AtomicU64::new(0),
            last_fetch_started: AtomicI64::new(i64::MIN),
            fixed: false,
        }
    }

    /// A cache holding the usable keys of the JWK set `document` and never fetching.
    /// Errors when the document is not a JWK set or has no usable key.
    pub(crate) fn fixed(settings: JwksSettings, document: &str) -> Result<Self, String> {
        let raw: RawSet =
            serde_json::from_str(document).map_err(|e| format!("not a JWK set: {e}"))?;
        let keys = parse_keys(raw.keys, &settings.allowed);
        if keys.is_empty() {
            return Err("the JWK set has no usable signature key".into());
        }
        let cache = Self::new(settings);
        cache.set.store(Arc::new(KeySet {
            keys,
            fresh_until: i64::MAX,
            loaded: true,
        }));
        Ok(Self {
            fixed: true,
            ..cache
        })
    }

    /// Fetches the JWKS now (e.g. at start-up, so the first request does not wait).
    pub(crate) async fn prefetch(&self) -> Result<(), String> {
        if self.fixed {
            return Ok(());
        }
        let seen = self.fetches.load(Ordering::Acquire);
        self.fetch_once(seen).await
    }

    /// The key `kid`, fetching the JWKS if it is unknown and a fetch is allowed.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<CachedKey>, Rejection> {
        let seen = self.fetches.load(Ordering::Acquire);
        if self.fixed {
            return self
                .set
                .load()
                .keys
                .get(kid)
                .cloned()
                .ok_or_else(|| Rejection::invalid("the token is signed with an unknown key"));
        }
        let now = self.settings.clock.now_millis();
        {
            let set = self.set.load();
            if let Some(k) = set.keys.get(kid) {
                if now >= set.fresh_until && self.may_fetch(now) {
                    self.refresh_in_background(seen);
                }
                return Ok(Arc::clone(k));
            }
            // Unknown kid: a fetch is allowed when the set is stale or was never
            // loaded, or the rate limit allows a look for a newly published key.
            if set.loaded && now < set.fresh_until && !self.may_fetch(now) {
                return Err(Rejection::invalid(
                    "the token is signed with an unknown key",
                ));
            }
        }
        let fetched = self.fetch_once(seen).await;
        if let Some(k) = self.set.load().keys.get(kid) {
            return Ok(Arc::clone(k));
        }
        match fetched {
            Err(e) if !self.set.load().loaded || !e.is_empty() => {
                tracing::warn!(error = %e, url = %self.settings.url, "cannot fetch the JWKS");
                Err(Rejection::new(
                    RejectionKind::KeysUnavailable,
                    "the keys to verify the access token are unavailable; retry shortly",
                ))
            }
            _ => Err(Rejection::invalid(
                "the token is signed with an unknown key",
            )),
        }
    }

    /// Whether the rate limit allows a fetch now. Until a first fetch has succeeded the
    /// interval is at most 1 s: an API that started before the token service recovers
    /// quickly, yet a JWKS endpoint that is down is not asked once per request.
    fn may_fetch(&self, now: i64) -> bool {
        let last = self.last_fetch_started.load(Ordering::Acquire);
        let interval = if self.set.load().loaded {
            self.settings.min_refetch_ms
        } else {
            self.settings.min_refetch_ms.min(1000)
        };
        last == i64::MIN || now.saturating_sub(last) >= interval
    }

    fn refresh_in_background(self: &Arc<Self>, seen: u64) {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = cache.fetch_once(seen).await {
                tracing::warn!(error = %e, "background JWKS refresh failed; keeping the cached keys");
            }
        });
    }

    /// Fetches unless another fetch finished since the caller looked (`seen`), or the
    /// rate limit forbids it. `Err("")` means no fetch was made.
    async fn fetch_once(&self, seen: u64) -> Result<(), String> {
        let mut done = self.fetch.lock().await;
        if *done != seen {
            return Ok(()); // someone fetched while we waited: use theirs
        }
        let now = self.settings.clock.now_millis();
        if !self.may_fetch(now) {
            return Err(String::new());
        }
        self.last_fetch_started.store(now, Ordering::Release);
        let result = self.download().await;
        *done += 1;
        self.fetches.store(*done, Ordering::Release);
        let (keys, max_age) = result?;
        let fresh_until = now.saturating_add(max_age);
        tracing::debug!(keys = keys.len(), max_age_ms = max_age, "JWKS fetched");
        self.set.store(Arc::new(KeySet {
            keys,
            fresh_until,
            loaded: true,
        }));
        Ok(())
    }

    async fn download(&self) -> Result<(HashMap<String, Arc<CachedKey>>, i64), String> {
        let s = &self.settings;
        let mut response = s
            .http
            .get(s.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {}: {e}", s.url))?;
        if !response.status().is_success() {
            return Err(format!("GET {}: HTTP {}", s.url, response.status()));
        }
        let max_age = max_age_ms(response.headers())
            .unwrap_or(s.default_max_age_ms)
            .min(s.max_max_age_ms);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {}: {e}", s.url))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("GET {}: larger than {MAX_JWKS_BYTES} bytes", s.url));
            }
            body.extend_from_slice(&chunk);
        }
        let raw: RawSet = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {}: not a JWK set: {e}", s.url))?;
        Ok((parse_keys(raw.keys, &s.allowed), max_age))
    }
}

/// Usable keys of a JWK set: signature keys with a `kid`, of an allowed algorithm.
/// Anything else (symmetric `oct` keys above all) is skipped, never trusted.
fn parse_keys(
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

/// `max-age` of `Cache-Control` in ms; `no-cache`/`no-store` count as 0.
fn max_age_ms(headers: &HeaderMap) -> Option<i64> {
    let mut age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-cache" || d == "no-store" {
                return Some(0);
            }
            if let Some(n) = d.strip_prefix("max-age=")
                && let Ok(secs) = n.trim_matches('"').parse::<i64>()
            {
                age = Some(secs.max(0).saturating_mul(1000));
            }
        }
    }
    age
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(max_age_ms(&headers("public, max-age=30")), Some(30_000));
        assert_eq!(max_age_ms(&headers("Max-Age=5")), Some(5_000));
        assert_eq!(max_age_ms(&headers("no-store")), Some(0));
        assert_eq!(
            max_age_ms(&headers("public, max-age=60, no-cache")),
            Some(0)
        );
        assert_eq!(max_age_ms(&headers("public")), None);
        assert_eq!(max_age_ms(&HeaderMap::new()), None);
    }

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

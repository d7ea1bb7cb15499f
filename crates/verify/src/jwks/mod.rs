//! The JWKS cache of a [`Verifier`](crate::Verifier): keys by `kid`, fetched from the
//! token service and re-fetched as [`JwksCache`] describes; `fetch` downloads the set,
//! `parse` picks its usable keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;

use crate::clock::Clock;
use crate::rejection::{Rejection, RejectionKind};

mod fetch;
mod parse;

use parse::{RawSet, parse_keys};

/// Fetches, by outcome (`ok`, `error`), labelled with the issuer.
pub(crate) const METRIC_FETCHES: &str = "wirecash_verify_jwks_fetches_total";
/// When the last fetch succeeded (Unix seconds), labelled with the issuer.
pub(crate) const METRIC_LAST_SUCCESS: &str = "wirecash_verify_jwks_last_success_timestamp_seconds";
/// Tokens refused because their key's set was more than `max_stale` past its
/// `max-age` and no fetch could confirm it, labelled with the issuer.
pub(crate) const METRIC_STALE_REFUSALS: &str = "wirecash_verify_jwks_stale_refusals_total";

/// A verification key from the JWKS.
pub(crate) struct CachedKey {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

/// A fetched key set. Times are monotonic milliseconds (`Clock::monotonic_millis`).
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<CachedKey>>,
    /// Until here the set is fresh; after that it is used while a new one is fetched
    /// in the background.
    fresh_until: i64,
    /// Until here the set may be used at all; after that (a JWKS out of reach for
    /// `max_stale` past `max-age`) only a successful fetch makes its keys usable again,
    /// so that a withdrawn key does not stay trusted by a verifier cut off from the
    /// JWKS.
    usable_until: i64,
    /// When the fetch that produced it started.
    fetched_at: i64,
    /// Whether any fetch has ever succeeded.
    loaded: bool,
}

pub(crate) struct JwksSettings {
    pub(crate) url: Url,
    pub(crate) issuer: String,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) allowed: Vec<Algorithm>,
    pub(crate) min_refetch_ms: i64,
    pub(crate) default_max_age_ms: i64,
    pub(crate) max_max_age_ms: i64,
    pub(crate) max_stale_ms: i64,
}

/// The single-flight state: fetches done, and how the last one ended.
#[derive(Default)]
struct FetchState {
    done: u64,
    last_error: Option<String>,
}

/// What a call of `fetch_once` amounted to.
enum Fetch {
    /// A fetch (this caller's, or one that finished while it waited) succeeded.
    Fetched,
    /// That fetch failed: the keys are out of reach.
    Failed(String),
    /// No fetch was made: the last one started less than the refetch interval ago.
    NotAllowed,
}

/// The JWKS cache: keys by `kid`, fetched from the token service, fresh for the
/// `max-age` of its `Cache-Control`, re-fetched when a token names an unknown `kid`
/// (at most once per `min_refetch_interval`, so garbage `kid`s cannot make us hammer the
/// token service). Reads are lock-free (`ArcSwap`); fetches are single-flight, and
/// every caller that waited on a fetch gets its outcome. A stale set is used while a
/// background fetch replaces it, but only for `max_stale`: after that its keys are not
/// trusted again until a fetch confirms them. All ages are on the monotonic clock. A
/// cache made from a fixed key set (`VerifierBuilder::static_jwks`) never fetches.
pub(crate) struct JwksCache {
    settings: JwksSettings,
    set: ArcSwap<KeySet>,
    /// Single flight for fetches.
    fetch: tokio::sync::Mutex<FetchState>,
    /// `FetchState::done`, readable without the lock.
    fetches: AtomicU64,
    last_fetch_started: AtomicI64,
    /// Whether the last fetch failed (then an unknown `kid` is "unavailable", not
    /// "unknown": a newly published key might be behind the outage).
    last_failed: AtomicBool,
    /// Keys given up front: never fetched, an unknown `kid` is simply unknown.
    fixed: bool,
}

fn unavailable() -> Rejection {
    Rejection::new(
        RejectionKind::KeysUnavailable,
        "the keys to verify the access token are unavailable; retry shortly",
    )
}

fn unknown() -> Rejection {
    Rejection::invalid("the token is signed with an unknown key")
}

impl JwksCache {
    pub(crate) fn new(settings: JwksSettings) -> Self {
        Self {
            settings,
            set: ArcSwap::from_pointee(KeySet::default()),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            fetches: AtomicU64::new(0),
            last_fetch_started: AtomicI64::new(i64::MIN),
            last_failed: AtomicBool::new(false),
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
            usable_until: i64::MAX,
            fetched_at: i64::MIN,
            loaded: true,
        }));
        Ok(Self {
            fixed: true,
            ..cache
        })
    }

    fn now(&self) -> i64 {
        self.settings.clock.monotonic_millis()
    }

    /// Fetches the JWKS now (e.g. at start-up, so the first request does not wait).
    pub(crate) async fn prefetch(&self) -> Result<(), String> {
        if self.fixed {
            return Ok(());
        }
        let seen = self.fetches.load(Ordering::Acquire);
        match self.fetch_once(seen).await {
            Fetch::Fetched => Ok(()),
            Fetch::Failed(e) => Err(e),
            Fetch::NotAllowed if self.set.load().loaded => Ok(()),
            Fetch::NotAllowed => Err("a fetch failed less than the refetch interval ago".into()),
        }
    }

    /// How long ago the key set in use was fetched (`None`: never, or a static set).
    pub(crate) fn age(&self) -> Option<Duration> {
        let set = self.set.load();
        if self.fixed || !set.loaded {
            return None;
        }
        let ms = self.now().saturating_sub(set.fetched_at).max(0);
        Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }

    /// The key `kid`, fetching the JWKS if it is unknown (or its set too stale) and a
    /// fetch is allowed.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<CachedKey>, Rejection> {
        if self.fixed {
            return self.set.load().keys.get(kid).cloned().ok_or_else(unknown);
        }
        let seen = self.fetches.load(Ordering::Acquire);
        let now = self.now();
        {
            let set = self.set.load();
            let usable = set.loaded && now < set.usable_until;
            match set.keys.get(kid) {
                Some(k) if usable => {
                    if now >= set.fresh_until && self.may_fetch(now) {
                        self.refresh_in_background(seen);
                    }
                    return Ok(Arc::clone(k));
                }
                // Known, but too stale to trust without a fetch confirming it.
                Some(_) => {}
                // Unknown, and no fetch allowed: decided now, without waiting.
                None if usable && !self.may_fetch(now) => {
                    return Err(if self.last_failed.load(Ordering::Acquire) {
                        unavailable()
                    } else {
                        unknown()
                    });
                }
                None => {}
            }
        }
        let outcome = self.fetch_once(seen).await;
        let set = self.set.load();
        let usable =
            matches!(outcome, Fetch::Fetched) || (set.loaded && self.now() < set.usable_until);
        if usable && let Some(k) = set.keys.get(kid) {
            return Ok(Arc::clone(k));
        }
        if set.keys.contains_key(kid) {
            // Only a set older than max_stale gets here.
            tracing::warn!(
                url = %self.settings.url,
                "refusing a token: its key was last confirmed by the JWKS longer ago than max_stale allows"
            );
            metrics::counter!(METRIC_STALE_REFUSALS, "issuer" => self.settings.issuer.clone())
                .increment(1);
            return Err(unavailable());
        }
        match outcome {
            Fetch::Failed(e) => {
                tracing::warn!(error = %e, url = %self.settings.url, "cannot fetch the JWKS");
                Err(unavailable())
            }
            Fetch::NotAllowed if !usable || self.last_failed.load(Ordering::Acquire) => {
                Err(unavailable())
            }
            _ => Err(unknown()),
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
            if let Fetch::Failed(e) = cache.fetch_once(seen).await {
                tracing::warn!(error = %e, "background JWKS refresh failed; keeping the cached keys");
            }
        });
    }

    /// Fetches unless another fetch finished since the caller looked (`seen`): then
    /// that fetch's outcome is the caller's too. No fetch when the rate limit forbids it.
    async fn fetch_once(&self, seen: u64) -> Fetch {
        let mut state = self.fetch.lock().await;
        if state.done != seen {
            return match &state.last_error {
                None => Fetch::Fetched,
                Some(e) => Fetch::Failed(e.clone()),
            };
        }
        let now = self.now();
        if !self.may_fetch(now) {
            return Fetch::NotAllowed;
        }
        self.last_fetch_started.store(now, Ordering::Release);
        let result = self.download().await;
        state.done += 1;
        let issuer = self.settings.issuer.clone();
        let outcome = match result {
            Ok((keys, max_age)) => {
                tracing::debug!(keys = keys.len(), max_age_ms = max_age, "JWKS fetched");
                let fresh_until = now.saturating_add(max_age);
                self.set.store(Arc::new(KeySet {
                    keys,
                    fresh_until,
                    usable_until: fresh_until.saturating_add(self.settings.max_stale_ms),
                    fetched_at: now,
                    loaded: true,
                }));
                state.last_error = None;
                self.last_failed.store(false, Ordering::Release);
                metrics::counter!(METRIC_FETCHES, "issuer" => issuer.clone(), "outcome" => "ok")
                    .increment(1);
                let wall_s = self.settings.clock.now_millis() as f64 / 1000.0;
                metrics::gauge!(METRIC_LAST_SUCCESS, "issuer" => issuer).set(wall_s);
                Fetch::Fetched
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                self.last_failed.store(true, Ordering::Release);
                metrics::counter!(METRIC_FETCHES, "issuer" => issuer, "outcome" => "error")
                    .increment(1);
                Fetch::Failed(e)
            }
        };
        self.fetches.store(state.done, Ordering::Release);
        outcome
    }
}

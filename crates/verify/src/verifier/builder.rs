//! Building a [`Verifier`]: the issuer, where its keys are, what is accepted, and how
//! the key cache behaves.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use reqwest::Url;

use super::{Alg, Inner, Verifier};
use crate::check::TokenCheck;
use crate::clock::{Clock, SystemClock};
use crate::jwks::{JwksCache, JwksSettings};

/// A verifier that could not be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid verifier configuration: {0}")]
pub struct BuildError(String);

/// Builds a [`Verifier`].
pub struct VerifierBuilder {
    issuer: String,
    jwks_url: Option<String>,
    static_jwks: Option<String>,
    environment: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    algorithms: Vec<Alg>,
    min_refetch_interval: Duration,
    default_max_age: Duration,
    max_max_age: Duration,
    max_stale: Duration,
    allow_insecure_http: bool,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    checks: Vec<Arc<dyn TokenCheck>>,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    pub(super) fn new(issuer: String) -> Self {
        Self {
            issuer,
            jwks_url: None,
            static_jwks: None,
            environment: None,
            audience: None,
            leeway: Duration::from_secs(30),
            algorithms: vec![Alg::EdDSA, Alg::ES256],
            min_refetch_interval: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            max_max_age: Duration::from_secs(3600),
            max_stale: Duration::from_secs(3600),
            allow_insecure_http: false,
            http: None,
            clock: Arc::new(SystemClock),
            checks: Vec::new(),
        }
    }

    /// Where the JWKS is (default `{issuer}/.well-known/jwks.json`); set it when the API
    /// reaches the token service under another address than its public one.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Verify with the keys of this JWK set document only, never fetching: for an API
    /// that pins the token service's public keys (a key rotation then needs a new
    /// verifier), and for tests and fuzzing without a network. `build` fails when the
    /// document holds no usable EdDSA or ES256 signature key.
    pub fn static_jwks(mut self, document: impl Into<String>) -> Self {
        self.static_jwks = Some(document.into());
        self
    }

    /// The required `env` claim (default: the issuer's last path segment).
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// The required `aud` claim (default: the issuer, as the token service sets it).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Tolerance for clock differences when judging `exp` (default 30 s, the token
    /// service's `clock_leeway`).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The accepted algorithms (default both `EdDSA` and `ES256`).
    pub fn algorithms(mut self, algorithms: &[Alg]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// A token with an unknown `kid` triggers a JWKS fetch at most this often
    /// (default 10 s).
    pub fn min_refetch_interval(mut self, every: Duration) -> Self {
        self.min_refetch_interval = every;
        self
    }

    /// How long a JWKS answer without `Cache-Control: max-age` stays fresh (default
    /// 5 min), and the cap on any `max-age` (default 1 h).
    pub fn cache_ages(mut self, default: Duration, max: Duration) -> Self {
        self.default_max_age = default;
        self.max_max_age = max;
        self
    }

    /// How long past its `max-age` a key set is still used while fetches fail (default
    /// 1 h). Within it, an outage of the JWKS endpoint does not turn valid tokens into
    /// errors; past it, tokens get `503` until a fetch succeeds, so that a key the token
    /// service withdrew (say, a compromised one) does not stay trusted by a verifier
    /// that someone cuts off from the JWKS. The metric
    /// `wirecash_verify_jwks_last_success_timestamp_seconds` shows how old the keys are.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Allow a plain `http://` JWKS URL on a host other than a loopback address
    /// (default: refused, since whoever can change the answer in transit chooses the
    /// keys). `http://127.0.0.1`, `http://[::1]` and `http://localhost` are allowed
    /// without this.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The HTTP client for JWKS fetches (default: 5 s timeout, no redirects).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`: an answer reached
    /// through a redirect is refused either way.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock for `exp` and cache ages (tests inject a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// An extra check after offline verification (see [`TokenCheck`]).
    pub fn check(mut self, check: impl TokenCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Builds the verifier. No request is made until the first token (or
    /// [`Verifier::prefetch`]).
    pub fn build(self) -> Result<Verifier, BuildError> {
        let issuer = self.issuer.trim_end_matches('/').to_string();
        let issuer_url =
            Url::parse(&issuer).map_err(|e| BuildError(format!("issuer {issuer:?}: {e}")))?;
        let environment = match self.environment {
            Some(e) => e,
            None => issuer_url
                .path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    BuildError(format!(
                        "issuer {issuer:?} has no environment in its path; set environment(…)"
                    ))
                })?,
        };
        let jwks = self
            .jwks_url
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        let jwks_url =
            Url::parse(&jwks).map_err(|e| BuildError(format!("JWKS URL {jwks:?}: {e}")))?;
        // A static key set is never fetched: its URL does not matter.
        if self.static_jwks.is_none() {
            check_jwks_url(&jwks_url, self.allow_insecure_http)?;
        }
        if self.algorithms.is_empty() {
            return Err(BuildError("no algorithm allowed".into()));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .user_agent(concat!("wirecash-verify/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| BuildError(format!("HTTP client: {e}")))?,
        };
        let audience = self.audience.unwrap_or_else(|| issuer.clone());
        let allowed: Vec<Algorithm> = self.algorithms.iter().map(|a| a.jwt()).collect();
        // One Validation per algorithm, built once: `exp` is checked by us (with the
        // injectable clock), everything else by jsonwebtoken.
        let validations = allowed
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.validate_exp = false;
                v.validate_nbf = false;
                v.leeway = 0;
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v.set_issuer(&[&issuer]);
                v.set_audience(&[&audience]);
                (*alg, v)
            })
            .collect();
        let settings = JwksSettings {
            url: jwks_url,
            issuer: issuer.clone(),
            http,
            clock: Arc::clone(&self.clock),
            allowed: allowed.clone(),
            min_refetch_ms: millis(self.min_refetch_interval),
            default_max_age_ms: millis(self.default_max_age),
            max_max_age_ms: millis(self.max_max_age),
            max_stale_ms: millis(self.max_stale),
        };
        let cache = match &self.static_jwks {
            None => JwksCache::new(settings),
            Some(doc) => JwksCache::fixed(settings, doc)
                .map_err(|e| BuildError(format!("static JWKS: {e}")))?,
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                id: next_id(),
                issuer,
                environment,
                leeway_s: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
                allowed,
                validations,
                jwks: Arc::new(cache),
                clock: self.clock,
                checks: self.checks,
            }),
        })
    }
}

/// A number no other verifier of this process has: the layer records which verifier
/// produced a request's claims, and the extractor compares.
fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The JWKS must come over https, or plain http from this machine, or with consent.
fn check_jwks_url(url: &Url, allow_insecure_http: bool) -> Result<(), BuildError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(BuildError(format!(
            "JWKS URL {url}: plain http lets whoever is on the way choose the signing keys; \
             use https (http is allowed for loopback addresses, or with allow_insecure_http(true))"
        ))),
        other => Err(BuildError(format!(
            "JWKS URL {url}: the scheme must be https (or http), not {other}"
        ))),
    }
}

/// Whether `url` names this machine: a loopback address or `localhost`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

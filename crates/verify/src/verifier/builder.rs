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

    /// The HTTP client for JWKS fetches (default: 5 s timeout).
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
        if self.algorithms.is_empty() {
            return Err(BuildError("no algorithm allowed".into()));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .user_agent(concat!("wirecash-verify/", env!("CARGO_PKG_VERSION")))
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
            http,
            clock: Arc::clone(&self.clock),
            allowed: allowed.clone(),
            min_refetch_ms: millis(self.min_refetch_interval),
            default_max_age_ms: millis(self.default_max_age),
            max_max_age_ms: millis(self.max_max_age),
        };
        let cache = match &self.static_jwks {
            None => JwksCache::new(settings),
            Some(doc) => JwksCache::fixed(settings, doc)
                .map_err(|e| BuildError(format!("static JWKS: {e}")))?,
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
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

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

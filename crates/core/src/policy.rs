//! The knobs of the lifecycle (SPEC §8 `[tokens]` and `[password_hash]`), already
//! validated by the server's configuration loader.

use std::time::Duration;

/// JWS algorithm used to sign access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// Ed25519 (RFC 8037), the default.
    EdDSA,
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDSA => "EdDSA",
            SigningAlg::ES256 => "ES256",
        }
    }

    /// Parses the JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(SigningAlg::EdDSA),
            "ES256" => Some(SigningAlg::ES256),
            _ => None,
        }
    }
}

/// Lifetimes and limits of tokens and sessions.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Access-token lifetime, reported as `expires_in`.
    pub access_ttl: Duration,
    /// A session dies when unused for this long.
    pub refresh_idle_ttl: Duration,
    /// A session dies this long after authenticate, however it is used.
    pub refresh_absolute_ttl: Duration,
    /// How long the immediately previous refresh token may be replayed.
    pub refresh_reuse_grace: Duration,
    /// Live sessions per user; beyond, the least recently used one ends.
    pub max_sessions_per_user: u32,
    /// Tolerance when judging `exp`/`iat` of presented tokens.
    pub clock_leeway: Duration,
    /// Delay between `key rotate` and signing with the new key.
    pub key_activation_delay: Duration,
    /// Algorithm of newly generated signing keys.
    pub signing_alg: SigningAlg,
    /// How long revoked sessions are kept (for `session list`) before the purge.
    pub revoked_retention: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(3600),
            refresh_idle_ttl: Duration::from_secs(14 * 86_400),
            refresh_absolute_ttl: Duration::from_secs(30 * 86_400),
            refresh_reuse_grace: Duration::from_secs(10),
            max_sessions_per_user: 100,
            clock_leeway: Duration::from_secs(30),
            key_activation_delay: Duration::from_secs(60),
            signing_alg: SigningAlg::EdDSA,
            revoked_retention: Duration::from_secs(86_400),
        }
    }
}

/// Argon2id cost parameters (OWASP's recommendation by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

//! Per-client-address request rate limits (`[rate_limit]`), in memory, per node.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::app::AppState;
use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::http::address::ClientAddr;

/// Which endpoint a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /{env}/authenticate`.
    Authenticate,
    /// `POST /{env}/token`.
    Token,
}

/// Per-client-address request rate limits (`[rate_limit]`): a token bucket (GCRA, from
/// the `governor` crate) per address and endpoint, with a burst of one second's worth.
/// The state is in memory, per node: with N nodes behind a balancer an address gets up
/// to N times the rate, which is what a flood-damping limit needs (the brute-force
/// limits that must hold across nodes are the failed-login counters in the store).
/// Buckets back at full capacity are dropped every few seconds, so memory follows the
/// number of recently active addresses.
///
/// The limiters of one node.
pub struct RateLimits {
    authenticate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    token: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("authenticate", &self.authenticate.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

fn limiter(rps: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    NonZeroU32::new(rps).map(|n| RateLimiter::keyed(Quota::per_second(n)))
}

impl RateLimits {
    /// Limiters for the configured rates (`0` turns one off).
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            authenticate: limiter(config.authenticate_rps),
            token: limiter(config.token_rps),
        }
    }

    /// Counts one request of `ip` to `endpoint`; `Err(wait)` if it is over the limit.
    pub fn check(&self, endpoint: Endpoint, ip: IpAddr) -> Result<(), Duration> {
        let limiter = match endpoint {
            Endpoint::Authenticate => &self.authenticate,
            Endpoint::Token => &self.token,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&wirecash_core::addr::counted(ip))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops the buckets that are full again; returns how many addresses are still tracked.
    pub fn housekeeping(&self) -> usize {
        let mut tracked = 0;
        for l in [&self.authenticate, &self.token].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
            tracked += l.len();
        }
        tracked
    }
}

/// Counts the request against its address's limit for `endpoint`, before the body is read.
async fn admit(
    endpoint: Endpoint,
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<IpAddr>, ApiError> {
    let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
    if let Some(Err(wait)) = client.map(|ip| state.rate_limits.check(endpoint, ip)) {
        return Err(ApiError::TooManyRequests(
            retry_after_secs(wait),
            "too many requests from this address",
        ));
    }
    Ok(client)
}

/// Extractor: the client's address of an `/authenticate` request within its rate limit
/// (else 429, before the body is read).
#[derive(Debug, Clone, Copy)]
pub struct AuthenticateQuota(pub Option<IpAddr>);

impl FromRequestParts<AppState> for AuthenticateQuota {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        admit(Endpoint::Authenticate, parts, state).await.map(Self)
    }
}

/// Extractor: the client's address of a `/token` request within its rate limit.
#[derive(Debug, Clone, Copy)]
pub struct TokenQuota(pub Option<IpAddr>);

impl FromRequestParts<AppState> for TokenQuota {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        admit(Endpoint::Token, parts, state).await.map(Self)
    }
}

/// Whole seconds to wait, at least 1 (for `Retry-After`).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(auth: u32, token: u32) -> RateLimits {
        RateLimits::new(&RateLimitConfig {
            authenticate_rps: auth,
            token_rps: token,
            trusted_proxies: vec![],
        })
    }

    #[test]
    fn a_burst_of_one_seconds_worth_then_refusals_with_a_wait() {
        let l = limits(3, 0);
        let a: IpAddr = [203, 0, 113, 1].into();
        for _ in 0..3 {
            assert!(l.check(Endpoint::Authenticate, a).is_ok());
        }
        let wait = l.check(Endpoint::Authenticate, a).err();
        assert!(wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_millis(334)));
        // Other addresses and the other endpoint are not affected; 0 is off.
        assert!(
            l.check(Endpoint::Authenticate, [203, 0, 113, 2].into())
                .is_ok()
        );
        for _ in 0..100 {
            assert!(l.check(Endpoint::Token, a).is_ok());
        }
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_bucket() {
        let l = limits(1, 0);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0u8; 16]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 16]));
        assert!(l.check(Endpoint::Authenticate, a).is_ok());
        assert!(l.check(Endpoint::Authenticate, b).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}

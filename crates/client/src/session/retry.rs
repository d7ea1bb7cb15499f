//! Retrying one request while it fails for a passing reason: our jittered back-off, the
//! server's `Retry-After`, within the window of the [`RetryPolicy`](super::RetryPolicy).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Inner;
use crate::client::Tokens;
use crate::error::Error;

impl Inner {
    /// Sends a request, and sends the very same request again while it fails for a
    /// passing reason (lost answer, 503, 429, 5xx) and the retry window lasts.
    pub(super) async fn with_retry<'a, F, Fut>(&'a self, mut send: F) -> Result<Tokens, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Tokens, Error>> + 'a,
    {
        // The policy was checked when building (every duration at most a day).
        let start = tokio::time::Instant::now();
        let mut backoff = self.retry.initial_backoff;
        loop {
            match send().await {
                Err(e) if e.is_retryable() => {
                    // Our own (jittered) back-off is the floor (a `Retry-After: 0` must
                    // not turn into a tight loop); a longer `Retry-After` is respected,
                    // and if it does not fit in the window, the attempt ends here.
                    let pause = pause(
                        backoff,
                        e.retry_after(),
                        self.retry.max_retry_after,
                        random_u64(),
                    );
                    if start.elapsed().saturating_add(pause) >= self.retry.window {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, ?pause, "retrying with the same tokens");
                    tokio::time::sleep(pause).await;
                    backoff = backoff.saturating_mul(2).min(self.retry.max_backoff);
                }
                other => return other,
            }
        }
    }
}

/// The pause before a retry: our back-off with equal jitter (between half of it and all
/// of it), or the server's `Retry-After` (at most `cap`) plus up to half our back-off
/// when that is longer. `random` picks the point in the jitter range.
fn pause(backoff: Duration, retry_after: Option<Duration>, cap: Duration, random: u64) -> Duration {
    let half = backoff / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = Duration::from_nanos(random % spread.saturating_add(1));
    match retry_after.map(|r| r.min(cap)) {
        Some(server) if server > backoff => server.saturating_add(jitter),
        _ => backoff.saturating_sub(half).saturating_add(jitter),
    }
}

/// A random number for jitter (not for secrets): SipHash, keyed from the OS by
/// `RandomState`, over a counter.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pauses_are_jittered_between_half_and_all_of_the_back_off() {
        let b = Duration::from_millis(100);
        let cap = Duration::from_secs(300);
        let pauses: Vec<Duration> = (0..200)
            .map(|_| pause(b, None, cap, random_u64()))
            .collect();
        assert!(pauses.iter().all(|p| *p >= b / 2 && *p <= b), "{pauses:?}");
        let distinct: std::collections::HashSet<_> = pauses.iter().collect();
        assert!(
            distinct.len() > 100,
            "not jittered: {} distinct",
            distinct.len()
        );
        // The extremes of the range.
        assert_eq!(pause(b, None, cap, 0), b / 2);
        assert_eq!(pause(b, None, cap, 50_000_000), b);
        // Retry-After: 0 does not remove our back-off.
        assert!(pause(b, Some(Duration::ZERO), cap, 0) >= b / 2);
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_the_cap() {
        let b = Duration::from_millis(100);
        let cap = Duration::from_secs(60);
        let p = pause(b, Some(Duration::from_secs(30)), cap, random_u64());
        assert!(
            p >= Duration::from_secs(30) && p <= Duration::from_millis(30_050),
            "{p:?}"
        );
        let p = pause(b, Some(Duration::from_secs(86_400)), cap, 0);
        assert_eq!(p, cap);
    }
}

//! `Session`: a token source that hands out a valid access token and keeps it valid.
//!
//! Concurrency design. The current state (tokens and the times derived from them) is an
//! immutable snapshot behind an [`ArcSwap`]: the hot path (`token()` while no refresh is
//! due) is one lock-free atomic load, a clock read and a reference-count increment. It
//! never touches the refresh lock. Refreshes run under a `tokio::sync::Mutex` (the
//! "flight"), held across the network call, so at most one refresh is ever in flight;
//! tasks that need a new token wait on that mutex and, once inside, first look at what
//! the attempt they waited for produced instead of starting their own (single flight).
//! A refresh that is due while the current token is still usable runs in a background
//! task; callers keep getting the current token meanwhile and never wait for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, OwnedMutexGuard};
use zeroize::Zeroizing;

use crate::client::{Client, Tokens};
use crate::clock::millis;
use crate::error::Error;
use crate::header::AccessToken;
use crate::storage::{StoredSession, TokenStore};

mod builder;
mod events;

pub use builder::{RetryPolicy, SessionBuilder};
pub use events::{EndReason, SessionEvent, WhenEnded};

/// The application's callback for [`SessionEvent`]s.
pub(crate) type EventSink = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// Below this much remaining lifetime a token is no longer handed out (it could expire
/// on its way to the API); capped at a quarter of the token's lifetime.
const MIN_VALIDITY: Duration = Duration::from_secs(5);

/// A source of valid access tokens for one API user. Cheap to clone; clones share one
/// session (one refresh in flight for all of them).
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base_url", &self.inner.client.base_url())
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    username: String,
    password: Option<Zeroizing<String>>,
    store: Option<Arc<dyn TokenStore>>,
    refresh_ahead: i64,
    retry: RetryPolicy,
    when_ended: WhenEnded,
    on_event: Option<EventSink>,
    /// The current snapshot; replaced whole, never mutated.
    state: ArcSwap<State>,
    /// Held for the whole of a refresh or authenticate: single flight.
    flight: Arc<Mutex<Flight>>,
    /// Attempts finished so far (a copy of `Flight::attempt` readable without the lock).
    attempts: AtomicU64,
    /// Start of the monotonic time line of `hold_until`.
    epoch: tokio::time::Instant,
    /// After a failed attempt, no new one starts before this time (ms since `epoch`,
    /// monotonic: a wall clock stepped back must not stretch the pause); callers get
    /// the current token while it is usable, else the failure.
    hold_until: AtomicI64,
}

#[derive(Default)]
struct Flight {
    attempt: u64,
    last_error: Option<Error>,
}

enum State {
    /// No tokens yet: the first caller authenticates.
    Empty,
    Live(Live),
    /// The session is over and cannot be restarted (no password, or the password is
    /// refused): every call returns this error.
    Ended(Error),
}

struct Live {
    tokens: Tokens,
    access: AccessToken,
    /// From here on (ms) a refresh is due.
    refresh_at: i64,
    /// Until here (ms) the token is handed out while a refresh is due or failing.
    usable_until: i64,
}

impl Live {
    fn new(tokens: Tokens, refresh_ahead: i64) -> Result<Self, Error> {
        let lifetime = i64::try_from(tokens.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        let ahead = refresh_ahead.min(lifetime / 2);
        let margin = millis(MIN_VALIDITY).min(lifetime / 4);
        Ok(Self {
            access: AccessToken::new(&tokens.access_token)?,
            refresh_at: tokens.expires_at_ms.saturating_sub(ahead),
            usable_until: tokens.expires_at_ms.saturating_sub(margin),
            tokens,
        })
    }
}

impl Session {
    /// A builder for the session of `username` on `client`'s environment.
    pub fn builder(client: Client, username: impl Into<String>) -> SessionBuilder {
        SessionBuilder::new(client, username.into())
    }

    /// The API user.
    pub fn username(&self) -> &str {
        &self.inner.username
    }

    /// The client this session uses.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The current tokens, if there are any (for inspection; use [`token`](Self::token)
    /// to get an access token to send).
    pub fn current_tokens(&self) -> Option<Tokens> {
        match &**self.inner.state.load() {
            State::Live(l) => Some(l.tokens.clone()),
            _ => None,
        }
    }

    /// A valid access token. While no refresh is due this is a lock-free read. When one
    /// is due, exactly one refresh runs for all callers: in the background while the
    /// current token is still usable (callers get it meanwhile), otherwise the callers
    /// wait for it. A refresh whose answer is lost is retried with the same refresh
    /// token; a session the server has ended is replaced by a new authenticate when a
    /// password was given.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        // Read before the state: if an attempt finishes between the two reads, the slow
        // path sees the counter moved and takes that attempt's outcome.
        let seen = self.inner.attempts.load(Ordering::Acquire);
        let now = self.inner.now();
        {
            let state = self.inner.state.load();
            match &**state {
                State::Live(l) if now < l.refresh_at => return Ok(l.access.clone()),
                State::Live(l) if now < l.usable_until => {
                    if !self.inner.holding() {
                        self.inner.refresh_in_background(seen);
                    }
                    return Ok(l.access.clone());
                }
                State::Ended(e) => return Err(e.clone()),
                State::Live(_) | State::Empty => {}
            }
        }
        self.inner.clone().refresh_and_wait(seen).await
    }

    /// Like [`token`](Self::token), but when a refresh is due it waits for it instead of
    /// handing out the current token meanwhile: for short-lived processes (a CLI) that
    /// would exit before a background refresh could finish and be saved.
    pub async fn fresh_token(&self) -> Result<AccessToken, Error> {
        let seen = self.inner.attempts.load(Ordering::Acquire);
        let now = self.inner.now();
        {
            let state = self.inner.state.load();
            match &**state {
                State::Live(l) if now < l.refresh_at => return Ok(l.access.clone()),
                State::Ended(e) => return Err(e.clone()),
                _ => {}
            }
        }
        self.inner.clone().refresh_and_wait(seen).await
    }
}

impl Inner {
    fn now(&self) -> i64 {
        self.client.clock().now_millis()
    }

    /// Monotonic milliseconds since the session was built.
    fn elapsed(&self) -> i64 {
        millis(self.epoch.elapsed())
    }

    /// Whether a failed attempt's pause is still running.
    fn holding(&self) -> bool {
        self.elapsed() < self.hold_until.load(Ordering::Acquire)
    }

    /// Starts a refresh in a background task unless one is running already.
    fn refresh_in_background(self: &Arc<Self>, seen: u64) {
        if let Ok(guard) = Arc::clone(&self.flight).try_lock_owned() {
            let inner = Arc::clone(self);
            tokio::spawn(async move {
                if guard.attempt != seen {
                    return; // someone refreshed since this caller looked
                }
                if let Err(e) = inner.attempt(guard).await {
                    tracing::warn!(error = %e, "background token refresh failed; the current token is still valid");
                }
            });
        }
    }

    async fn refresh_and_wait(self: Arc<Self>, seen: u64) -> Result<AccessToken, Error> {
        let guard = Arc::clone(&self.flight).lock_owned().await;
        let now = self.now();
        match &**self.state.load() {
            State::Live(l) if now < l.refresh_at => return Ok(l.access.clone()),
            State::Ended(e) => return Err(e.clone()),
            _ => {}
        }
        // The attempt this caller waited for failed, or failed recently: share its
        // outcome rather than stampede the token service with one attempt per caller.
        if let Some(e) = &guard.last_error
            && (guard.attempt != seen || self.holding())
        {
            if let State::Live(l) = &**self.state.load()
                && now < l.usable_until
            {
                return Ok(l.access.clone());
            }
            return Err(e.clone());
        }
        let result = self.attempt(guard).await;
        // A refresh that failed for a passing reason leaves the tokens in place: if the
        // current one is still usable (a `fresh_token()` caller ahead of expiry), it
        // is better than an error.
        if let Err(e) = &result
            && e.is_retryable()
            && let State::Live(l) = &**self.state.load()
            && self.now() < l.usable_until
        {
            tracing::warn!(error = %e, "token refresh failed; the current token is still valid");
            return Ok(l.access.clone());
        }
        result
    }

    /// One attempt (with its retries) under the flight lock; publishes the outcome.
    async fn attempt(&self, mut flight: OwnedMutexGuard<Flight>) -> Result<AccessToken, Error> {
        let state = self.state.load_full();
        let outcome = match &*state {
            State::Live(l) => match self.with_retry(|| self.client.refresh(&l.tokens)).await {
                Err(Error::InvalidGrant(body)) => {
                    let reason = EndReason::of(&body);
                    tracing::warn!(
                        ?reason,
                        description = %body.error_description,
                        policy = ?self.when_ended,
                        "the token service ended the session"
                    );
                    self.emit(&SessionEvent::Ended {
                        reason,
                        body: body.clone(),
                    });
                    self.start_over(body).await
                }
                other => other,
            },
            State::Empty => self.authenticate().await,
            State::Ended(e) => Err(e.clone()),
        };
        flight.attempt += 1;
        let result = match outcome.and_then(|t| Live::new(t, self.refresh_ahead)) {
            Ok(live) => {
                let access = live.access.clone();
                self.persist(&live.tokens).await;
                self.state.store(Arc::new(State::Live(live)));
                flight.last_error = None;
                Ok(access)
            }
            Err(e) => {
                match &e {
                    Error::SessionEnded(_) | Error::InvalidGrant(_) => {
                        self.state.store(Arc::new(State::Ended(e.clone())));
                        if let State::Live(ended) = &*state {
                            self.forget(&ended.tokens).await;
                        }
                    }
                    _ => {
                        // The server's Retry-After (capped) if longer than our own pause.
                        let server = e
                            .retry_after()
                            .unwrap_or_default()
                            .min(self.retry.max_retry_after);
                        let hold = millis(self.retry.max_backoff.max(server));
                        self.hold_until
                            .store(self.elapsed().saturating_add(hold), Ordering::Release);
                    }
                }
                flight.last_error = Some(e.clone());
                Err(e)
            }
        };
        self.attempts.store(flight.attempt, Ordering::Release);
        result
    }

    /// The server refused the refresh token: authenticate again if we can and may.
    async fn start_over(&self, body: wirecash_proto::ErrorBody) -> Result<Tokens, Error> {
        if self.password.is_none() || self.when_ended == WhenEnded::Stop {
            return Err(Error::SessionEnded(body));
        }
        // The old tokens are useless now; if authenticate fails for a passing reason,
        // the next attempt must authenticate, not refresh.
        self.state.store(Arc::new(State::Empty));
        let tokens = self.authenticate().await?;
        self.emit(&SessionEvent::Restarted);
        Ok(tokens)
    }

    async fn authenticate(&self) -> Result<Tokens, Error> {
        let Some(password) = &self.password else {
            return Err(Error::Config(
                "the session has no tokens and no password".into(),
            ));
        };
        let result = self
            .with_retry(|| self.client.authenticate(&self.username, password))
            .await;
        if let Err(Error::InvalidGrant(body)) = &result {
            tracing::warn!(description = %body.error_description, "the token service refused the password");
            self.emit(&SessionEvent::PasswordRefused { body: body.clone() });
        }
        result
    }

    fn emit(&self, event: &SessionEvent) {
        if let Some(sink) = &self.on_event {
            sink(event);
        }
    }

    /// Sends a request, and sends the very same request again while it fails for a
    /// passing reason (lost answer, 503, 429, 5xx) and the retry window lasts.
    async fn with_retry<'a, F, Fut>(&'a self, mut send: F) -> Result<Tokens, Error>
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

    async fn persist(&self, tokens: &Tokens) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let stored = StoredSession {
            version: 1,
            base_url: self.client.base_url().to_string(),
            tokens: tokens.clone(),
        };
        // A failed save is not a failed refresh: the process goes on with its tokens;
        // only a restart would fall back to the older stored ones.
        match tokio::task::spawn_blocking(move || store.save(&stored)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot save the session's tokens"),
            Err(e) => tracing::warn!(error = %e, "cannot save the session's tokens"),
        }
    }

    /// Deletes the stored session if it still is the one that ended: another process
    /// sharing the store may have saved a new one meanwhile.
    async fn forget(&self, ended: &Tokens) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let ended = StoredSession {
            version: 1,
            base_url: self.client.base_url().to_string(),
            tokens: ended.clone(),
        };
        match tokio::task::spawn_blocking(move || store.clear_if_unchanged(&ended)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete the ended session's tokens"),
            Err(e) => tracing::warn!(error = %e, "cannot delete the ended session's tokens"),
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

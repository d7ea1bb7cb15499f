//! Building a [`Session`]: where its tokens come from (a store, given tokens, or a first
//! authenticate with the password), when it refreshes, and how it retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::{EventSink, Flight, Inner, Live, Session, SessionEvent, State, WhenEnded};
use crate::client::{Client, Tokens};
use crate::clock::millis;
use crate::error::Error;
use crate::storage::{StoredSession, TokenStore};

/// How a lost or refused-for-now refresh is retried. Checked by
/// [`SessionBuilder::build`]: `initial_backoff` must be at least 1 ms, `max_backoff` at
/// least `initial_backoff`, and no duration longer than a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries stop once this much time has passed since the first attempt. Keep it
    /// below the server's `refresh_reuse_grace` (10 s by default): inside the grace
    /// window, presenting the same refresh token again returns the same successor, so
    /// the retry of a request whose answer was lost is safe; after it, it is reuse and
    /// revokes the session. Default 8 s.
    pub window: Duration,
    /// Pause before the first retry (default 50 ms); doubles on each retry. Each pause
    /// is jittered: between half of it and all of it, so that many clients that failed
    /// together do not retry together. A longer `Retry-After` from the server wins.
    pub initial_backoff: Duration,
    /// Longest pause between retries, also the pause after a failed attempt before the
    /// next one starts (default 2 s).
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured (default 5 min): after a `503` or `429` with
    /// `Retry-After`, no new attempt starts before that much time (at most this cap)
    /// has passed; callers get the error meanwhile (or the current token while it is
    /// still usable).
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Why this policy cannot be used, if it cannot.
    fn check(&self) -> Result<(), String> {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        if self.initial_backoff < Duration::from_millis(1) {
            return Err(format!(
                "retry policy: initial_backoff {:?} must be at least 1 ms (doubling zero stays zero: a tight loop)",
                self.initial_backoff
            ));
        }
        if self.max_backoff < self.initial_backoff {
            return Err(format!(
                "retry policy: max_backoff {:?} is shorter than initial_backoff {:?}",
                self.max_backoff, self.initial_backoff
            ));
        }
        for (name, d) in [
            ("window", self.window),
            ("max_backoff", self.max_backoff),
            ("max_retry_after", self.max_retry_after),
        ] {
            if d > DAY {
                return Err(format!("retry policy: {name} {d:?} is longer than a day"));
            }
        }
        Ok(())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(8),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Builds a [`Session`].
pub struct SessionBuilder {
    client: Client,
    username: String,
    password: Option<Zeroizing<String>>,
    store: Option<Arc<dyn TokenStore>>,
    tokens: Option<Tokens>,
    refresh_ahead: Duration,
    retry: RetryPolicy,
    when_ended: WhenEnded,
    on_event: Option<EventSink>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("base_url", &self.client.base_url())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("refresh_ahead", &self.refresh_ahead)
            .field("retry", &self.retry)
            .field("when_ended", &self.when_ended)
            .finish_non_exhaustive()
    }
}

impl SessionBuilder {
    pub(super) fn new(client: Client, username: String) -> Self {
        Self {
            client,
            username,
            password: None,
            store: None,
            tokens: None,
            refresh_ahead: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            when_ended: WhenEnded::default(),
            on_event: None,
        }
    }

    /// The password: the session authenticates with it when it has no tokens, and again
    /// whenever the server ends the session (revoked, expired, reuse detected) unless
    /// [`when_ended`](Self::when_ended) says [`WhenEnded::Stop`]. Without it, an ended
    /// session is reported as [`Error::SessionEnded`].
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Zeroizing::new(password.into()));
        self
    }

    /// Persists the tokens after every change, and starts from the stored ones (when
    /// they belong to this base URL and username), so a restarted process continues its
    /// session instead of authenticating again.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Like [`store`](Self::store), for a shared store.
    pub fn shared_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Start from tokens obtained elsewhere (stored tokens take precedence: they are
    /// newer).
    pub fn tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Refresh this long before the access token expires (default 60 s, at most half
    /// the token's lifetime).
    pub fn refresh_ahead(mut self, ahead: Duration) -> Self {
        self.refresh_ahead = ahead;
        self
    }

    /// What to do when the token service ends the session (revoked by an operator,
    /// reuse detected, expired) and there is a password: authenticate again
    /// ([`WhenEnded::Reauthenticate`], the default) or stop ([`WhenEnded::Stop`]).
    pub fn when_ended(mut self, policy: WhenEnded) -> Self {
        self.when_ended = policy;
        self
    }

    /// Calls `f` with every [`SessionEvent`]: the server ended the session (and why),
    /// a new session was started, the password was refused. It is called from inside
    /// the refresh (other callers may be waiting on it): it must return quickly and
    /// not call into the session; hand the event to a channel for anything more.
    pub fn on_event(mut self, f: impl Fn(&SessionEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// How refreshes are retried (checked by [`build`](Self::build)).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the session, loading stored tokens if a store was given. No request is
    /// made: the first [`Session::token`] authenticates if there are no tokens.
    ///
    /// A stored file that cannot be used (corrupt, readable by others, another user's)
    /// is passed over with a warning when there is a password: the session starts
    /// afresh and its first save replaces the file. Without a password that is an
    /// [`Error::Config`] saying why, as when nothing is stored.
    ///
    /// This reads the store on the calling thread; from async code prefer
    /// [`build_async`](Self::build_async).
    pub fn build(self) -> Result<Session, Error> {
        let loaded = self.store.as_ref().map(|store| store.load());
        self.finish(loaded)
    }

    /// Like [`build`](Self::build), reading the store on a blocking thread
    /// (`spawn_blocking`), so that file I/O never stalls the async runtime.
    pub async fn build_async(self) -> Result<Session, Error> {
        let loaded = match &self.store {
            Some(store) => {
                let store = Arc::clone(store);
                Some(
                    tokio::task::spawn_blocking(move || store.load())
                        .await
                        .unwrap_or_else(|e| {
                            Err(Error::Storage(format!("the store's load failed: {e}")))
                        }),
                )
            }
            None => None,
        };
        self.finish(loaded)
    }

    fn finish(
        self,
        loaded: Option<Result<Option<StoredSession>, Error>>,
    ) -> Result<Session, Error> {
        self.retry.check().map_err(Error::Config)?;
        let mut tokens = self.tokens;
        let mut unusable = None;
        let stored = match loaded {
            Some(Ok(stored)) => stored,
            Some(Err(e)) => {
                unusable = Some(e);
                None
            }
            None => None,
        };
        if let Some(e) = &unusable {
            if self.password.is_some() {
                tracing::warn!(error = %e, "the stored session cannot be used; starting a new one with the password");
            } else if tokens.is_none() {
                return Err(Error::Config(format!(
                    "no usable stored session for {} at {} ({e}) and no password to authenticate with",
                    self.username,
                    self.client.base_url()
                )));
            }
        }
        if let Some(stored) = stored {
            if stored.base_url == self.client.base_url() && stored.tokens.username == self.username
            {
                tokens = Some(stored.tokens);
            } else {
                tracing::warn!(
                    stored_base_url = %stored.base_url,
                    stored_username = %stored.tokens.username,
                    "ignoring the stored session: it belongs to another token service or user"
                );
            }
        }
        if tokens.is_none() && self.password.is_none() {
            return Err(Error::Config(format!(
                "no stored session for {} at {} and no password to authenticate with",
                self.username,
                self.client.base_url()
            )));
        }
        let refresh_ahead = millis(self.refresh_ahead);
        let state = match tokens {
            Some(t) => State::Live(Live::new(t, refresh_ahead)?),
            None => State::Empty,
        };
        Ok(Session {
            inner: Arc::new(Inner {
                client: self.client,
                username: self.username,
                password: self.password,
                store: self.store,
                refresh_ahead,
                retry: self.retry,
                when_ended: self.when_ended,
                on_event: self.on_event,
                state: ArcSwap::from_pointee(state),
                flight: Arc::new(Mutex::new(Flight::default())),
                attempts: AtomicU64::new(0),
                epoch: tokio::time::Instant::now(),
                hold_until: AtomicI64::new(i64::MIN),
            }),
        })
    }
}

//! `Session`: a token source that hands out a valid access token and keeps it valid.
//! The snapshot it reads is in `state`, the refresh it runs in `flight` and `retry`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::client::{Client, Tokens};
use crate::clock::millis;
use crate::error::Error;
use crate::header::AccessToken;
use crate::storage::TokenStore;

mod builder;
mod events;
mod flight;
mod retry;
mod state;

pub use builder::{RetryPolicy, SessionBuilder};
pub use events::{EndReason, SessionEvent, WhenEnded};
use flight::Flight;
use state::{Live, State};

/// The application's callback for [`SessionEvent`]s.
pub(crate) type EventSink = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// A source of valid access tokens for one API user. Cheap to clone; clones share one
/// session (one refresh in flight for all of them).
///
/// ```no_run
/// # async fn demo() -> Result<(), wirecash_client::Error> {
/// use wirecash_client::{Client, FileTokenStore, RequestBuilderExt, Session};
///
/// let client = Client::builder().sandbox("https://api.wirecash.com").build()?;
/// let session = Session::builder(client, "alice")
///     .password("correct horse battery staple")
///     .store(FileTokenStore::new("/var/lib/partner/wirecash-session.json"))
///     .build()?;
/// let token = session.token().await?;
/// let http = reqwest::Client::new();
/// let answer = http
///     .get("https://api.wirecash.com/sandbox/country/list")
///     .wirecash_token(&token)
///     .send()
///     .await;
/// # drop(answer);
/// # Ok(())
/// # }
/// ```
///
/// Concurrency design. The current state (tokens and the times derived from them) is an
/// immutable snapshot behind an [`ArcSwap`]: the hot path (`token()` while no refresh is
/// due) is one lock-free atomic load, a clock read and a reference-count increment. It
/// never touches the refresh lock. Refreshes run under a `tokio::sync::Mutex` (the
/// "flight"), held across the network call, so at most one refresh is ever in flight;
/// tasks that need a new token wait on that mutex and, once inside, first look at what
/// the attempt they waited for produced instead of starting their own (single flight).
/// A refresh that is due while the current token is still usable runs in a background
/// task; callers keep getting the current token meanwhile and never wait for it.
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
}

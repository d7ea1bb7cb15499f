//! The refresh flight: one refresh or authenticate at a time for every caller of a
//! [`Session`](super::Session), its outcome published as the new snapshot and saved.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::OwnedMutexGuard;

use super::{EndReason, Inner, Live, SessionEvent, State, WhenEnded};
use crate::client::Tokens;
use crate::clock::millis;
use crate::error::Error;
use crate::header::AccessToken;
use crate::storage::StoredSession;

/// What the flight lock guards: attempts finished, and how the last one ended.
#[derive(Default)]
pub(super) struct Flight {
    pub(super) attempt: u64,
    pub(super) last_error: Option<Error>,
}

impl Inner {
    /// Starts a refresh in a background task unless one is running already.
    pub(super) fn refresh_in_background(self: &Arc<Self>, seen: u64) {
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

    pub(super) async fn refresh_and_wait(self: Arc<Self>, seen: u64) -> Result<AccessToken, Error> {
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

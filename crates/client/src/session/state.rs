//! The snapshot a [`Session`](super::Session) reads without a lock: no tokens yet, live
//! tokens with the times derived from them, or the end of the session.

use std::time::Duration;

use crate::client::Tokens;
use crate::clock::millis;
use crate::error::Error;
use crate::header::AccessToken;

/// Below this much remaining lifetime a token is no longer handed out (it could expire
/// on its way to the API); capped at a quarter of the token's lifetime.
const MIN_VALIDITY: Duration = Duration::from_secs(5);

/// The current state of a session, replaced whole, never mutated.
pub(super) enum State {
    /// No tokens yet: the first caller authenticates.
    Empty,
    Live(Live),
    /// The session is over and cannot be restarted (no password, or the password is
    /// refused): every call returns this error.
    Ended(Error),
}

/// Tokens in use, and the times derived from them.
pub(super) struct Live {
    pub(super) tokens: Tokens,
    pub(super) access: AccessToken,
    /// From here on (ms) a refresh is due.
    pub(super) refresh_at: i64,
    /// Until here (ms) the token is handed out while a refresh is due or failing.
    pub(super) usable_until: i64,
}

impl Live {
    pub(super) fn new(tokens: Tokens, refresh_ahead: i64) -> Result<Self, Error> {
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

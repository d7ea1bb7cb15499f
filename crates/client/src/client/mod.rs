//! `Client`: one call per method to the two WireCash endpoints, `POST /{env}/authenticate`
//! and `POST /{env}/token`, with the server's error bodies mapped to [`Error`].

use std::fmt;
use std::sync::Arc;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::Error;

mod builder;
mod wire;

pub use builder::ClientBuilder;
use wire::{AuthenticateBody, RefreshBody, json_body};

/// The token pair of one session, as the last `authenticate` or `refresh` returned it.
///
/// `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The API user the tokens were issued to (`POST /token` needs it).
    pub username: String,
    /// The access token (a JWT), sent raw in the `Authorization` header.
    pub access_token: String,
    /// The refresh token: good for exactly one `POST /token`.
    pub refresh_token: String,
    /// The lifetime the server announced (`expires_in`), in seconds.
    pub expires_in: u64,
    /// When the access token expires, in milliseconds since the Unix epoch, by this
    /// client's clock at the moment the answer arrived (so server clock skew does not
    /// matter).
    pub expires_at_ms: i64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("username", &self.username)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// A client of one environment of the token service. Cheap to clone (shares its
/// connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    base_url: String,
    authenticate_url: Url,
    token_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl Client {
    /// A builder; set at least the base URL.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The environment's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// `POST /{env}/authenticate`: exchanges a username and password for a new session.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Tokens, Error> {
        let json = json_body(
            &AuthenticateBody { username, password },
            username.len() + password.len(),
        )?;
        let answer = self.post(&self.inner.authenticate_url, json).await?;
        self.tokens(username, answer)
    }

    /// `POST /{env}/token`: rotates the session's refresh token. One call, no retry;
    /// [`Session`](crate::Session) adds the retry of a lost answer.
    pub async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        let body = RefreshBody {
            username: &tokens.username,
            access_token: &tokens.access_token,
            refresh_token: &tokens.refresh_token,
        };
        let secret_bytes =
            tokens.username.len() + tokens.access_token.len() + tokens.refresh_token.len();
        let json = json_body(&body, secret_bytes)?;
        let answer = self.post(&self.inner.token_url, json).await?;
        self.tokens(&tokens.username, answer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn tokens_debug_hides_the_tokens() {
        let t = Tokens {
            username: "alice".into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_in: 3600,
            expires_at_ms: 0,
        };
        let s = format!("{t:?}");
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("alice"));
    }
}

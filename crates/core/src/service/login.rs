//! Logins: the credential check shared by `/authenticate` and the OAuth 2.0 endpoints
//! (failed-login counters reserved before Argon2, the same time for every failure) and
//! the session it makes, inserted only if the user is still as the check saw it.

use std::net::IpAddr;
use std::sync::Arc;

use tracing::{info, warn};
use zeroize::Zeroizing;

use super::attempt::Attempt;
use super::{AuthService, Environment, INVALID_CREDENTIALS, TokenGrant, new_session_id};
use crate::crypto::ct_eq;
use crate::error::{Error, StoreError};
use crate::store::{NewSession, SessionKind, UserRecord};
use crate::validate::EnvName;

/// What a `client_credentials` grant hands out: an access token alone (RFC 6749 §4.4.3).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// Signed JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessGrant")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// An API user that proved its credentials as an OAuth 2.0 client (RFC 6749 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    /// Stable user id (`sub`).
    pub user_id: String,
    /// The API user, also the client id.
    pub username: String,
}

/// Client credentials as a request sent them (HTTP Basic or form fields).
pub struct ClientSecret {
    /// The client id: an API user's username.
    pub id: String,
    /// The client secret: that user's password.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a client whose credentials do not check out is told (RFC 6749 §5.2).
const CLIENT_REFUSED: &str = "client authentication failed: send the API username and password as client_id and \
     client_secret (HTTP Basic or form fields)";

impl AuthService {
    /// Exchanges a username and password for a new session's tokens.
    pub async fn authenticate(
        &self,
        env: &EnvName,
        username: &str,
        password: Zeroizing<String>,
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, Error> {
        self.authenticate_via(env, username, password, client, "authenticate")
            .await
    }

    /// `authenticate`, with `via` naming the endpoint in the audit log.
    pub async fn authenticate_via(
        &self,
        env: &EnvName,
        username: &str,
        password: Zeroizing<String>,
        client: Option<IpAddr>,
        via: &'static str,
    ) -> Result<TokenGrant, Error> {
        let result = async {
            let kind = SessionKind::Refresh;
            let (env, user, attempt) = self
                .check_credentials(env, username, password, client, via)
                .await?;
            let (minted, refresh, sid) = self
                .create_session(env, &user, kind, client, via, attempt)
                .await?;
            crate::audit::login_ok(&env.name, &user.id, sid, client, via);
            Ok(TokenGrant {
                access_token: minted.to_string(),
                expires_in: self.policy.access_ttl.as_secs(),
                refresh_token: refresh.encode(),
            })
        }
        .await;
        crate::metrics::login(&result);
        result
    }

    /// The RFC 6749 §4.4 `client_credentials` grant: the API user's credentials as client
    /// credentials, an access token alone. Its session is of a kind of its own, so that
    /// machine-to-machine token fetches never end a refreshable session.
    pub async fn grant_client_credentials(
        &self,
        env: &EnvName,
        credentials: ClientSecret,
        client: Option<IpAddr>,
    ) -> Result<AccessGrant, Error> {
        let via = "oauth2_client_credentials";
        let result = async {
            let kind = SessionKind::ClientCredentials;
            let (env, user, attempt) = self
                .check_credentials(env, &credentials.id, credentials.secret, client, via)
                .await
                .map_err(as_client_error)?;
            let (minted, _, sid) = self
                .create_session(env, &user, kind, client, via, attempt)
                .await?;
            crate::audit::login_ok(&env.name, &user.id, sid, client, via);
            Ok(AccessGrant {
                access_token: minted.to_string(),
                expires_in: self.policy.access_ttl.as_secs(),
            })
        }
        .await;
        crate::metrics::login(&result);
        result
    }

    /// The RFC 6749 §4.3 `password` grant. Client credentials are optional; if sent,
    /// they must name this very API user (a client id that is not the username, or a
    /// secret that is not the password, is a client that is not this one).
    pub async fn grant_password(
        &self,
        env: &EnvName,
        username: &str,
        password: Zeroizing<String>,
        credentials: Option<&ClientSecret>,
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, Error> {
        if let Some(c) = credentials {
            let same_secret =
                c.secret.is_empty() || ct_eq(c.secret.as_bytes(), password.as_bytes());
            if c.id != username || !same_secret {
                return Err(Error::InvalidClient(
                    "the client credentials do not belong to this username",
                ));
            }
        }
        self.authenticate_via(env, username, password, client, "oauth2_password")
            .await
    }

    /// The RFC 6749 §6 `refresh_token` grant: the client authenticates (like a login:
    /// Argon2, lockout, failure counting), and its credentials stand in for the access
    /// token that the WireCash `POST /token` binds the refresh to.
    pub async fn grant_refresh_token(
        &self,
        env: &EnvName,
        credentials: ClientSecret,
        refresh_token: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenGrant, Error> {
        let authenticated = self
            .authenticate_client(env, credentials, client, "oauth2_refresh_token")
            .await?;
        self.refresh_as_client(env, &authenticated, refresh_token)
            .await
    }

    /// Checks an API user's credentials used as OAuth 2.0 client credentials (RFC 6749
    /// §2.3.1) without starting a session: the same lockout, counting and timing as
    /// `authenticate`; wrong ones are `InvalidClient`. `via` names the endpoint in the
    /// audit log.
    pub async fn authenticate_client(
        &self,
        env: &EnvName,
        credentials: ClientSecret,
        client: Option<IpAddr>,
        via: &'static str,
    ) -> Result<AuthenticatedClient, Error> {
        let result = async {
            let (_, user, attempt) = self
                .check_credentials(env, &credentials.id, credentials.secret, client, via)
                .await?;
            if let Some(a) = attempt {
                a.succeeded().await?;
            }
            Ok(AuthenticatedClient {
                user_id: user.id,
                username: user.username,
            })
        }
        .await;
        crate::metrics::login(&result);
        result.map_err(as_client_error)
    }

    /// The credential check. In order: a place in the hashing pool (a flood is refused
    /// before it costs a store call), the attempt reserved in the failed-login counters
    /// (refused while locked; a burst runs no more checks than a scope has left), the
    /// user read, one Argon2 verification, and a failed attempt settled (a successful
    /// one is the caller's to settle, with what it writes). Every failure —
    /// unknown user, wrong password, disabled user — takes the same path, the same
    /// answer and the same time (see `PasswordHasher`'s calibration).
    async fn check_credentials(
        &self,
        env: &str,
        username: &str,
        password: Zeroizing<String>,
        client: Option<IpAddr>,
        via: &'static str,
    ) -> Result<(&Arc<Environment>, UserRecord, Option<Attempt>), Error> {
        let env = self.env(env)?;
        let place = self.hasher.reserve()?;
        let attempt = self.admit(env, username, client, via).await?;
        // A name no user can have (control characters, such as NUL, which PostgreSQL
        // refuses in text) is looked up nowhere, and answered like an unknown user.
        let user = match crate::validate::username(username) {
            Ok(_) => self.store.find_user(&env.name, username).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        // During a planned credential rotation the previous password works too (checked
        // by the same computation: the cost does not show the overlap).
        let now = self.clock.now();
        let previous = user
            .as_ref()
            .and_then(|u| u.previous_password.as_ref())
            .filter(|(_, until)| *until > now)
            .map(|(hash, _)| hash.clone());
        let verified = self
            .hasher
            .verify_either(place, password.clone(), stored, previous)
            .await?;
        // A failure is answered no sooner than a check with the most expensive stored
        // parameters would take: whether the name exists does not show.
        let answer_at = tokio::time::Instant::now() + verified.pad;
        let user = match user {
            Some(u) if verified.ok && !u.disabled => u,
            _ => {
                crate::audit::login_failed(&env.name, client, via);
                if let Some(a) = attempt {
                    a.failed(&env.name, client).await?;
                }
                tokio::time::sleep_until(answer_at).await;
                return Err(Error::InvalidGrant(INVALID_CREDENTIALS));
            }
        };
        if verified.needs_rehash {
            self.spawn_rehash(&user, password);
        }
        // Settled by the caller: with the session it makes, in the same commit.
        Ok((env, user, attempt))
    }

    fn spawn_rehash(&self, user: &UserRecord, password: Zeroizing<String>) {
        let hasher = Arc::clone(&self.hasher);
        let store = Arc::clone(&self.store);
        let (user_id, old) = (user.id.clone(), user.password_hash.clone());
        tokio::spawn(async move {
            let result = match hasher.hash(password).await {
                Ok(new) => store
                    .rehash_password(&user_id, &old, &new)
                    .await
                    .map_err(Error::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => info!(user_id = %user_id, "password rehashed with current parameters"),
                Err(e) => warn!(user_id = %user_id, error = %e, "password rehash failed"),
            }
        });
    }

    /// Makes a session for `user` as the credential check read it. A user who changed
    /// since (password, disabled, sessions revoked, deleted) gets none, and the login the
    /// answer of a wrong password (SPEC §2). Returns the access token, the refresh token
    /// (which only a `Refresh` session's caller hands out) and the session id.
    async fn create_session(
        &self,
        env: &Environment,
        user: &UserRecord,
        kind: SessionKind,
        client: Option<IpAddr>,
        via: &'static str,
        mut attempt: Option<Attempt>,
    ) -> Result<(Zeroizing<String>, crate::token::RefreshToken, i64), Error> {
        for _ in 0..3 {
            let now = self.clock.now();
            let id = new_session_id(now)?;
            let refresh = crate::token::RefreshToken::first(id, &env.secrets)?;
            let minted = self.mint_access(env, &user.id, &user.username, id, 0, now)?;
            let session = NewSession {
                id,
                env: env.name.clone(),
                kind,
                user_id: user.id.clone(),
                user_epoch: user.session_epoch,
                created_at: now,
                current_hash: refresh.hash(&env.secrets),
                current_access_hash: minted.hash,
                access_token_sealed: minted.sealed,
                access_expires_at: minted.expires_at,
                client_addr: client.map(|ip| ip.to_string()),
            };
            let max = self.policy.max_sessions_per_user;
            // The login's counters settle in the session's own commit.
            let guards = attempt.as_ref().map(Attempt::success);
            match self.store.create_session(session, max, guards).await {
                Ok(()) => {
                    if let Some(a) = attempt.as_mut() {
                        a.settled = true;
                    }
                    return Ok((minted.token, refresh, id));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::NotFound) => {
                    // The check lost a race with a change that ends the user's sessions.
                    crate::audit::login_failed(&env.name, client, via);
                    if let Some(a) = attempt {
                        a.released().await?;
                    }
                    return Err(Error::InvalidGrant(INVALID_CREDENTIALS));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("could not allocate a session id".into()))
    }
}

/// Wrong client credentials are `invalid_client` (RFC 6749 §5.2), not `invalid_grant`;
/// a lockout and everything else keep their meaning.
fn as_client_error(e: Error) -> Error {
    match e {
        Error::InvalidGrant(_) => Error::InvalidClient(CLIENT_REFUSED),
        other => other,
    }
}

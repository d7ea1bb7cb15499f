//! The operations behind the standard OAuth 2.0 endpoints that the WireCash endpoints
//! do not have (SPEC §4): token introspection (RFC 7662), revocation (RFC 7009), and the
//! check of an introspector's credentials.

use wirecash_proto::AccessTokenClaims;

use super::login::AuthenticatedClient;
use super::{AuthService, Environment};
use crate::crypto::ct_eq;
use crate::error::Error;
use crate::lifecycle::{is_expired, session_end};
use crate::token::RefreshToken;
use crate::validate::EnvName;

/// What introspection (RFC 7662 §2.2) tells about an active token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// `access_token` or `refresh_token` (RFC 7009 §2.1 hint names).
    pub kind: TokenKind,
    /// Stable user id (`sub`).
    pub sub: String,
    /// The API user (also the OAuth 2.0 client the token was issued to).
    pub username: String,
    /// Session (token family) id.
    pub sid: i64,
    /// Issued at, seconds.
    pub iat: i64,
    /// Expires at, seconds.
    pub exp: i64,
    /// The environment's issuer.
    pub iss: String,
    /// Token id, for access tokens.
    pub jti: Option<String>,
    /// Environment.
    pub env: String,
}

/// The two kinds of token this service issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A signed JWT.
    Access,
    /// An opaque, rotating refresh token.
    Refresh,
}

impl TokenKind {
    /// The RFC 7009 `token_type_hint` name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }
}

impl AuthService {
    /// The claims of `token` if it is an access token of `env` signed by one of its
    /// published keys (expired or not: the caller decides what expiry means).
    fn verify_access(&self, env: &Environment, token: &str) -> Option<AccessTokenClaims> {
        let keys = env.keys();
        let published = keys.published(self.clock.now(), self.key_keep());
        crate::access_token::verify(&published, &env.issuer, &env.name, token)
    }

    /// The session a presented token belongs to, and which kind of token it is: a
    /// refresh token of this environment (MAC-checked) or an access token it signed.
    /// `None` for anything else. No I/O.
    fn identify(&self, env: &Environment, token: &str) -> Option<Identified> {
        if let Some(rt) = RefreshToken::parse(token, &env.secrets) {
            return Some(Identified::Refresh(Box::new(rt)));
        }
        let claims = self.verify_access(env, token)?;
        let sid = claims.sid.parse::<i64>().ok()?;
        Some(Identified::Access(Box::new(claims), sid))
    }

    /// RFC 7662: whether `token` is active, and what it says. A refresh token is active
    /// while it is its session's live one and the session is live; an access token while
    /// it has not expired and its session has not been revoked.
    pub async fn introspect(
        &self,
        env: &EnvName,
        token: &str,
    ) -> Result<Option<ActiveToken>, Error> {
        let env = self.env(env)?;
        let now = self.clock.now();
        let Some(found) = self.identify(env, token) else {
            return Ok(None);
        };
        let sid = found.session_id();
        let Some(s) = self.store.load_session(&env.name, sid).await? else {
            return Ok(None);
        };
        if s.revoked_at.is_some() || s.user_disabled {
            return Ok(None);
        }
        match found {
            Identified::Refresh(rt) => {
                let live = rt.generation() == s.generation
                    && ct_eq(&rt.hash(&env.secrets), &s.current_hash)
                    && !is_expired(&s, now, &self.policy);
                Ok(live.then(|| ActiveToken {
                    kind: TokenKind::Refresh,
                    sub: s.user_id.clone(),
                    username: s.username.clone(),
                    sid,
                    iat: if s.generation == 0 {
                        s.created_at / 1000
                    } else {
                        s.rotated_at / 1000
                    },
                    exp: session_end(&s, &self.policy) / 1000,
                    iss: env.issuer.clone(),
                    jti: None,
                    env: env.name.clone(),
                }))
            }
            Identified::Access(claims, _) => {
                let live = now / 1000 < claims.exp && claims.sub == s.user_id;
                Ok(live.then_some(ActiveToken {
                    kind: TokenKind::Access,
                    sub: claims.sub,
                    username: claims.username,
                    sid,
                    iat: claims.iat,
                    exp: claims.exp,
                    iss: claims.iss,
                    jti: Some(claims.jti),
                    env: claims.env,
                }))
            }
        }
    }

    /// RFC 7009: `client` revokes `token`. A refresh token or an access token of the
    /// client's own session ends that whole session (RFC 7009 §2.1: revoking an access
    /// token may revoke its refresh token too; here they are one session). Tokens that
    /// are invalid, expired, already revoked or another client's change nothing and are
    /// not an error (RFC 7009 §2.2): the answer tells nothing about other users' tokens.
    pub async fn revoke(
        &self,
        env: &EnvName,
        client: &AuthenticatedClient,
        token: &str,
    ) -> Result<bool, Error> {
        let env = self.env(env)?;
        let Some(found) = self.identify(env, token) else {
            crate::audit::revoke_ignored(&env.name, &client.user_id, "unknown_token");
            return Ok(false);
        };
        let sid = found.session_id();
        let owner = match &found {
            Identified::Access(claims, _) => Some(claims.sub.clone()),
            Identified::Refresh(_) => self
                .store
                .load_session(&env.name, sid)
                .await?
                .map(|s| s.user_id),
        };
        if owner.as_deref() != Some(client.user_id.as_str()) {
            crate::audit::revoke_ignored(&env.name, &client.user_id, "not_owner");
            return Ok(false);
        }
        let (now, reason) = (self.clock.now(), "revoked by the client");
        let event = crate::events::sessions_revoked(
            &env.name,
            now,
            &crate::events::Actor::User(client.username.clone()),
            crate::events::Revoked::Session(sid, Some(&client.username)),
            reason,
        );
        let revoked = self
            .store
            .revoke_session(&env.name, sid, now, reason, Some(event))
            .await?;
        if revoked {
            crate::audit::session_revoked(&env.name, sid, "client");
        }
        Ok(revoked)
    }

    /// Checks a resource server's introspection credentials (constant time).
    pub async fn authenticate_introspector(
        &self,
        env: &EnvName,
        name: &str,
        secret: &str,
    ) -> Result<bool, Error> {
        let env = self.env(env)?;
        if crate::validate::introspector_name(name).is_err() {
            return Ok(false);
        }
        let presented = crate::crypto::introspector_secret_hash(secret);
        let Some(record) = self.store.find_introspector(&env.name, name).await? else {
            crate::audit::introspector_refused(&env.name);
            return Ok(false);
        };
        let ok = ct_eq(&presented, &record.secret_hash);
        if !ok {
            crate::audit::introspector_refused(&env.name);
        }
        Ok(ok)
    }
}

enum Identified {
    Refresh(Box<RefreshToken>),
    Access(Box<AccessTokenClaims>, i64),
}

impl Identified {
    fn session_id(&self) -> i64 {
        match self {
            Identified::Refresh(rt) => rt.session_id(),
            Identified::Access(_, sid) => *sid,
        }
    }
}

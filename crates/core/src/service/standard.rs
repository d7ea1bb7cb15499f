//! The operations behind the standard OAuth 2.0 endpoints (SPEC §4) that the WireCash
//! endpoints do not have: token revocation (RFC 7009) and introspection (RFC 7662), and
//! the check of an access token this service minted.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroizing;

use wirecash_proto::AccessTokenClaims;

use super::{AuthService, Environment, MAX_PEEK};
use crate::clock::{UnixMillis, millis};
use crate::crypto::{HASH_LEN, ct_eq, random_bytes};
use crate::error::{Error, StoreError};
use crate::keys::SigningKey;
use crate::lifecycle::is_expired;
use crate::store::{IntrospectorRecord, SessionRecord, UserRecord};
use crate::token::RefreshToken;

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

/// Length of a generated introspector secret, in random bytes.
const INTROSPECTOR_SECRET_BYTES: usize = 32;
/// Longest introspector name.
const MAX_INTROSPECTOR_NAME: usize = 64;

/// Hash kept for an introspector's secret. The secret is 256 random bits, so a fast hash
/// is enough (nothing to brute-force) and checking it costs microseconds, which matters:
/// resource servers may introspect on every request.
fn secret_hash(secret: &str) -> [u8; HASH_LEN] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// Validates an introspector name: what a client id in HTTP Basic can carry.
pub fn validate_introspector_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_INTROSPECTOR_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "an introspector name is 1 to {MAX_INTROSPECTOR_NAME} characters of A-Z, a-z, 0-9, '-', '_' and '.'"
        )))
    }
}

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// The claims of `token` if it is an access token of the environment `env` (issuer
/// `issuer`) signed by one of `keys` (expired or not: the caller decides what expiry
/// means). A pure function of a string a client sends to `/revoke` and `/introspect`
/// (the `verify_access` fuzz target calls it); bounded work: tokens longer than
/// `MAX_PEEK` are not read.
pub fn verify_access_token(
    keys: &[&Arc<SigningKey>],
    issuer: &str,
    env: &str,
    token: &str,
) -> Option<AccessTokenClaims> {
    if token.len() > MAX_PEEK {
        return None;
    }
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: JwsHeader = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let key = keys.iter().find(|k| k.kid == header.kid)?;
    if header.alg != key.alg.as_str() {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    let claims: AccessTokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.iss == issuer && claims.env == env).then_some(claims)
}

impl AuthService {
    /// The claims of `token` if it is an access token of `env` signed by one of its
    /// published keys (expired or not: the caller decides what expiry means).
    fn verify_access(&self, env: &Environment, token: &str) -> Option<AccessTokenClaims> {
        if token.len() > MAX_PEEK {
            return None;
        }
        let keys = env.keys();
        let published = keys.published(self.clock.now(), self.key_keep());
        verify_access_token(&published, &env.issuer, &env.name, token)
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
    pub async fn introspect(&self, env: &str, token: &str) -> Result<Option<ActiveToken>, Error> {
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
                    exp: session_end(&s, self) / 1000,
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
    pub async fn revoke(&self, env: &str, client: &UserRecord, token: &str) -> Result<bool, Error> {
        let env = self.env(env)?;
        let Some(found) = self.identify(env, token) else {
            crate::audit::revoke_ignored(&env.name, &client.id, "unknown_token");
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
        if owner.as_deref() != Some(client.id.as_str()) {
            crate::audit::revoke_ignored(&env.name, &client.id, "not_owner");
            return Ok(false);
        }
        let revoked = self
            .store
            .revoke_session(&env.name, sid, self.clock.now(), "revoked by the client")
            .await?;
        if revoked {
            crate::audit::session_revoked(&env.name, sid, "client");
        }
        Ok(revoked)
    }

    /// Checks a resource server's introspection credentials (constant time).
    pub async fn authenticate_introspector(
        &self,
        env: &str,
        name: &str,
        secret: &str,
    ) -> Result<bool, Error> {
        let env = self.env(env)?;
        if validate_introspector_name(name).is_err() {
            return Ok(false);
        }
        let presented = secret_hash(secret);
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

/// When a session stops being refreshable: its idle or its absolute end.
fn session_end(s: &SessionRecord, service: &AuthService) -> UnixMillis {
    let idle = s
        .last_used_at
        .saturating_add(millis(service.policy.refresh_idle_ttl));
    let absolute = s
        .created_at
        .saturating_add(millis(service.policy.refresh_absolute_ttl));
    idle.min(absolute)
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

/// Admin operations on introspectors (the `wirecash-auth introspector` commands).
impl crate::admin::Admin {
    /// Adds an introspector and returns its secret, which is shown once and stored only
    /// as a hash.
    pub async fn add_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Zeroizing<String>, Error> {
        crate::validate::environment(env)?;
        validate_introspector_name(name)?;
        let mut raw = Zeroizing::new([0u8; INTROSPECTOR_SECRET_BYTES]);
        random_bytes(raw.as_mut())?;
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
        let record = IntrospectorRecord {
            env: env.to_string(),
            name: name.to_string(),
            secret_hash: secret_hash(&secret),
            created_at: self.clock.now(),
        };
        self.store
            .add_introspector(record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::Conflict(format!("introspector {name:?} already exists in {env}"))
                }
                other => other.into(),
            })?;
        crate::audit::introspector_added(env, name);
        Ok(secret)
    }

    /// The introspectors of an environment.
    pub async fn introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, Error> {
        crate::validate::environment(env)?;
        Ok(self.store.list_introspectors(env).await?)
    }

    /// Removes an introspector; its secret stops working at once.
    pub async fn remove_introspector(&self, env: &str, name: &str) -> Result<(), Error> {
        crate::validate::environment(env)?;
        if !self.store.remove_introspector(env, name).await? {
            return Err(Error::NotFound(format!(
                "no introspector {name:?} in {env}"
            )));
        }
        crate::audit::introspector_removed(env, name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspector_names_are_plain_client_ids() {
        for ok in ["orders-api", "a", "svc_1.prod"] {
            assert!(validate_introspector_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(MAX_INTROSPECTOR_NAME + 1);
        for bad in ["", "a:b", "a b", "é", "a\0", long.as_str()] {
            assert!(validate_introspector_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_hash_is_sha256() {
        assert_ne!(secret_hash("a"), secret_hash("b"));
        assert_eq!(secret_hash("a"), secret_hash("a"));
    }
}

//! `AuthService`: authenticate and refresh, the two operations partners call, built
//! from the pure rules of `lifecycle`, the token format of `token`, the keys of `keys`
//! and a `Store`. One instance serves every configured environment.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::metrics::store as timed;
use zeroize::Zeroizing;

use wirecash_proto::AccessTokenClaims;

use crate::clock::{Clock, UnixMillis, millis};
use crate::crypto::{EnvSecrets, HASH_LEN, MasterKey, Sealer, keyed_hash, random_bytes};
use crate::error::Error;
use crate::keys::{KeySet, SigningKey};
use crate::lifecycle::{Decision, Presented, Reject, decide};
use crate::password::PasswordHasher;
use crate::policy::TokenPolicy;
use crate::store::{PurgeCutoffs, Rotation, RotationGuard, Store, UserRecord};

mod login;
mod standard;
pub use login::AccessGrant;
pub use standard::{ActiveToken, TokenKind, validate_introspector_name, verify_access_token};

/// What a successful authenticate or refresh hands out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// Signed JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// One environment: its issuer, its derived secrets and its signing keys.
pub struct Environment {
    /// Name (`sandbox`, …).
    pub name: String,
    /// `{public_url}/{name}`.
    pub issuer: String,
    secrets: EnvSecrets,
    keys: RwLock<Arc<KeySet>>,
}

impl Environment {
    fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set_keys(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}

/// Settings of an `AuthService` beyond the token policy.
pub struct ServiceOptions {
    /// Base of every issuer.
    pub public_url: String,
    /// Environments served.
    pub environments: Vec<String>,
    /// How often keys are re-read from the store (bounds how late a node sees a rotation).
    pub key_reload_interval: Duration,
    /// Failed-login limits (SPEC §10; `crate::lockout`).
    pub limits: crate::lockout::Limits,
}

/// The token service.
pub struct AuthService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
    hasher: Arc<PasswordHasher>,
    envs: HashMap<String, Arc<Environment>>,
    wrapper: Sealer,
    key_reload_interval: Duration,
    limits: crate::lockout::Limits,
}

const INVALID_CREDENTIALS: &str = "invalid username or password";

impl AuthService {
    /// Opens the service: derives the environments' secrets and loads their signing keys,
    /// creating a first key for an environment that has none.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
        hasher: Arc<PasswordHasher>,
        master: &MasterKey,
        options: ServiceOptions,
    ) -> Result<Self, Error> {
        let base = options.public_url.trim_end_matches('/');
        let mut envs = HashMap::new();
        for name in &options.environments {
            crate::validate::environment(name)?;
            envs.insert(
                name.clone(),
                Arc::new(Environment {
                    name: name.clone(),
                    issuer: format!("{base}/{name}"),
                    secrets: master.env_secrets(name)?,
                    keys: RwLock::new(Arc::new(KeySet::default())),
                }),
            );
        }
        let service = Self {
            store,
            clock,
            policy,
            hasher,
            envs,
            wrapper: master.key_wrapper()?,
            key_reload_interval: options.key_reload_interval,
            limits: options.limits,
        };
        for env in service.envs.values() {
            if service.store.list_keys(&env.name).await?.is_empty() {
                let now = service.clock.now();
                let (_, record) = SigningKey::generate(
                    &env.name,
                    service.policy.signing_alg,
                    now,
                    now,
                    &service.wrapper,
                )?;
                let (kid, alg) = (record.kid.clone(), record.alg.clone());
                service.store.insert_key(record).await?;
                crate::audit::key_created(&env.name, &kid, &alg);
            }
        }
        service.reload_keys().await?;
        service.calibrate_password_checks().await?;
        Ok(service)
    }

    /// Calibrates failed-login timing to the password-hash parameters in use, so that
    /// a failure takes as long whether or not the name exists (SPEC §10). Run at start
    /// and now and then, as the stored hashes' parameters change only by admin actions.
    pub async fn calibrate_password_checks(&self) -> Result<(), Error> {
        let in_use = timed("password_hash_params", self.store.password_hash_params()).await?;
        self.hasher.calibrate(&in_use).await?;
        Ok(())
    }

    /// The environment called `name`, if served.
    pub fn environment(&self, name: &str) -> Option<&Arc<Environment>> {
        self.envs.get(name)
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn env(&self, name: &str) -> Result<&Arc<Environment>, Error> {
        self.envs
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("unknown environment {name:?}")))
    }

    /// How long a retired key stays published: its last token's lifetime, the leeway
    /// verifiers allow, and the reload interval of nodes that switched late.
    fn key_keep(&self) -> Duration {
        self.policy.access_ttl + self.policy.clock_leeway + self.key_reload_interval
    }

    /// Re-reads every environment's keys from the store, keeping already decrypted ones.
    pub async fn reload_keys(&self) -> Result<(), Error> {
        for env in self.envs.values() {
            let records = timed("list_keys", self.store.list_keys(&env.name)).await?;
            let current = env.keys();
            let mut keys = Vec::with_capacity(records.len());
            for rec in &records {
                match current
                    .keys()
                    .iter()
                    .find(|k| k.kid == rec.kid && k.activates_at == rec.activates_at)
                {
                    Some(k) => keys.push(Arc::clone(k)),
                    None => keys.push(Arc::new(SigningKey::from_record(rec, &self.wrapper)?)),
                }
            }
            env.set_keys(KeySet::new(keys));
        }
        Ok(())
    }

    /// Deletes keys that no live token can need any more.
    pub async fn delete_expired_keys(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut n = 0;
        for env in self.envs.values() {
            let set = env.keys();
            for k in set.expired(now, self.key_keep()) {
                timed("delete_key", self.store.delete_key(&env.name, &k.kid)).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The JWKS of an environment.
    pub fn jwks(&self, env: &str) -> Result<JwkSet, Error> {
        let env = self.env(env)?;
        Ok(env.keys().jwks(self.clock.now(), self.key_keep()))
    }

    /// Rotates a session's refresh token (SPEC §2): see `lifecycle::decide` for the rules.
    pub async fn refresh(
        &self,
        env: &str,
        username: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let result = self
            .rotate(env, username, access_token, refresh_token)
            .await;
        // Grants and refusals are counted where they are decided; here, what failed.
        if let Err(e) = &result
            && !matches!(e, Error::InvalidGrant(_))
        {
            crate::metrics::refresh("error");
        }
        result
    }

    async fn rotate(
        &self,
        env: &str,
        username: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let env = self.env(env)?;
        // Forged, altered or foreign tokens stop here, before any I/O (counted, not
        // logged: a flood of garbage must not flood the audit log).
        let Some(presented) = crate::token::RefreshToken::parse(refresh_token, &env.secrets) else {
            crate::metrics::refresh_refused(crate::metrics::INVALID_TOKEN);
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        };
        // So is a username no user can have.
        if crate::validate::username(username).is_err() {
            crate::metrics::refresh_refused(crate::metrics::INVALID_TOKEN);
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        }
        let token_hash = presented.hash(&env.secrets);
        let access_hash = keyed_hash(&env.secrets.access_bind, access_token.as_bytes());
        let p = Presented {
            username,
            generation: presented.generation(),
            token_hash: &token_hash,
            access_hash: Some(&access_hash),
        };
        // The common case — the live pair, presented by its owner — in one store call.
        if let Some(grant) = self
            .rotate_without_reading(env, username, access_token, &presented, &p, &access_hash)
            .await?
        {
            return Ok(grant);
        }
        self.refresh_decided(env, &presented, &p).await
    }

    /// The RFC 6749 §6 `refresh_token` grant: `client` has authenticated with its
    /// credentials (see `authenticate_client`), which stands in for the access token of
    /// the WireCash `POST /token`. Every other rule (rotation, grace replay, reuse
    /// detection, lifetimes) is the same.
    pub async fn refresh_as_client(
        &self,
        env: &str,
        client: &UserRecord,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let env = self.env(env)?;
        let Some(presented) = crate::token::RefreshToken::parse(refresh_token, &env.secrets) else {
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        };
        let token_hash = presented.hash(&env.secrets);
        let p = Presented {
            username: &client.username,
            generation: presented.generation(),
            token_hash: &token_hash,
            access_hash: None,
        };
        self.refresh_decided(env, &presented, &p).await
    }

    /// The general refresh path: read the session and let the lifecycle decide.
    async fn refresh_decided(
        &self,
        env: &Environment,
        presented: &crate::token::RefreshToken,
        p: &Presented<'_>,
    ) -> Result<TokenGrant, Error> {
        let sid = presented.session_id();
        // Anything else (a replay, a reuse, a refusal, a race): read the session and let
        // the lifecycle decide. A lost compare-and-set means another request changed the
        // session meanwhile; deciding again on the new state turns it into a replay, a
        // reuse or a refusal.
        for _ in 0..4 {
            let session = timed("load_session", self.store.load_session(&env.name, sid)).await?;
            let now = self.clock.now();
            match (decide(session.as_ref(), p, now, &self.policy), session) {
                (Decision::Rotate, Some(s)) => {
                    let next = presented.successor(&env.secrets);
                    let minted = self.mint_access(
                        env,
                        &s.user_id,
                        &s.username,
                        sid,
                        next.generation(),
                        now,
                    )?;
                    let rotation = Rotation {
                        session_id: sid,
                        env: env.name.clone(),
                        expected_generation: s.generation,
                        expected_hash: s.current_hash,
                        generation: next.generation(),
                        current_hash: next.hash(&env.secrets),
                        current_access_hash: minted.hash,
                        prev_hash: s.current_hash,
                        prev_access_hash: s.current_access_hash,
                        rotated_at: now,
                        access_token_sealed: minted.sealed,
                        access_expires_at: minted.expires_at,
                    };
                    if timed("rotate", self.store.rotate(rotation)).await? {
                        crate::metrics::refresh("rotated");
                        crate::audit::refresh(&env.name, sid, next.generation(), &s.user_id);
                        return Ok(TokenGrant {
                            access_token: minted.token.to_string(),
                            expires_in: self.policy.access_ttl.as_secs(),
                            refresh_token: next.encode(),
                        });
                    }
                }
                (Decision::Replay, Some(s)) => {
                    let next = presented.successor(&env.secrets);
                    let access = env
                        .secrets
                        .access_seal
                        .open(
                            &seal_aad(&env.name, sid, s.generation),
                            &s.access_token_sealed,
                        )
                        .and_then(|b| String::from_utf8(b.to_vec()).ok())
                        .ok_or_else(|| {
                            Error::Internal(format!(
                                "session {sid}: stored access token unreadable"
                            ))
                        })?;
                    if !crate::crypto::ct_eq(&next.hash(&env.secrets), &s.current_hash) {
                        return Err(Error::Internal(format!(
                            "session {sid}: successor does not match"
                        )));
                    }
                    crate::metrics::refresh("grace_replay");
                    crate::audit::refresh_replayed(&env.name, sid, presented.generation());
                    // Never more than a fresh token's lifetime, whatever the clock did.
                    let remaining = s.access_expires_at.saturating_sub(now).max(0) / 1000;
                    return Ok(TokenGrant {
                        access_token: access,
                        expires_in: u64::try_from(remaining)
                            .unwrap_or(0)
                            .min(self.policy.access_ttl.as_secs()),
                        refresh_token: next.encode(),
                    });
                }
                (Decision::Reuse, session) => {
                    let reason = "refresh token reuse";
                    let revoked = timed(
                        "revoke_session",
                        self.store.revoke_session(&env.name, sid, now, reason),
                    )
                    .await?;
                    crate::metrics::refresh("reuse_detected");
                    let user_id = session.as_ref().map_or("", |s| s.user_id.as_str());
                    crate::audit::reuse_detected(
                        &env.name,
                        sid,
                        presented.generation(),
                        user_id,
                        revoked,
                    );
                    return Err(Error::InvalidGrant(
                        "the refresh token was already used; the session has been revoked, authenticate again",
                    ));
                }
                (Decision::Reject(r), _) => {
                    crate::metrics::refresh_rejected(r);
                    crate::audit::refresh_refused(&env.name, sid, r.as_str());
                    return Err(Error::InvalidGrant(r.description()));
                }
                (Decision::Rotate | Decision::Replay, None) => {
                    let r = Reject::UnknownSession;
                    crate::metrics::refresh_rejected(r);
                    crate::audit::refresh_refused(&env.name, sid, r.as_str());
                    return Err(Error::InvalidGrant(r.description()));
                }
            }
        }
        Err(Error::Unavailable(
            "the session is changing too fast; retry".into(),
        ))
    }

    /// The refresh hot path: mint the successor from what was presented and let the store
    /// apply it in one statement under exactly the lifecycle's `Rotate` conditions
    /// (`RotationGuard`), with no read first. The presented access token's claims name
    /// the owner; they are read without checking the signature, which is safe because
    /// the store applies the rotation only if that token's keyed hash is the session's
    /// live access token — a token this service minted for this session. `None` when the
    /// claims do not fit or the store refused: the caller then reads and decides.
    async fn rotate_without_reading(
        &self,
        env: &Environment,
        username: &str,
        access_token: &str,
        presented: &crate::token::RefreshToken,
        p: &Presented<'_>,
        access_hash: &[u8; HASH_LEN],
    ) -> Result<Option<TokenGrant>, Error> {
        let sid = presented.session_id();
        let Some(claims) = peek_claims(access_token) else {
            return Ok(None);
        };
        // (A `sub` we never mint — e.g. with NUL, which PostgreSQL refuses in text — goes
        // the general way, where claims are never used in a query.)
        if claims.username != username
            || claims.env != env.name
            || claims.sid != sid.to_string()
            || claims.sub.is_empty()
            || claims.sub.len() > 128
            || claims.sub.chars().any(char::is_control)
        {
            return Ok(None);
        }
        let now = self.clock.now();
        let next = presented.successor(&env.secrets);
        let minted = self.mint_access(env, &claims.sub, username, sid, next.generation(), now)?;
        let rotation = Rotation {
            session_id: sid,
            env: env.name.clone(),
            expected_generation: p.generation,
            expected_hash: *p.token_hash,
            generation: next.generation(),
            current_hash: next.hash(&env.secrets),
            current_access_hash: minted.hash,
            prev_hash: *p.token_hash,
            prev_access_hash: *access_hash,
            rotated_at: now,
            access_token_sealed: minted.sealed,
            access_expires_at: minted.expires_at,
        };
        let guard = RotationGuard {
            current_access_hash: *access_hash,
            user_id: claims.sub.clone(),
            username: username.to_string(),
            used_after: now.saturating_sub(millis(self.policy.refresh_idle_ttl)),
            created_after: now.saturating_sub(millis(self.policy.refresh_absolute_ttl)),
        };
        if !timed("rotate_guarded", self.store.rotate_guarded(rotation, guard)).await? {
            return Ok(None);
        }
        crate::metrics::refresh("rotated");
        crate::audit::refresh(&env.name, sid, next.generation(), &claims.sub);
        Ok(Some(TokenGrant {
            access_token: minted.token.to_string(),
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token: next.encode(),
        }))
    }

    fn mint_access(
        &self,
        env: &Environment,
        user_id: &str,
        username: &str,
        sid: i64,
        generation: i64,
        now: UnixMillis,
    ) -> Result<Minted, Error> {
        let keys = env.keys();
        let key = keys.active(now).ok_or_else(|| {
            Error::Internal(format!(
                "environment {} has no active signing key",
                env.name
            ))
        })?;
        let iat = now / 1000;
        let exp = iat.saturating_add(millis(self.policy.access_ttl) / 1000);
        let claims = AccessTokenClaims {
            iss: env.issuer.clone(),
            sub: user_id.to_string(),
            aud: env.issuer.clone(),
            client_id: username.to_string(),
            username: username.to_string(),
            sid: sid.to_string(),
            iat,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            env: env.name.clone(),
        };
        let token = Zeroizing::new(key.sign(&claims)?);
        let sealed = env
            .secrets
            .access_seal
            .seal(&seal_aad(&env.name, sid, generation), token.as_bytes())?;
        Ok(Minted {
            hash: keyed_hash(&env.secrets.access_bind, token.as_bytes()),
            token,
            sealed,
            expires_at: exp.saturating_mul(1000),
        })
    }

    /// One step of the background purge of dead sessions; returns the next cursor.
    pub async fn purge_step(&self, cursor: i64, batch: u32) -> Result<(u64, i64), Error> {
        let now = self.clock.now();
        let cutoffs = PurgeCutoffs {
            idle_before: now.saturating_sub(millis(self.policy.refresh_idle_ttl)),
            absolute_before: now.saturating_sub(millis(self.policy.refresh_absolute_ttl)),
            revoked_before: now.saturating_sub(millis(self.policy.revoked_retention)),
        };
        Ok(timed(
            "purge_sessions",
            self.store.purge_sessions(cursor, batch, cutoffs),
        )
        .await?)
    }
}

struct Minted {
    token: Zeroizing<String>,
    hash: [u8; 32],
    sealed: Vec<u8>,
    expires_at: UnixMillis,
}

/// Longest access token whose claims are looked at (ours are under 1 KiB).
const MAX_PEEK: usize = 4096;

/// The claims of a compact JWS, read without verifying it: only ever used together with
/// a check that the token is one this service minted (see `rotate_without_reading`).
/// Bounded work: tokens longer than `MAX_PEEK` are not read.
pub fn peek_claims(token: &str) -> Option<AccessTokenClaims> {
    use base64::Engine as _;
    if token.len() > MAX_PEEK {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn seal_aad(env: &str, sid: i64, generation: i64) -> Vec<u8> {
    format!("wirecash-auth access token|{env}|{sid}|{generation}").into_bytes()
}

/// A new session id: milliseconds since the epoch in the high bits (so new rows append
/// to the B-tree and several nodes need no coordination) and 20 random low bits.
fn new_session_id(now: UnixMillis) -> Result<i64, Error> {
    let mut r = [0u8; 4];
    random_bytes(&mut r)?;
    let low = i64::from(u32::from_be_bytes(r) & 0xF_FFFF);
    Ok((now.max(0) << 20) | low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn peek_reads_the_claims_of_a_compact_jws_and_nothing_else() {
        let claims = AccessTokenClaims {
            iss: "i".into(),
            sub: "u1".into(),
            aud: "i".into(),
            client_id: "alice".into(),
            username: "alice".into(),
            sid: "42".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            env: "sandbox".into(),
        };
        let payload = serde_json::to_string(&claims).unwrap_or_default();
        let token = format!("{}.{}.c2ln", b64("{}"), b64(&payload));
        assert_eq!(peek_claims(&token), Some(claims));
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{}.{}", b64("{}"), b64(&payload)),
            format!("{}.{}.s.x", b64("{}"), b64(&payload)),
            format!("{}.{}=.s", b64("{}"), b64(&payload)),
            format!("{}.{}.s", b64("{}"), b64("{\"sub\":1}")),
            format!("h.{}.s", "A".repeat(MAX_PEEK)),
        ] {
            assert_eq!(peek_claims(&bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn peek_never_panics(s in "\\PC{0,300}", parts in proptest::collection::vec("[A-Za-z0-9_-]{0,80}", 0..5)) {
            let _ = peek_claims(&s);
            let _ = peek_claims(&parts.join("."));
        }
    }
}

//! `AdminService`: what the admin CLI and the admin API do, over a `Store` — users,
//! sessions, keys, introspectors and events. The callers only parse and print.

mod access;

pub use access::{AdminKeyIssued, AdminPrincipal, parse_admin_key};

use std::sync::Arc;

use zeroize::Zeroizing;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::audit;
use crate::clock::{Clock, UnixMillis, millis};
use crate::crypto::Sealer;
use crate::crypto::random_bytes;
use crate::error::{Error, StoreError};
use crate::events::{self, Actor, Revoked};
use crate::keys::SigningKey;
use crate::password::PasswordHasher;
use crate::policy::TokenPolicy;
use crate::store::{
    EnvStats, EventQuery, EventRecord, IntrospectorRecord, KeyRecord, SessionSummary, Store,
    UserRecord,
};
use crate::validate::{self, EnvName, IntrospectorName, Username};

/// Random bytes in a generated introspector secret.
const INTROSPECTOR_SECRET_BYTES: usize = 32;

/// Admin operations on one database.
pub struct AdminService {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

fn not_found(what: String) -> impl FnOnce(StoreError) -> Error {
    move |e| match e {
        StoreError::NotFound => Error::NotFound(what),
        other => other.into(),
    }
}

impl AdminService {
    /// Creates a user with an Argon2id hash of `password`.
    pub async fn add_user(
        &self,
        actor: &Actor,
        hasher: &Arc<PasswordHasher>,
        env: &EnvName,
        username: &Username,
        password: Zeroizing<String>,
    ) -> Result<UserRecord, Error> {
        validate::new_username(username)?;
        validate::new_password(&password)?;
        let hash = hasher.hash(password).await?;
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            env: env.to_string(),
            username: username.to_string(),
            password_hash: hash,
            disabled: false,
            created_at: self.clock.now(),
            session_epoch: 0,
            previous_password: None,
        };
        let event = events::user_created(env, user.created_at, actor, username, &user.id);
        self.store
            .create_user(user.clone(), Some(event))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::Conflict(format!("user {username:?} already exists in {env}"))
                }
                other => other.into(),
            })?;
        audit::user_added(env, username, &user.id, actor);
        Ok(user)
    }

    /// Sets a new password; ends every session of the user.
    pub async fn set_password(
        &self,
        actor: &Actor,
        hasher: &Arc<PasswordHasher>,
        env: &EnvName,
        username: &Username,
        password: Zeroizing<String>,
    ) -> Result<(), Error> {
        validate::new_password(&password)?;
        let hash = hasher.hash(password).await?;
        let now = self.clock.now();
        let event = events::credentials_rotated(env, now, actor, username, None);
        self.store
            .change_password(env, username, &hash, now, Some(event))
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::password_changed(env, username, actor);
        Ok(())
    }

    /// Longest overlap of a planned credential rotation.
    pub const MAX_OVERLAP: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

    /// A planned credential rotation: `password` works at once; the old one keeps working
    /// for logins until `overlap` has passed, and sessions stay. A zero overlap is a
    /// reset (`set_password`: the old password stops at once and every session ends).
    /// Returns when the old password stops working (`None` for a reset).
    pub async fn rotate_credentials(
        &self,
        actor: &Actor,
        hasher: &Arc<PasswordHasher>,
        env: &EnvName,
        username: &Username,
        password: Zeroizing<String>,
        overlap: std::time::Duration,
    ) -> Result<Option<UnixMillis>, Error> {
        if overlap > Self::MAX_OVERLAP {
            return Err(Error::InvalidRequest(
                "an overlap is at most 30 days".into(),
            ));
        }
        if overlap.is_zero() {
            self.set_password(actor, hasher, env, username, password)
                .await?;
            return Ok(None);
        }
        validate::new_password(&password)?;
        // The new hash shares the current one's salt and parameters, so that one Argon2
        // computation checks both passwords during the overlap (`verify_either`).
        let current = self.user(env, username).await?.password_hash;
        let hash = hasher.hash_like(password, &current).await?;
        let now = self.clock.now();
        let until = now.saturating_add(millis(overlap));
        let event = events::credentials_rotated(env, now, actor, username, Some(until));
        if !self
            .store
            .rotate_password(env, username, &current, &hash, until, Some(event))
            .await?
        {
            // Deleted, or its password changed since it was read.
            self.user(env, username).await?;
            return Err(Error::Conflict(format!(
                "the credentials of {username:?} changed meanwhile; retry"
            )));
        }
        audit::credentials_rotated(env, username, overlap.as_secs(), actor);
        Ok(Some(until))
    }

    /// Enables or disables a user; disabling ends every session.
    pub async fn set_disabled(
        &self,
        actor: &Actor,
        env: &EnvName,
        username: &Username,
        disabled: bool,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let event = events::user_disabled(env, now, actor, username, disabled);
        self.store
            .set_user_disabled(env, username, disabled, now, Some(event))
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::user_disabled(env, username, disabled, actor);
        Ok(())
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        env: &EnvName,
        username: &Username,
    ) -> Result<(), Error> {
        let event = events::user_deleted(env, self.clock.now(), actor, username);
        self.store
            .delete_user(env, username, Some(event))
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::user_deleted(env, username, actor);
        Ok(())
    }

    /// One user.
    pub async fn user(&self, env: &EnvName, username: &Username) -> Result<UserRecord, Error> {
        self.store
            .find_user(env, username)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {username:?} in {env}")))
    }

    /// All users of an environment.
    pub async fn users(&self, env: &EnvName) -> Result<Vec<UserRecord>, Error> {
        Ok(self.store.list_users(env).await?)
    }

    /// A page of users whose name starts with `prefix`, by name, after `after`.
    pub async fn users_page(
        &self,
        env: &EnvName,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, Error> {
        Ok(self.store.users_page(env, prefix, after, limit).await?)
    }

    /// Users and live sessions of an environment (live by `policy`'s lifetimes).
    pub async fn env_stats(&self, env: &EnvName, policy: &TokenPolicy) -> Result<EnvStats, Error> {
        let now = self.clock.now();
        let used_after = now.saturating_sub(millis(policy.refresh_idle_ttl));
        let created_after = now.saturating_sub(millis(policy.refresh_absolute_ttl));
        Ok(self.store.env_stats(env, used_after, created_after).await?)
    }

    /// Sessions, newest first, with an id below `before` when given.
    pub async fn sessions(
        &self,
        env: &EnvName,
        username: Option<&Username>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, Error> {
        let username = username.map(Username::as_str);
        Ok(self
            .store
            .list_sessions(env, username, before, limit)
            .await?)
    }

    /// A page of the event log, newest first.
    pub async fn events(&self, query: EventQuery) -> Result<Vec<EventRecord>, Error> {
        Ok(self.store.list_events(query).await?)
    }

    /// Revokes one session.
    pub async fn revoke_session(&self, actor: &Actor, env: &EnvName, id: i64) -> Result<(), Error> {
        let now = self.clock.now();
        let reason = "revoked by admin";
        // Its user, so that the event is found under the user's name too.
        let owner = self.store.load_session(env, id).await?.map(|s| s.username);
        let event = events::sessions_revoked(
            env,
            now,
            actor,
            Revoked::Session(id, owner.as_deref()),
            reason,
        );
        if self
            .store
            .revoke_session(env, id, now, reason, Some(event))
            .await?
        {
            audit::session_revoked(env, id, &actor.to_string());
            Ok(())
        } else {
            Err(Error::NotFound(format!("no live session {id} in {env}")))
        }
    }

    /// Revokes every session of a user; returns how many.
    pub async fn revoke_user_sessions(
        &self,
        actor: &Actor,
        env: &EnvName,
        username: &Username,
    ) -> Result<u64, Error> {
        self.user(env, username).await?;
        let now = self.clock.now();
        let reason = "revoked by admin";
        let event = events::sessions_revoked(env, now, actor, Revoked::User(username), reason);
        let count = self
            .store
            .revoke_user_sessions(env, username, now, reason, Some(event))
            .await?;
        audit::user_sessions_revoked(env, username, count, actor);
        Ok(count)
    }

    /// Revokes every session of an environment (the incident button); returns how many.
    pub async fn revoke_env_sessions(&self, actor: &Actor, env: &EnvName) -> Result<u64, Error> {
        let now = self.clock.now();
        let reason = "every session of the environment revoked by admin";
        let event = events::sessions_revoked(env, now, actor, Revoked::Environment, reason);
        let count = self
            .store
            .revoke_env_sessions(env, now, reason, Some(event))
            .await?;
        audit::env_sessions_revoked(env, count, actor);
        Ok(count)
    }

    /// When a session with these times stops working by the lifetimes of `policy`.
    pub fn session_expiry(
        policy: &TokenPolicy,
        created_at: UnixMillis,
        last_used_at: UnixMillis,
    ) -> UnixMillis {
        let idle = last_used_at.saturating_add(millis(policy.refresh_idle_ttl));
        let absolute = created_at.saturating_add(millis(policy.refresh_absolute_ttl));
        idle.min(absolute)
    }

    /// The stored keys of an environment.
    pub async fn keys(&self, env: &EnvName) -> Result<Vec<KeyRecord>, Error> {
        Ok(self.store.list_keys(env).await?)
    }

    /// Creates a new signing key, published at once and signing after
    /// `key_activation_delay`.
    pub async fn rotate_key(
        &self,
        actor: &Actor,
        wrapper: &Sealer,
        policy: &TokenPolicy,
        env: &EnvName,
    ) -> Result<KeyRecord, Error> {
        let now = self.clock.now();
        let activates_at = now.saturating_add(millis(policy.key_activation_delay));
        let (_, record) =
            SigningKey::generate(env, policy.signing_alg, now, activates_at, wrapper)?;
        let event = events::key_rotated(env, now, actor, &record.kid, &record.alg, activates_at);
        self.store.insert_key(record.clone(), Some(event)).await?;
        let delay = policy.key_activation_delay.as_secs();
        audit::key_rotated(env, &record.kid, &record.alg, delay, actor);
        Ok(record)
    }

    // Introspectors (the `wirecash-auth introspector` commands).

    /// Adds an introspector and returns its secret, which is shown once and stored only
    /// as a hash.
    pub async fn add_introspector(
        &self,
        actor: &Actor,
        env: &EnvName,
        name: &IntrospectorName,
    ) -> Result<Zeroizing<String>, Error> {
        let mut raw = Zeroizing::new([0u8; INTROSPECTOR_SECRET_BYTES]);
        random_bytes(raw.as_mut())?;
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
        let record = IntrospectorRecord {
            env: env.to_string(),
            name: name.to_string(),
            secret_hash: crate::crypto::introspector_secret_hash(&secret),
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
        audit::introspector_added(env, name, actor);
        Ok(secret)
    }

    /// The introspectors of an environment.
    pub async fn introspectors(&self, env: &EnvName) -> Result<Vec<IntrospectorRecord>, Error> {
        Ok(self.store.list_introspectors(env).await?)
    }

    /// Removes an introspector; its secret stops working at once.
    pub async fn remove_introspector(
        &self,
        actor: &Actor,
        env: &EnvName,
        name: &IntrospectorName,
    ) -> Result<(), Error> {
        if !self.store.remove_introspector(env, name).await? {
            return Err(Error::NotFound(format!(
                "no introspector {name:?} in {env}"
            )));
        }
        audit::introspector_removed(env, name, actor);
        Ok(())
    }
}

//! `AdminService`: what the admin CLI does, over a `Store` — users, sessions, keys and
//! introspectors. The CLI only parses arguments and prints; every rule lives here.

use std::sync::Arc;

use zeroize::Zeroizing;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::audit;
use crate::clock::{Clock, millis};
use crate::crypto::MasterKey;
use crate::crypto::random_bytes;
use crate::error::{Error, StoreError};
use crate::keys::SigningKey;
use crate::password::PasswordHasher;
use crate::policy::TokenPolicy;
use crate::store::{IntrospectorRecord, KeyRecord, SessionSummary, Store, UserRecord};
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
        };
        self.store
            .create_user(user.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::Conflict(format!("user {username:?} already exists in {env}"))
                }
                other => other.into(),
            })?;
        audit::user_added(env, username, &user.id);
        Ok(user)
    }

    /// Sets a new password; ends every session of the user.
    pub async fn set_password(
        &self,
        hasher: &Arc<PasswordHasher>,
        env: &EnvName,
        username: &Username,
        password: Zeroizing<String>,
    ) -> Result<(), Error> {
        validate::new_password(&password)?;
        let hash = hasher.hash(password).await?;
        self.store
            .change_password(env, username, &hash, self.clock.now())
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::password_changed(env, username);
        Ok(())
    }

    /// Enables or disables a user; disabling ends every session.
    pub async fn set_disabled(
        &self,
        env: &EnvName,
        username: &Username,
        disabled: bool,
    ) -> Result<(), Error> {
        self.store
            .set_user_disabled(env, username, disabled, self.clock.now())
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::user_disabled(env, username, disabled);
        Ok(())
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, env: &EnvName, username: &Username) -> Result<(), Error> {
        self.store
            .delete_user(env, username)
            .await
            .map_err(not_found(format!("no user {username:?} in {env}")))?;
        audit::user_deleted(env, username);
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

    /// Sessions, newest first.
    pub async fn sessions(
        &self,
        env: &EnvName,
        username: Option<&Username>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, Error> {
        let username = username.map(Username::as_str);
        Ok(self.store.list_sessions(env, username, limit).await?)
    }

    /// Revokes one session.
    pub async fn revoke_session(&self, env: &EnvName, id: i64) -> Result<(), Error> {
        if self
            .store
            .revoke_session(env, id, self.clock.now(), "revoked by admin")
            .await?
        {
            audit::session_revoked(env, id, "admin");
            Ok(())
        } else {
            Err(Error::NotFound(format!("no live session {id} in {env}")))
        }
    }

    /// Revokes every session of a user; returns how many.
    pub async fn revoke_user_sessions(
        &self,
        env: &EnvName,
        username: &Username,
    ) -> Result<u64, Error> {
        self.user(env, username).await?;
        let count = self
            .store
            .revoke_user_sessions(env, username, self.clock.now(), "revoked by admin")
            .await?;
        audit::user_sessions_revoked(env, username, count);
        Ok(count)
    }

    /// The stored keys of an environment.
    pub async fn keys(&self, env: &EnvName) -> Result<Vec<KeyRecord>, Error> {
        Ok(self.store.list_keys(env).await?)
    }

    /// Creates a new signing key, published at once and signing after
    /// `key_activation_delay`.
    pub async fn rotate_key(
        &self,
        master: &MasterKey,
        policy: &TokenPolicy,
        env: &EnvName,
    ) -> Result<KeyRecord, Error> {
        let now = self.clock.now();
        let activates_at = now.saturating_add(millis(policy.key_activation_delay));
        let (_, record) = SigningKey::generate(
            env,
            policy.signing_alg,
            now,
            activates_at,
            &master.key_wrapper()?,
        )?;
        self.store.insert_key(record.clone()).await?;
        let delay = policy.key_activation_delay.as_secs();
        audit::key_rotated(env, &record.kid, &record.alg, delay);
        Ok(record)
    }

    // Introspectors (the `wirecash-auth introspector` commands).

    /// Adds an introspector and returns its secret, which is shown once and stored only
    /// as a hash.
    pub async fn add_introspector(
        &self,
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
        audit::introspector_added(env, name);
        Ok(secret)
    }

    /// The introspectors of an environment.
    pub async fn introspectors(&self, env: &EnvName) -> Result<Vec<IntrospectorRecord>, Error> {
        Ok(self.store.list_introspectors(env).await?)
    }

    /// Removes an introspector; its secret stops working at once.
    pub async fn remove_introspector(
        &self,
        env: &EnvName,
        name: &IntrospectorName,
    ) -> Result<(), Error> {
        if !self.store.remove_introspector(env, name).await? {
            return Err(Error::NotFound(format!(
                "no introspector {name:?} in {env}"
            )));
        }
        audit::introspector_removed(env, name);
        Ok(())
    }
}

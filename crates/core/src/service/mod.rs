//! `AuthService`: one instance serves every configured environment; its operations
//! live in the modules below, by what partners and resource servers ask of it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::{Clock, UnixMillis};
use crate::crypto::{EnvSecrets, MasterKey, Sealer, random_bytes};
use crate::error::Error;
use crate::keys::{KeySet, SigningKey};
use crate::password::PasswordHasher;
use crate::policy::TokenPolicy;
use crate::store::{Store, Timed};

mod attempt;
mod introspection;
mod keys;
mod login;
mod refresh;
mod superseded;

pub use introspection::{ActiveToken, TokenKind};
pub use login::{AccessGrant, AuthenticatedClient, ClientSecret};

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
    superseded: superseded::Superseded,
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
    admin_secrets: AdminSecrets,
    key_reload_interval: Duration,
    limits: crate::lockout::Limits,
}

/// The keys of the admin plane, derived from the master key.
pub struct AdminSecrets {
    /// Hashes admin keys for storage and lookup.
    pub key_mac: aws_lc_rs::hmac::Key,
    /// Hashes client addresses for the failed admin-key counters.
    pub guard_mac: aws_lc_rs::hmac::Key,
    /// Seals stored admin API answers (idempotent replays).
    pub sealer: Sealer,
    /// Signs the console's session cookies and CSRF tokens.
    pub console_mac: aws_lc_rs::hmac::Key,
}

const INVALID_CREDENTIALS: &str = "invalid username or password";

impl AuthService {
    /// Opens the service on `store` (every call timed, see `store::Timed`): derives the
    /// environments' secrets, loads their signing keys (creating a first key for an
    /// environment that has none) and calibrates failed-login timing.
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
                    superseded: superseded::Superseded::new(),
                }),
            );
        }
        let service = Self {
            store: Arc::new(Timed::new(store)),
            clock,
            policy,
            hasher,
            envs,
            wrapper: master.key_wrapper()?,
            admin_secrets: AdminSecrets {
                key_mac: master.admin_key_mac(),
                guard_mac: master.admin_guard_mac(),
                sealer: master.admin_sealer()?,
                console_mac: master.admin_console_mac(),
            },
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
                service.store.insert_key(record, None).await?;
                crate::audit::key_created(&env.name, &kid, &alg);
            }
        }
        service.reload_keys().await?;
        service.calibrate_password_checks().await?;
        Ok(service)
    }

    /// The environment called `name`, if served.
    pub fn environment(&self, name: &str) -> Option<&Arc<Environment>> {
        self.envs.get(name)
    }

    /// Whether the store answers (`/readyz`).
    pub async fn ready(&self) -> Result<(), Error> {
        Ok(self.store.ping().await?)
    }

    /// The admin operations on this service's store and clock (tests and the in-process
    /// admin tools use the same store the service does).
    pub fn admin(&self) -> crate::admin::AdminService {
        crate::admin::AdminService {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
        }
    }

    /// The keys of the admin plane.
    pub fn admin_secrets(&self) -> &AdminSecrets {
        &self.admin_secrets
    }

    /// The token lifetimes and limits.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The password hasher (the admin API hashes new users' passwords with it).
    pub fn hasher(&self) -> &Arc<PasswordHasher> {
        &self.hasher
    }

    /// The names of the environments served, sorted.
    pub fn environment_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.envs.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Makes a new signing key for `env` (published now, signing after the activation
    /// delay) and loads it on this node at once.
    pub async fn rotate_key(
        &self,
        actor: &crate::events::Actor,
        env: &crate::validate::EnvName,
    ) -> Result<crate::store::KeyRecord, Error> {
        self.env(env)?;
        let record = self
            .admin()
            .rotate_key(actor, &self.wrapper, &self.policy, env)
            .await?;
        self.reload_keys().await?;
        Ok(record)
    }

    fn env(&self, name: &str) -> Result<&Arc<Environment>, Error> {
        self.envs
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("unknown environment {name:?}")))
    }

    /// Mints an access token for `subject` with the environment's active key.
    fn mint_access(
        &self,
        env: &Environment,
        user_id: &str,
        username: &str,
        sid: i64,
        generation: i64,
        now: UnixMillis,
    ) -> Result<crate::access_token::Minted, Error> {
        let keys = env.keys();
        let key = keys.active(now).ok_or_else(|| {
            Error::Internal(format!(
                "environment {} has no active signing key",
                env.name
            ))
        })?;
        let subject = crate::access_token::Subject {
            env: &env.name,
            issuer: &env.issuer,
            user_id,
            username,
            sid,
            generation,
        };
        crate::access_token::mint(key, &env.secrets, &subject, self.policy.access_ttl, now)
    }
}

/// A new session id: milliseconds since the epoch in the high bits (so new rows append
/// to the B-tree and several nodes need no coordination) and 20 random low bits.
fn new_session_id(now: UnixMillis) -> Result<i64, Error> {
    let mut r = [0u8; 4];
    random_bytes(&mut r)?;
    let low = i64::from(u32::from_be_bytes(r) & 0xF_FFFF);
    Ok((now.max(0) << 20) | low)
}

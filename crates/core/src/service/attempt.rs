//! A login's attempt in the failed-login counters: reserved before its password is
//! checked (`AuthService::admit`), settled after it, by the rules of `crate::lockout`.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::warn;

use super::{AuthService, Environment};
use crate::crypto::{HASH_LEN, keyed_hash};
use crate::error::Error;
use crate::lockout::{Admission, Plan, Reserved};
use crate::store::{GuardChange, GuardCounter, Store};

impl AuthService {
    /// Reserves a login attempt in the failed-login counters of `username` from
    /// `client` (none when every limit is off).
    pub(super) async fn admit(
        &self,
        env: &Environment,
        username: &str,
        client: Option<IpAddr>,
        via: &'static str,
    ) -> Result<Option<Attempt>, Error> {
        if !self.limits.any() {
            return Ok(None);
        }
        let plan = Plan::new(self.limits, client.is_some());
        let keys = guard_keys(env, &plan, username, client);
        let now = self.clock.now();
        let (tx, rx) = oneshot::channel();
        let admit = Box::new(move |c: &mut [GuardCounter]| {
            let _ = tx.send(plan.admit(c, now));
            Vec::new()
        });
        self.store.update_login_guards(&keys, admit).await?;
        match rx.await {
            Ok(Admission::Admitted(reserved)) => Ok(Some(Attempt {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                keys,
                plan,
                reserved,
                env: env.name.to_string(),
                client,
                settled: false,
            })),
            Ok(Admission::Refused { until }) => {
                let wait = crate::lockout::retry_after_secs(until, now);
                crate::audit::login_locked(&env.name, wait, client, via);
                Err(Error::Locked(wait))
            }
            Err(_) => Err(Error::Internal(
                "the store did not apply the login counters' update".into(),
            )),
        }
    }
}

/// A login's reservation in the failed-login counters, settled once its password check
/// is decided. Dropped unsettled (the request went away mid-check), it is settled as a
/// failure in the background: a guesser gains nothing by hanging up.
pub(super) struct Attempt {
    store: Arc<dyn Store>,
    clock: Arc<dyn crate::clock::Clock>,
    keys: Vec<[u8; HASH_LEN]>,
    plan: Plan,
    reserved: Reserved,
    env: String,
    client: Option<IpAddr>,
    pub(super) settled: bool,
}

/// Settles `reserved` as a failure: the update of the counters and, in the same
/// transaction, a `user_locked_out` event for every scope it locks.
fn settle_failed(
    plan: Plan,
    reserved: Reserved,
    now: crate::clock::UnixMillis,
    env: String,
    client: Option<IpAddr>,
    locks: Option<oneshot::Sender<Vec<crate::lockout::NewLock>>>,
) -> crate::store::GuardUpdate {
    Box::new(move |c: &mut [GuardCounter]| {
        let new_locks = plan.failed(c, reserved, now);
        let events = new_locks
            .iter()
            .map(|l| {
                crate::events::locked_out(
                    &env,
                    now,
                    l.scope.as_str(),
                    l.failures,
                    l.lock.as_secs(),
                    client,
                )
            })
            .collect();
        if let Some(tx) = locks {
            let _ = tx.send(new_locks);
        }
        events
    })
}

impl Attempt {
    pub(super) async fn failed(mut self, env: &str, client: Option<IpAddr>) -> Result<(), Error> {
        self.settled = true;
        if !self.reserved.any() {
            return Ok(());
        }
        let (plan, reserved, now) = (self.plan, self.reserved, self.clock.now());
        let (tx, rx) = oneshot::channel();
        let failed = settle_failed(plan, reserved, now, self.env.clone(), client, Some(tx));
        self.store.update_login_guards(&self.keys, failed).await?;
        for lock in rx.await.unwrap_or_default() {
            crate::metrics::lockout(lock.scope.as_str());
            crate::audit::lockout(
                env,
                lock.scope.as_str(),
                lock.failures,
                lock.lock.as_secs(),
                client,
            );
        }
        Ok(())
    }

    /// The change that settles a successful attempt, to be made with another write.
    pub(super) fn success(&self) -> GuardChange {
        let (plan, reserved, now) = (self.plan, self.reserved, self.clock.now());
        GuardChange {
            keys: self.keys.clone(),
            update: Box::new(move |c: &mut [GuardCounter]| {
                plan.succeeded(c, reserved, now);
                Vec::new()
            }),
        }
    }

    /// Settles a successful attempt on its own (no session is made).
    pub(super) async fn succeeded(mut self) -> Result<(), Error> {
        self.settled = true;
        let GuardChange { keys, update } = self.success();
        self.store.update_login_guards(&keys, update).await?;
        Ok(())
    }

    /// Gives back a reservation that is neither a failure nor a success: a right
    /// password checked against a user that changed meanwhile.
    pub(super) async fn released(mut self) -> Result<(), Error> {
        self.settled = true;
        if !self.reserved.any() {
            return Ok(());
        }
        let (plan, reserved) = (self.plan, self.reserved);
        let release = Box::new(move |c: &mut [GuardCounter]| {
            plan.released(c, reserved);
            Vec::new()
        });
        self.store.update_login_guards(&self.keys, release).await?;
        Ok(())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled || !self.reserved.any() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // shutting down: the reservation goes stale by itself
        };
        let (store, keys) = (Arc::clone(&self.store), std::mem::take(&mut self.keys));
        let (plan, reserved, now) = (self.plan, self.reserved, self.clock.now());
        let (env, client) = (std::mem::take(&mut self.env), self.client);
        runtime.spawn(async move {
            let settle = settle_failed(plan, reserved, now, env, client, None);
            if let Err(e) = store.update_login_guards(&keys, settle).await {
                warn!(error = %e, "settling an abandoned login attempt failed");
            }
        });
    }
}

/// The counter keys of a login, in `plan.scopes()` order.
fn guard_keys(
    env: &Environment,
    plan: &Plan,
    username: &str,
    client: Option<IpAddr>,
) -> Vec<[u8; HASH_LEN]> {
    use crate::lockout::Scope;
    let address = client.map(crate::addr::counted_bytes).unwrap_or_default();
    plan.scopes()
        .into_iter()
        .map(|(scope, _)| match scope {
            Scope::UsernameFromAddress => {
                let mut value = Vec::with_capacity(username.len() + 1 + address.len());
                value.extend_from_slice(username.as_bytes());
                value.push(0);
                value.extend_from_slice(&address);
                guard_key(env, b"user-from", &value)
            }
            Scope::Address => guard_key(env, b"addr", &address),
            Scope::Username => guard_key(env, b"user", username.as_bytes()),
        })
        .collect()
}

/// The stored key of a counter: a keyed hash, so names typed into the username field
/// (sometimes passwords) are never stored.
fn guard_key(env: &Environment, kind: &[u8], value: &[u8]) -> [u8; HASH_LEN] {
    let mut data = Vec::with_capacity(kind.len() + 1 + value.len());
    data.extend_from_slice(kind);
    data.push(0);
    data.extend_from_slice(value);
    keyed_hash(&env.secrets.login_guard, &data)
}

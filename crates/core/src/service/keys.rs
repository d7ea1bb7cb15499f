//! Upkeep: signing keys (reload, retire, JWKS), the purge of dead sessions and stale
//! failed-login counters, and the calibration of failed-login timing.

use std::sync::Arc;
use std::time::Duration;

use wirecash_proto::JwkSet;

use super::AuthService;
use crate::clock::millis;
use crate::error::Error;
use crate::keys::{KeySet, SigningKey};
use crate::store::PurgeCutoffs;
use crate::validate::EnvName;

impl AuthService {
    /// How long a retired key stays published: its last token's lifetime, the leeway
    /// verifiers allow, and the reload interval of nodes that switched late.
    pub(super) fn key_keep(&self) -> Duration {
        self.policy.access_ttl + self.policy.clock_leeway + self.key_reload_interval
    }

    /// Re-reads every environment's keys from the store, keeping already decrypted ones.
    pub async fn reload_keys(&self) -> Result<(), Error> {
        for env in self.envs.values() {
            let records = self.store.list_keys(&env.name).await?;
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
                self.store.delete_key(&env.name, &k.kid).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The JWKS of an environment.
    pub fn jwks(&self, env: &EnvName) -> Result<JwkSet, Error> {
        let env = self.env(env)?;
        Ok(env.keys().jwks(self.clock.now(), self.key_keep()))
    }

    /// One step of the background purge of dead sessions; returns the next cursor.
    pub async fn purge_step(&self, cursor: i64, batch: u32) -> Result<(u64, i64), Error> {
        let now = self.clock.now();
        let cutoffs = PurgeCutoffs {
            idle_before: now.saturating_sub(millis(self.policy.refresh_idle_ttl)),
            absolute_before: now.saturating_sub(millis(self.policy.refresh_absolute_ttl)),
            revoked_before: now.saturating_sub(millis(self.policy.revoked_retention)),
        };
        Ok(self.store.purge_sessions(cursor, batch, cutoffs).await?)
    }

    /// Deletes failed-login counters nobody needs any more.
    pub async fn purge_login_failures(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        let before = now.saturating_sub(millis(crate::lockout::FORGET_AFTER));
        let known = now.saturating_sub(millis(crate::lockout::KNOWN_FOR));
        Ok(self.store.purge_login_failures(before, known).await?)
    }

    /// Calibrates failed-login timing to the password-hash parameters in use, so that
    /// a failure takes as long whether or not the name exists (SPEC §10). Run at start
    /// and now and then, as the stored hashes' parameters change only by admin actions.
    pub async fn calibrate_password_checks(&self) -> Result<(), Error> {
        let in_use = self.store.password_hash_params().await?;
        self.hasher.calibrate(&in_use).await?;
        Ok(())
    }
}

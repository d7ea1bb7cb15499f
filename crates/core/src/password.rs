//! Argon2id password hashing on a bounded pool of blocking threads, so that logins can
//! never starve the async runtime, with a dummy hash for unknown users so that "no such
//! user" costs the same time as "wrong password".

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::crypto::random_bytes;
use crate::error::Error;
use crate::policy::PasswordParams;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched a real user's hash.
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords.
pub struct PasswordHasher {
    params: PasswordParams,
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon(params: PasswordParams) -> Result<Argon2<'static>, Error> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| Error::InvalidRequest(format!("invalid Argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

impl PasswordHasher {
    /// A hasher with `params` that runs at most `max_concurrent` hashes at once.
    pub fn new(params: PasswordParams, max_concurrent: usize) -> Result<Self, Error> {
        let argon = argon(params)?;
        let mut hasher = Self {
            params,
            argon,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: String::new(),
        };
        let mut pw = [0u8; 32];
        random_bytes(&mut pw)?;
        hasher.dummy_hash = hasher.hash_blocking(&pw)?;
        Ok(hasher)
    }

    /// The configured parameters.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// Hashes on the calling thread (CLI use).
    pub fn hash_blocking(&self, password: &[u8]) -> Result<String, Error> {
        let mut salt = [0u8; 16];
        random_bytes(&mut salt)?;
        self.argon
            .hash_password_with_salt(password, &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    }

    fn verify_blocking(&self, password: &[u8], stored: Option<&str>) -> Verified {
        let (hash, real) = match stored.and_then(|s| PasswordHash::new(s).ok()) {
            Some(h) => (h, true),
            // Unknown user (or an unreadable hash): spend the same work on the dummy.
            None => match PasswordHash::new(&self.dummy_hash) {
                Ok(h) => (h, false),
                Err(_) => {
                    return Verified {
                        ok: false,
                        needs_rehash: false,
                    };
                }
            },
        };
        let ok = self.argon.verify_password(password, &hash).is_ok() && real;
        let needs_rehash = ok && !self.is_current(&hash);
        Verified { ok, needs_rehash }
    }

    fn is_current(&self, hash: &PasswordHash) -> bool {
        let Ok(p) = Params::try_from(hash) else {
            return false;
        };
        hash.algorithm.as_str() == "argon2id"
            && hash.version == Some(0x13)
            && p.m_cost() == self.params.memory_kib
            && p.t_cost() == self.params.iterations
            && p.p_cost() == self.params.parallelism
    }

    async fn on_pool<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("password hasher is shut down".into()))?;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|_| Error::Internal("password hashing task failed".into()))
    }

    /// Checks `password` against `stored` (`None`: unknown user, same cost, never ok).
    pub async fn verify(
        self: &Arc<Self>,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<Verified, Error> {
        self.on_pool(move |h| h.verify_blocking(password.as_bytes(), stored.as_deref()))
            .await
    }

    /// Hashes `password` on the pool.
    pub async fn hash(self: &Arc<Self>, password: Zeroizing<String>) -> Result<String, Error> {
        self.on_pool(move |h| h.hash_blocking(password.as_bytes()))
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordParams = PasswordParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn verify_accepts_right_rejects_wrong_and_unknown() -> Result<(), Error> {
        let h = Arc::new(PasswordHasher::new(CHEAP, 2)?);
        let stored = h.hash(Zeroizing::new("s3cret".into())).await?;
        assert!(stored.starts_with("$argon2id$"));
        let ok = h
            .verify(Zeroizing::new("s3cret".into()), Some(stored.clone()))
            .await?;
        assert_eq!(
            ok,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = h
            .verify(Zeroizing::new("s3cret!".into()), Some(stored))
            .await?;
        assert!(!bad.ok);
        let unknown = h.verify(Zeroizing::new("s3cret".into()), None).await?;
        assert!(!unknown.ok);
        let garbage = h
            .verify(Zeroizing::new("x".into()), Some("not a hash".into()))
            .await?;
        assert!(!garbage.ok);
        Ok(())
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() -> Result<(), Error> {
        let old = Arc::new(PasswordHasher::new(CHEAP, 1)?);
        let stored = old.hash(Zeroizing::new("pw".into())).await?;
        let new = Arc::new(PasswordHasher::new(
            PasswordParams {
                memory_kib: 128,
                ..CHEAP
            },
            1,
        )?);
        let v = new
            .verify(Zeroizing::new("pw".into()), Some(stored))
            .await?;
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        Ok(())
    }
}

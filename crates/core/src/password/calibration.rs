//! Calibration of failed-login timing: the dummy hash takes the dearest parameters in
//! use, and a check of a cheaper stored hash says how long to wait before answering a
//! failure (`Verified::pad`), scaled from its own measured time.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::PasswordHasher;
use crate::crypto::random_bytes;
use crate::error::Error;

/// Longest `Verified::pad`: a bound on what a wildly cheap stored hash can cost a
/// failed login in waiting.
pub(super) const MAX_PAD: Duration = Duration::from_secs(5);

/// What failures are made to cost: the dummy hash (for unknown users), made with the
/// most expensive parameters in use, and that cost in Argon2 block passes.
pub(super) struct Calibration {
    pub(super) dummy_hash: String,
    pub(super) max_cost: u64,
}

/// The work of an Argon2 check in block passes (memory × iterations; lanes run one
/// after another in this build, so parallelism adds none).
pub(super) fn cost(params: &Params) -> u64 {
    u64::from(params.m_cost()) * u64::from(params.t_cost())
}

/// How much longer than `took` (a check costing `cost`) a check costing `max_cost`
/// takes, on the same machine under the same load.
pub(super) fn pad_for(took: Duration, cost: u64, max_cost: u64) -> Duration {
    if cost == 0 || cost >= max_cost {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_precision_loss)]
    let factor = (max_cost - cost) as f64 / cost as f64;
    took.mul_f64(factor).min(MAX_PAD)
}

/// A hash of a random password with `params`, made on a blocking thread.
async fn dummy_hash(params: Params) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let mut pw = [0u8; 32];
        random_bytes(&mut pw)?;
        let mut salt = [0u8; 16];
        random_bytes(&mut salt)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut memory = vec![Block::default(); params.block_count()];
        let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("dummy hash: {e}"));
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon
            .hash_password_into_with_memory(&pw, &salt, &mut out, &mut memory)
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    })
    .await
    .map_err(|e| Error::Internal(format!("dummy hash: {e}")))?
}

impl PasswordHasher {
    /// Calibrates failures to the most expensive of the configured parameters and
    /// `in_use`, the parameter parts (`m=…,t=…,p=…`) of the stored hashes (unreadable
    /// ones are ignored): the dummy hash takes those parameters, and cheaper checks pad
    /// their failures to their cost. Returns that cost in block passes.
    pub async fn calibrate(&self, in_use: &[String]) -> Result<u64, Error> {
        let mut most = self.shared.argon.params().clone();
        for p in in_use {
            let parsed = ParamsString::from_str(p)
                .ok()
                .and_then(|s| Params::try_from(&s).ok());
            if let Some(params) = parsed
                && cost(&params) > cost(&most)
            {
                most = params;
            }
        }
        let current = self.shared.calibration();
        let max_cost = cost(&most);
        if max_cost == current.max_cost {
            return Ok(max_cost);
        }
        let dummy_hash = dummy_hash(most).await?;
        let calibration = Arc::new(Calibration {
            dummy_hash,
            max_cost,
        });
        match self.shared.calibration.write() {
            Ok(mut c) => *c = calibration,
            Err(poisoned) => *poisoned.into_inner() = calibration,
        }
        Ok(max_cost)
    }
}

//! The admin commands' shared parts: the admin service on the configured database,
//! the environment check, times and domain errors as a person reads them.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use wirecash_core::admin::AdminService;
use wirecash_core::validate::EnvName;
use wirecash_core::{SystemClock, UnixMillis};

use crate::config::Config;

pub(super) fn time(ms: UnixMillis) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The admin operations on the configured (existing) database.
pub(super) async fn admin(config: &Config) -> anyhow::Result<AdminService> {
    Ok(AdminService {
        store: crate::open_store(config).await?,
        clock: Arc::new(SystemClock),
    })
}

/// The environment `env` names, if the configuration serves it.
pub(super) fn check_env(config: &Config, env: &str) -> anyhow::Result<EnvName> {
    if config.environments.iter().any(|e| e == env) {
        EnvName::parse(env).map_err(core)
    } else {
        bail!(
            "unknown environment {env:?}; configured: {}",
            config.environments.join(", ")
        )
    }
}

/// A domain error as a command-line message: the text without the HTTP-flavoured
/// prefix of its `Display` ("invalid request: …", "not found: …"), which means nothing
/// to a person at a terminal.
pub(super) fn core(e: wirecash_core::Error) -> anyhow::Error {
    use wirecash_core::Error;
    match e {
        Error::InvalidRequest(m) | Error::NotFound(m) | Error::Conflict(m) => anyhow!(m),
        Error::InvalidGrant(m) | Error::InvalidClient(m) => anyhow!(m),
        Error::Unavailable(m) => anyhow!("the database is unavailable: {m}"),
        Error::Locked(s) => anyhow!("locked out for {s} s"),
        Error::Internal(m) => anyhow!("internal error: {m}"),
    }
}

//! `[tls]`: both files or neither; the other keys only together with them. The files
//! themselves are read when the server starts (`crate::tls`), so that the admin commands
//! run without them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::TlsConfig;
use super::keys::Values;
use super::validate::{at_least, duration};

pub(super) fn tls(v: &Values) -> anyhow::Result<Option<TlsConfig>> {
    let (cert, key) = match (v.str("tls.cert")?, v.str("tls.key")?) {
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        (Some(_), None) => bail!("configuration key tls.key: required when tls.cert is set"),
        (None, Some(_)) => bail!("configuration key tls.cert: required when tls.key is set"),
        (None, None) => {
            let others = [
                v.str("tls.hsts_max_age")?.is_some(),
                v.bool("tls.hsts_include_subdomains")?.is_some(),
                v.str("tls.reload_interval")?.is_some(),
            ];
            if others.contains(&true) {
                bail!("configuration key tls.cert: [tls] settings need tls.cert and tls.key");
            }
            return Ok(None);
        }
    };
    for (name, path) in [("tls.cert", &cert), ("tls.key", &key)] {
        if path.as_os_str().is_empty() {
            bail!("configuration key {name}: must name a file");
        }
    }
    let reload_interval = at_least(
        v,
        "tls.reload_interval",
        Duration::from_secs(5),
        Duration::from_millis(100),
    )?;
    if reload_interval > Duration::from_secs(3600) {
        bail!("configuration key tls.reload_interval: at most 1h");
    }
    Ok(Some(TlsConfig {
        cert,
        key,
        hsts_max_age: duration(v, "tls.hsts_max_age", Duration::from_secs(365 * 86400))?,
        hsts_include_subdomains: v.bool("tls.hsts_include_subdomains")?.unwrap_or(false),
        reload_interval,
    }))
}

//! From the merged settings to a `Config`: a default for every key left out, and every
//! value checked, one section at a time; an error names its key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail};
use wirecash_core::{PasswordParams, SigningAlg, TokenPolicy};

use super::keys::Values;
use super::{
    Config, Database, HttpConfig, LogFormat, PostgresConfig, RateLimitConfig, SecurityConfig,
};

pub(super) fn config(v: &Values) -> anyhow::Result<Config> {
    let listen_s = v.str("listen")?.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_s.parse().map_err(|_| {
        anyhow!("configuration key listen: {listen_s:?} is not an address like 127.0.0.1:8080")
    })?;
    let admin_listen = match v.str("admin_listen")?.as_deref().map(str::trim) {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 8081))),
        Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            anyhow!(
                "configuration key admin_listen: {s:?} is not an address like 127.0.0.1:8081 \
                 (or \"\" to turn the admin listener off)"
            )
        })?),
    };
    if admin_listen == Some(listen) && listen.port() != 0 {
        bail!("configuration key admin_listen: {listen} is the public listen address too");
    }
    let database = v
        .str("database")?
        .unwrap_or_else(|| "sqlite://wirecash-auth.db".into());
    let database = Database::parse("database", &database)?;
    let tls = super::tls::tls(v)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = v
        .str("public_url")?
        .unwrap_or_else(|| format!("{scheme}://{listen}"));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("configuration key public_url: {public_url:?} must start with http:// or https://");
    }
    let log_format = match v.str("log_format")?.as_deref() {
        None | Some("human") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => {
            bail!("configuration key log_format: {other:?} is not \"human\" or \"json\"")
        }
    };
    let (tokens, key_reload_interval) = tokens(v)?;
    Ok(Config {
        listen,
        admin_listen,
        admin: admin(v)?,
        webhook: webhook(v)?,
        webhooks: webhooks(v)?,
        database,
        public_url: public_url.trim_end_matches('/').to_string(),
        environments: environments(v)?,
        log_format,
        master_key_file: v.str("master_key_file")?.map(PathBuf::from),
        tokens,
        key_reload_interval,
        password_hash: password_hash(v)?,
        security: security(v)?,
        rate_limit: rate_limit(v)?,
        postgres: postgres(v)?,
        http: http(v)?,
        tls,
        sources: BTreeMap::new(),
    })
}

fn environments(v: &Values) -> anyhow::Result<Vec<String>> {
    let environments = v
        .list("environments")?
        .unwrap_or_else(|| vec!["sandbox".into(), "production".into()]);
    if environments.is_empty() {
        bail!("configuration key environments: at least one environment is needed");
    }
    for (i, e) in environments.iter().enumerate() {
        wirecash_core::validate::environment(e)
            .map_err(|err| anyhow!("configuration key environments: {err}"))?;
        if environments[..i].contains(e) {
            bail!("configuration key environments: {e:?} is listed twice");
        }
    }
    Ok(environments)
}

/// `[tokens]`, and the key reload interval that lives there.
fn tokens(v: &Values) -> anyhow::Result<(TokenPolicy, Duration)> {
    let d = TokenPolicy::default();
    let signing_alg = match v.str("tokens.signing_alg")? {
        None => d.signing_alg,
        Some(s) => SigningAlg::parse(&s).ok_or_else(|| {
            anyhow!("configuration key tokens.signing_alg: {s:?} is not \"EdDSA\" or \"ES256\"")
        })?,
    };
    let one_sec = Duration::from_secs(1);
    let tokens = TokenPolicy {
        access_ttl: at_least(v, "tokens.access_ttl", d.access_ttl, one_sec)?,
        refresh_idle_ttl: at_least(v, "tokens.refresh_idle_ttl", d.refresh_idle_ttl, one_sec)?,
        refresh_absolute_ttl: at_least(
            v,
            "tokens.refresh_absolute_ttl",
            d.refresh_absolute_ttl,
            one_sec,
        )?,
        refresh_reuse_grace: at_most(
            v,
            "tokens.refresh_reuse_grace",
            d.refresh_reuse_grace,
            Duration::from_secs(300),
            " (a longer window weakens reuse detection)",
        )?,
        max_sessions_per_user: int_in(
            v,
            "tokens.max_sessions_per_user",
            d.max_sessions_per_user,
            1,
            1_000_000,
        )?,
        clock_leeway: at_most(
            v,
            "tokens.clock_leeway",
            d.clock_leeway,
            Duration::from_secs(300),
            "",
        )?,
        key_activation_delay: duration(v, "tokens.key_activation_delay", d.key_activation_delay)?,
        signing_alg,
        revoked_retention: d.revoked_retention,
    };
    let key_reload_interval = at_least(
        v,
        "tokens.key_reload_interval",
        Duration::from_secs(10),
        Duration::from_millis(10),
    )?;
    if key_reload_interval > Duration::from_secs(30) {
        bail!(
            "configuration key tokens.key_reload_interval: at most 30s (every node must see key changes within 30 s)"
        );
    }
    Ok((tokens, key_reload_interval))
}

fn password_hash(v: &Values) -> anyhow::Result<PasswordParams> {
    let d = PasswordParams::default();
    let parallelism = int_in(v, "password_hash.parallelism", d.parallelism, 1, 64)?;
    Ok(PasswordParams {
        memory_kib: int_in(
            v,
            "password_hash.memory_kib",
            d.memory_kib,
            8 * parallelism,
            4 * 1024 * 1024,
        )?,
        iterations: int_in(v, "password_hash.iterations", d.iterations, 1, 100)?,
        parallelism,
    })
}

fn security(v: &Values) -> anyhow::Result<SecurityConfig> {
    let limit = |key, default| int_in(v, key, default, 0, 1_000_000);
    Ok(SecurityConfig {
        login_max_failures: limit("security.login_max_failures", 10)?,
        address_max_failures: limit("security.address_max_failures", 100)?,
        username_max_failures: limit("security.username_max_failures", 50)?,
    })
}

fn rate_limit(v: &Values) -> anyhow::Result<RateLimitConfig> {
    let trusted_proxies = v
        .list("rate_limit.trusted_proxies")?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            s.parse::<IpAddr>().map_err(|_| {
                anyhow!("configuration key rate_limit.trusted_proxies: {s:?} is not an IP address")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RateLimitConfig {
        authenticate_rps: int_in(v, "rate_limit.authenticate_rps", 20, 0, 10_000_000)?,
        token_rps: int_in(v, "rate_limit.token_rps", 1000, 0, 10_000_000)?,
        trusted_proxies,
    })
}

fn postgres(v: &Values) -> anyhow::Result<PostgresConfig> {
    Ok(PostgresConfig {
        pool_size: int_in(v, "postgres.pool_size", 16, 1, 1000)?,
        pool_timeout: at_least(
            v,
            "postgres.pool_timeout",
            Duration::from_secs(2),
            Duration::from_millis(10),
        )?,
        query_timeout: at_least(
            v,
            "postgres.query_timeout",
            Duration::from_secs(5),
            Duration::from_millis(100),
        )?,
    })
}

/// `[webhook]`.
fn webhook(v: &Values) -> anyhow::Result<crate::webhooks::Settings> {
    let d = crate::webhooks::Settings::default();
    let allowed_networks = v
        .list("webhook.allowed_networks")?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            crate::webhooks::egress::Network::parse(s).ok_or_else(|| {
                anyhow!(
                    "configuration key webhook.allowed_networks: {s:?} is not a network like \
                     10.0.0.0/8, 127.0.0.1 or fd00::/8"
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let retry_base = at_least(
        v,
        "webhook.retry_base",
        d.retry_base,
        Duration::from_millis(100),
    )?;
    if retry_base > Duration::from_secs(3600) {
        bail!("configuration key webhook.retry_base: at most 1h");
    }
    let max_in_flight = int_in(v, "webhook.max_in_flight", 4, 1, 64)? as usize;
    Ok(crate::webhooks::Settings {
        allowed_networks,
        retry_base,
        max_in_flight,
    })
}

/// `[[webhooks]]`: each URL checked, its event types known, its secret file read.
fn webhooks(v: &Values) -> anyhow::Result<Vec<crate::webhooks::Configured>> {
    let mut out: Vec<crate::webhooks::Configured> = Vec::new();
    for (url, events, secret_file) in v.webhooks()? {
        let parsed = reqwest::Url::parse(&url)
            .map_err(|_| anyhow!("configuration key webhooks.url: {url:?} is not a URL"))?;
        crate::webhooks::egress::check_url(&parsed)
            .map_err(|e| anyhow!("configuration key webhooks.url: {url:?} is {e}"))?;
        for e in &events {
            if wirecash_core::store::EventKind::parse(e).is_none() {
                bail!(
                    "configuration key webhooks.events: {e:?} is not an event type (see docs/webhooks.md)"
                );
            }
        }
        let text = std::fs::read_to_string(&secret_file).map_err(|e| {
            anyhow!("configuration key webhooks.secret_file: cannot read {secret_file}: {e}")
        })?;
        let secret = crate::webhooks::sign::Secret::parse(&text).ok_or_else(|| {
            anyhow!(
                "configuration key webhooks.secret_file: {secret_file} does not hold a secret of \
                 the form whsec_<base64 of at least 24 bytes>"
            )
        })?;
        if out.iter().any(|c| c.url == url) {
            bail!("configuration key webhooks.url: {url:?} is listed twice");
        }
        out.push(crate::webhooks::Configured {
            url,
            events,
            secret,
        });
    }
    Ok(out)
}

/// `[admin]`.
fn admin(v: &Values) -> anyhow::Result<super::AdminConfig> {
    let event_retention = at_least(
        v,
        "admin.event_retention",
        Duration::from_secs(90 * 86_400),
        Duration::from_secs(3600),
    )?;
    Ok(super::AdminConfig { event_retention })
}

fn http(v: &Values) -> anyhow::Result<HttpConfig> {
    let header_read_timeout = at_least(
        v,
        "http.header_read_timeout",
        Duration::from_secs(10),
        Duration::from_millis(100),
    )?;
    if header_read_timeout > Duration::from_secs(300) {
        bail!("configuration key http.header_read_timeout: at most 5m");
    }
    Ok(HttpConfig {
        header_read_timeout,
        max_connections: int_in(v, "http.max_connections", 10_000, 1, 1_000_000)? as usize,
    })
}

/// A duration (humantime: `"30s"`, `"15m"`, `"14d"`), or `default`.
pub(super) fn duration(v: &Values, key: &str, default: Duration) -> anyhow::Result<Duration> {
    match v.str(key)? {
        None => Ok(default),
        // humantime's own message ("expected number at 0") says where it stopped, not
        // what it wants.
        Some(s) => humantime::parse_duration(s.trim()).map_err(|_| {
            anyhow!(
                "configuration key {key}: {s:?} is not a duration; write a number and a unit \
                 (ms, s, m, h, d or w), e.g. \"500ms\", \"30s\", \"15m\", \"1h 30m\", \"14d\""
            )
        }),
    }
}

/// A duration of at least `min`.
pub(super) fn at_least(
    v: &Values,
    key: &str,
    default: Duration,
    min: Duration,
) -> anyhow::Result<Duration> {
    let d = duration(v, key, default)?;
    if d < min {
        bail!(
            "configuration key {key}: must be at least {}",
            humantime::format_duration(min)
        );
    }
    Ok(d)
}

/// A duration of at most `max`; `why` follows the message.
fn at_most(
    v: &Values,
    key: &str,
    default: Duration,
    max: Duration,
    why: &str,
) -> anyhow::Result<Duration> {
    let d = duration(v, key, default)?;
    if d > max {
        bail!(
            "configuration key {key}: at most {}{why}",
            humantime::format_duration(max)
        );
    }
    Ok(d)
}

/// A whole number in `min..=max`, or `default`.
fn int_in(v: &Values, key: &str, default: u32, min: u32, max: u32) -> anyhow::Result<u32> {
    let n = v.int(key)?.unwrap_or(i64::from(default));
    match u32::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => bail!("configuration key {key}: {n} is out of range {min}..={max}"),
    }
}

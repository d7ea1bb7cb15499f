//! Configuration (SPEC §8): defaults, then the TOML file, then `WIRECASH_AUTH_*`
//! environment variables, then command-line flags. Every value is validated at start-up
//! and a bad one is an error that names its key; nothing falls back silently.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use wirecash_core::{PasswordParams, SigningAlg, TokenPolicy};

mod effective;
mod redact;

pub use effective::Setting;
pub use redact::{redact_text, redact_url};

/// Where a setting's value came from (`config check` shows it beside each key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// A `WIRECASH_AUTH_*` environment variable.
    Env(String),
    /// A command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

/// `[security]` (brute-force limits; 0 turns a limit off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Failures of one username from one client address before lockout.
    pub login_max_failures: u32,
    /// Failures per client address, across usernames, before lockout.
    pub address_max_failures: u32,
    /// Failures of one username across addresses before lockout (each address adds at
    /// most `login_max_failures`; addresses the user logged in from are exempt).
    pub username_max_failures: u32,
}

/// `[rate_limit]` (per client address; 0 turns a limit off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests per second to `/authenticate`.
    pub authenticate_rps: u32,
    /// Requests per second to `/token`.
    pub token_rps: u32,
    /// Addresses whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// `[postgres]`: the connection pool of a `postgres://` database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Most connections one node opens.
    pub pool_size: u32,
    /// Longest a request waits for a connection before it is answered 503.
    pub pool_timeout: Duration,
    /// Longest one database operation may take (connecting included) before it is
    /// answered 503.
    pub query_timeout: Duration,
}

/// `[http]`: transport limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Deadline for a request's headers; also closes idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Most connections open at once; beyond it new ones are closed.
    pub max_connections: usize,
}

/// `[tls]`: HTTPS served by the service itself (absent: plain HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, RSA or SEC1).
    pub key: PathBuf,
    /// `max-age` of `Strict-Transport-Security` (0 tells browsers to forget it).
    pub hsts_max_age: Duration,
    /// Whether HSTS also covers every subdomain of the host.
    pub hsts_include_subdomains: bool,
    /// How often the files are checked for a new pair (SIGHUP reloads at once).
    pub reload_interval: Duration,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Base URL of issuers: `{public_url}/{env}`.
    pub public_url: String,
    /// Environments served.
    pub environments: Vec<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Where the master key file lives when `WIRECASH_AUTH_MASTER_KEY` is not set.
    pub master_key_file: Option<PathBuf>,
    /// Token lifetimes and limits.
    pub tokens: TokenPolicy,
    /// How often every node re-reads signing keys from the database.
    pub key_reload_interval: Duration,
    /// Argon2id parameters.
    pub password_hash: PasswordParams,
    /// Brute-force limits.
    pub security: SecurityConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// PostgreSQL pool settings (unused with SQLite).
    pub postgres: PostgresConfig,
    /// Transport limits.
    pub http: HttpConfig,
    /// HTTPS settings; `None` serves plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Where each setting that is not a default came from, by key (`tokens.access_ttl`).
    pub sources: BTreeMap<String, Source>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    database: Option<String>,
    public_url: Option<String>,
    environments: Option<Vec<String>>,
    log_format: Option<LogFormat>,
    master_key_file: Option<PathBuf>,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    password_hash: RawPasswordHash,
    #[serde(default)]
    security: RawSecurity,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    postgres: RawPostgres,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    tls: RawTls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    hsts_max_age: Option<String>,
    hsts_include_subdomains: Option<bool>,
    reload_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    header_read_timeout: Option<String>,
    max_connections: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    pool_size: Option<i64>,
    pool_timeout: Option<String>,
    query_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    access_ttl: Option<String>,
    refresh_idle_ttl: Option<String>,
    refresh_absolute_ttl: Option<String>,
    refresh_reuse_grace: Option<String>,
    max_sessions_per_user: Option<i64>,
    clock_leeway: Option<String>,
    key_activation_delay: Option<String>,
    key_reload_interval: Option<String>,
    signing_alg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPasswordHash {
    memory_kib: Option<i64>,
    iterations: Option<i64>,
    parallelism: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    login_max_failures: Option<i64>,
    address_max_failures: Option<i64>,
    username_max_failures: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    authenticate_rps: Option<i64>,
    token_rps: Option<i64>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    List,
}

/// Every key that an environment variable can set: (section, key, kind).
const KEYS: &[(&str, &str, Kind)] = &[
    ("", "listen", Kind::Str),
    ("", "database", Kind::Str),
    ("", "public_url", Kind::Str),
    ("", "environments", Kind::List),
    ("", "log_format", Kind::Str),
    ("", "master_key_file", Kind::Str),
    ("tokens", "access_ttl", Kind::Str),
    ("tokens", "refresh_idle_ttl", Kind::Str),
    ("tokens", "refresh_absolute_ttl", Kind::Str),
    ("tokens", "refresh_reuse_grace", Kind::Str),
    ("tokens", "max_sessions_per_user", Kind::Int),
    ("tokens", "clock_leeway", Kind::Str),
    ("tokens", "key_activation_delay", Kind::Str),
    ("tokens", "key_reload_interval", Kind::Str),
    ("tokens", "signing_alg", Kind::Str),
    ("password_hash", "memory_kib", Kind::Int),
    ("password_hash", "iterations", Kind::Int),
    ("password_hash", "parallelism", Kind::Int),
    ("security", "login_max_failures", Kind::Int),
    ("security", "address_max_failures", Kind::Int),
    ("security", "username_max_failures", Kind::Int),
    ("rate_limit", "authenticate_rps", Kind::Int),
    ("rate_limit", "token_rps", Kind::Int),
    ("rate_limit", "trusted_proxies", Kind::List),
    ("postgres", "pool_size", Kind::Int),
    ("postgres", "pool_timeout", Kind::Str),
    ("postgres", "query_timeout", Kind::Str),
    ("http", "header_read_timeout", Kind::Str),
    ("http", "max_connections", Kind::Int),
    ("tls", "cert", Kind::Str),
    ("tls", "key", Kind::Str),
    ("tls", "hsts_max_age", Kind::Str),
    ("tls", "hsts_include_subdomains", Kind::Bool),
    ("tls", "reload_interval", Kind::Str),
];

/// The environment variable for a key: `WIRECASH_AUTH_` + `SECTION_` + `KEY`, upper case.
pub fn env_var_name(section: &str, key: &str) -> String {
    let full = if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}_{key}")
    };
    format!("WIRECASH_AUTH_{}", full.to_ascii_uppercase())
}

/// The variables that are not configuration keys but are read all the same.
const OTHER_VARS: &[&str] = &["WIRECASH_AUTH_MASTER_KEY", "WIRECASH_AUTH_CONFIG"];

/// Every `WIRECASH_AUTH_*` variable the program reads.
fn known_vars() -> Vec<String> {
    KEYS.iter()
        .map(|(section, key, _)| env_var_name(section, key))
        .chain(OTHER_VARS.iter().map(|v| (*v).to_string()))
        .collect()
}

/// A misspelt variable would otherwise be ignored while the setting silently keeps its
/// default (a misspelt file key is refused by the parser): refuse it, naming it and the
/// closest real one.
fn check_vars(vars: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let known = known_vars();
    for var in vars.keys().filter(|v| v.starts_with("WIRECASH_AUTH_")) {
        if known.contains(var) {
            continue;
        }
        let closest = known
            .iter()
            .map(|k| (edit_distance(var, k), k))
            .min()
            .filter(|(d, _)| *d <= 3)
            .map(|(_, k)| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        bail!(
            "environment variable {var} is not a wirecash-auth setting{closest}; the variables \
             are WIRECASH_AUTH_ and a configuration key in upper case, e.g. \
             WIRECASH_AUTH_TOKENS_ACCESS_TTL (docs/configuration.md)"
        );
    }
    Ok(())
}

/// Levenshtein distance (the names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the configuration from `file` (if any), the process environment and `flags`.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Self> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &vars, flags)
    }

    /// Like `load`, with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        vars: &BTreeMap<String, String>,
        flags: &Overrides,
    ) -> anyhow::Result<Self> {
        check_vars(vars)?;
        let mut sources = BTreeMap::new();
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read configuration file {}", path.display())
                })?;
                // The parser's own Display quotes the line, which may hold a password:
                // say where, and what, without it.
                let table = text.parse::<toml::Table>().map_err(|e| {
                    let line = e.span().map_or(0, |r| {
                        text.get(..r.start).map_or(0, |t| t.matches('\n').count()) + 1
                    });
                    anyhow!(
                        "configuration file {} is not valid TOML (line {line}): {}",
                        path.display(),
                        redact_text(e.message().trim())
                    )
                })?;
                for (key, value) in &table {
                    match value.as_table() {
                        Some(section) => {
                            for inner in section.keys() {
                                sources.insert(format!("{key}.{inner}"), Source::File(path.into()));
                            }
                        }
                        None => {
                            sources.insert(key.clone(), Source::File(path.into()));
                        }
                    }
                }
                table
            }
            None => toml::Table::new(),
        };
        for (section, key, kind) in KEYS {
            let var = env_var_name(section, key);
            let Some(raw) = vars.get(&var) else { continue };
            let value = match kind {
                Kind::Str => toml::Value::String(raw.clone()),
                Kind::Int => toml::Value::Integer(
                    raw.trim()
                        .parse()
                        .map_err(|_| anyhow!("{var}: expected a whole number, got {raw:?}"))?,
                ),
                Kind::Bool => match raw.trim() {
                    "true" => toml::Value::Boolean(true),
                    "false" => toml::Value::Boolean(false),
                    _ => bail!("{var}: expected true or false, got {raw:?}"),
                },
                Kind::List => toml::Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect(),
                ),
            };
            set(&mut table, section, key, value)?;
            sources.insert(dotted(section, key), Source::Env(var));
        }
        if let Some(v) = &flags.listen {
            set(&mut table, "", "listen", toml::Value::String(v.clone()))?;
            sources.insert("listen".into(), Source::Flag("--listen"));
        }
        if let Some(v) = &flags.database {
            set(&mut table, "", "database", toml::Value::String(v.clone()))?;
            sources.insert("database".into(), Source::Flag("--database"));
        }
        // serde_path_to_error names the key of a type error (`tokens.access_ttl: invalid
        // type …`), which toml's own conversion from a merged table cannot.
        let mut raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                anyhow!(
                    "configuration key {key}: {}",
                    redact_text(inner.message().trim())
                )
            })?;
        if let Some(f) = flags.log_format {
            raw.log_format = Some(f);
            sources.insert("log_format".into(), Source::Flag("--log-format"));
        }
        let mut config = validate(raw)?;
        config.sources = sources;
        Ok(config)
    }

    /// Where `key` (`tokens.access_ttl`) got its value.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Settings that are valid but probably not what the operator meant: logged as
    /// warnings at start-up and printed by `config check`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let needed = self.key_reload_interval + crate::http::meta::JWKS_MAX_AGE;
        if self.tokens.key_activation_delay < needed {
            out.push(format!(
                "tokens.key_activation_delay ({}) is shorter than tokens.key_reload_interval ({}) \
                 plus the JWKS cache time ({}) = {}: after a key rotation, nodes and verifiers \
                 may get tokens signed with a key they have not fetched yet, and refuse them",
                humantime::format_duration(self.tokens.key_activation_delay),
                humantime::format_duration(self.key_reload_interval),
                humantime::format_duration(crate::http::meta::JWKS_MAX_AGE),
                humantime::format_duration(needed),
            ));
        }
        out
    }
}

/// `section.key`, or `key` at the top level.
fn dotted(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    }
}

fn set(
    table: &mut toml::Table,
    section: &str,
    key: &str,
    value: toml::Value,
) -> anyhow::Result<()> {
    let target = if section.is_empty() {
        table
    } else {
        table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow!("configuration key {section} must be a table"))?
    };
    target.insert(key.to_string(), value);
    Ok(())
}

fn duration(key: &str, value: Option<String>, default: Duration) -> anyhow::Result<Duration> {
    match value {
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

fn int_in(key: &str, value: Option<i64>, default: u32, min: u32, max: u32) -> anyhow::Result<u32> {
    let v = value.unwrap_or(i64::from(default));
    match u32::try_from(v) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => bail!("configuration key {key}: {v} is out of range {min}..={max}"),
    }
}

fn at_least(key: &str, d: Duration, min: Duration) -> anyhow::Result<Duration> {
    if d < min {
        bail!(
            "configuration key {key}: must be at least {}",
            humantime::format_duration(min)
        );
    }
    Ok(d)
}

fn validate(raw: RawConfig) -> anyhow::Result<Config> {
    let listen_s = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_s.parse().map_err(|_| {
        anyhow!("configuration key listen: {listen_s:?} is not an address like 127.0.0.1:8080")
    })?;
    let database = raw
        .database
        .unwrap_or_else(|| "sqlite://wirecash-auth.db".into());
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        database.parse::<tokio_postgres::Config>().map_err(|e| {
            // The parser may quote a character of what it read: never of a password.
            let e = e.to_string();
            let e = e.split(" but got").next().unwrap_or_default();
            anyhow!(
                "configuration key database: {} is not a valid PostgreSQL URL ({})",
                redact_url(&database),
                redact_text(e)
            )
        })?;
    } else if let Some(path) = database.strip_prefix("sqlite://") {
        if path.is_empty() {
            bail!("configuration key database: sqlite:// needs a file path");
        }
    } else {
        bail!(
            "configuration key database: {:?} is not supported; use sqlite://PATH or \
             postgres://USER:PASSWORD@HOST:PORT/DB (a URL: key/value connection strings are \
             not accepted)",
            redact_url(&database)
        );
    }
    let tls = tls(raw.tls)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = raw
        .public_url
        .unwrap_or_else(|| format!("{scheme}://{listen}"));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("configuration key public_url: {public_url:?} must start with http:// or https://");
    }
    let public_url = public_url.trim_end_matches('/').to_string();
    let environments = raw
        .environments
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
    let d = TokenPolicy::default();
    let t = raw.tokens;
    let signing_alg = match t.signing_alg {
        None => d.signing_alg,
        Some(s) => SigningAlg::parse(&s).ok_or_else(|| {
            anyhow!("configuration key tokens.signing_alg: {s:?} is not \"EdDSA\" or \"ES256\"")
        })?,
    };
    let one_sec = Duration::from_secs(1);
    let tokens = TokenPolicy {
        access_ttl: at_least(
            "tokens.access_ttl",
            duration("tokens.access_ttl", t.access_ttl, d.access_ttl)?,
            one_sec,
        )?,
        refresh_idle_ttl: at_least(
            "tokens.refresh_idle_ttl",
            duration(
                "tokens.refresh_idle_ttl",
                t.refresh_idle_ttl,
                d.refresh_idle_ttl,
            )?,
            one_sec,
        )?,
        refresh_absolute_ttl: at_least(
            "tokens.refresh_absolute_ttl",
            duration(
                "tokens.refresh_absolute_ttl",
                t.refresh_absolute_ttl,
                d.refresh_absolute_ttl,
            )?,
            one_sec,
        )?,
        refresh_reuse_grace: duration(
            "tokens.refresh_reuse_grace",
            t.refresh_reuse_grace,
            d.refresh_reuse_grace,
        )?,
        max_sessions_per_user: int_in(
            "tokens.max_sessions_per_user",
            t.max_sessions_per_user,
            d.max_sessions_per_user,
            1,
            1_000_000,
        )?,
        clock_leeway: duration("tokens.clock_leeway", t.clock_leeway, d.clock_leeway)?,
        key_activation_delay: duration(
            "tokens.key_activation_delay",
            t.key_activation_delay,
            d.key_activation_delay,
        )?,
        signing_alg,
        revoked_retention: d.revoked_retention,
    };
    if tokens.refresh_reuse_grace > Duration::from_secs(300) {
        bail!(
            "configuration key tokens.refresh_reuse_grace: at most 5m (a longer window weakens reuse detection)"
        );
    }
    if tokens.clock_leeway > Duration::from_secs(300) {
        bail!("configuration key tokens.clock_leeway: at most 5m");
    }
    let key_reload_interval = at_least(
        "tokens.key_reload_interval",
        duration(
            "tokens.key_reload_interval",
            t.key_reload_interval,
            Duration::from_secs(10),
        )?,
        Duration::from_millis(10),
    )?;
    if key_reload_interval > Duration::from_secs(30) {
        bail!(
            "configuration key tokens.key_reload_interval: at most 30s (every node must see key changes within 30 s)"
        );
    }
    let p = raw.password_hash;
    let pd = PasswordParams::default();
    let parallelism = int_in(
        "password_hash.parallelism",
        p.parallelism,
        pd.parallelism,
        1,
        64,
    )?;
    let password_hash = PasswordParams {
        memory_kib: int_in(
            "password_hash.memory_kib",
            p.memory_kib,
            pd.memory_kib,
            8 * parallelism,
            4 * 1024 * 1024,
        )?,
        iterations: int_in(
            "password_hash.iterations",
            p.iterations,
            pd.iterations,
            1,
            100,
        )?,
        parallelism,
    };
    let security = SecurityConfig {
        login_max_failures: int_in(
            "security.login_max_failures",
            raw.security.login_max_failures,
            10,
            0,
            1_000_000,
        )?,
        address_max_failures: int_in(
            "security.address_max_failures",
            raw.security.address_max_failures,
            100,
            0,
            1_000_000,
        )?,
        username_max_failures: int_in(
            "security.username_max_failures",
            raw.security.username_max_failures,
            50,
            0,
            1_000_000,
        )?,
    };
    let r = raw.rate_limit;
    let trusted_proxies = r
        .trusted_proxies
        .unwrap_or_default()
        .iter()
        .map(|s| {
            s.parse::<IpAddr>().map_err(|_| {
                anyhow!("configuration key rate_limit.trusted_proxies: {s:?} is not an IP address")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rate_limit = RateLimitConfig {
        authenticate_rps: int_in(
            "rate_limit.authenticate_rps",
            r.authenticate_rps,
            20,
            0,
            10_000_000,
        )?,
        token_rps: int_in("rate_limit.token_rps", r.token_rps, 1000, 0, 10_000_000)?,
        trusted_proxies,
    };
    let pg = raw.postgres;
    let postgres = PostgresConfig {
        pool_size: int_in("postgres.pool_size", pg.pool_size, 16, 1, 1000)?,
        pool_timeout: at_least(
            "postgres.pool_timeout",
            duration(
                "postgres.pool_timeout",
                pg.pool_timeout,
                Duration::from_secs(2),
            )?,
            Duration::from_millis(10),
        )?,
        query_timeout: at_least(
            "postgres.query_timeout",
            duration(
                "postgres.query_timeout",
                pg.query_timeout,
                Duration::from_secs(5),
            )?,
            Duration::from_millis(100),
        )?,
    };
    let h = raw.http;
    let header_read_timeout = at_least(
        "http.header_read_timeout",
        duration(
            "http.header_read_timeout",
            h.header_read_timeout,
            Duration::from_secs(10),
        )?,
        Duration::from_millis(100),
    )?;
    if header_read_timeout > Duration::from_secs(300) {
        bail!("configuration key http.header_read_timeout: at most 5m");
    }
    let http = HttpConfig {
        header_read_timeout,
        max_connections: int_in(
            "http.max_connections",
            h.max_connections,
            10_000,
            1,
            1_000_000,
        )? as usize,
    };
    Ok(Config {
        listen,
        database,
        public_url,
        environments,
        log_format: raw.log_format.unwrap_or(LogFormat::Human),
        master_key_file: raw.master_key_file,
        tokens,
        key_reload_interval,
        password_hash,
        security,
        rate_limit,
        postgres,
        http,
        tls,
        sources: BTreeMap::new(),
    })
}

/// `[tls]`: both files or neither; the other keys only together with them. The files
/// themselves are read when the server starts (`crate::tls`), so that the admin commands
/// run without them.
fn tls(t: RawTls) -> anyhow::Result<Option<TlsConfig>> {
    let (cert, key) = match (t.cert, t.key) {
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => bail!("configuration key tls.key: required when tls.cert is set"),
        (None, Some(_)) => bail!("configuration key tls.cert: required when tls.key is set"),
        (None, None) => {
            if t.hsts_max_age.is_some()
                || t.hsts_include_subdomains.is_some()
                || t.reload_interval.is_some()
            {
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
        "tls.reload_interval",
        duration(
            "tls.reload_interval",
            t.reload_interval,
            Duration::from_secs(5),
        )?,
        Duration::from_millis(100),
    )?;
    if reload_interval > Duration::from_secs(3600) {
        bail!("configuration key tls.reload_interval: at most 1h");
    }
    Ok(Some(TlsConfig {
        cert,
        key,
        hsts_max_age: duration(
            "tls.hsts_max_age",
            t.hsts_max_age,
            Duration::from_secs(365 * 86400),
        )?,
        hsts_include_subdomains: t.hsts_include_subdomains.unwrap_or(false),
        reload_interval,
    }))
}

impl Config {
    /// The SQLite file of `database`.
    pub fn sqlite_path(&self) -> anyhow::Result<PathBuf> {
        match self.backend() {
            Database::Sqlite(p) => Ok(p),
            Database::Postgres(_) => bail!("configuration key database: not an sqlite:// URL"),
        }
    }

    /// Which backend `database` names.
    pub fn backend(&self) -> Database {
        match self.database.strip_prefix("sqlite://") {
            Some(path) => Database::Sqlite(PathBuf::from(path)),
            None => Database::Postgres(self.database.clone()),
        }
    }

    /// `database` with any password replaced, for logs and messages.
    pub fn database_redacted(&self) -> String {
        redact_url(&self.database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, vars: &[(&str, &str)], flags: &Overrides) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml)?;
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_from(Some(&path), &vars, flags)
    }

    #[test]
    fn defaults_are_the_spec_defaults() -> anyhow::Result<()> {
        let c = Config::load_from(None, &BTreeMap::new(), &Overrides::default())?;
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database, "sqlite://wirecash-auth.db");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.environments, vec!["sandbox", "production"]);
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(3600));
        assert_eq!(c.tokens.refresh_idle_ttl, Duration::from_secs(14 * 86400));
        assert_eq!(
            c.tokens.refresh_absolute_ttl,
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(c.tokens.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(c.tokens.max_sessions_per_user, 100);
        assert_eq!(c.tokens.clock_leeway, Duration::from_secs(30));
        assert_eq!(c.tokens.key_activation_delay, Duration::from_secs(60));
        assert_eq!(c.tokens.signing_alg, SigningAlg::EdDSA);
        assert_eq!(
            c.password_hash,
            PasswordParams {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(c.security.login_max_failures, 10);
        assert_eq!(c.rate_limit.token_rps, 1000);
        Ok(())
    }

    #[test]
    fn precedence_is_flags_then_env_then_file() -> anyhow::Result<()> {
        let file = "listen = \"127.0.0.1:1\"\ndatabase = \"sqlite://file.db\"\n[tokens]\naccess_ttl = \"5m\"\nrefresh_reuse_grace = \"3s\"\n";
        let vars = [
            ("WIRECASH_AUTH_DATABASE", "sqlite://env.db"),
            ("WIRECASH_AUTH_TOKENS_ACCESS_TTL", "7m"),
            ("WIRECASH_AUTH_TOKENS_MAX_SESSIONS_PER_USER", "5"),
            ("WIRECASH_AUTH_ENVIRONMENTS", "sandbox, staging"),
        ];
        let flags = Overrides {
            database: Some("sqlite://flag.db".into()),
            ..Overrides::default()
        };
        let c = load(file, &vars, &flags)?;
        assert_eq!(c.database, "sqlite://flag.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(420));
        assert_eq!(c.tokens.refresh_reuse_grace, Duration::from_secs(3));
        assert_eq!(c.tokens.max_sessions_per_user, 5);
        assert_eq!(c.environments, vec!["sandbox", "staging"]);
        let c = load(file, &vars, &Overrides::default())?;
        assert_eq!(c.database, "sqlite://env.db");
        Ok(())
    }

    #[test]
    fn bad_values_are_errors_that_name_the_key() {
        let cases = [
            ("[tokens]\naccess_ttl = \"1x\"", "tokens.access_ttl"),
            (
                "[tokens]\nrefresh_reuse_grace = \"1h\"",
                "tokens.refresh_reuse_grace",
            ),
            ("[tokens]\nsigning_alg = \"HS256\"", "tokens.signing_alg"),
            (
                "[tokens]\nmax_sessions_per_user = 0",
                "tokens.max_sessions_per_user",
            ),
            ("[tokens]\nacces_ttl = \"1h\"", "acces_ttl"),
            (
                "[password_hash]\nmemory_kib = 1",
                "password_hash.memory_kib",
            ),
            ("listen = \"nowhere\"", "listen"),
            ("database = \"mysql://x\"", "database"),
            ("environments = [\"Bad Env\"]", "environments"),
            ("environments = []", "environments"),
            (
                "[rate_limit]\ntrusted_proxies = [\"proxy\"]",
                "rate_limit.trusted_proxies",
            ),
            ("[tokens]\naccess_ttl = 5", "access_ttl"),
            ("[postgres]\npool_size = 0", "postgres.pool_size"),
            ("[http]\nmax_connections = 0", "http.max_connections"),
            (
                "[http]\nheader_read_timeout = \"10m\"",
                "http.header_read_timeout",
            ),
            (
                "[postgres]\npool_timeout = \"soon\"",
                "postgres.pool_timeout",
            ),
            (
                "[postgres]\nquery_timeout = \"1ms\"",
                "postgres.query_timeout",
            ),
            ("database = \"postgres://h:notaport/db\"", "database"),
            ("[tls]\ncert = \"c.pem\"", "tls.key"),
            ("[tls]\nkey = \"k.pem\"", "tls.cert"),
            ("[tls]\nhsts_max_age = \"1d\"", "tls.cert"),
            (
                "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nhsts_max_age = \"a year\"",
                "tls.hsts_max_age",
            ),
            (
                "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nreload_interval = \"1ms\"",
                "tls.reload_interval",
            ),
            ("[tls]\ncert = \"\"\nkey = \"k.pem\"", "tls.cert"),
            (
                "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nsni = true",
                "sni",
            ),
        ];
        for (toml, key) in cases {
            match load(toml, &[], &Overrides::default()) {
                Ok(_) => panic!("{toml:?} was accepted"),
                Err(e) => assert!(format!("{e:#}").contains(key), "{toml:?}: {e:#}"),
            }
        }
        let err = load(
            "",
            &[("WIRECASH_AUTH_TOKENS_MAX_SESSIONS_PER_USER", "many")],
            &Overrides::default(),
        );
        assert!(err.is_err_and(|e| {
            e.to_string()
                .contains("WIRECASH_AUTH_TOKENS_MAX_SESSIONS_PER_USER")
        }));
    }

    #[test]
    fn tls_is_off_by_default_and_set_by_file_or_environment() -> anyhow::Result<()> {
        let d = Config::load_from(None, &BTreeMap::new(), &Overrides::default())?;
        assert_eq!(d.tls, None);
        let c = load(
            "[tls]\ncert = \"/etc/w/cert.pem\"\nkey = \"/etc/w/key.pem\"",
            &[("WIRECASH_AUTH_TLS_HSTS_INCLUDE_SUBDOMAINS", "true")],
            &Overrides::default(),
        )?;
        assert_eq!(
            c.tls,
            Some(TlsConfig {
                cert: "/etc/w/cert.pem".into(),
                key: "/etc/w/key.pem".into(),
                hsts_max_age: Duration::from_secs(365 * 86400),
                hsts_include_subdomains: true,
                reload_interval: Duration::from_secs(5),
            })
        );
        // With TLS the default issuer base is https.
        assert_eq!(c.public_url, "https://127.0.0.1:8080");
        let c = load(
            "",
            &[
                ("WIRECASH_AUTH_TLS_CERT", "c.pem"),
                ("WIRECASH_AUTH_TLS_KEY", "k.pem"),
                ("WIRECASH_AUTH_TLS_HSTS_MAX_AGE", "0s"),
                ("WIRECASH_AUTH_TLS_RELOAD_INTERVAL", "1s"),
            ],
            &Overrides::default(),
        )?;
        let tls = c.tls.ok_or_else(|| anyhow!("no tls"))?;
        assert_eq!(tls.key, PathBuf::from("k.pem"));
        assert_eq!(tls.hsts_max_age, Duration::ZERO);
        assert!(!tls.hsts_include_subdomains);
        assert_eq!(tls.reload_interval, Duration::from_secs(1));
        let err = load(
            "",
            &[("WIRECASH_AUTH_TLS_HSTS_INCLUDE_SUBDOMAINS", "yes")],
            &Overrides::default(),
        );
        assert!(err.is_err_and(|e| {
            e.to_string()
                .contains("WIRECASH_AUTH_TLS_HSTS_INCLUDE_SUBDOMAINS")
        }));
        Ok(())
    }

    #[test]
    fn postgres_urls_and_pool_settings() -> anyhow::Result<()> {
        let c = load(
            "database = \"postgres://wa:s3cret@db.internal:6432/auth?connect_timeout=3\"\n[postgres]\npool_size = 32\npool_timeout = \"500ms\"",
            &[("WIRECASH_AUTH_POSTGRES_QUERY_TIMEOUT", "2s")],
            &Overrides::default(),
        )?;
        assert_eq!(
            c.backend(),
            Database::Postgres(
                "postgres://wa:s3cret@db.internal:6432/auth?connect_timeout=3".into()
            )
        );
        assert_eq!(
            c.postgres,
            PostgresConfig {
                pool_size: 32,
                pool_timeout: Duration::from_millis(500),
                query_timeout: Duration::from_secs(2),
            }
        );
        assert_eq!(
            c.database_redacted(),
            "postgres://wa:***@db.internal:6432/auth?connect_timeout=3"
        );
        let d = Config::load_from(None, &BTreeMap::new(), &Overrides::default())?;
        assert_eq!(d.backend(), Database::Sqlite("wirecash-auth.db".into()));
        assert_eq!(d.postgres.pool_size, 16);
        Ok(())
    }

    #[test]
    fn a_misspelt_variable_is_refused_naming_it_and_the_real_one() {
        let err = load(
            "",
            &[("WIRECASH_AUTH_TOKENS_ACESS_TTL", "5m")],
            &Overrides::default(),
        );
        let e = format!("{:#}", err.err().map_or(anyhow!("accepted"), |e| e));
        assert!(e.contains("WIRECASH_AUTH_TOKENS_ACESS_TTL"), "{e}");
        assert!(
            e.contains("did you mean WIRECASH_AUTH_TOKENS_ACCESS_TTL"),
            "{e}"
        );
        assert!(!e.contains("5m"), "the value is not echoed: {e}");
        // Far from every name: no guess.
        let err = load(
            "",
            &[("WIRECASH_AUTH_SOMETHING_ELSE", "1")],
            &Overrides::default(),
        );
        let e = format!("{:#}", err.err().map_or(anyhow!("accepted"), |e| e));
        assert!(
            e.contains("WIRECASH_AUTH_SOMETHING_ELSE") && !e.contains("did you mean"),
            "{e}"
        );
        // The two variables that are not keys are fine.
        for var in OTHER_VARS {
            assert!(
                load("", &[(var, "x")], &Overrides::default()).is_ok(),
                "{var}"
            );
        }
    }

    #[test]
    fn a_bad_duration_says_what_is_accepted() {
        let e = format!(
            "{:#}",
            load(
                "[tokens]\naccess_ttl = \"an hour\"",
                &[],
                &Overrides::default()
            )
            .err()
            .map_or(anyhow!("accepted"), |e| e)
        );
        assert!(
            e.contains("tokens.access_ttl") && e.contains("\"an hour\""),
            "{e}"
        );
        assert!(
            e.contains("ms, s, m, h, d or w") && !e.contains("expected number"),
            "{e}"
        );
    }

    #[test]
    fn a_key_activation_delay_shorter_than_reload_plus_jwks_cache_is_warned_about()
    -> anyhow::Result<()> {
        let c = load(
            "[tokens]\nkey_activation_delay = \"5s\"",
            &[],
            &Overrides::default(),
        )?;
        let w = c.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        for number in ["(5s)", "(10s)", "(30s)", "= 40s"] {
            assert!(w[0].contains(number), "{}", w[0]);
        }
        let d = Config::load_from(None, &BTreeMap::new(), &Overrides::default())?;
        assert!(d.warnings().is_empty());
        Ok(())
    }

    #[test]
    fn database_values_are_never_quoted_with_their_password() {
        for db in [
            "host=db.internal user=wa password=hunter2",
            "postgres://wa:hunter2@h:notaport/db",
            "postgres://wa@h:notaport/db?password=hunter2",
            "mysql://wa:hunter2@h/db",
        ] {
            let flags = Overrides {
                database: Some(db.into()),
                ..Overrides::default()
            };
            let e = Config::load_from(None, &BTreeMap::new(), &flags)
                .err()
                .map_or(String::from("accepted"), |e| format!("{e:#}"));
            assert!(e.contains("configuration key database"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = load(
            "database = \"postgres://wa:hunter2@db/x",
            &[],
            &Overrides::default(),
        )
        .err()
        .map_or(String::from("accepted"), |e| format!("{e:#}"));
        assert!(
            e.contains("not valid TOML (line 1)") && !e.contains("hunter2"),
            "{e}"
        );
    }
}

//! Configuration (SPEC §8): defaults, then the TOML file, then `WIRECASH_AUTH_*`
//! environment variables, then command-line flags. Every value is validated at start-up
//! and a bad one is an error that names its key; nothing falls back silently.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wirecash_core::{PasswordParams, TokenPolicy};

mod database;
mod effective;
mod keys;
mod redact;
mod tls;
mod validate;

pub use database::Database;
pub use effective::Setting;
pub use keys::env_var_name;
use keys::{KEYS, dotted};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// `[admin]`: the operator plane (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminConfig {
    /// Events older than this are purged.
    pub event_retention: Duration,
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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the admin API and console; `None` turns them off.
    pub admin_listen: Option<SocketAddr>,
    /// The operator plane's settings.
    pub admin: AdminConfig,
    /// How webhooks are delivered (`[webhook]`).
    pub webhook: crate::webhooks::Settings,
    /// `[[webhooks]]`: subscriptions kept as configured.
    pub webhooks: Vec<crate::webhooks::Configured>,
    /// Where the data lives.
    pub database: Database,
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
        Self::load_from(file, &process_vars()?, flags)
    }

    /// Like `load`, with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        vars: &BTreeMap<String, String>,
        flags: &Overrides,
    ) -> anyhow::Result<Self> {
        let (values, sources) = keys::merge(file, vars, flags)?;
        let mut config = validate::config(&values)?;
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
        let needed = self.key_reload_interval + crate::http::oauth::JWKS_MAX_AGE;
        if self.tokens.key_activation_delay < needed {
            out.push(format!(
                "tokens.key_activation_delay ({}) is shorter than tokens.key_reload_interval ({}) \
                 plus the JWKS cache time ({}) = {}: after a key rotation, nodes and verifiers \
                 may get tokens signed with a key they have not fetched yet, and refuse them",
                humantime::format_duration(self.tokens.key_activation_delay),
                humantime::format_duration(self.key_reload_interval),
                humantime::format_duration(crate::http::oauth::JWKS_MAX_AGE),
                humantime::format_duration(needed),
            ));
        }
        out
    }

    /// `database` with any password replaced, for logs and messages.
    pub fn database_redacted(&self) -> String {
        self.database.redacted()
    }
}

/// Refuses a `WIRECASH_AUTH_*` variable of the process environment that the program
/// does not read (a misspelling), for commands that load no configuration.
pub fn check_environment() -> anyhow::Result<()> {
    keys::check_vars(&process_vars()?)
}

/// The process environment as text. A variable that is not UTF-8 is left out (none of
/// ours can be named so, and `std::env::vars` would panic on it), unless it is one of
/// ours with a value that is not UTF-8: that is a clear error naming it.
fn process_vars() -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => {
                vars.insert(name, value);
            }
            Err(_) if name.starts_with("WIRECASH_AUTH_") => {
                anyhow::bail!("environment variable {name}: its value is not UTF-8")
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;

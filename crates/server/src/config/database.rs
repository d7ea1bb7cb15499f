//! `database`, parsed once when the configuration is read: an SQLite file or a
//! PostgreSQL URL. Every other part of the server takes this, never the raw string.

use std::path::PathBuf;

use anyhow::{anyhow, bail};

use super::{redact_text, redact_url};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (`sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://…` or `postgresql://…`), checked to parse.
    Postgres(String),
}

impl Database {
    /// Parses the value of `key` (`database`, `--from`, …): messages name the key and
    /// never show a password.
    pub fn parse(key: &str, url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            wirecash_store_postgres::check_url(url).map_err(|e| {
                anyhow!(
                    "configuration key {key}: {} is not a valid PostgreSQL URL ({})",
                    redact_url(url),
                    redact_text(&e)
                )
            })?;
            return Ok(Database::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("configuration key {key}: sqlite:// needs a file path");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        bail!(
            "configuration key {key}: {:?} is not supported; use sqlite://PATH or \
             postgres://USER:PASSWORD@HOST:PORT/DB (a URL: key/value connection strings are \
             not accepted)",
            redact_url(url)
        )
    }

    /// The URL as configured (`sqlite://PATH`, or the PostgreSQL URL with its password).
    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite://{}", p.display()),
            Database::Postgres(url) => url.clone(),
        }
    }

    /// The URL with any password replaced, for logs and messages.
    pub fn redacted(&self) -> String {
        redact_url(&self.url())
    }
}

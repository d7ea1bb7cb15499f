//! The one list of configuration keys, from which the file keys, the environment
//! variables, `config check` and its test against docs/configuration.md all come; and
//! the merge of file, environment and flags into one table read by key.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow, bail};

use super::{Overrides, Source, redact_text};

/// The type of a key's value.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
    List,
}

/// Every configuration key: (section, key, kind); `""` is the top level.
pub(super) const KEYS: &[(&str, &str, Kind)] = &[
    ("", "listen", Kind::Str),
    ("", "admin_listen", Kind::Str),
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
    ("admin", "event_retention", Kind::Str),
    ("webhook", "allowed_networks", Kind::List),
    ("webhook", "retry_base", Kind::Str),
    ("webhook", "max_in_flight", Kind::Int),
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
pub(super) const OTHER_VARS: &[&str] = &[
    "WIRECASH_AUTH_MASTER_KEY",
    "WIRECASH_AUTH_CONFIG",
    // The admin commands' `--admin-url`, `--admin-key-file` and `--admin-ca-file`.
    "WIRECASH_AUTH_ADMIN_URL",
    "WIRECASH_AUTH_ADMIN_KEY_FILE",
    "WIRECASH_AUTH_ADMIN_CA_FILE",
];

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
pub(super) fn check_vars(vars: &BTreeMap<String, String>) -> anyhow::Result<()> {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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

/// `section.key`, or `key` at the top level.
pub(super) fn dotted(section: &str, key: &str) -> String {
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

/// Reads `file` (if any), then the `WIRECASH_AUTH_*` variables of `vars`, then `flags`
/// into one table, with where each key came from. Values are checked later, by key.
pub(super) fn merge(
    file: Option<&Path>,
    vars: &BTreeMap<String, String>,
    flags: &Overrides,
) -> anyhow::Result<(Values, BTreeMap<String, Source>)> {
    check_vars(vars)?;
    let mut sources = BTreeMap::new();
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration file {}", path.display()))?;
            // The parser's own Display quotes the line, which may hold a password: say
            // where, and what, without it.
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
    for (flag, key, value) in [
        ("--listen", "listen", &flags.listen),
        ("--database", "database", &flags.database),
    ] {
        if let Some(v) = value {
            set(&mut table, "", key, toml::Value::String(v.clone()))?;
            sources.insert(key.into(), Source::Flag(flag));
        }
    }
    if let Some(f) = flags.log_format {
        let name = match f {
            super::LogFormat::Human => "human",
            super::LogFormat::Json => "json",
        };
        set(
            &mut table,
            "",
            "log_format",
            toml::Value::String(name.into()),
        )?;
        sources.insert("log_format".into(), Source::Flag("--log-format"));
    }
    Ok((Values::new(table)?, sources))
}

/// The merged settings, read by key (`tokens.access_ttl`). Every key of the table is
/// one of `KEYS` (checked when it is made) and every value is checked for its kind when
/// it is read; a message names the key, never the value (it may be a secret).
pub(super) struct Values(toml::Table);

impl Values {
    fn new(table: toml::Table) -> anyhow::Result<Self> {
        for (name, value) in &table {
            if KEYS.iter().any(|(s, _, _)| s == name) {
                let section = value.as_table().ok_or_else(|| {
                    anyhow!("configuration key {name}: must be a table ([{name}])")
                })?;
                for inner in section.keys() {
                    if !KEYS.iter().any(|(s, k, _)| s == name && k == inner) {
                        bail!("{}", unknown(&dotted(name, inner)));
                    }
                }
            } else if name == "webhooks" {
                // `[[webhooks]]`: read (and checked) by `webhooks()`.
            } else if !KEYS.iter().any(|(s, k, _)| s.is_empty() && k == name) {
                bail!("{}", unknown(name));
            }
        }
        Ok(Self(table))
    }

    /// The `[[webhooks]]` tables: `(url, events, secret_file)` each, every key checked.
    pub(super) fn webhooks(&self) -> anyhow::Result<Vec<(String, Vec<String>, String)>> {
        let Some(value) = self.0.get("webhooks") else {
            return Ok(Vec::new());
        };
        let items = value.as_array().ok_or_else(|| {
            anyhow!("configuration key webhooks: must be a list of tables ([[webhooks]])")
        })?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let n = i + 1;
            let t = item.as_table().ok_or_else(|| {
                anyhow!("configuration key webhooks: entry {n} must be a table ([[webhooks]])")
            })?;
            if let Some(k) = t
                .keys()
                .find(|k| !["url", "events", "secret_file"].contains(&k.as_str()))
            {
                bail!(
                    "configuration key webhooks: entry {n} has the unknown key {k:?} (url, events and secret_file are known)"
                );
            }
            let text = |k: &str| -> anyhow::Result<String> {
                match t.get(k) {
                    Some(toml::Value::String(s)) if !s.trim().is_empty() => {
                        Ok(s.trim().to_string())
                    }
                    Some(_) => bail!(
                        "configuration key webhooks.{k} (entry {n}): must be a non-empty string"
                    ),
                    None => bail!("configuration key webhooks.{k} (entry {n}) is required"),
                }
            };
            let events = match t.get("events") {
                None => Vec::new(),
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            anyhow!(
                                "configuration key webhooks.events (entry {n}): a list of strings"
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                Some(_) => {
                    bail!("configuration key webhooks.events (entry {n}): a list of strings")
                }
            };
            out.push((text("url")?, events, text("secret_file")?));
        }
        Ok(out)
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        match key.split_once('.') {
            Some((section, inner)) => self.0.get(section)?.as_table()?.get(inner),
            None => self.0.get(key),
        }
    }

    /// A string value.
    pub(super) fn str(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(wrong(key, "a string", v)),
        }
    }

    /// A whole number.
    pub(super) fn int(&self, key: &str) -> anyhow::Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) => Ok(Some(*n)),
            Some(v) => Err(wrong(key, "a whole number", v)),
        }
    }

    /// `true` or `false`.
    pub(super) fn bool(&self, key: &str) -> anyhow::Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong(key, "true or false", v)),
        }
    }

    /// A list of strings.
    pub(super) fn list(&self, key: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(wrong(key, "a list of strings", other)),
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(wrong(key, "a list of strings", v)),
        }
    }
}

fn wrong(key: &str, want: &str, got: &toml::Value) -> anyhow::Error {
    anyhow!(
        "configuration key {key}: expected {want}, got {}",
        got.type_str()
    )
}

/// An unknown key, with the closest real one.
fn unknown(key: &str) -> String {
    let closest = KEYS
        .iter()
        .map(|(s, k, _)| dotted(s, k))
        .map(|k| (edit_distance(key, &k), k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!(" (did you mean {k}?)"))
        .unwrap_or_default();
    format!("configuration key {key}: unknown key{closest} (docs/configuration.md)")
}

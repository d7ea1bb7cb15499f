//! The effective configuration as `config check` prints it: every key with its value
//! (secrets redacted) and where the value came from.

use toml::Value;

use super::{Config, KEYS, LogFormat, Source, dotted};

/// One key of the effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// `tokens.access_ttl`.
    pub key: String,
    /// The value as a TOML literal (`"1h"`, `100`, `["sandbox", "production"]`); `None`
    /// when the key is not set and has no default.
    pub value: Option<String>,
    /// Where it came from.
    pub source: Source,
}

fn duration(d: std::time::Duration) -> Option<Value> {
    Some(Value::String(humantime::format_duration(d).to_string()))
}

fn int(n: impl Into<i64>) -> Option<Value> {
    Some(Value::Integer(n.into()))
}

fn string(s: impl ToString) -> Option<Value> {
    Some(Value::String(s.to_string()))
}

fn list<T: ToString>(items: &[T]) -> Option<Value> {
    Some(Value::Array(
        items.iter().map(|i| Value::String(i.to_string())).collect(),
    ))
}

impl Config {
    /// Every configuration key in the order of the reference, with its effective value.
    pub fn settings(&self) -> Vec<Setting> {
        KEYS.iter()
            .map(|(section, key, _)| {
                let key = dotted(section, key);
                let value = self.value(&key).map(|v| v.to_string());
                let source = self.source(&key);
                Setting { key, value, source }
            })
            .collect()
    }

    fn value(&self, key: &str) -> Option<Value> {
        let t = &self.tokens;
        let p = &self.password_hash;
        let tls = self.tls.as_ref();
        match key {
            "listen" => string(self.listen),
            "admin_listen" => string(self.admin_listen.map_or(String::new(), |a| a.to_string())),
            "admin.event_retention" => duration(self.admin.event_retention),
            "webhook.allowed_networks" => {
                let nets: Vec<String> = self
                    .webhook
                    .allowed_networks
                    .iter()
                    .map(|n| n.to_string())
                    .collect();
                list(&nets)
            }
            "webhook.retry_base" => duration(self.webhook.retry_base),
            "webhook.max_in_flight" => {
                int(i64::try_from(self.webhook.max_in_flight).unwrap_or(i64::MAX))
            }
            // The only setting that can hold a secret (a password in the URL).
            "database" => string(self.database.redacted()),
            "public_url" => string(&self.public_url),
            "environments" => list(&self.environments),
            "log_format" => string(match self.log_format {
                LogFormat::Human => "human",
                LogFormat::Json => "json",
            }),
            "master_key_file" => crate::masterkey::key_file(self)
                .ok()
                .map(|p| Value::String(p.display().to_string())),
            "tokens.access_ttl" => duration(t.access_ttl),
            "tokens.refresh_idle_ttl" => duration(t.refresh_idle_ttl),
            "tokens.refresh_absolute_ttl" => duration(t.refresh_absolute_ttl),
            "tokens.refresh_reuse_grace" => duration(t.refresh_reuse_grace),
            "tokens.max_sessions_per_user" => int(t.max_sessions_per_user),
            "tokens.clock_leeway" => duration(t.clock_leeway),
            "tokens.key_activation_delay" => duration(t.key_activation_delay),
            "tokens.key_reload_interval" => duration(self.key_reload_interval),
            "tokens.signing_alg" => string(t.signing_alg.as_str()),
            "password_hash.memory_kib" => int(p.memory_kib),
            "password_hash.iterations" => int(p.iterations),
            "password_hash.parallelism" => int(p.parallelism),
            "security.login_max_failures" => int(self.security.login_max_failures),
            "security.address_max_failures" => int(self.security.address_max_failures),
            "security.username_max_failures" => int(self.security.username_max_failures),
            "rate_limit.authenticate_rps" => int(self.rate_limit.authenticate_rps),
            "rate_limit.token_rps" => int(self.rate_limit.token_rps),
            "rate_limit.trusted_proxies" => list(&self.rate_limit.trusted_proxies),
            "postgres.pool_size" => int(self.postgres.pool_size),
            "postgres.pool_timeout" => duration(self.postgres.pool_timeout),
            "postgres.query_timeout" => duration(self.postgres.query_timeout),
            "http.header_read_timeout" => duration(self.http.header_read_timeout),
            "http.max_connections" => {
                int(i64::try_from(self.http.max_connections).unwrap_or(i64::MAX))
            }
            "tls.cert" => tls.and_then(|t| string(t.cert.display())),
            "tls.key" => tls.and_then(|t| string(t.key.display())),
            "tls.hsts_max_age" => tls.and_then(|t| duration(t.hsts_max_age)),
            "tls.hsts_include_subdomains" => tls.map(|t| Value::Boolean(t.hsts_include_subdomains)),
            "tls.reload_interval" => tls.and_then(|t| duration(t.reload_interval)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Overrides;

    #[test]
    fn every_key_has_a_value_or_is_an_unset_tls_key_and_secrets_are_redacted() -> anyhow::Result<()>
    {
        let vars = BTreeMap::from([(
            "WIRECASH_AUTH_DATABASE".to_string(),
            "postgres://wa:s3cret@db/auth".to_string(),
        )]);
        let flags = Overrides {
            listen: Some("127.0.0.1:9".into()),
            ..Overrides::default()
        };
        let c = Config::load_from(None, &vars, &flags)?;
        let settings = c.settings();
        assert_eq!(settings.len(), KEYS.len());
        for s in &settings {
            let unset_ok = s.key.starts_with("tls.") || s.key == "master_key_file";
            assert!(s.value.is_some() || unset_ok, "{s:?}");
            assert!(!s.value.clone().unwrap_or_default().contains("s3cret"));
        }
        let get = |k: &str| settings.iter().find(|s| s.key == k).cloned();
        assert_eq!(
            get("database").map(|s| (s.value, s.source)),
            Some((
                Some("\"postgres://wa:***@db/auth\"".into()),
                Source::Env("WIRECASH_AUTH_DATABASE".into())
            ))
        );
        assert_eq!(
            get("listen").map(|s| s.source),
            Some(Source::Flag("--listen"))
        );
        assert_eq!(
            get("tokens.access_ttl").map(|s| (s.value, s.source)),
            Some((Some("\"1h\"".into()), Source::Default))
        );
        Ok(())
    }
}

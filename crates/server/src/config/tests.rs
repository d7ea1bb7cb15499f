//! The configuration's unit tests: precedence, defaults, and every bad value named.

use super::*;
use anyhow::anyhow;
use keys::OTHER_VARS;
use wirecash_core::SigningAlg;

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
    assert_eq!(c.database, Database::Sqlite("wirecash-auth.db".into()));
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
    assert_eq!(c.database, Database::Sqlite("flag.db".into()));
    assert_eq!(c.listen.to_string(), "127.0.0.1:1");
    assert_eq!(c.tokens.access_ttl, Duration::from_secs(420));
    assert_eq!(c.tokens.refresh_reuse_grace, Duration::from_secs(3));
    assert_eq!(c.tokens.max_sessions_per_user, 5);
    assert_eq!(c.environments, vec!["sandbox", "staging"]);
    let c = load(file, &vars, &Overrides::default())?;
    assert_eq!(c.database, Database::Sqlite("env.db".into()));
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
        c.database,
        Database::Postgres("postgres://wa:s3cret@db.internal:6432/auth?connect_timeout=3".into())
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
    assert_eq!(d.database, Database::Sqlite("wirecash-auth.db".into()));
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
    // The variables that are not keys are fine.
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
fn a_key_activation_delay_shorter_than_reload_plus_jwks_cache_is_warned_about() -> anyhow::Result<()>
{
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

//! `serve`, `init` and `config check`: the commands that make, run and check an
//! installation.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use wirecash_core::SystemClock;

use crate::config::{Config, Overrides, Source};
use crate::database::{self, Access, Opened};

use super::ServiceOptions;

/// `serve`: everything that can fail for a reason of its own fails before anything is
/// created — the certificate, then the address, then the database's lock — so that a
/// mistake leaves no new installation behind.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let tls = crate::load_tls(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow!(
                "cannot listen on {}: {e}; is another server running there? Choose another \
                 address with --listen ADDR (or `listen` in the configuration file)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let admin = match config.admin_listen {
        None => None,
        Some(a) => Some(tokio::net::TcpListener::bind(a).await.map_err(|e| {
            anyhow!(
                "cannot listen on {a} for the admin API: {e}; choose another address with \
                 admin_listen (or WIRECASH_AUTH_ADMIN_LISTEN), or \"\" to turn it off"
            )
        })?),
    };
    let admin_addr = admin.as_ref().map(|l| l.local_addr()).transpose()?;
    // `--listen …:0` picks a port: the default issuer base names that one.
    if config.listen.port() == 0 && config.source("public_url") == Source::Default {
        let scheme = if tls.is_some() { "https" } else { "http" };
        config.public_url = format!("{scheme}://{addr}");
    }
    let db = database::open(&config.database, &config, Access::Create, true).await?;
    let (service, key_file) = crate::build_service_on(&config, Arc::new(SystemClock), &db).await?;
    if db.is_new {
        announce_new_installation(&config, &db, key_file.as_deref());
    }
    warn_about(&config, &db);
    let shutdown = shutdown_signal()?;
    // The ready line: tests and scripts wait for it (and read the port from it).
    println!("wirecash-auth listening on {addr}");
    if let Some(a) = admin_addr {
        // After the ready line, which a reader may stop at and close: no panic on EPIPE.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout(),
            "wirecash-auth admin API listening on {a}"
        );
    }
    tracing::info!(%addr, admin = ?admin_addr, tls = tls.is_some(), database = %db.name, environments = ?config.environments, "wirecash-auth ready");
    crate::run_with_tls(listener, admin, service, &config, tls, shutdown).await?;
    tracing::info!("wirecash-auth stopped");
    drop(db);
    Ok(())
}

/// The one loud line of a first start: where the new installation is and what to back up.
fn announce_new_installation(config: &Config, db: &Opened, key_file: Option<&std::path::Path>) {
    let key = match key_file {
        Some(path) => format!(
            "a new master key file {} (back it up, apart from the database backups)",
            path.display()
        ),
        None => format!("the master key from {}", crate::masterkey::ENV_VAR),
    };
    tracing::warn!(
        database = %db.name,
        environments = ?config.environments,
        "initialised a NEW wirecash-auth installation: an empty database with {key} and a \
         signing key per environment; if you expected existing users and sessions, stop now \
         and check the database setting"
    );
}

/// Start-up warnings: settings that are probably not meant, files others can read.
fn warn_about(config: &Config, db: &Opened) {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    for (path, mode) in db.readable_by_others() {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:o}"),
            "a database file is readable by other users, and it holds every password hash: \
             run chmod 600 on it (new files are created 0600)"
        );
    }
}

/// `init`: makes an installation where there is none; where there is one, it changes
/// nothing and says so (exit 0), also while a server runs on it.
pub async fn init(config: Config) -> anyhow::Result<()> {
    let db = match database::open(&config.database, &config, Access::Create, true).await {
        Ok(db) => db,
        Err(locked) => {
            // Held by a server: then it is an installation, unless the server is only
            // now making it.
            return match database::open(&config.database, &config, Access::Existing, false).await {
                Ok(db) => {
                    println!(
                        "{} already holds a wirecash-auth installation; nothing to do",
                        db.name
                    );
                    Ok(())
                }
                Err(_) => Err(locked),
            };
        }
    };
    if !db.is_new {
        println!(
            "{} already holds a wirecash-auth installation; nothing to do",
            db.name
        );
        return Ok(());
    }
    let (_service, key_file) = crate::build_service_on(&config, Arc::new(SystemClock), &db).await?;
    println!(
        "initialised a new wirecash-auth installation in {} with a signing key for {}",
        db.name,
        config.environments.join(", ")
    );
    match key_file {
        Some(path) => println!(
            "created the master key file {} (mode 0600): back it up, apart from the database backups",
            path.display()
        ),
        None => println!(
            "the master key comes from {}: keep it with your secrets",
            crate::masterkey::ENV_VAR
        ),
    }
    Ok(())
}

/// `config check`: validates as `serve` would (the TLS files and a master key given in
/// the environment included) and prints the effective configuration.
pub fn config_check(options: &ServiceOptions, listen: Option<String>) -> anyhow::Result<()> {
    let flags = Overrides {
        listen,
        database: options.database.clone(),
        log_format: options.log_format,
    };
    let config = Config::load(options.config.as_deref(), &flags)?;
    if let Some(tls) = &config.tls {
        crate::tls::Tls::load(tls)?;
    }
    if std::env::var_os(crate::masterkey::ENV_VAR).is_some() {
        crate::masterkey::load(&config).context("the master key")?;
    }
    let settings = config.settings();
    let width = settings
        .iter()
        .map(|s| s.key.len() + s.value.as_ref().map_or(0, String::len) + 3)
        .max()
        .unwrap_or(0);
    println!("# wirecash-auth: the effective configuration, each key's source after it");
    for s in &settings {
        match &s.value {
            Some(value) => {
                let line = format!("{} = {value}", s.key);
                println!("{line:<width$}  # {}", s.source);
            }
            None => println!("# {} is not set", s.key),
        }
    }
    if std::env::var_os(crate::masterkey::ENV_VAR).is_some() {
        println!(
            "# master key: from {} (not shown)",
            crate::masterkey::ENV_VAR
        );
    }
    for warning in config.warnings() {
        println!("# warning: {warning}");
        eprintln!("warning: {warning}");
    }
    println!("# the configuration is valid");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed here, before
/// the ready line is printed: installed on the future's first poll, a signal that came
/// between the ready line and the accept loop found the default action and killed the
/// process instead of stopping it gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

//! wirecash-auth: the HTTP service, its configuration and the admin CLI. `run` is the one
//! entry point that `main` and the tests both call.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod database;
pub mod error;
pub mod framing;
pub mod http;
pub mod logging;
pub mod masterkey;
pub mod migrate;
pub mod observe;
pub mod openapi;
pub mod serve;
pub mod tls;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use tokio::net::TcpListener;
use wirecash_core::password::PasswordHasher;
use wirecash_core::service::ServiceOptions;
use wirecash_core::{AuthService, Clock, Store};

use crate::config::Config;

/// Opens the configured database (running migrations); it must hold an installation.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let db = database::open(&config.database, config, database::Access::Existing, false).await?;
    Ok(db.store)
}

/// A password hasher with the configured parameters, at most one hash per core at once.
pub fn password_hasher(config: &Config) -> anyhow::Result<Arc<PasswordHasher>> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Ok(Arc::new(
        PasswordHasher::new(config.password_hash, cores).map_err(|e| anyhow!("{e}"))?,
    ))
}

/// Builds the token service on the configured database, making a new installation
/// there if it holds none (as `serve` does; the tests' way in).
pub async fn build_service(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<AuthService>> {
    let db = database::open(&config.database, config, database::Access::Create, false).await?;
    Ok(build_service_on(config, clock, &db).await?.0)
}

/// Builds the token service on an open database. On a new one it creates the master key
/// file (unless the key comes from the environment), returned here, and the first
/// signing key of every environment.
pub async fn build_service_on(
    config: &Config,
    clock: Arc<dyn Clock>,
    db: &database::Opened,
) -> anyhow::Result<(Arc<AuthService>, Option<std::path::PathBuf>)> {
    let (master, created) = if db.is_new {
        masterkey::load_or_create(config)?
    } else {
        (masterkey::load(config)?, None)
    };
    let hasher = password_hasher(config)?;
    let options = ServiceOptions {
        public_url: config.public_url.clone(),
        environments: config.environments.clone(),
        key_reload_interval: config.key_reload_interval,
        limits: wirecash_core::lockout::Limits {
            username_from_address: config.security.login_max_failures,
            address: config.security.address_max_failures,
            username: config.security.username_max_failures,
        },
    };
    let service = AuthService::open(
        Arc::clone(&db.store),
        clock,
        config.tokens.clone(),
        hasher,
        &master,
        options,
    )
    .await
    .map_err(|e| anyhow!("cannot start the token service: {e}"))?;
    Ok((Arc::new(service), created))
}

/// Serves `service` on `listener` until `shutdown` completes, with the background work
/// (key reload, purge of dead sessions) running alongside. With `[tls]` configured the
/// certificate is loaded first; a bad one is an `InvalidInput` error naming the key.
pub async fn run(
    listener: TcpListener,
    service: Arc<AuthService>,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = load_tls(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e:#}")))?;
    run_with_tls(listener, None, service, config, tls, shutdown).await
}

/// `run` with the admin API and console on `admin` as well (SPEC §11).
pub async fn run_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    service: Arc<AuthService>,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = load_tls(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e:#}")))?;
    run_with_tls(listener, admin, service, config, tls, shutdown).await
}

/// The TLS set-up of `config` (`None` without `[tls]`), listening for SIGHUP from here
/// on (so call it inside the runtime); errors name the key.
pub fn load_tls(config: &Config) -> anyhow::Result<Option<Arc<tls::Tls>>> {
    config
        .tls
        .as_ref()
        .map(|t| Ok(Arc::new(tls::Tls::load(t)?.listen_for_hangup()?)))
        .transpose()
}

/// `run` with the TLS set-up already loaded (the `serve` command loads it before it
/// reports ready, so that a bad certificate stops it at start).
pub async fn run_with_tls(
    listener: TcpListener,
    admin: Option<TcpListener>,
    service: Arc<AuthService>,
    config: &Config,
    tls: Option<Arc<tls::Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reloader = tls
        .as_ref()
        .map(|t| tokio::spawn(tls::watch(Arc::clone(t))));
    let background = [
        tokio::spawn(reload_keys(
            Arc::clone(&service),
            config.key_reload_interval,
        )),
        tokio::spawn(purge_sessions(Arc::clone(&service))),
        tokio::spawn(purge_events(
            Arc::clone(&service),
            config.admin.event_retention,
        )),
    ];
    // The configuration's webhook subscriptions into the database, then delivery.
    webhooks::sync_configured(&service, &config.webhooks)
        .await
        .map_err(|e| std::io::Error::other(format!("cannot set up the [[webhooks]]: {e:#}")))?;
    let deliveries = webhooks::spawn(Arc::clone(&service), config.webhook.clone());
    let rate_limits = Arc::new(http::ratelimit::RateLimits::new(&config.rate_limit));
    let sweeper = tokio::spawn(sweep_rate_limits(Arc::clone(&rate_limits)));
    let metrics = observe::install();
    let upkeep = tokio::spawn(observe::upkeep(metrics.clone()));
    let openapi = openapi::document(&config.public_url, &config.environments);
    // Both listeners stop on the one shutdown.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopper = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let admin_task = admin.map(|admin_listener| {
        let router = admin::router(admin::AdminState {
            service: Arc::clone(&service),
            trusted_proxies: config.rate_limit.trusted_proxies.clone().into(),
            guard: Arc::default(),
            openapi: serde_json::to_vec(&admin::openapi::document())
                .unwrap_or_default()
                .into(),
            webhook: Arc::new(config.webhook.clone()),
            secure_cookies: tls.is_some(),
        });
        let app = tower::util::MapRequest::new(router, http::middleware::normalize_method);
        let limits = serve::Limits {
            header_read_timeout: config.http.header_read_timeout,
            max_connections: config.http.max_connections,
        };
        tokio::spawn(serve::serve(
            admin_listener,
            app,
            limits,
            tls.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    let app = app::app(app::AppParts {
        service,
        trusted_proxies: config.rate_limit.trusted_proxies.clone().into(),
        rate_limits,
        metrics,
        openapi: serde_json::to_vec(&openapi).unwrap_or_default().into(),
    });
    let limits = serve::Limits {
        header_read_timeout: config.http.header_read_timeout,
        max_connections: config.http.max_connections,
    };
    let result = serve::serve(listener, app, limits, tls, stopped(stop_rx)).await;
    stopper.abort();
    if let Some(task) = admin_task {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the admin listener failed"),
            Err(e) => tracing::warn!(error = %e, "the admin listener task failed"),
            Ok(Ok(())) => {}
        }
    }
    for task in background {
        task.abort();
    }
    sweeper.abort();
    upkeep.abort();
    deliveries.abort();
    if let Some(task) = reloader {
        task.abort();
    }
    result
}

/// Drops rate-limit buckets that are full again, so memory follows the number of
/// recently active addresses.
async fn sweep_rate_limits(limits: Arc<http::ratelimit::RateLimits>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tick.tick().await;
        let tracked = limits.housekeeping();
        tracing::trace!(tracked, "rate-limit buckets swept");
    }
}

/// Re-reads signing keys so that a rotation by the CLI or another node is seen within
/// one interval; also drops keys no token can need any more.
async fn reload_keys(service: Arc<AuthService>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = service.reload_keys().await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones");
        }
        rounds += 1;
        if rounds.is_multiple_of(60) {
            match service.delete_expired_keys().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted retired signing keys"),
                Err(e) => tracing::warn!(error = %e, "deleting retired signing keys failed"),
            }
            // Users added by the CLI or another node with other Argon2 parameters.
            if let Err(e) = service.calibrate_password_checks().await {
                tracing::warn!(error = %e, "calibrating failed-login timing failed");
            }
        }
    }
}

/// Deletes events older than the retention and idempotency records older than a day,
/// in small batches, once a minute.
async fn purge_events(service: Arc<AuthService>, retention: std::time::Duration) {
    const BATCH: u32 = 1000;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let admin = service.admin();
        let now = admin.clock.now();
        let before = now.saturating_sub(wirecash_core::clock::millis(retention));
        loop {
            match admin.store.purge_events(before, BATCH).await {
                Ok(n) if n == u64::from(BATCH) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(deleted = n, "purged old events");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event purge failed");
                    break;
                }
            }
        }
        let keep = wirecash_core::clock::millis(admin::idempotency::KEEP_FOR);
        if let Err(e) = admin
            .store
            .purge_idempotency_keys(now.saturating_sub(keep))
            .await
        {
            tracing::warn!(error = %e, "idempotency key purge failed");
        }
        // Finished deliveries are kept a week for the delivery lists, then go.
        let week = wirecash_core::clock::millis(std::time::Duration::from_secs(7 * 86_400));
        if let Err(e) = admin.store.purge_deliveries(now.saturating_sub(week)).await {
            tracing::warn!(error = %e, "webhook delivery purge failed");
        }
    }
}

/// Walks the session table in small batches, deleting dead sessions, so the purge never
/// holds the writer for long.
async fn purge_sessions(service: Arc<AuthService>) {
    const BATCH: u32 = 500;
    let mut cursor = 0;
    loop {
        match service.purge_step(cursor, BATCH).await {
            Ok((deleted, next)) => {
                if deleted > 0 {
                    tracing::debug!(deleted, "purged dead sessions");
                }
                cursor = next;
                if next == 0 {
                    // A full pass over the sessions: also drop stale failed-login counters.
                    match service.purge_login_failures().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(deleted = n, "purged failed-login counters"),
                        Err(e) => tracing::warn!(error = %e, "failed-login counter purge failed"),
                    }
                }
                let pause = if next == 0 { 30_000 } else { 50 };
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "session purge failed");
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
    }
}

//! `PostgresStore`: the store traits on PostgreSQL, one module per trait; here the pool,
//! the deadline of every operation, and error mapping.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, PoolError, Runtime};
use tokio_postgres::error::SqlState;
use wirecash_core::StoreError;
use wirecash_core::store::Store;

use crate::schema;

mod admin;
mod events;
mod introspectors;
mod keys;
mod login_guard;
mod rows;
mod sessions;
mod transfer;
mod users;
mod webhooks;

use rows::Fail;

/// Pool and deadline settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections this node opens.
    pub pool_size: usize,
    /// Longest a request waits for a connection (pool exhausted or database away)
    /// before it is answered 503.
    pub pool_timeout: Duration,
    /// Longest one store operation may take, connecting included.
    pub query_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            pool_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(5),
        }
    }
}

/// `PostgresStore`: the store traits on PostgreSQL, one module per trait, each owning
/// its SQL; here the pool, the deadline every operation runs under, and error mapping.
/// An operation is one statement where it can be; see each module for the
/// transactions.
///
/// PostgreSQL backend.
pub struct PostgresStore {
    pool: Pool,
    options: PgOptions,
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn map_err(e: &tokio_postgres::Error) -> StoreError {
    if let Some(code) = e.code()
        && (*code == SqlState::UNIQUE_VIOLATION || *code == SqlState::FOREIGN_KEY_VIOLATION)
    {
        return StoreError::Conflict(e.to_string());
    }
    if schema::is_unavailable(e) {
        StoreError::Unavailable(format!("PostgreSQL: {e}"))
    } else {
        StoreError::Backend(format!("PostgreSQL: {e}"))
    }
}

fn map_pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => map_err(&e),
        PoolError::Timeout(t) => {
            StoreError::Unavailable(format!("PostgreSQL: no connection in time ({t:?})"))
        }
        other => StoreError::Unavailable(format!("PostgreSQL: {other}")),
    }
}

/// `host:port/dbname` of a configuration, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("-"))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/dbname?…`, the libpq URL
    /// form), runs the migrations under an advisory lock and keeps a pool.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("wirecash-auth");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.query_timeout);
        }
        // Notice a peer that vanished without a FIN (failover, cut cable) in about a
        // minute instead of the kernel's two hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.keepalives_interval(Duration::from_secs(10));
        config.keepalives_retries(3);
        let target = describe(&config);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.query_timeout))
            .recycle_timeout(Some(options.query_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the PostgreSQL pool: {e}")))?;
        let store = Self {
            pool,
            options,
            target,
        };
        let mut client = store.client().await?;
        let migrated = tokio::time::timeout(
            // Another node may hold the lock while it migrates: wait longer than a query.
            options.query_timeout * 6,
            schema::migrate(&mut client),
        )
        .await;
        match migrated {
            Ok(Ok(())) => Ok(store),
            Ok(Err(schema::MigrateError::Db(e))) => Err(map_err(&e)),
            Ok(Err(e @ schema::MigrateError::TooNew { .. })) => {
                Err(StoreError::Backend(e.to_string()))
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL {}: migrations did not finish in time",
                store.target
            ))),
        }
    }

    /// `host:port/dbname` this store talks to.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(map_pool_err)
    }

    /// Runs `op` on a pooled connection under the query deadline. A connection that
    /// missed the deadline or broke is dropped from the pool, not reused.
    async fn with<T, E: Into<Fail>>(
        &self,
        op: impl AsyncFnOnce(&mut ClientWrapper) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let outcome = tokio::time::timeout(self.options.query_timeout, op(&mut client))
            .await
            .map(|r| r.map_err(Into::into));
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(Fail::Db(e))) => {
                if e.code().is_none() || client.is_closed() {
                    drop(Object::take(client));
                }
                Err(map_err(&e))
            }
            Ok(Err(Fail::Data(msg))) => Err(StoreError::Backend(msg)),
            Err(_) => {
                drop(Object::take(client));
                Err(StoreError::Unavailable(format!(
                    "PostgreSQL {}: no answer within {:?}",
                    self.target, self.options.query_timeout
                )))
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with(async |c| c.simple_query("SELECT 1").await.map(|_| ()))
            .await
    }
}

//! `PostgresStore`: the store traits on PostgreSQL. Every statement of the backend lives
//! here. Each operation is one statement (one round trip once the connection has it
//! prepared) except where a transaction is needed for a limit that must hold under
//! concurrency (`create_session`); each runs under a deadline, and a connection that
//! misses it is thrown away rather than handed to the next request.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, PoolError, Runtime};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use wirecash_core::StoreError;
use wirecash_core::store::{
    IntrospectorRecord, IntrospectorStore, KeyRecord, KeyStore, LoginGuardStore, NewSession,
    PurgeCutoffs, Rotation, RotationGuard, SessionRecord, SessionStore, SessionSummary, Store,
    TransferStore, UserRecord, UserStore,
};

use crate::schema;

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

/// What can go wrong inside one operation.
#[derive(Debug)]
enum Fail {
    Db(tokio_postgres::Error),
    /// A stored value that does not fit its record (a damaged row).
    Data(String),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

fn to_hash(v: Vec<u8>, column: usize) -> Result<[u8; 32], Fail> {
    v.try_into()
        .map_err(|_| Fail::Data(format!("column {column}: hash is not 32 bytes")))
}

fn hash32(row: &Row, idx: usize) -> Result<[u8; 32], Fail> {
    to_hash(row.try_get(idx)?, idx)
}

fn opt_hash32(row: &Row, idx: usize) -> Result<Option<[u8; 32]>, Fail> {
    let v: Option<Vec<u8>> = row.try_get(idx)?;
    v.map(|v| to_hash(v, idx)).transpose()
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

/// The compare-and-set of a rotation, with the guard's extra conditions when they are
/// given (a NULL guard parameter turns its condition off). One statement: under READ
/// COMMITTED a racing UPDATE of the same row waits for the first, then re-checks the
/// WHERE clause on the committed row, finds the generation moved on and changes nothing.
/// Never two winners.
const ROTATE: &str = "
    UPDATE sessions s SET generation = $1, current_hash = $2, current_access_hash = $3,
        prev_hash = $4, prev_access_hash = $5, rotated_at = $6, last_used_at = $6,
        access_token_sealed = $7, access_expires_at = $8
    FROM users u
    WHERE s.id = $9 AND s.env = $10 AND s.generation = $11 AND s.current_hash = $12
      AND s.revoked_at IS NULL AND u.id = s.user_id
      AND ($13::bytea IS NULL OR s.current_access_hash = $13)
      AND ($14::text IS NULL OR s.user_id = $14)
      AND ($15::bigint IS NULL OR s.last_used_at > $15)
      AND ($16::bigint IS NULL OR s.created_at > $16)
      AND ($17::text IS NULL OR (u.username = $17 AND NOT u.disabled))";

impl PostgresStore {
    async fn rotate_with(&self, r: Rotation, g: Option<RotationGuard>) -> Result<bool, StoreError> {
        let access = g.as_ref().map(|g| &g.current_access_hash[..]);
        let user_id = g.as_ref().map(|g| g.user_id.as_str());
        let used_after = g.as_ref().map(|g| g.used_after);
        let created_after = g.as_ref().map(|g| g.created_after);
        let username = g.as_ref().map(|g| g.username.as_str());
        self.with(async |c| {
            let st = c.prepare_cached(ROTATE).await?;
            c.execute(
                &st,
                &[
                    &r.generation,
                    &&r.current_hash[..],
                    &&r.current_access_hash[..],
                    &&r.prev_hash[..],
                    &&r.prev_access_hash[..],
                    &r.rotated_at,
                    &r.access_token_sealed,
                    &r.access_expires_at,
                    &r.session_id,
                    &r.env,
                    &r.expected_generation,
                    &&r.expected_hash[..],
                    &access,
                    &user_id,
                    &used_after,
                    &created_after,
                    &username,
                ],
            )
            .await
            .map(|n| n == 1)
        })
        .await
    }
}

const USER_COLUMNS: &str = "id, env, username, password_hash, disabled, created_at";

fn user_from_row(r: &Row) -> Result<UserRecord, Fail> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        env: r.try_get(1)?,
        username: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

/// A change to a user that, when `$6` holds, revokes the user's live sessions in the
/// same statement (`$4` time, `$5` reason); the count says whether the user exists.
macro_rules! update_user_and_revoke {
    ($set:literal) => {
        concat!(
            "WITH u AS (UPDATE users SET ",
            $set,
            " WHERE env = $1 AND username = $2 RETURNING id),
                  r AS (UPDATE sessions SET revoked_at = $4, revoked_reason = $5
                        WHERE $6 AND revoked_at IS NULL AND user_id IN (SELECT id FROM u) RETURNING 1)
             SELECT count(*) FROM u"
        )
    };
}

impl PostgresStore {
    /// Runs an `update_user_and_revoke!` statement; `NotFound` if there is no such user.
    #[allow(clippy::too_many_arguments)]
    async fn update_user(
        &self,
        sql: &'static str,
        env: &str,
        username: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
        now: i64,
        reason: &str,
        revoke: bool,
    ) -> Result<(), StoreError> {
        let found: i64 = self
            .with(async |c| {
                let st = c.prepare_cached(sql).await?;
                c.query_one(&st, &[&env, &username, value, &now, &reason, &revoke])
                    .await?
                    .try_get(0)
            })
            .await?;
        if found == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, u: UserRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO users (id, env, username, password_hash, disabled, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &u.id,
                    &u.env,
                    &u.username,
                    &u.password_hash,
                    &u.disabled,
                    &u.created_at,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn find_user(&self, env: &str, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE env = $1 AND username = $2"
                ))
                .await?;
            c.query_opt(&st, &[&env, &username])
                .await?
                .as_ref()
                .map(user_from_row)
                .transpose()
        })
        .await
    }

    async fn list_users(&self, env: &str) -> Result<Vec<UserRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE env = $1 ORDER BY username"
                ))
                .await?;
            c.query(&st, &[&env])
                .await?
                .iter()
                .map(user_from_row)
                .collect()
        })
        .await
    }

    async fn set_user_disabled(
        &self,
        env: &str,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = update_user_and_revoke!("disabled = $3");
        self.update_user(
            sql,
            env,
            username,
            &disabled,
            now,
            "user disabled",
            disabled,
        )
        .await
    }

    async fn change_password(
        &self,
        env: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = update_user_and_revoke!("password_hash = $3");
        self.update_user(sql, env, username, &hash, now, "password changed", true)
            .await
    }

    async fn rehash_password(
        &self,
        user_id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                )
                .await?;
            c.execute(&st, &[&new_hash, &user_id, &old_hash])
                .await
                .map(|_| ())
        })
        .await
    }

    async fn delete_user(&self, env: &str, username: &str) -> Result<(), StoreError> {
        // Sessions go with the user (ON DELETE CASCADE), in the same statement.
        let n = self
            .with(async |c| {
                let st = c
                    .prepare_cached("DELETE FROM users WHERE env = $1 AND username = $2")
                    .await?;
                c.execute(&st, &[&env, &username]).await
            })
            .await?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}

fn session_from_row(r: &Row) -> Result<SessionRecord, Fail> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        env: r.try_get(1)?,
        user_id: r.try_get(2)?,
        username: r.try_get(3)?,
        user_disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
        generation: r.try_get(7)?,
        current_hash: hash32(r, 8)?,
        current_access_hash: hash32(r, 9)?,
        prev_hash: opt_hash32(r, 10)?,
        prev_access_hash: opt_hash32(r, 11)?,
        rotated_at: r.try_get(12)?,
        access_token_sealed: r.try_get(13)?,
        access_expires_at: r.try_get(14)?,
        revoked_at: r.try_get(15)?,
        revoked_reason: r.try_get(16)?,
    })
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, s: NewSession, max_live: u32) -> Result<(), StoreError> {
        let keep = i64::from(max_live.saturating_sub(1));
        self.with(async |c| {
            let tx = c.transaction().await?;
            // Logins of one user queue here, so the limit holds however many race.
            let lock = tx
                .prepare_cached("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                .await?;
            tx.query_opt(&lock, &[&s.user_id]).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO sessions (id, env, user_id, created_at, last_used_at, generation,
                        current_hash, current_access_hash, rotated_at, access_token_sealed, access_expires_at)
                     VALUES ($1, $2, $3, $4, $4, 0, $5, $6, $4, $7, $8)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &s.id,
                    &s.env,
                    &s.user_id,
                    &s.created_at,
                    &&s.current_hash[..],
                    &&s.current_access_hash[..],
                    &s.access_token_sealed,
                    &s.access_expires_at,
                ],
            )
            .await?;
            // Sessions beyond the limit are deleted, not kept as revoked rows; the new
            // session itself is never the one evicted.
            let evict = tx
                .prepare_cached(
                    "DELETE FROM sessions WHERE id IN (
                        SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id <> $3
                        ORDER BY last_used_at DESC, id DESC OFFSET $2)",
                )
                .await?;
            tx.execute(&evict, &[&s.user_id, &keep, &s.id]).await?;
            tx.commit().await
        })
        .await
    }

    async fn load_session(&self, env: &str, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT s.id, s.env, s.user_id, u.username, u.disabled, s.created_at, s.last_used_at,
                        s.generation, s.current_hash, s.current_access_hash, s.prev_hash, s.prev_access_hash,
                        s.rotated_at, s.access_token_sealed, s.access_expires_at, s.revoked_at, s.revoked_reason
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.env = $2",
                )
                .await?;
            c.query_opt(&st, &[&id, &env])
                .await?
                .as_ref()
                .map(session_from_row)
                .transpose()
        })
        .await
    }

    async fn rotate(&self, r: Rotation) -> Result<bool, StoreError> {
        self.rotate_with(r, None).await
    }

    async fn rotate_guarded(&self, r: Rotation, g: RotationGuard) -> Result<bool, StoreError> {
        // The refresh hot path: check and rotate in one statement, one round trip.
        self.rotate_with(r, Some(g)).await
    }

    async fn revoke_session(
        &self,
        env: &str,
        id: i64,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE id = $3 AND env = $4 AND revoked_at IS NULL",
                )
                .await?;
            c.execute(&st, &[&now, &reason, &id, &env])
                .await
                .map(|n| n == 1)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        env: &str,
        username: &str,
        now: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE revoked_at IS NULL
                       AND user_id = (SELECT id FROM users WHERE env = $3 AND username = $4)",
                )
                .await?;
            c.execute(&st, &[&now, &reason, &env, &username]).await
        })
        .await
    }

    async fn list_sessions(
        &self,
        env: &str,
        username: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let limit = i64::from(limit);
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT s.id, u.username, s.created_at, s.last_used_at, s.generation, s.revoked_at,
                        s.revoked_reason
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.env = $1 AND ($2::text IS NULL OR u.username = $2)
                     ORDER BY s.id DESC LIMIT $3",
                )
                .await?;
            c.query(&st, &[&env, &username, &limit])
                .await?
                .iter()
                .map(|r| {
                    Ok::<_, tokio_postgres::Error>(SessionSummary {
                        id: r.try_get(0)?,
                        username: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        last_used_at: r.try_get(3)?,
                        generation: r.try_get(4)?,
                        revoked_at: r.try_get(5)?,
                        revoked_reason: r.try_get(6)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn purge_sessions(
        &self,
        after_id: i64,
        batch: u32,
        cut: PurgeCutoffs,
    ) -> Result<(u64, i64), StoreError> {
        let batch = i64::from(batch);
        let (last, seen, deleted): (Option<i64>, i64, i64) = self
            .with(async |c| {
                let st = c
                    .prepare_cached(
                        "WITH batch AS (SELECT id FROM sessions WHERE id > $1 ORDER BY id LIMIT $2),
                              gone AS (DELETE FROM sessions s USING batch b WHERE s.id = b.id
                                  AND (s.last_used_at < $3 OR s.created_at < $4
                                       OR (s.revoked_at IS NOT NULL AND s.revoked_at < $5))
                                  RETURNING 1)
                         SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM batch),
                                (SELECT count(*) FROM gone)",
                    )
                    .await?;
                let row = c
                    .query_one(
                        &st,
                        &[
                            &after_id,
                            &batch,
                            &cut.idle_before,
                            &cut.absolute_before,
                            &cut.revoked_before,
                        ],
                    )
                    .await?;
                Ok::<_, tokio_postgres::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
            })
            .await?;
        let Some(last) = last else { return Ok((0, 0)) };
        let next = if seen < batch { 0 } else { last };
        Ok((u64::try_from(deleted).unwrap_or(0), next))
    }
}

fn key_from_row(r: &Row) -> Result<KeyRecord, Fail> {
    Ok(KeyRecord {
        env: r.try_get(0)?,
        kid: r.try_get(1)?,
        alg: r.try_get(2)?,
        private_key_sealed: r.try_get(3)?,
        created_at: r.try_get(4)?,
        activates_at: r.try_get(5)?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn list_keys(&self, env: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                     WHERE env = $1 ORDER BY activates_at, kid",
                )
                .await?;
            c.query(&st, &[&env]).await?.iter().map(key_from_row).collect()
        })
        .await
    }

    async fn insert_key(&self, k: KeyRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO signing_keys (env, kid, alg, private_key_sealed, created_at, activates_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            c.execute(
                &st,
                &[&k.env, &k.kid, &k.alg, &k.private_key_sealed, &k.created_at, &k.activates_at],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn delete_key(&self, env: &str, kid: &str) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM signing_keys WHERE env = $1 AND kid = $2")
                .await?;
            c.execute(&st, &[&env, &kid]).await.map(|_| ())
        })
        .await
    }
}

const SESSION_COLUMNS: &str =
    "s.id, s.env, s.user_id, u.username, u.disabled, s.created_at, s.last_used_at,
    s.generation, s.current_hash, s.current_access_hash, s.prev_hash, s.prev_access_hash,
    s.rotated_at, s.access_token_sealed, s.access_expires_at, s.revoked_at, s.revoked_reason";

#[async_trait]
impl TransferStore for PostgresStore {
    async fn users_after(&self, after_id: &str, batch: u32) -> Result<Vec<UserRecord>, StoreError> {
        let batch = i64::from(batch);
        self.with(async |c| {
            // COLLATE "C": the same byte order as SQLite, whatever the database's locale.
            let st = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id > $1 COLLATE \"C\"
                     ORDER BY id COLLATE \"C\" LIMIT $2"
                ))
                .await?;
            c.query(&st, &[&after_id, &batch])
                .await?
                .iter()
                .map(user_from_row)
                .collect()
        })
        .await
    }

    async fn sessions_after(
        &self,
        after_id: i64,
        batch: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let batch = i64::from(batch);
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id > $1 ORDER BY s.id LIMIT $2"
                ))
                .await?;
            c.query(&st, &[&after_id, &batch])
                .await?
                .iter()
                .map(session_from_row)
                .collect()
        })
        .await
    }

    async fn import_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO sessions (id, env, user_id, created_at, last_used_at, generation,
                        current_hash, current_access_hash, prev_hash, prev_access_hash, rotated_at,
                        access_token_sealed, access_expires_at, revoked_at, revoked_reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &s.id,
                    &s.env,
                    &s.user_id,
                    &s.created_at,
                    &s.last_used_at,
                    &s.generation,
                    &&s.current_hash[..],
                    &&s.current_access_hash[..],
                    &s.prev_hash.as_ref().map(|h| &h[..]),
                    &s.prev_access_hash.as_ref().map(|h| &h[..]),
                    &s.rotated_at,
                    &s.access_token_sealed,
                    &s.access_expires_at,
                    &s.revoked_at,
                    &s.revoked_reason,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn all_introspectors(&self) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, name, secret_hash, created_at FROM introspectors ORDER BY env, name",
                )
                .await?;
            c.query(&st, &[]).await?.iter().map(introspector_from_row).collect()
        })
        .await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                     ORDER BY env, activates_at, kid",
                )
                .await?;
            c.query(&st, &[]).await?.iter().map(key_from_row).collect()
        })
        .await
    }
}

#[async_trait]
impl LoginGuardStore for PostgresStore {
    async fn login_locked_until(
        &self,
        keys: &[[u8; 32]],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT max(locked_until) FROM login_failures
                     WHERE key = ANY($1) AND locked_until > $2",
                )
                .await?;
            c.query_one(&st, &[&keys, &now]).await?.try_get(0)
        })
        .await
    }

    async fn record_login_failure(
        &self,
        key: &[u8; 32],
        now: i64,
        forget_before: i64,
    ) -> Result<u32, StoreError> {
        let n: i32 = self
            .with(async |c| {
                let st = c
                    .prepare_cached(
                        "INSERT INTO login_failures AS f (key, failures, last_failure_at) VALUES ($1, 1, $2)
                         ON CONFLICT (key) DO UPDATE SET
                            failures = CASE WHEN f.last_failure_at <= $3 THEN 1 ELSE f.failures + 1 END,
                            last_failure_at = $2
                         RETURNING failures",
                    )
                    .await?;
                c.query_one(&st, &[&&key[..], &now, &forget_before])
                    .await?
                    .try_get(0)
            })
            .await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn lock_login(&self, key: &[u8; 32], until: i64) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE login_failures SET locked_until = GREATEST(locked_until, $2) WHERE key = $1",
                )
                .await?;
            c.execute(&st, &[&&key[..], &until]).await.map(|_| ())
        })
        .await
    }

    async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM login_failures WHERE key = $1")
                .await?;
            c.execute(&st, &[&&key[..]]).await.map(|_| ())
        })
        .await
    }

    async fn purge_login_failures(&self, before: i64) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM login_failures WHERE last_failure_at < $1 AND locked_until < $1",
                )
                .await?;
            c.execute(&st, &[&before]).await
        })
        .await
    }
}

fn introspector_from_row(r: &Row) -> Result<IntrospectorRecord, Fail> {
    Ok(IntrospectorRecord {
        env: r.try_get(0)?,
        name: r.try_get(1)?,
        secret_hash: hash32(r, 2)?,
        created_at: r.try_get(3)?,
    })
}

#[async_trait]
impl IntrospectorStore for PostgresStore {
    async fn add_introspector(&self, r: IntrospectorRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO introspectors (env, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
                )
                .await?;
            c.execute(&st, &[&r.env, &r.name, &r.secret_hash.as_slice(), &r.created_at])
                .await
                .map(|_| ())
        })
        .await
    }

    async fn find_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Option<IntrospectorRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = $1 AND name = $2",
                )
                .await?;
            c.query_opt(&st, &[&env, &name])
                .await?
                .as_ref()
                .map(introspector_from_row)
                .transpose()
        })
        .await
    }

    async fn list_introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = $1 ORDER BY name",
                )
                .await?;
            c.query(&st, &[&env]).await?.iter().map(introspector_from_row).collect()
        })
        .await
    }

    async fn remove_introspector(&self, env: &str, name: &str) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM introspectors WHERE env = $1 AND name = $2")
                .await?;
            c.execute(&st, &[&env, &name]).await.map(|n| n > 0)
        })
        .await
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with(async |c| c.simple_query("SELECT 1").await.map(|_| ()))
            .await
    }
}

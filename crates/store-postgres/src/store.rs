//! `PostgresStore`: the store traits on PostgreSQL. Every statement of the backend lives
//! here. Each operation is one statement (one round trip once the connection has it
//! prepared) except where a transaction is needed for a rule that must hold under
//! concurrency (a session insert that re-checks its user, the changes that end a
//! user's sessions, the failed-login counters); each runs under a deadline, and a
//! connection that misses it is thrown away rather than handed to the next request.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, PoolError, Runtime};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use wirecash_core::StoreError;
use wirecash_core::store::{
    GuardCounter, GuardUpdate, IntrospectorRecord, IntrospectorStore, KeyRecord, KeyStore,
    LoginGuardStore, NewSession, PurgeCutoffs, REVOKED_SESSIONS_KEPT, Rotation, RotationGuard,
    SessionKind, SessionRecord, SessionStore, SessionSummary, Store, TransferStore, UserRecord,
    UserStore,
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
      AND s.revoked_at IS NULL AND s.kind = 'refresh' AND u.id = s.user_id
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

const USER_COLUMNS: &str = "id, env, username, password_hash, disabled, created_at, session_epoch";

fn user_from_row(r: &Row) -> Result<UserRecord, Fail> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        env: r.try_get(1)?,
        username: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
        session_epoch: r.try_get(6)?,
    })
}

fn kind_from_row(r: &Row, idx: usize) -> Result<SessionKind, Fail> {
    let name: String = r.try_get(idx)?;
    SessionKind::parse(&name)
        .ok_or_else(|| Fail::Data(format!("column {idx}: unknown session kind {name:?}")))
}

impl PostgresStore {
    /// Applies `UPDATE users SET {set} … RETURNING id` (`$1` env, `$2` username, `$3` the
    /// new value) and, when `end_sessions`, moves the user's `session_epoch` on and
    /// revokes its live sessions (`$4` time, `$5` reason) — in one transaction, the
    /// revoke as a statement of its own: its snapshot is taken after the user row was
    /// locked, so it also sees a session that a login inserted while this change waited
    /// for that lock (one statement would revoke by an older snapshot and miss it).
    /// Returns how many sessions were revoked; `NotFound` if there is no such user.
    async fn end_user_sessions(
        &self,
        set: &'static str,
        env: &str,
        username: &str,
        value: Option<&(dyn tokio_postgres::types::ToSql + Sync)>,
        end_sessions: Option<(i64, &str)>,
    ) -> Result<u64, StoreError> {
        let update = match (value.is_some(), end_sessions.is_some()) {
            (true, true) => format!(
                "UPDATE users SET {set}, session_epoch = session_epoch + 1 WHERE env = $1 AND username = $2 RETURNING id"
            ),
            (true, false) => {
                format!("UPDATE users SET {set} WHERE env = $1 AND username = $2 RETURNING id")
            }
            _ => "UPDATE users SET session_epoch = session_epoch + 1 WHERE env = $1 AND username = $2 RETURNING id"
                .to_string(),
        };
        let revoked = self
            .with(async |c| {
                let tx = c.transaction().await?;
                let st = tx.prepare_cached(&update).await?;
                let row = match value {
                    Some(v) => tx.query_opt(&st, &[&env, &username, v]).await?,
                    None => tx.query_opt(&st, &[&env, &username]).await?,
                };
                let Some(row) = row else {
                    return Ok::<_, tokio_postgres::Error>(None);
                };
                let id: String = row.try_get(0)?;
                let mut revoked = 0;
                if let Some((now, reason)) = end_sessions {
                    let st = tx
                        .prepare_cached(
                            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                             WHERE user_id = $3 AND revoked_at IS NULL",
                        )
                        .await?;
                    revoked = tx.execute(&st, &[&now, &reason, &id]).await?;
                }
                tx.commit().await?;
                Ok(Some(revoked))
            })
            .await?;
        revoked.ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, u: UserRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO users (id, env, username, password_hash, disabled, created_at, session_epoch)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                    &u.session_epoch,
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
        let end = disabled.then_some((now, "user disabled"));
        self.end_user_sessions("disabled = $3", env, username, Some(&disabled), end)
            .await
            .map(|_| ())
    }

    async fn change_password(
        &self,
        env: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let end = Some((now, "password changed"));
        self.end_user_sessions("password_hash = $3", env, username, Some(&hash), end)
            .await
            .map(|_| ())
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

    async fn password_hash_params(&self) -> Result<Vec<String>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT DISTINCT split_part(password_hash, '$', 4) FROM users
                     WHERE password_hash LIKE '$argon2id$v=19$%'",
                )
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()
        })
        .await
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
        kind: kind_from_row(r, 17)?,
    })
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, s: NewSession, max_live: u32) -> Result<(), StoreError> {
        let keep = i64::from(max_live.saturating_sub(1));
        let kind = s.kind.as_str();
        let created = self
            .with(async |c| {
                let tx = c.transaction().await?;
                // Logins of one user queue here, so the limit holds however many race;
                // and a change that ends the user's sessions either committed before (the
                // locked row no longer matches: no session) or waits for this one (and
                // revokes what it inserted).
                let lock = tx
                    .prepare_cached(
                        "SELECT 1 FROM users WHERE id = $1 AND env = $2 AND NOT disabled
                            AND session_epoch = $3 FOR UPDATE",
                    )
                    .await?;
                if tx
                    .query_opt(&lock, &[&s.user_id, &s.env, &s.user_epoch])
                    .await?
                    .is_none()
                {
                    return Ok::<_, tokio_postgres::Error>(false);
                }
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO sessions (id, env, kind, user_id, created_at, last_used_at, generation,
                            current_hash, current_access_hash, rotated_at, access_token_sealed, access_expires_at)
                         VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $7, $5, $8, $9)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &s.id,
                        &s.env,
                        &kind,
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
                // session itself is never the one evicted. Revoked ones beyond the newest
                // few go too, so that no login/revoke loop grows the table.
                let evict = tx
                    .prepare_cached(
                        "DELETE FROM sessions WHERE id IN (
                            SELECT id FROM sessions WHERE user_id = $1 AND kind = $4 AND revoked_at IS NULL
                                AND id <> $3
                            ORDER BY last_used_at DESC, id DESC OFFSET $2)",
                    )
                    .await?;
                tx.execute(&evict, &[&s.user_id, &keep, &s.id, &kind]).await?;
                let prune = tx
                    .prepare_cached(
                        "DELETE FROM sessions WHERE id IN (
                            SELECT id FROM sessions WHERE user_id = $1 AND kind = $3
                                AND revoked_at IS NOT NULL
                            ORDER BY revoked_at DESC, id DESC OFFSET $2)",
                    )
                    .await?;
                let kept = i64::from(REVOKED_SESSIONS_KEPT);
                tx.execute(&prune, &[&s.user_id, &kept, &kind]).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await?;
        if created {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn load_session(&self, env: &str, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.env = $2"
                ))
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
        match self
            .end_user_sessions("", env, username, None, Some((now, reason)))
            .await
        {
            Err(StoreError::NotFound) => Ok(0),
            other => other,
        }
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
                        s.revoked_reason, s.kind
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.env = $1 AND ($2::text IS NULL OR u.username = $2)
                     ORDER BY s.id DESC LIMIT $3",
                )
                .await?;
            c.query(&st, &[&env, &username, &limit])
                .await?
                .iter()
                .map(|r| {
                    Ok::<_, Fail>(SessionSummary {
                        id: r.try_get(0)?,
                        username: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        last_used_at: r.try_get(3)?,
                        generation: r.try_get(4)?,
                        revoked_at: r.try_get(5)?,
                        revoked_reason: r.try_get(6)?,
                        kind: kind_from_row(r, 7)?,
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
    s.rotated_at, s.access_token_sealed, s.access_expires_at, s.revoked_at, s.revoked_reason,
    s.kind";

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
                        access_token_sealed, access_expires_at, revoked_at, revoked_reason, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
                    &s.kind.as_str(),
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

fn guard_from_row(r: &Row) -> Result<GuardCounter, Fail> {
    let count = |idx: usize| -> Result<u32, Fail> {
        let v: i32 = r.try_get(idx)?;
        u32::try_from(v).map_err(|_| Fail::Data(format!("column {idx}: negative count")))
    };
    Ok(GuardCounter {
        failures: count(1)?,
        last_failure_at: r.try_get(2)?,
        locked_until: r.try_get(3)?,
        pending: count(4)?,
        reserved_at: r.try_get(5)?,
        succeeded_at: r.try_get(6)?,
    })
}

#[async_trait]
impl LoginGuardStore for PostgresStore {
    async fn update_login_guards(
        &self,
        keys: &[[u8; 32]],
        update: GuardUpdate,
    ) -> Result<(), StoreError> {
        let wanted: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        // Rows are locked in key order by every caller, so two logins with overlapping
        // counters cannot deadlock.
        let mut sorted = wanted.clone();
        sorted.sort_unstable();
        sorted.dedup();
        self.with(async |c| {
            let tx = c.transaction().await?;
            let create = tx
                .prepare_cached(
                    "INSERT INTO login_failures (key, failures, last_failure_at)
                     SELECT k, 0, 0 FROM unnest($1::bytea[]) AS k ORDER BY k
                     ON CONFLICT (key) DO NOTHING",
                )
                .await?;
            tx.execute(&create, &[&sorted]).await?;
            let read = tx
                .prepare_cached(
                    "SELECT key, failures, last_failure_at, locked_until, pending, reserved_at,
                        succeeded_at
                     FROM login_failures WHERE key = ANY($1) ORDER BY key FOR UPDATE",
                )
                .await?;
            let rows = tx.query(&read, &[&sorted]).await?;
            let mut counters = Vec::with_capacity(wanted.len());
            for key in &wanted {
                let row = rows.iter().find(|r| r.try_get::<_, &[u8]>(0).ok() == Some(*key));
                counters.push(row.map(guard_from_row).transpose()?.unwrap_or_default());
            }
            update(&mut counters);
            let (mut gone, mut kept) = (Vec::new(), Vec::new());
            for (key, n) in wanted.iter().zip(&counters) {
                if n.is_empty() {
                    gone.push(*key);
                } else {
                    kept.push((*key, *n));
                }
            }
            let write = tx
                .prepare_cached(
                    "UPDATE login_failures f SET failures = v.failures, last_failure_at = v.last_failure_at,
                        locked_until = v.locked_until, pending = v.pending, reserved_at = v.reserved_at,
                        succeeded_at = v.succeeded_at
                     FROM unnest($1::bytea[], $2::int[], $3::bigint[], $4::bigint[], $5::int[],
                                 $6::bigint[], $7::bigint[])
                          AS v(key, failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at)
                     WHERE f.key = v.key",
                )
                .await?;
            let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
            let column = |f: &dyn Fn(&GuardCounter) -> i64| -> Vec<i64> {
                kept.iter().map(|(_, n)| f(n)).collect()
            };
            let keys: Vec<&[u8]> = kept.iter().map(|(k, _)| *k).collect();
            let failures: Vec<i32> = kept.iter().map(|(_, n)| count(n.failures)).collect();
            let pending: Vec<i32> = kept.iter().map(|(_, n)| count(n.pending)).collect();
            tx.execute(
                &write,
                &[
                    &keys,
                    &failures,
                    &column(&|n| n.last_failure_at),
                    &column(&|n| n.locked_until),
                    &pending,
                    &column(&|n| n.reserved_at),
                    &column(&|n| n.succeeded_at),
                ],
            )
            .await?;
            if !gone.is_empty() {
                let delete = tx
                    .prepare_cached("DELETE FROM login_failures WHERE key = ANY($1)")
                    .await?;
                tx.execute(&delete, &[&gone]).await?;
            }
            tx.commit().await?;
            Ok::<_, Fail>(())
        })
        .await
    }

    async fn purge_login_failures(
        &self,
        before: i64,
        succeeded_before: i64,
    ) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM login_failures WHERE last_failure_at < $1 AND locked_until < $1
                        AND reserved_at < $1 AND succeeded_at < $2",
                )
                .await?;
            c.execute(&st, &[&before, &succeeded_before]).await
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

//! `SqliteStore`: the store traits on SQLite. Every statement of the backend lives here.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use wirecash_core::StoreError;
use wirecash_core::store::{
    GuardCounter, GuardUpdate, IntrospectorRecord, IntrospectorStore, KeyRecord, KeyStore,
    LoginGuardStore, NewSession, PurgeCutoffs, REVOKED_SESSIONS_KEPT, Rotation, RotationGuard,
    SessionKind, SessionRecord, SessionStore, SessionSummary, Store, TransferStore, UserRecord,
    UserStore,
};

use crate::schema;
use crate::writer::Writer;

/// Most idle read connections kept.
const MAX_IDLE_READERS: usize = 16;

/// SQLite backend.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => StoreError::Conflict(e.to_string()),
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

fn hash32(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = row.get(idx)?;
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "hash is not 32 bytes".into(),
        )
    })
}

fn opt_hash32(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<[u8; 32]>> {
    let v: Option<Vec<u8>> = row.get(idx)?;
    v.map(|v| {
        v.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Blob,
                "hash is not 32 bytes".into(),
            )
        })
    })
    .transpose()
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        env: r.get(1)?,
        username: r.get(2)?,
        password_hash: r.get(3)?,
        disabled: r.get(4)?,
        created_at: r.get(5)?,
        session_epoch: r.get(6)?,
    })
}

const USER_COLUMNS: &str = "id, env, username, password_hash, disabled, created_at, session_epoch";

/// Ends every session of a user: moves its `session_epoch` on (so that a login checked
/// before makes none) and revokes the live ones, in the caller's transaction.
fn end_sessions_of(
    conn: &Connection,
    env: &str,
    username: &str,
    now: i64,
    reason: &str,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE users SET session_epoch = session_epoch + 1 WHERE env = ?1 AND username = ?2",
    )?
    .execute(params![env, username])?;
    conn.prepare_cached(
        "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
         WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE env = ?3 AND username = ?4)",
    )?
    .execute(params![now, reason, env, username])
}

fn kind_from_row(r: &Row<'_>, idx: usize) -> rusqlite::Result<SessionKind> {
    let name: String = r.get(idx)?;
    SessionKind::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown session kind {name:?}").into(),
        )
    })
}

impl SqliteStore {
    /// Opens the database at `path`, migrates it and starts the writer. A missing file is
    /// created, readable by its owner only (`crate::file`); its directory must exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::file::create_private(path)?;
        let mut conn = Connection::open(path).map_err(map_err)?;
        schema::configure(&conn, false).map_err(map_err)?;
        schema::migrate(&mut conn).map_err(map_err)?;
        let writer = Writer::start(conn)
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            readers: Mutex::new(Vec::new()),
        })
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        let pooled = match self.readers.lock() {
            Ok(mut v) => v.pop(),
            Err(p) => p.into_inner().pop(),
        };
        match pooled {
            Some(c) => Ok(c),
            None => {
                let c = Connection::open(&self.path).map_err(map_err)?;
                schema::configure(&c, true).map_err(map_err)?;
                Ok(c)
            }
        }
    }

    /// Runs a read on a pooled connection. Reads are single primary-key lookups served
    /// from the page cache in microseconds, so they run inline: handing them to a
    /// blocking thread would cost more than the query.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.reader()?;
        let result = f(&conn).map_err(map_err);
        let mut pool = match self.readers.lock() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        };
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        result
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write(move |c| f(c).map_err(map_err)).await
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: UserRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (id, env, username, password_hash, disabled, created_at, session_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                u.id,
                u.env,
                u.username,
                u.password_hash,
                u.disabled,
                u.created_at,
                u.session_epoch
            ])
            .map(|_| ())
        })
        .await
    }

    async fn find_user(&self, env: &str, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE env = ?1 AND username = ?2"
            ))?
            .query_row(params![env, username], user_from_row)
            .optional()
        })
    }

    async fn list_users(&self, env: &str) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE env = ?1 ORDER BY username"
            ))?
            .query_map(params![env], user_from_row)?
            .collect()
        })
    }

    async fn set_user_disabled(
        &self,
        env: &str,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let (env, username) = (env.to_string(), username.to_string());
        self.write(move |c| {
            let n = c
                .prepare_cached("UPDATE users SET disabled = ?1 WHERE env = ?2 AND username = ?3")?
                .execute(params![disabled, env, username])?;
            if n == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            if disabled {
                end_sessions_of(c, &env, &username, now, "user disabled")?;
            }
            Ok(())
        })
        .await
    }

    async fn change_password(
        &self,
        env: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (env, username, hash) = (env.to_string(), username.to_string(), hash.to_string());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE users SET password_hash = ?1 WHERE env = ?2 AND username = ?3",
                )?
                .execute(params![hash, env, username])?;
            if n == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            end_sessions_of(c, &env, &username, now, "password changed").map(|_| ())
        })
        .await
    }

    async fn rehash_password(
        &self,
        user_id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError> {
        let (id, old, new) = (
            user_id.to_string(),
            old_hash.to_string(),
            new_hash.to_string(),
        );
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2 AND password_hash = ?3",
            )?
            .execute(params![new, id, old])
            .map(|_| ())
        })
        .await
    }

    async fn delete_user(&self, env: &str, username: &str) -> Result<(), StoreError> {
        let (env, username) = (env.to_string(), username.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE env = ?1 AND username = ?2)",
            )?
            .execute(params![env, username])?;
            let n = c
                .prepare_cached("DELETE FROM users WHERE env = ?1 AND username = ?2")?
                .execute(params![env, username])?;
            if n == 0 { Err(rusqlite::Error::QueryReturnedNoRows) } else { Ok(()) }
        })
        .await
    }

    async fn password_hash_params(&self) -> Result<Vec<String>, StoreError> {
        // `$argon2id$v=19$` is 15 characters; the parameters run to the next `$`.
        self.read(|c| {
            c.prepare_cached(
                "SELECT DISTINCT substr(p, 1, instr(p, '$') - 1)
                 FROM (SELECT substr(password_hash, 16) AS p FROM users
                       WHERE substr(password_hash, 1, 15) = '$argon2id$v=19$')",
            )?
            .query_map([], |r| r.get(0))?
            .collect()
        })
    }
}

/// The compare-and-set of a rotation, with the guard's extra conditions when they are
/// given (a NULL guard parameter turns its condition off).
const ROTATE: &str = "
    UPDATE sessions SET generation = ?1, current_hash = ?2, current_access_hash = ?3,
        prev_hash = ?4, prev_access_hash = ?5, rotated_at = ?6, last_used_at = ?6,
        access_token_sealed = ?7, access_expires_at = ?8
    WHERE id = ?9 AND env = ?10 AND generation = ?11 AND current_hash = ?12
      AND revoked_at IS NULL AND kind = 'refresh'
      AND (?13 IS NULL OR current_access_hash = ?13)
      AND (?14 IS NULL OR user_id = ?14)
      AND (?15 IS NULL OR last_used_at > ?15)
      AND (?16 IS NULL OR created_at > ?16)
      AND (?17 IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id
                                  AND u.username = ?17 AND u.disabled = 0))";

impl SqliteStore {
    async fn rotate_with(&self, r: Rotation, g: Option<RotationGuard>) -> Result<bool, StoreError> {
        self.write(move |c| {
            let g = g.as_ref();
            c.prepare_cached(ROTATE)?
                .execute(params![
                    r.generation,
                    &r.current_hash[..],
                    &r.current_access_hash[..],
                    &r.prev_hash[..],
                    &r.prev_access_hash[..],
                    r.rotated_at,
                    r.access_token_sealed,
                    r.access_expires_at,
                    r.session_id,
                    r.env,
                    r.expected_generation,
                    &r.expected_hash[..],
                    g.map(|g| &g.current_access_hash[..]),
                    g.map(|g| g.user_id.as_str()),
                    g.map(|g| g.used_after),
                    g.map(|g| g.created_after),
                    g.map(|g| g.username.as_str())
                ])
                .map(|n| n == 1)
        })
        .await
    }
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.get(0)?,
        env: r.get(1)?,
        user_id: r.get(2)?,
        username: r.get(3)?,
        user_disabled: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        generation: r.get(7)?,
        current_hash: hash32(r, 8)?,
        current_access_hash: hash32(r, 9)?,
        prev_hash: opt_hash32(r, 10)?,
        prev_access_hash: opt_hash32(r, 11)?,
        rotated_at: r.get(12)?,
        access_token_sealed: r.get(13)?,
        access_expires_at: r.get(14)?,
        revoked_at: r.get(15)?,
        revoked_reason: r.get(16)?,
        kind: kind_from_row(r, 17)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: NewSession, max_live: u32) -> Result<(), StoreError> {
        self.write(move |c| {
            // Only for a user who is still as the login saw it (the writer runs one
            // transaction at a time, so nothing can change between check and insert).
            let inserted = c
                .prepare_cached(
                    "INSERT INTO sessions (id, env, kind, user_id, created_at, last_used_at, generation,
                        current_hash, current_access_hash, rotated_at, access_token_sealed, access_expires_at)
                     SELECT ?1, ?2, ?3, id, ?5, ?5, 0, ?6, ?7, ?5, ?8, ?9 FROM users
                     WHERE id = ?4 AND env = ?2 AND disabled = 0 AND session_epoch = ?10",
                )?
                .execute(params![
                    s.id,
                    s.env,
                    s.kind.as_str(),
                    s.user_id,
                    s.created_at,
                    &s.current_hash[..],
                    &s.current_access_hash[..],
                    s.access_token_sealed,
                    s.access_expires_at,
                    s.user_epoch
                ])?;
            if inserted == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            // Sessions beyond the limit are deleted, not kept as revoked rows: that is what
            // bounds the table however often a client loop authenticates. The new session
            // itself is never the one evicted (clock steps, equal times).
            c.prepare_cached(
                "DELETE FROM sessions WHERE id IN (
                    SELECT id FROM sessions WHERE user_id = ?1 AND kind = ?4 AND revoked_at IS NULL
                        AND id <> ?3
                    ORDER BY last_used_at DESC, id DESC LIMIT -1 OFFSET ?2)",
            )?
            .execute(params![s.user_id, max_live.saturating_sub(1), s.id, s.kind.as_str()])?;
            // And revoked ones beyond the newest few, so that a login/revoke loop cannot
            // grow it either.
            c.prepare_cached(
                "DELETE FROM sessions WHERE id IN (
                    SELECT id FROM sessions WHERE user_id = ?1 AND kind = ?3 AND revoked_at IS NOT NULL
                    ORDER BY revoked_at DESC, id DESC LIMIT -1 OFFSET ?2)",
            )?
            .execute(params![s.user_id, REVOKED_SESSIONS_KEPT, s.kind.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn load_session(&self, env: &str, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = ?1 AND s.env = ?2"
            ))?
            .query_row(params![id, env], session_from_row)
            .optional()
        })
    }

    async fn rotate(&self, r: Rotation) -> Result<bool, StoreError> {
        self.rotate_with(r, None).await
    }

    async fn rotate_guarded(&self, r: Rotation, g: RotationGuard) -> Result<bool, StoreError> {
        self.rotate_with(r, Some(g)).await
    }

    async fn revoke_session(
        &self,
        env: &str,
        id: i64,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (env, reason) = (env.to_string(), reason.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
                 WHERE id = ?3 AND env = ?4 AND revoked_at IS NULL",
            )?
            .execute(params![now, reason, id, env])
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
        let (env, username, reason) = (env.to_string(), username.to_string(), reason.to_string());
        self.write(move |c| end_sessions_of(c, &env, &username, now, &reason).map(|n| n as u64))
            .await
    }

    async fn list_sessions(
        &self,
        env: &str,
        username: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT s.id, u.username, s.created_at, s.last_used_at, s.generation, s.revoked_at,
                    s.revoked_reason, s.kind
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.env = ?1 AND (?2 IS NULL OR u.username = ?2)
                 ORDER BY s.id DESC LIMIT ?3",
            )?
            .query_map(params![env, username, limit], |r| {
                Ok(SessionSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                    generation: r.get(4)?,
                    revoked_at: r.get(5)?,
                    revoked_reason: r.get(6)?,
                    kind: kind_from_row(r, 7)?,
                })
            })?
            .collect()
        })
    }

    async fn purge_sessions(
        &self,
        after_id: i64,
        batch: u32,
        cut: PurgeCutoffs,
    ) -> Result<(u64, i64), StoreError> {
        self.write(move |c| {
            let (last, seen): (Option<i64>, u32) = c
                .prepare_cached("SELECT max(id), count(*) FROM (SELECT id FROM sessions WHERE id > ?1 ORDER BY id LIMIT ?2)")?
                .query_row(params![after_id, batch], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let Some(last) = last else { return Ok((0, 0)) };
            let deleted = c
                .prepare_cached(
                    "DELETE FROM sessions WHERE id > ?1 AND id <= ?2
                     AND (last_used_at < ?3 OR created_at < ?4 OR (revoked_at IS NOT NULL AND revoked_at < ?5))",
                )?
                .execute(params![after_id, last, cut.idle_before, cut.absolute_before, cut.revoked_before])?;
            let next = if seen < batch { 0 } else { last };
            Ok((deleted as u64, next))
        })
        .await
    }
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        env: r.get(0)?,
        kid: r.get(1)?,
        alg: r.get(2)?,
        private_key_sealed: r.get(3)?,
        created_at: r.get(4)?,
        activates_at: r.get(5)?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self, env: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                 WHERE env = ?1 ORDER BY activates_at, kid",
            )?
            .query_map(params![env], key_from_row)?
            .collect()
        })
    }

    async fn insert_key(&self, k: KeyRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO signing_keys (env, kid, alg, private_key_sealed, created_at, activates_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![k.env, k.kid, k.alg, k.private_key_sealed, k.created_at, k.activates_at])
            .map(|_| ())
        })
        .await
    }

    async fn delete_key(&self, env: &str, kid: &str) -> Result<(), StoreError> {
        let (env, kid) = (env.to_string(), kid.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM signing_keys WHERE env = ?1 AND kid = ?2")?
                .execute(params![env, kid])
                .map(|_| ())
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
impl TransferStore for SqliteStore {
    async fn users_after(&self, after_id: &str, batch: u32) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after_id, batch], user_from_row)?
            .collect()
        })
    }

    async fn sessions_after(
        &self,
        after_id: i64,
        batch: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id > ?1 ORDER BY s.id LIMIT ?2"
            ))?
            .query_map(params![after_id, batch], session_from_row)?
            .collect()
        })
    }

    async fn import_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO sessions (id, env, user_id, created_at, last_used_at, generation,
                    current_hash, current_access_hash, prev_hash, prev_access_hash, rotated_at,
                    access_token_sealed, access_expires_at, revoked_at, revoked_reason, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                s.id,
                s.env,
                s.user_id,
                s.created_at,
                s.last_used_at,
                s.generation,
                &s.current_hash[..],
                &s.current_access_hash[..],
                s.prev_hash.as_ref().map(|h| &h[..]),
                s.prev_access_hash.as_ref().map(|h| &h[..]),
                s.rotated_at,
                s.access_token_sealed,
                s.access_expires_at,
                s.revoked_at,
                s.revoked_reason,
                s.kind.as_str()
            ])
            .map(|_| ())
        })
        .await
    }

    async fn all_introspectors(&self) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors ORDER BY env, name",
            )?
            .query_map([], introspector_from_row)?
            .collect()
        })
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                 ORDER BY env, activates_at, kid",
            )?
            .query_map([], key_from_row)?
            .collect()
        })
    }
}

#[async_trait]
impl LoginGuardStore for SqliteStore {
    async fn update_login_guards(
        &self,
        keys: &[[u8; 32]],
        update: GuardUpdate,
    ) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        // The writer runs one transaction at a time: read, decide and write back are one
        // atomic step.
        self.write(move |c| {
            let mut read = c.prepare_cached(
                "SELECT failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at
                 FROM login_failures WHERE key = ?1",
            )?;
            let mut counters = Vec::with_capacity(keys.len());
            for key in &keys {
                let counter = read
                    .query_row(params![&key[..]], |r| {
                        Ok(GuardCounter {
                            failures: r.get(0)?,
                            last_failure_at: r.get(1)?,
                            locked_until: r.get(2)?,
                            pending: r.get(3)?,
                            reserved_at: r.get(4)?,
                            succeeded_at: r.get(5)?,
                        })
                    })
                    .optional()?;
                counters.push(counter.unwrap_or_default());
            }
            update(&mut counters);
            for (key, n) in keys.iter().zip(&counters) {
                if n.is_empty() {
                    c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?
                        .execute(params![&key[..]])?;
                    continue;
                }
                c.prepare_cached(
                    "INSERT INTO login_failures
                        (key, failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (key) DO UPDATE SET failures = ?2, last_failure_at = ?3,
                        locked_until = ?4, pending = ?5, reserved_at = ?6, succeeded_at = ?7",
                )?
                .execute(params![
                    &key[..],
                    n.failures,
                    n.last_failure_at,
                    n.locked_until,
                    n.pending,
                    n.reserved_at,
                    n.succeeded_at
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn purge_login_failures(
        &self,
        before: i64,
        succeeded_before: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM login_failures WHERE last_failure_at < ?1 AND locked_until < ?1
                    AND reserved_at < ?1 AND succeeded_at < ?2",
            )?
            .execute(params![before, succeeded_before])
            .map(|n| n as u64)
        })
        .await
    }
}

fn introspector_from_row(row: &Row<'_>) -> rusqlite::Result<IntrospectorRecord> {
    Ok(IntrospectorRecord {
        env: row.get(0)?,
        name: row.get(1)?,
        secret_hash: hash32(row, 2)?,
        created_at: row.get(3)?,
    })
}

#[async_trait]
impl IntrospectorStore for SqliteStore {
    async fn add_introspector(&self, r: IntrospectorRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO introspectors (env, name, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![r.env, r.name, r.secret_hash.as_slice(), r.created_at])
            .map(|_| ())
        })
        .await
    }

    async fn find_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Option<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = ?1 AND name = ?2",
            )?
            .query_row(params![env, name], introspector_from_row)
            .optional()
        })
    }

    async fn list_introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = ?1 ORDER BY name",
            )?
            .query_map(params![env], introspector_from_row)?
            .collect()
        })
    }

    async fn remove_introspector(&self, env: &str, name: &str) -> Result<bool, StoreError> {
        let (env, name) = (env.to_string(), name.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM introspectors WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])
                .map(|n| n > 0)
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        self.read(|c| {
            c.query_row("SELECT count(*) FROM signing_keys", [], |r| {
                r.get::<_, i64>(0)
            })
        })?;
        Ok(())
    }
}

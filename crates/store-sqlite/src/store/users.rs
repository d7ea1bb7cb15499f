//! `UserStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use wirecash_core::StoreError;
use wirecash_core::store::{EnvStats, EventRecord, UserRecord, UserStore};

use super::SqliteStore;
use super::events::insert_event;
use super::rows::*;

/// Ends every session of a user: moves its `session_epoch` on (so that a login checked
/// before makes none) and revokes the live ones, in the caller's transaction.
pub(super) fn end_sessions_of(
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

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(
        &self,
        u: UserRecord,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (id, env, username, password_hash, disabled, created_at, session_epoch,
                    prev_password_hash, prev_password_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                u.id,
                u.env,
                u.username,
                u.password_hash,
                u.disabled,
                u.created_at,
                u.session_epoch,
                u.previous_password.as_ref().map(|p| p.0.as_str()),
                u.previous_password.as_ref().map(|p| p.1)
            ])?;
            insert_event(c, event.as_ref())
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

    async fn users_page(
        &self,
        env: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        // Names compare as bytes (BINARY collation): a prefix is a range of the
        // (env, username) index, `prefix` up to `prefix` followed by the largest code point.
        let upper = (!prefix.is_empty()).then(|| format!("{prefix}\u{10FFFF}"));
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE env = ?1 AND username >= ?2 AND (?3 IS NULL OR username < ?3)
                   AND (?4 IS NULL OR username > ?4)
                 ORDER BY username LIMIT ?5"
            ))?
            .query_map(params![env, prefix, upper, after, limit], user_from_row)?
            .collect()
        })
    }

    async fn env_stats(
        &self,
        env: &str,
        used_after: i64,
        created_after: i64,
    ) -> Result<EnvStats, StoreError> {
        self.read(|c| {
            let users: i64 = c
                .prepare_cached("SELECT count(*) FROM users WHERE env = ?1")?
                .query_row(params![env], |r| r.get(0))?;
            let live_sessions: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM sessions WHERE env = ?1 AND revoked_at IS NULL
                       AND last_used_at > ?2 AND created_at > ?3",
                )?
                .query_row(params![env, used_after, created_after], |r| r.get(0))?;
            Ok(EnvStats {
                users: users.unsigned_abs(),
                live_sessions: live_sessions.unsigned_abs(),
            })
        })
    }

    async fn set_user_disabled(
        &self,
        env: &str,
        username: &str,
        disabled: bool,
        now: i64,
        event: Option<EventRecord>,
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
            insert_event(c, event.as_ref())
        })
        .await
    }

    async fn change_password(
        &self,
        env: &str,
        username: &str,
        hash: &str,
        now: i64,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        let (env, username, hash) = (env.to_string(), username.to_string(), hash.to_string());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE users SET password_hash = ?1, prev_password_hash = NULL,
                        prev_password_until = NULL WHERE env = ?2 AND username = ?3",
                )?
                .execute(params![hash, env, username])?;
            if n == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            end_sessions_of(c, &env, &username, now, "password changed")?;
            insert_event(c, event.as_ref())
        })
        .await
    }

    async fn rotate_password(
        &self,
        env: &str,
        username: &str,
        expected: &str,
        hash: &str,
        overlap_until: i64,
        event: Option<EventRecord>,
    ) -> Result<bool, StoreError> {
        let (env, username) = (env.to_string(), username.to_string());
        let (expected, hash) = (expected.to_string(), hash.to_string());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE users SET prev_password_hash = password_hash, prev_password_until = ?1,
                        password_hash = ?2 WHERE env = ?3 AND username = ?4 AND password_hash = ?5",
                )?
                .execute(params![overlap_until, hash, env, username, expected])?;
            if n == 0 {
                return Ok(false);
            }
            insert_event(c, event.as_ref())?;
            Ok(true)
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

    async fn delete_user(
        &self,
        env: &str,
        username: &str,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        let (env, username) = (env.to_string(), username.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE env = ?1 AND username = ?2)",
            )?
            .execute(params![env, username])?;
            let n = c
                .prepare_cached("DELETE FROM users WHERE env = ?1 AND username = ?2")?
                .execute(params![env, username])?;
            if n == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            insert_event(c, event.as_ref())
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

//! `UserStore` on PostgreSQL, and the transaction that ends a user's sessions.

use async_trait::async_trait;
use wirecash_core::StoreError;
use wirecash_core::store::{EnvStats, EventRecord, UserRecord, UserStore};

use super::PostgresStore;
use super::events::insert_events;
use super::rows::*;

impl PostgresStore {
    /// Applies `UPDATE users SET {set} … RETURNING id` (`$1` env, `$2` username, `$3` the
    /// new value) and, when `end_sessions`, moves the user's `session_epoch` on and
    /// revokes its live sessions (`$4` time, `$5` reason) — in one transaction, the
    /// revoke as a statement of its own: its snapshot is taken after the user row was
    /// locked, so it also sees a session that a login inserted while this change waited
    /// for that lock (one statement would revoke by an older snapshot and miss it).
    /// `event` is written in the same transaction. Returns how many sessions were
    /// revoked; `NotFound` if there is no such user (then nothing is written).
    pub(super) async fn end_user_sessions(
        &self,
        set: &'static str,
        env: &str,
        username: &str,
        value: Option<&(dyn tokio_postgres::types::ToSql + Sync)>,
        end_sessions: Option<(i64, &str)>,
        event: Option<EventRecord>,
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
                insert_events(&tx, event.as_slice()).await?;
                tx.commit().await?;
                Ok(Some(revoked))
            })
            .await?;
        revoked.ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(
        &self,
        u: UserRecord,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO users (id, env, username, password_hash, disabled, created_at, session_epoch,
                        prev_password_hash, prev_password_until)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .await?;
            tx.execute(
                &st,
                &[
                    &u.id,
                    &u.env,
                    &u.username,
                    &u.password_hash,
                    &u.disabled,
                    &u.created_at,
                    &u.session_epoch,
                    &u.previous_password.as_ref().map(|p| p.0.as_str()),
                    &u.previous_password.as_ref().map(|p| p.1),
                ],
            )
            .await?;
            insert_events(&tx, event.as_slice()).await?;
            tx.commit().await
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

    async fn users_page(
        &self,
        env: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let limit = i64::from(limit);
        self.with(async |c| {
            // starts_with, not LIKE: `%` and `_` in a prefix are plain characters. Names in
            // byte order (COLLATE "C", as in SQLite), whatever the database's locale, so
            // that `after` continues where the previous page ended.
            let st = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE env = $1 AND starts_with(username, $2)
                       AND ($3::text IS NULL OR username COLLATE \"C\" > $3::text)
                     ORDER BY username COLLATE \"C\" LIMIT $4"
                ))
                .await?;
            c.query(&st, &[&env, &prefix, &after, &limit])
                .await?
                .iter()
                .map(user_from_row)
                .collect()
        })
        .await
    }

    async fn env_stats(
        &self,
        env: &str,
        used_after: i64,
        created_after: i64,
    ) -> Result<EnvStats, StoreError> {
        let (users, live): (i64, i64) = self
            .with(async |c| {
                let st = c
                    .prepare_cached(
                        "SELECT (SELECT count(*) FROM users WHERE env = $1),
                                (SELECT count(*) FROM sessions WHERE env = $1
                                    AND revoked_at IS NULL AND last_used_at > $2
                                    AND created_at > $3)",
                    )
                    .await?;
                let row = c
                    .query_one(&st, &[&env, &used_after, &created_after])
                    .await?;
                Ok::<_, tokio_postgres::Error>((row.try_get(0)?, row.try_get(1)?))
            })
            .await?;
        Ok(EnvStats {
            users: u64::try_from(users).unwrap_or(0),
            live_sessions: u64::try_from(live).unwrap_or(0),
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
        let end = disabled.then_some((now, "user disabled"));
        self.end_user_sessions("disabled = $3", env, username, Some(&disabled), end, event)
            .await
            .map(|_| ())
    }

    async fn change_password(
        &self,
        env: &str,
        username: &str,
        hash: &str,
        now: i64,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        let end = Some((now, "password changed"));
        self.end_user_sessions(
            "password_hash = $3, prev_password_hash = NULL, prev_password_until = NULL",
            env,
            username,
            Some(&hash),
            end,
            event,
        )
        .await
        .map(|_| ())
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
        self.with(async |c| {
            let tx = c.transaction().await?;
            let st = tx
                .prepare_cached(
                    "UPDATE users SET prev_password_hash = password_hash,
                            prev_password_until = $1, password_hash = $2
                         WHERE env = $3 AND username = $4 AND password_hash = $5",
                )
                .await?;
            let n = tx
                .execute(&st, &[&overlap_until, &hash, &env, &username, &expected])
                .await?;
            if n == 0 {
                return Ok::<_, tokio_postgres::Error>(false);
            }
            insert_events(&tx, event.as_slice()).await?;
            tx.commit().await?;
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

    async fn delete_user(
        &self,
        env: &str,
        username: &str,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        // Sessions go with the user (ON DELETE CASCADE), in the same statement.
        let deleted = self
            .with(async |c| {
                let tx = c.transaction().await?;
                let st = tx
                    .prepare_cached("DELETE FROM users WHERE env = $1 AND username = $2")
                    .await?;
                if tx.execute(&st, &[&env, &username]).await? == 0 {
                    // Nothing changed: the transaction rolls back, no event is written.
                    return Ok::<_, tokio_postgres::Error>(false);
                }
                insert_events(&tx, event.as_slice()).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(StoreError::NotFound)
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

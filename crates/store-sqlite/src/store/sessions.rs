//! `SessionStore` on SQLite: sessions, the compare-and-set of a rotation, the purge.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use wirecash_core::StoreError;
use wirecash_core::store::{
    EventRecord, GuardChange, NewSession, PurgeCutoffs, REVOKED_SESSIONS_KEPT, Rotation,
    RotationGuard, SessionRecord, SessionStore, SessionSummary,
};

use super::SqliteStore;
use super::events::insert_event;
use super::rows::*;
use super::users::end_sessions_of;

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
        // One statement: the hot path's write needs no savepoint of its own.
        self.write_one_statement(move |c| {
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

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        s: NewSession,
        max_live: u32,
        guards: Option<GuardChange>,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            // Only for a user who is still as the login saw it (the writer runs one
            // transaction at a time, so nothing can change between check and insert).
            let inserted = c
                .prepare_cached(
                    "INSERT INTO sessions (id, env, kind, user_id, created_at, last_used_at, generation,
                        current_hash, current_access_hash, rotated_at, access_token_sealed, access_expires_at,
                        client_addr)
                     SELECT ?1, ?2, ?3, id, ?5, ?5, 0, ?6, ?7, ?5, ?8, ?9, ?11 FROM users
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
                    s.user_epoch,
                    s.client_addr
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
            // The login's failed-login counters settle in the same commit.
            if let Some(g) = guards {
                super::login_guard::update_guards(c, &g.keys, g.update)?;
            }
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
        event: Option<EventRecord>,
    ) -> Result<bool, StoreError> {
        let (env, reason) = (env.to_string(), reason.to_string());
        self.write(move |c| {
            let revoked = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
                     WHERE id = ?3 AND env = ?4 AND revoked_at IS NULL",
                )?
                .execute(params![now, reason, id, env])?
                == 1;
            if revoked {
                insert_event(c, event.as_ref())?;
            }
            Ok(revoked)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        env: &str,
        username: &str,
        now: i64,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError> {
        let (env, username, reason) = (env.to_string(), username.to_string(), reason.to_string());
        self.write(move |c| {
            let n = end_sessions_of(c, &env, &username, now, &reason)?;
            insert_event(c, event.as_ref())?;
            Ok(n as u64)
        })
        .await
    }

    async fn revoke_env_sessions(
        &self,
        env: &str,
        now: i64,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError> {
        let (env, reason) = (env.to_string(), reason.to_string());
        self.write(move |c| {
            // Every user's epoch moves on, so that a login checked before makes no session.
            c.prepare_cached("UPDATE users SET session_epoch = session_epoch + 1 WHERE env = ?1")?
                .execute(params![env])?;
            let n = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
                     WHERE env = ?3 AND revoked_at IS NULL",
                )?
                .execute(params![now, reason, env])?;
            insert_event(c, event.as_ref())?;
            Ok(n as u64)
        })
        .await
    }

    async fn list_sessions(
        &self,
        env: &str,
        username: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT s.id, u.username, s.created_at, s.last_used_at, s.generation, s.revoked_at,
                    s.revoked_reason, s.kind, s.client_addr
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.env = ?1 AND (?2 IS NULL OR u.username = ?2) AND (?3 IS NULL OR s.id < ?3)
                 ORDER BY s.id DESC LIMIT ?4",
            )?
            .query_map(params![env, username, before, limit], |r| {
                Ok(SessionSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                    generation: r.get(4)?,
                    revoked_at: r.get(5)?,
                    revoked_reason: r.get(6)?,
                    kind: kind_from_row(r, 7)?,
                    client_addr: r.get(8)?,
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

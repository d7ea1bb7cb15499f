//! `SessionStore` on PostgreSQL: sessions, the one-statement rotation, the purge.

use async_trait::async_trait;
use wirecash_core::StoreError;
use wirecash_core::store::{
    EventRecord, GuardChange, NewSession, PurgeCutoffs, REVOKED_SESSIONS_KEPT, Rotation,
    RotationGuard, SessionRecord, SessionStore, SessionSummary,
};

use super::PostgresStore;
use super::events::insert_events;
use super::rows::*;

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

/// Revokes one session and writes the event (`$5`…`$11`, all NULL when there is none)
/// only if this statement revoked it: one statement, so a racing revoke of the same
/// session waits for this one, then finds it revoked and writes nothing. Returns how many
/// sessions were revoked (0 or 1).
const REVOKE_SESSION: &str = "
    WITH revoked AS (
        UPDATE sessions SET revoked_at = $1, revoked_reason = $2
        WHERE id = $3 AND env = $4 AND revoked_at IS NULL
        RETURNING 1),
    logged AS (
        INSERT INTO events (id, env, kind, at, actor, username, data)
        SELECT $5::text, $6::text, $7::text, $8::bigint, $9::text, $10::text, $11::text
        FROM revoked WHERE $5::text IS NOT NULL)
    SELECT count(*) FROM revoked";

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

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(
        &self,
        s: NewSession,
        max_live: u32,
        guards: Option<GuardChange>,
    ) -> Result<(), StoreError> {
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
                    return Ok::<_, Fail>(false);
                }
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO sessions (id, env, kind, user_id, created_at, last_used_at, generation,
                            current_hash, current_access_hash, rotated_at, access_token_sealed, access_expires_at,
                            client_addr)
                         VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $7, $5, $8, $9, $10)",
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
                        &s.client_addr,
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
                // The login's failed-login counters settle in the same commit.
                if let Some(g) = guards {
                    super::login_guard::update_guards(&tx, &g.keys, g.update).await?;
                }
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
        event: Option<EventRecord>,
    ) -> Result<bool, StoreError> {
        let e = event.as_ref();
        let revoked: i64 = self
            .with(async |c| {
                let st = c.prepare_cached(REVOKE_SESSION).await?;
                c.query_one(
                    &st,
                    &[
                        &now,
                        &reason,
                        &id,
                        &env,
                        &e.map(|e| e.id.as_str()),
                        &e.map(|e| e.env.as_str()),
                        &e.map(|e| e.kind.as_str()),
                        &e.map(|e| e.at),
                        &e.map(|e| e.actor.as_str()),
                        &e.and_then(|e| e.username.as_deref()),
                        &e.map(|e| e.data.as_str()),
                    ],
                )
                .await?
                .try_get(0)
            })
            .await?;
        Ok(revoked == 1)
    }

    async fn revoke_user_sessions(
        &self,
        env: &str,
        username: &str,
        now: i64,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError> {
        match self
            .end_user_sessions("", env, username, None, Some((now, reason)), event)
            .await
        {
            Err(StoreError::NotFound) => Ok(0),
            other => other,
        }
    }

    async fn revoke_env_sessions(
        &self,
        env: &str,
        now: i64,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            // As in `end_user_sessions`: the users are locked first, and the revoke is a
            // statement of its own, so its snapshot also holds the sessions that logins
            // inserted while this waited for their users' rows; a login that comes after
            // finds the epoch moved on and makes no session.
            let bump = tx
                .prepare_cached("UPDATE users SET session_epoch = session_epoch + 1 WHERE env = $1")
                .await?;
            tx.execute(&bump, &[&env]).await?;
            let revoke = tx
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE env = $3 AND revoked_at IS NULL",
                )
                .await?;
            let revoked = tx.execute(&revoke, &[&now, &reason, &env]).await?;
            insert_events(&tx, event.as_slice()).await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(revoked)
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
        let limit = i64::from(limit);
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT s.id, u.username, s.created_at, s.last_used_at, s.generation, s.revoked_at,
                        s.revoked_reason, s.kind, s.client_addr
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.env = $1 AND ($2::text IS NULL OR u.username = $2)
                       AND ($3::bigint IS NULL OR s.id < $3)
                     ORDER BY s.id DESC LIMIT $4",
                )
                .await?;
            c.query(&st, &[&env, &username, &before, &limit])
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
                        client_addr: r.try_get(8)?,
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

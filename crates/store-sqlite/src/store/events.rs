//! `EventStore` on SQLite, and the insert every change with an event makes in its own
//! transaction.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};
use wirecash_core::StoreError;
use wirecash_core::store::{EventKind, EventQuery, EventRecord, EventStore};

use super::SqliteStore;

/// Writes `event`, if any, in the caller's transaction.
pub(super) fn insert_event(c: &Connection, event: Option<&EventRecord>) -> rusqlite::Result<()> {
    let Some(e) = event else { return Ok(()) };
    c.prepare_cached(
        "INSERT INTO events (id, env, kind, at, actor, username, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        e.id,
        e.env,
        e.kind.as_str(),
        e.at,
        e.actor,
        e.username,
        e.data
    ])
    .map(|_| ())
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<EventRecord> {
    event_at(r, 0)
}

/// An event from the columns `id, env, kind, at, actor, username, data` starting at `at`.
pub(super) fn event_at(r: &Row<'_>, at: usize) -> rusqlite::Result<EventRecord> {
    let kind: String = r.get(at + 2)?;
    Ok(EventRecord {
        id: r.get(at)?,
        env: r.get(at + 1)?,
        kind: EventKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 2,
                rusqlite::types::Type::Text,
                format!("unknown event kind {kind:?}").into(),
            )
        })?,
        at: r.get(at + 3)?,
        actor: r.get(at + 4)?,
        username: r.get(at + 5)?,
        data: r.get(at + 6)?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, q: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let (before_at, before_id) = match &q.before {
            Some((at, id)) => (Some(*at), Some(id.as_str())),
            None => (None, None),
        };
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, env, kind, at, actor, username, data FROM events
                 WHERE env = ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR username = ?3)
                   AND (?4 IS NULL OR at >= ?4)
                   AND (?5 IS NULL OR at < ?5 OR (at = ?5 AND id < ?6))
                 ORDER BY at DESC, id DESC LIMIT ?7",
            )?
            .query_map(
                params![
                    q.env,
                    q.kind.map(EventKind::as_str),
                    q.username,
                    q.since,
                    before_at,
                    before_id,
                    q.limit
                ],
                event_from_row,
            )?
            .collect()
        })
    }

    async fn purge_events(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM events WHERE rowid IN
                    (SELECT rowid FROM events WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )?
            .execute(params![before, batch])
            .map(|n| n as u64)
        })
        .await
    }
}

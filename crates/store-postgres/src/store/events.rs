//! `EventStore` on PostgreSQL, and the insert every change with an event makes in its own
//! transaction.

use async_trait::async_trait;
use tokio_postgres::Row;
use wirecash_core::StoreError;
use wirecash_core::store::{EventKind, EventQuery, EventRecord, EventStore};

use super::PostgresStore;
use super::rows::Fail;

/// The columns of an event, in the order `event_from_row` reads them.
const EVENT_COLUMNS: &str = "id, env, kind, at, actor, username, data";

/// Writes `events` in the caller's transaction (nothing at all when there are none).
pub(super) async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[EventRecord],
) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let st = tx
        .prepare_cached(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .await?;
    for e in events {
        tx.execute(
            &st,
            &[
                &e.id,
                &e.env,
                &e.kind.as_str(),
                &e.at,
                &e.actor,
                &e.username,
                &e.data,
            ],
        )
        .await?;
    }
    Ok(())
}

/// An event row (`EVENT_COLUMNS`) into its record; an unknown kind is a damaged row.
fn event_from_row(r: &Row) -> Result<EventRecord, Fail> {
    event_at(r, 0)
}

/// An event from `EVENT_COLUMNS` starting at column `at`.
pub(super) fn event_at(r: &Row, at: usize) -> Result<EventRecord, Fail> {
    let kind: String = r.try_get(at + 2)?;
    Ok(EventRecord {
        id: r.try_get(at)?,
        env: r.try_get(at + 1)?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| Fail::Data(format!("column {}: unknown event kind {kind:?}", at + 2)))?,
        at: r.try_get(at + 3)?,
        actor: r.try_get(at + 4)?,
        username: r.try_get(at + 5)?,
        data: r.try_get(at + 6)?,
    })
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn list_events(&self, q: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let kind = q.kind.map(EventKind::as_str);
        let (before_at, before_id) = match &q.before {
            Some((at, id)) => (Some(*at), Some(id.as_str())),
            None => (None, None),
        };
        let limit = i64::from(q.limit);
        self.with(async |c| {
            // Ids in byte order (COLLATE "C", as in SQLite and the index), whatever the
            // database's locale: the cursor of a page is `(at, id)` of its last event.
            let st = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE env = $1 AND ($2::text IS NULL OR kind = $2)
                       AND ($3::text IS NULL OR username = $3)
                       AND ($4::bigint IS NULL OR at >= $4)
                       AND ($5::bigint IS NULL OR at < $5
                            OR (at = $5 AND id COLLATE \"C\" < $6::text))
                     ORDER BY at DESC, id COLLATE \"C\" DESC LIMIT $7"
                ))
                .await?;
            c.query(
                &st,
                &[
                    &q.env,
                    &kind,
                    &q.username,
                    &q.since,
                    &before_at,
                    &before_id,
                    &limit,
                ],
            )
            .await?
            .iter()
            .map(event_from_row)
            .collect()
        })
        .await
    }

    async fn purge_events(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = i64::from(batch);
        self.with(async |c| {
            // The batch's ids as an array: the oldest found by the time index, then each
            // deleted by its key (never a scan of the whole log).
            let st = c
                .prepare_cached(
                    "DELETE FROM events WHERE id = ANY(ARRAY(
                        SELECT id FROM events WHERE at < $1 ORDER BY at LIMIT $2))",
                )
                .await?;
            c.execute(&st, &[&before, &batch]).await
        })
        .await
    }
}

//! `WebhookStore` on SQLite: subscriptions, and deliveries made from the event log. The
//! writer runs one transaction at a time, so a dispatch or a claim is atomic as it is.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use wirecash_core::StoreError;
use wirecash_core::store::{
    DeliveryJob, DeliveryOutcome, DeliveryRecord, DeliveryStatus, EventRecord, WebhookRecord,
    WebhookSource, WebhookStore,
};

use super::SqliteStore;
use super::events::{event_at, insert_event};

/// Event types as stored: `,a,b,` (so that a type is found as `,type,`), `` for all.
fn types_column(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!(",{},", types.join(","))
    }
}

fn types_from_column(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn conversion(idx: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, what.into())
}

const WEBHOOK_COLUMNS: &str = "w.id, w.url, w.event_types, w.secret_sealed, w.prev_secret_sealed,
    w.prev_secret_until, w.paused, w.source, w.created_at";

/// A webhook from `WEBHOOK_COLUMNS` starting at `at`.
fn webhook_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<WebhookRecord> {
    let types: String = r.get(at + 2)?;
    let previous: Option<Vec<u8>> = r.get(at + 4)?;
    let until: Option<i64> = r.get(at + 5)?;
    let source: String = r.get(at + 7)?;
    Ok(WebhookRecord {
        id: r.get(at)?,
        url: r.get(at + 1)?,
        event_types: types_from_column(&types),
        secret_sealed: r.get(at + 3)?,
        previous_secret: previous.zip(until),
        paused: r.get(at + 6)?,
        source: WebhookSource::parse(&source)
            .ok_or_else(|| conversion(at + 7, format!("unknown webhook source {source:?}")))?,
        created_at: r.get(at + 8)?,
    })
}

fn insert_webhook(c: &Connection, w: &WebhookRecord) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO webhooks (id, url, event_types, secret_sealed, prev_secret_sealed,
            prev_secret_until, paused, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        w.id,
        w.url,
        types_column(&w.event_types),
        w.secret_sealed,
        w.previous_secret.as_ref().map(|p| &p.0),
        w.previous_secret.as_ref().map(|p| p.1),
        w.paused,
        w.source.as_str(),
        w.created_at
    ])
    .map(|_| ())
}

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let status: String = r.get(3)?;
    Ok(DeliveryRecord {
        webhook_id: r.get(0)?,
        event_id: r.get(1)?,
        event_kind: r.get(2)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| conversion(3, format!("unknown delivery status {status:?}")))?,
        attempts: r.get(4)?,
        created_at: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        delivered_at: r.get(9)?,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, w: WebhookRecord) -> Result<(), StoreError> {
        self.write(move |c| insert_webhook(c, &w)).await
    }

    async fn sync_config_webhooks(&self, webhooks: Vec<WebhookRecord>) -> Result<(), StoreError> {
        self.write(move |c| {
            let ids: Vec<String> = c
                .prepare_cached("SELECT id FROM webhooks WHERE source = 'config'")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids
                .iter()
                .filter(|id| !webhooks.iter().any(|w| &w.id == *id))
            {
                c.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                    .execute(params![id])?;
            }
            for w in &webhooks {
                let updated = c
                    .prepare_cached(
                        "UPDATE webhooks SET url = ?2, event_types = ?3, secret_sealed = ?4,
                            prev_secret_sealed = NULL, prev_secret_until = NULL
                         WHERE id = ?1 AND source = 'config'",
                    )?
                    .execute(params![
                        w.id,
                        w.url,
                        types_column(&w.event_types),
                        w.secret_sealed
                    ])?;
                if updated == 0 {
                    insert_webhook(c, w)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks w ORDER BY w.created_at, w.id"
            ))?
            .query_map([], |r| webhook_from_row(r, 0))?
            .collect()
        })
    }

    async fn set_webhook_paused(&self, id: &str, paused: bool) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            c.prepare_cached("UPDATE webhooks SET paused = ?2 WHERE id = ?1")?
                .execute(params![id, paused])
                .map(|n| n == 1)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret_sealed: Vec<u8>,
        previous_until: i64,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE webhooks SET prev_secret_sealed = secret_sealed, prev_secret_until = ?3,
                    secret_sealed = ?2 WHERE id = ?1",
            )?
            .execute(params![id, secret_sealed, previous_until])
            .map(|n| n == 1)
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            c.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                .execute(params![id])
                .map(|n| n == 1)
        })
        .await
    }

    async fn dispatch_events(&self, batch: u32, now: i64) -> Result<u64, StoreError> {
        // Nothing to dispatch (the usual answer of a poll): a read, no write transaction.
        let any = self.read(|c| {
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE dispatched = 0)")?
                .query_row([], |r| r.get::<_, bool>(0))
        })?;
        if !any {
            return Ok(0);
        }
        self.write(move |c| {
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT id FROM events WHERE dispatched = 0 ORDER BY at, id LIMIT ?1",
                )?
                .query_map(params![batch], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in &ids {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_deliveries
                        (webhook_id, event_id, status, attempts, created_at, next_attempt_at)
                     SELECT w.id, e.id, 'pending', 0, ?2, ?2 FROM events e, webhooks w
                     WHERE e.id = ?1 AND w.paused = 0
                       AND (w.event_types = '' OR instr(w.event_types, ',' || e.kind || ',') > 0)",
                )?
                .execute(params![id, now])?;
                c.prepare_cached("UPDATE events SET dispatched = 1 WHERE id = ?1")?
                    .execute(params![id])?;
            }
            Ok(ids.len() as u64)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        webhook_id: Option<&str>,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let only = webhook_id.map(str::to_string);
        // Nothing due (the usual answer of a poll): a read, no write transaction.
        let any = self.read(|c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= ?1
                   AND (lease_until IS NULL OR lease_until <= ?1)
                   AND (?2 IS NULL OR webhook_id = ?2))",
            )?
            .query_row(params![now, only], |r| r.get::<_, bool>(0))
        })?;
        if !any {
            return Ok(Vec::new());
        }
        self.write(move |c| {
            let keys: Vec<(String, String, u32, i64)> = c
                .prepare_cached(
                    "SELECT webhook_id, event_id, attempts, created_at FROM webhook_deliveries
                     WHERE status = 'pending' AND next_attempt_at <= ?1
                       AND (lease_until IS NULL OR lease_until <= ?1)
                       AND (?3 IS NULL OR webhook_id = ?3)
                     ORDER BY next_attempt_at LIMIT ?2",
                )?
                .query_map(params![now, limit, only], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut jobs = Vec::with_capacity(keys.len());
            for (webhook_id, event_id, attempts, created_at) in keys {
                c.prepare_cached(
                    "UPDATE webhook_deliveries SET lease_until = ?3
                     WHERE webhook_id = ?1 AND event_id = ?2",
                )?
                .execute(params![webhook_id, event_id, lease_until])?;
                let job = c
                    .prepare_cached(&format!(
                        "SELECT {WEBHOOK_COLUMNS}, e.id, e.env, e.kind, e.at, e.actor, e.username, e.data
                         FROM webhooks w, events e WHERE w.id = ?1 AND e.id = ?2"
                    ))?
                    .query_row(params![webhook_id, event_id], |r| {
                        Ok(DeliveryJob {
                            webhook: webhook_from_row(r, 0)?,
                            event: event_at(r, 9)?,
                            attempts,
                            created_at,
                            lease_until,
                        })
                    })
                    .optional()?;
                jobs.extend(job);
            }
            Ok(jobs)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        webhook_id: &str,
        event_id: &str,
        lease_until: i64,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StoreError> {
        let (webhook_id, event_id) = (webhook_id.to_string(), event_id.to_string());
        self.write(move |c| {
            let (status, next, last_status, error, delivered_at) = match &outcome {
                DeliveryOutcome::Delivered { at, status } => {
                    ("delivered", None, Some(*status), None, Some(*at))
                }
                DeliveryOutcome::Retry {
                    next_attempt_at,
                    status,
                    error,
                } => (
                    "pending",
                    Some(*next_attempt_at),
                    *status,
                    Some(error.as_str()),
                    None,
                ),
                DeliveryOutcome::Failed { status, error } => {
                    ("failed", None, *status, Some(error.as_str()), None)
                }
            };
            c.prepare_cached(
                "UPDATE webhook_deliveries SET status = ?3, attempts = attempts + 1,
                    next_attempt_at = coalesce(?4, next_attempt_at), lease_until = NULL,
                    last_status = ?5, last_error = ?6, delivered_at = ?7
                 WHERE webhook_id = ?1 AND event_id = ?2 AND lease_until = ?8",
            )?
            .execute(params![
                webhook_id,
                event_id,
                status,
                next,
                last_status,
                error,
                delivered_at,
                lease_until
            ])
            .map(|n| n == 1)
        })
        .await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (before_at, before_id) = match &before {
            Some((at, id)) => (Some(*at), Some(id.as_str())),
            None => (None, None),
        };
        self.read(|c| {
            c.prepare_cached(
                "SELECT d.webhook_id, d.event_id, e.kind, d.status, d.attempts, d.created_at,
                    d.next_attempt_at, d.last_status, d.last_error, d.delivered_at
                 FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.webhook_id = ?1
                   AND (?2 IS NULL OR d.created_at < ?2 OR (d.created_at = ?2 AND d.event_id < ?3))
                 ORDER BY d.created_at DESC, d.event_id DESC LIMIT ?4",
            )?
            .query_map(
                params![webhook_id, before_at, before_id, limit],
                delivery_from_row,
            )?
            .collect()
        })
    }

    async fn resend_delivery(
        &self,
        webhook_id: &str,
        event_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (webhook_id, event_id) = (webhook_id.to_string(), event_id.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, created_at = ?3,
                    next_attempt_at = ?3, lease_until = NULL, delivered_at = NULL
                 WHERE webhook_id = ?1 AND event_id = ?2",
            )?
            .execute(params![webhook_id, event_id, now])
            .map(|n| n == 1)
        })
        .await
    }

    async fn enqueue_test_event(
        &self,
        webhook_id: &str,
        event: EventRecord,
    ) -> Result<bool, StoreError> {
        let webhook_id = webhook_id.to_string();
        self.write(move |c| {
            let exists = c
                .prepare_cached("SELECT 1 FROM webhooks WHERE id = ?1")?
                .query_row(params![webhook_id], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Ok(false);
            }
            insert_event(c, Some(&event))?;
            c.prepare_cached("UPDATE events SET dispatched = 1 WHERE id = ?1")?
                .execute(params![event.id])?;
            c.prepare_cached(
                "INSERT INTO webhook_deliveries
                    (webhook_id, event_id, status, attempts, created_at, next_attempt_at)
                 VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
            )?
            .execute(params![webhook_id, event.id, event.at])?;
            Ok(true)
        })
        .await
    }

    async fn purge_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?1",
            )?
            .execute(params![before])
            .map(|n| n as u64)
        })
        .await
    }
}

//! `WebhookStore` on PostgreSQL: subscriptions, and deliveries made from the event log,
//! shared by several nodes — `FOR UPDATE SKIP LOCKED` hands each event and each due
//! delivery to one of them.

use async_trait::async_trait;
use tokio_postgres::Row;
use wirecash_core::StoreError;
use wirecash_core::store::{
    DeliveryJob, DeliveryOutcome, DeliveryRecord, DeliveryStatus, EventRecord, WebhookRecord,
    WebhookSource, WebhookStore,
};

use super::PostgresStore;
use super::events::{event_at, insert_events};
use super::rows::Fail;

/// Event types as stored: `,a,b,` (so that a type is found as `,type,`), `` for all.
fn types_column(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!(",{},", types.join(","))
    }
}

/// The columns `webhook_at` reads, of `webhooks w`.
const WEBHOOK_COLUMNS: &str = "w.id, w.url, w.event_types, w.secret_sealed, w.prev_secret_sealed,
    w.prev_secret_until, w.paused, w.source, w.created_at";

/// A webhook from `WEBHOOK_COLUMNS` starting at column `at`.
fn webhook_at(r: &Row, at: usize) -> Result<WebhookRecord, Fail> {
    let types: String = r.try_get(at + 2)?;
    let previous: Option<Vec<u8>> = r.try_get(at + 4)?;
    let until: Option<i64> = r.try_get(at + 5)?;
    let source: String = r.try_get(at + 7)?;
    Ok(WebhookRecord {
        id: r.try_get(at)?,
        url: r.try_get(at + 1)?,
        event_types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        secret_sealed: r.try_get(at + 3)?,
        previous_secret: previous.zip(until),
        paused: r.try_get(at + 6)?,
        source: WebhookSource::parse(&source)
            .ok_or_else(|| Fail::Data(format!("unknown webhook source {source:?}")))?,
        created_at: r.try_get(at + 8)?,
    })
}

/// A delivery as listed (its event's kind joined).
fn delivery_from_row(r: &Row) -> Result<DeliveryRecord, Fail> {
    let status: String = r.try_get(3)?;
    let attempts: i32 = r.try_get(4)?;
    let last_status: Option<i32> = r.try_get(7)?;
    Ok(DeliveryRecord {
        webhook_id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        event_kind: r.try_get(2)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| Fail::Data(format!("unknown delivery status {status:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        created_at: r.try_get(5)?,
        next_attempt_at: r.try_get(6)?,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: r.try_get(8)?,
        delivered_at: r.try_get(9)?,
    })
}

/// Adds one subscription.
const INSERT_WEBHOOK: &str = "INSERT INTO webhooks (id, url, event_types, secret_sealed,
    prev_secret_sealed, prev_secret_until, paused, source, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook(&self, w: WebhookRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c.prepare_cached(INSERT_WEBHOOK).await?;
            c.execute(
                &st,
                &[
                    &w.id,
                    &w.url,
                    &types_column(&w.event_types),
                    &w.secret_sealed,
                    &w.previous_secret.as_ref().map(|p| p.0.as_slice()),
                    &w.previous_secret.as_ref().map(|p| p.1),
                    &w.paused,
                    &w.source.as_str(),
                    &w.created_at,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn sync_config_webhooks(&self, webhooks: Vec<WebhookRecord>) -> Result<(), StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            let ids: Vec<&str> = webhooks.iter().map(|w| w.id.as_str()).collect();
            let st = tx
                .prepare_cached(
                    "DELETE FROM webhooks WHERE source = 'config' AND NOT (id = ANY($1))",
                )
                .await?;
            tx.execute(&st, &[&ids]).await?;
            // An upsert: two nodes starting together with a new entry must both start.
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO webhooks (id, url, event_types, secret_sealed, paused, source,
                        created_at) VALUES ($1, $2, $3, $4, false, 'config', $5)
                     ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url,
                        event_types = EXCLUDED.event_types, secret_sealed = EXCLUDED.secret_sealed,
                        prev_secret_sealed = NULL, prev_secret_until = NULL
                     WHERE webhooks.source = 'config'",
                )
                .await?;
            let insert = tx.prepare_cached(INSERT_WEBHOOK).await?;
            for w in &webhooks {
                let types = types_column(&w.event_types);
                let n = tx
                    .execute(
                        &upsert,
                        &[&w.id, &w.url, &types, &w.secret_sealed, &w.created_at],
                    )
                    .await?;
                if n == 0 {
                    // The id is an API subscription's: the plain insert's Conflict says so.
                    tx.execute(
                        &insert,
                        &[
                            &w.id,
                            &w.url,
                            &types,
                            &w.secret_sealed,
                            &None::<Vec<u8>>,
                            &None::<i64>,
                            &w.paused,
                            &w.source.as_str(),
                            &w.created_at,
                        ],
                    )
                    .await?;
                }
            }
            tx.commit().await
        })
        .await
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks w
                     ORDER BY w.created_at, w.id COLLATE \"C\""
                ))
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(|r| webhook_at(r, 0))
                .collect::<Result<Vec<_>, Fail>>()
        })
        .await
    }

    async fn set_webhook_paused(&self, id: &str, paused: bool) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("UPDATE webhooks SET paused = $2 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &paused]).await.map(|n| n == 1)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret_sealed: Vec<u8>,
        previous_until: i64,
    ) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE webhooks SET prev_secret_sealed = secret_sealed,
                        prev_secret_until = $3, secret_sealed = $2 WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &secret_sealed, &previous_until])
                .await
                .map(|n| n == 1)
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM webhooks WHERE id = $1")
                .await?;
            c.execute(&st, &[&id]).await.map(|n| n == 1)
        })
        .await
    }

    async fn dispatch_events(&self, batch: u32, now: i64) -> Result<u64, StoreError> {
        let batch = i64::from(batch);
        self.with(async |c| {
            let tx = c.transaction().await?;
            // Events another node is dispatching are skipped, not waited for.
            let st = tx
                .prepare_cached(
                    "SELECT id FROM events WHERE NOT dispatched ORDER BY at, id
                     LIMIT $1 FOR UPDATE SKIP LOCKED",
                )
                .await?;
            let ids: Vec<String> = tx
                .query(&st, &[&batch])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                tx.commit().await?;
                return Ok::<_, tokio_postgres::Error>(0);
            }
            let st = tx
                .prepare_cached(
                    "INSERT INTO webhook_deliveries
                        (webhook_id, event_id, status, attempts, created_at, next_attempt_at)
                     SELECT w.id, e.id, 'pending', 0, $2, $2 FROM events e, webhooks w
                     WHERE e.id = ANY($1) AND NOT w.paused
                       AND (w.event_types = '' OR strpos(w.event_types, ',' || e.kind || ',') > 0)
                     FOR KEY SHARE OF w
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&st, &[&ids, &now]).await?;
            let st = tx
                .prepare_cached("UPDATE events SET dispatched = true WHERE id = ANY($1)")
                .await?;
            tx.execute(&st, &[&ids]).await?;
            tx.commit().await?;
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
        let limit = i64::from(limit);
        self.with(async |c| {
            // One statement: the due ones, locked and skipped by other claimers, leased,
            // and returned with their subscription and event.
            let st = c
                .prepare_cached(&format!(
                    "WITH due AS (
                        SELECT webhook_id, event_id FROM webhook_deliveries
                        WHERE status = 'pending' AND next_attempt_at <= $1
                          AND (lease_until IS NULL OR lease_until <= $1)
                          AND ($4::text IS NULL OR webhook_id = $4)
                        ORDER BY next_attempt_at LIMIT $3
                        FOR UPDATE SKIP LOCKED
                     ), leased AS (
                        UPDATE webhook_deliveries d SET lease_until = $2 FROM due
                        WHERE d.webhook_id = due.webhook_id AND d.event_id = due.event_id
                        RETURNING d.webhook_id, d.event_id, d.attempts, d.created_at,
                            d.next_attempt_at
                     )
                     SELECT {WEBHOOK_COLUMNS}, e.id, e.env, e.kind, e.at, e.actor, e.username,
                        e.data, l.attempts, l.created_at
                     FROM leased l JOIN webhooks w ON w.id = l.webhook_id
                        JOIN events e ON e.id = l.event_id
                     ORDER BY l.next_attempt_at"
                ))
                .await?;
            c.query(&st, &[&now, &lease_until, &limit, &webhook_id])
                .await?
                .iter()
                .map(|r| {
                    let attempts: i32 = r.try_get(16)?;
                    Ok(DeliveryJob {
                        webhook: webhook_at(r, 0)?,
                        event: event_at(r, 9)?,
                        attempts: u32::try_from(attempts)
                            .map_err(|_| Fail::Data(format!("column 16: attempts {attempts}")))?,
                        created_at: r.try_get(17)?,
                        lease_until,
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()
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
        let last_status = last_status.map(i32::from);
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1,
                        next_attempt_at = coalesce($4, next_attempt_at), lease_until = NULL,
                        last_status = $5, last_error = $6, delivered_at = $7
                     WHERE webhook_id = $1 AND event_id = $2 AND lease_until = $8",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &webhook_id,
                    &event_id,
                    &status,
                    &next,
                    &last_status,
                    &error,
                    &delivered_at,
                    &lease_until,
                ],
            )
            .await
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
        let limit = i64::from(limit);
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT d.webhook_id, d.event_id, e.kind, d.status, d.attempts, d.created_at,
                        d.next_attempt_at, d.last_status, d.last_error, d.delivered_at
                     FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
                     WHERE d.webhook_id = $1
                       AND ($2::bigint IS NULL OR d.created_at < $2
                            OR (d.created_at = $2 AND d.event_id COLLATE \"C\" < $3::text))
                     ORDER BY d.created_at DESC, d.event_id COLLATE \"C\" DESC LIMIT $4",
                )
                .await?;
            c.query(&st, &[&webhook_id, &before_at, &before_id, &limit])
                .await?
                .iter()
                .map(delivery_from_row)
                .collect::<Result<Vec<_>, Fail>>()
        })
        .await
    }

    async fn resend_delivery(
        &self,
        webhook_id: &str,
        event_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
                        created_at = $3, next_attempt_at = $3, lease_until = NULL,
                        delivered_at = NULL
                     WHERE webhook_id = $1 AND event_id = $2",
                )
                .await?;
            c.execute(&st, &[&webhook_id, &event_id, &now])
                .await
                .map(|n| n == 1)
        })
        .await
    }

    async fn enqueue_test_event(
        &self,
        webhook_id: &str,
        event: EventRecord,
    ) -> Result<bool, StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            let st = tx
                .prepare_cached("SELECT 1 FROM webhooks WHERE id = $1 FOR KEY SHARE")
                .await?;
            if tx.query_opt(&st, &[&webhook_id]).await?.is_none() {
                return Ok::<_, tokio_postgres::Error>(false);
            }
            insert_events(&tx, std::slice::from_ref(&event)).await?;
            let st = tx
                .prepare_cached("UPDATE events SET dispatched = true WHERE id = $1")
                .await?;
            tx.execute(&st, &[&event.id]).await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO webhook_deliveries
                        (webhook_id, event_id, status, attempts, created_at, next_attempt_at)
                     VALUES ($1, $2, 'pending', 0, $3, $3)",
                )
                .await?;
            tx.execute(&st, &[&webhook_id, &event.id, &event.at])
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn purge_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1",
                )
                .await?;
            c.execute(&st, &[&before]).await
        })
        .await
    }
}

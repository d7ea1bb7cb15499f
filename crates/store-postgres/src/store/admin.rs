//! `AdminStore` on PostgreSQL: admin keys and the admin API's idempotency records.

use async_trait::async_trait;
use tokio_postgres::Row;
use wirecash_core::StoreError;
use wirecash_core::store::{AdminKeyRecord, AdminRole, AdminStore, IdempotencyRecord};

use super::PostgresStore;
use super::rows::*;

/// The columns of an admin key, in the order `admin_key_from_row` reads them.
const ADMIN_KEY_COLUMNS: &str = "id, name, role, key_hash, created_at, revoked_at";

/// An admin key row (`ADMIN_KEY_COLUMNS`) into its record; an unknown role is a damaged
/// row.
fn admin_key_from_row(r: &Row) -> Result<AdminKeyRecord, Fail> {
    let role: String = r.try_get(2)?;
    Ok(AdminKeyRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: AdminRole::parse(&role)
            .ok_or_else(|| Fail::Data(format!("column 2: unknown admin role {role:?}")))?,
        key_hash: hash32(r, 3)?,
        created_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
    })
}

/// An idempotency row (`owner, key, request_hash, created_at, status, body`) into its
/// record; the response is there once a status is.
fn idempotency_from_row(r: &Row) -> Result<IdempotencyRecord, Fail> {
    let status: Option<i32> = r.try_get(4)?;
    let body: Option<Vec<u8>> = r.try_get(5)?;
    let response = status
        .map(|s| {
            u16::try_from(s)
                .map(|s| (s, body.unwrap_or_default()))
                .map_err(|_| Fail::Data(format!("column 4: status {s} is not an HTTP status")))
        })
        .transpose()?;
    Ok(IdempotencyRecord {
        owner: r.try_get(0)?,
        key: r.try_get(1)?,
        request_hash: hash32(r, 2)?,
        created_at: r.try_get(3)?,
        response,
    })
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn create_admin_key(&self, k: AdminKeyRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO admin_keys ({ADMIN_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .await?;
            c.execute(
                &st,
                &[
                    &k.id,
                    &k.name,
                    &k.role.as_str(),
                    &&k.key_hash[..],
                    &k.created_at,
                    &k.revoked_at,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys WHERE id = $1"
                ))
                .await?;
            c.query_opt(&st, &[&id])
                .await?
                .as_ref()
                .map(admin_key_from_row)
                .transpose()
        })
        .await
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
        self.with(async |c| {
            // COLLATE "C": the same byte order as SQLite, whatever the database's locale.
            let st = c
                .prepare_cached(&format!(
                    "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys ORDER BY name COLLATE \"C\""
                ))
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(admin_key_from_row)
                .collect()
        })
        .await
    }

    async fn revoke_admin_key(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE admin_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                )
                .await?;
            c.execute(&st, &[&now, &name]).await.map(|n| n == 1)
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        r: IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.with(async |c| {
            let claim = c
                .prepare_cached(
                    "INSERT INTO idempotency_keys (owner, key, request_hash, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (owner, key) DO NOTHING",
                )
                .await?;
            let read = c
                .prepare_cached(
                    "SELECT owner, key, request_hash, created_at, status, body
                     FROM idempotency_keys WHERE owner = $1 AND key = $2",
                )
                .await?;
            // The read is a statement of its own, so it sees the row the insert ran into
            // even when that row was committed after the insert began. Should the row be
            // released in between, claim again, a few times at most (each turn needs
            // another request to claim and release the same key meanwhile).
            for _ in 0..4 {
                if c.execute(
                    &claim,
                    &[&r.owner, &r.key, &&r.request_hash[..], &r.created_at],
                )
                .await?
                    == 1
                {
                    return Ok::<_, Fail>(None);
                }
                if let Some(row) = c.query_opt(&read, &[&r.owner, &r.key]).await? {
                    return idempotency_from_row(&row).map(Some);
                }
            }
            Err(Fail::Data(
                "the idempotency key kept being claimed and released by other requests".into(),
            ))
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        owner: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError> {
        let status = i32::from(status);
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE idempotency_keys SET status = $1, body = $2 WHERE owner = $3 AND key = $4",
                )
                .await?;
            c.execute(&st, &[&status, &body, &owner, &key])
                .await
                .map(|_| ())
        })
        .await
    }

    async fn release_idempotency_key(&self, owner: &str, key: &str) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2")
                .await?;
            c.execute(&st, &[&owner, &key]).await.map(|_| ())
        })
        .await
    }

    async fn purge_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < $1")
                .await?;
            c.execute(&st, &[&before]).await
        })
        .await
    }
}

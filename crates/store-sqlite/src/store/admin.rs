//! `AdminStore` on SQLite: admin keys and the admin API's idempotency records.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use wirecash_core::StoreError;
use wirecash_core::store::{AdminKeyRecord, AdminRole, AdminStore, IdempotencyRecord};

use super::SqliteStore;
use super::rows::hash32;

fn admin_key_from_row(r: &Row<'_>) -> rusqlite::Result<AdminKeyRecord> {
    let role: String = r.get(2)?;
    Ok(AdminKeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: AdminRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown admin role {role:?}").into(),
            )
        })?,
        key_hash: hash32(r, 3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

const ADMIN_KEY_COLUMNS: &str = "id, name, role, key_hash, created_at, revoked_at";

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_admin_key(&self, k: AdminKeyRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO admin_keys (id, name, role, key_hash, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                k.id,
                k.name,
                k.role.as_str(),
                &k.key_hash[..],
                k.created_at,
                k.revoked_at
            ])
            .map(|_| ())
        })
        .await
    }

    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys WHERE id = ?1"
            ))?
            .query_row(params![id], admin_key_from_row)
            .optional()
        })
    }

    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys ORDER BY name"
            ))?
            .query_map([], admin_key_from_row)?
            .collect()
        })
    }

    async fn revoke_admin_key(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE admin_keys SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
            )?
            .execute(params![now, name])
            .map(|n| n == 1)
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        r: IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO idempotency_keys (owner, key, request_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner, key) DO NOTHING",
                )?
                .execute(params![r.owner, r.key, &r.request_hash[..], r.created_at])?;
            if inserted == 1 {
                return Ok(None);
            }
            c.prepare_cached(
                "SELECT owner, key, request_hash, created_at, status, body
                 FROM idempotency_keys WHERE owner = ?1 AND key = ?2",
            )?
            .query_row(params![r.owner, r.key], |row| {
                let status: Option<u16> = row.get(4)?;
                let body: Option<Vec<u8>> = row.get(5)?;
                Ok(IdempotencyRecord {
                    owner: row.get(0)?,
                    key: row.get(1)?,
                    request_hash: hash32(row, 2)?,
                    created_at: row.get(3)?,
                    response: status.zip(body),
                })
            })
            .map(Some)
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
        let (owner, key) = (owner.to_string(), key.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE idempotency_keys SET status = ?1, body = ?2 WHERE owner = ?3 AND key = ?4",
            )?
            .execute(params![status, body, owner, key])
            .map(|_| ())
        })
        .await
    }

    async fn release_idempotency_key(&self, owner: &str, key: &str) -> Result<(), StoreError> {
        let (owner, key) = (owner.to_string(), key.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM idempotency_keys WHERE owner = ?1 AND key = ?2")?
                .execute(params![owner, key])
                .map(|_| ())
        })
        .await
    }

    async fn purge_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
                .execute(params![before])
                .map(|n| n as u64)
        })
        .await
    }
}

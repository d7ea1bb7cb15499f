//! `KeyStore` on SQLite.

use async_trait::async_trait;
use rusqlite::params;
use wirecash_core::StoreError;
use wirecash_core::store::{EventRecord, KeyRecord, KeyStore};

use super::SqliteStore;
use super::rows::*;

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self, env: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                 WHERE env = ?1 ORDER BY activates_at, kid",
            )?
            .query_map(params![env], key_from_row)?
            .collect()
        })
    }

    async fn insert_key(&self, k: KeyRecord, event: Option<EventRecord>) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO signing_keys (env, kid, alg, private_key_sealed, created_at, activates_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![k.env, k.kid, k.alg, k.private_key_sealed, k.created_at, k.activates_at])?;
            super::events::insert_event(c, event.as_ref())
        })
        .await
    }

    async fn delete_key(&self, env: &str, kid: &str) -> Result<(), StoreError> {
        let (env, kid) = (env.to_string(), kid.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM signing_keys WHERE env = ?1 AND kid = ?2")?
                .execute(params![env, kid])
                .map(|_| ())
        })
        .await
    }
}

//! `KeyStore` on PostgreSQL.

use async_trait::async_trait;
use wirecash_core::StoreError;
use wirecash_core::store::{EventRecord, KeyRecord, KeyStore};

use super::PostgresStore;
use super::events::insert_events;
use super::rows::*;

#[async_trait]
impl KeyStore for PostgresStore {
    async fn list_keys(&self, env: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                     WHERE env = $1 ORDER BY activates_at, kid",
                )
                .await?;
            c.query(&st, &[&env]).await?.iter().map(key_from_row).collect()
        })
        .await
    }

    async fn insert_key(&self, k: KeyRecord, event: Option<EventRecord>) -> Result<(), StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO signing_keys (env, kid, alg, private_key_sealed, created_at, activates_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            tx.execute(
                &st,
                &[&k.env, &k.kid, &k.alg, &k.private_key_sealed, &k.created_at, &k.activates_at],
            )
            .await?;
            insert_events(&tx, event.as_slice()).await?;
            tx.commit().await
        })
        .await
    }

    async fn delete_key(&self, env: &str, kid: &str) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM signing_keys WHERE env = $1 AND kid = $2")
                .await?;
            c.execute(&st, &[&env, &kid]).await.map(|_| ())
        })
        .await
    }
}

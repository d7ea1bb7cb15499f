//! `IntrospectorStore` on PostgreSQL.

use async_trait::async_trait;
use wirecash_core::StoreError;
use wirecash_core::store::{IntrospectorRecord, IntrospectorStore};

use super::PostgresStore;
use super::rows::*;

#[async_trait]
impl IntrospectorStore for PostgresStore {
    async fn add_introspector(&self, r: IntrospectorRecord) -> Result<(), StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO introspectors (env, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
                )
                .await?;
            c.execute(&st, &[&r.env, &r.name, &r.secret_hash.as_slice(), &r.created_at])
                .await
                .map(|_| ())
        })
        .await
    }

    async fn find_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Option<IntrospectorRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = $1 AND name = $2",
                )
                .await?;
            c.query_opt(&st, &[&env, &name])
                .await?
                .as_ref()
                .map(introspector_from_row)
                .transpose()
        })
        .await
    }

    async fn list_introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = $1 ORDER BY name",
                )
                .await?;
            c.query(&st, &[&env]).await?.iter().map(introspector_from_row).collect()
        })
        .await
    }

    async fn remove_introspector(&self, env: &str, name: &str) -> Result<bool, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM introspectors WHERE env = $1 AND name = $2")
                .await?;
            c.execute(&st, &[&env, &name]).await.map(|n| n > 0)
        })
        .await
    }
}

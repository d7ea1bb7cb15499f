//! `IntrospectorStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use wirecash_core::StoreError;
use wirecash_core::store::{IntrospectorRecord, IntrospectorStore};

use super::SqliteStore;
use super::rows::*;

#[async_trait]
impl IntrospectorStore for SqliteStore {
    async fn add_introspector(&self, r: IntrospectorRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO introspectors (env, name, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![r.env, r.name, r.secret_hash.as_slice(), r.created_at])
            .map(|_| ())
        })
        .await
    }

    async fn find_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Option<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = ?1 AND name = ?2",
            )?
            .query_row(params![env, name], introspector_from_row)
            .optional()
        })
    }

    async fn list_introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors WHERE env = ?1 ORDER BY name",
            )?
            .query_map(params![env], introspector_from_row)?
            .collect()
        })
    }

    async fn remove_introspector(&self, env: &str, name: &str) -> Result<bool, StoreError> {
        let (env, name) = (env.to_string(), name.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM introspectors WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])
                .map(|n| n > 0)
        })
        .await
    }
}

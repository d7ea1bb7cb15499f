//! `TransferStore` on SQLite: whole rows, for `migrate-store`.

use async_trait::async_trait;
use rusqlite::params;
use wirecash_core::StoreError;
use wirecash_core::store::{
    IntrospectorRecord, KeyRecord, SessionRecord, TransferStore, UserRecord,
};

use super::SqliteStore;
use super::rows::*;

#[async_trait]
impl TransferStore for SqliteStore {
    async fn users_after(&self, after_id: &str, batch: u32) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after_id, batch], user_from_row)?
            .collect()
        })
    }

    async fn sessions_after(
        &self,
        after_id: i64,
        batch: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id > ?1 ORDER BY s.id LIMIT ?2"
            ))?
            .query_map(params![after_id, batch], session_from_row)?
            .collect()
        })
    }

    async fn import_session(&self, s: SessionRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO sessions (id, env, user_id, created_at, last_used_at, generation,
                    current_hash, current_access_hash, prev_hash, prev_access_hash, rotated_at,
                    access_token_sealed, access_expires_at, revoked_at, revoked_reason, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                s.id,
                s.env,
                s.user_id,
                s.created_at,
                s.last_used_at,
                s.generation,
                &s.current_hash[..],
                &s.current_access_hash[..],
                s.prev_hash.as_ref().map(|h| &h[..]),
                s.prev_access_hash.as_ref().map(|h| &h[..]),
                s.rotated_at,
                s.access_token_sealed,
                s.access_expires_at,
                s.revoked_at,
                s.revoked_reason,
                s.kind.as_str()
            ])
            .map(|_| ())
        })
        .await
    }

    async fn all_introspectors(&self) -> Result<Vec<IntrospectorRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, name, secret_hash, created_at FROM introspectors ORDER BY env, name",
            )?
            .query_map([], introspector_from_row)?
            .collect()
        })
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT env, kid, alg, private_key_sealed, created_at, activates_at FROM signing_keys
                 ORDER BY env, activates_at, kid",
            )?
            .query_map([], key_from_row)?
            .collect()
        })
    }
}

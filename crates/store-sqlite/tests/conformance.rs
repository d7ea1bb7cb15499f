//! The shared store conformance suite run against SQLite, each test on a fresh database
//! in its own temporary directory, plus what only a file-backed store has: durability.

use std::sync::Arc;

use anyhow::{Context, ensure};
use tempfile::TempDir;
use wirecash_core::Store;
use wirecash_core::store::{
    KeyRecord, KeyStore, NewSession, Rotation, SessionStore, UserRecord, UserStore,
};
use wirecash_store_sqlite::SqliteStore;

async fn fresh_store() -> anyhow::Result<(Arc<dyn Store>, TempDir)> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("auth.db"))?;
    Ok((Arc::new(store), dir))
}

wirecash_store_conformance::conformance_tests!(fresh_store);

/// Everything acknowledged is on disk: after the store is dropped (which ends the writer
/// thread and closes its connection) a new store on the same file reads it all back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_reopening_the_database() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("auth.db");
    let user = UserRecord {
        id: "u1".into(),
        env: "a".into(),
        username: "alice".into(),
        password_hash: "hash".into(),
        disabled: false,
        created_at: 1,
        session_epoch: 0,
        previous_password: None,
    };
    let key = KeyRecord {
        env: "a".into(),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        private_key_sealed: vec![1, 2, 3],
        created_at: 5,
        activates_at: 10,
    };
    let (users, sessions, keys) = {
        let store = SqliteStore::open(&path)?;
        store.create_user(user.clone(), None).await?;
        store.insert_key(key.clone(), None).await?;
        for id in 1..=3 {
            let session = NewSession {
                id,
                env: "a".into(),
                kind: wirecash_core::store::SessionKind::Refresh,
                user_id: "u1".into(),
                user_epoch: 0,
                created_at: 100 * id,
                current_hash: [1; 32],
                current_access_hash: [2; 32],
                access_token_sealed: vec![3; 8],
                access_expires_at: 100 * id + 300,
                client_addr: None,
            };
            store.create_session(session, 10, None).await?;
        }
        let rotated = store
            .rotate(Rotation {
                session_id: 2,
                env: "a".into(),
                expected_generation: 0,
                expected_hash: [1; 32],
                generation: 1,
                current_hash: [4; 32],
                current_access_hash: [5; 32],
                prev_hash: [1; 32],
                prev_access_hash: [2; 32],
                rotated_at: 500,
                access_token_sealed: vec![6; 8],
                access_expires_at: 800,
            })
            .await?;
        ensure!(rotated, "rotation lost");
        ensure!(
            store.revoke_session("a", 3, 600, "admin", None).await?,
            "revoke lost"
        );
        let mut sessions = Vec::new();
        for id in 1..=3 {
            sessions.push(
                store
                    .load_session("a", id)
                    .await?
                    .context("session missing")?,
            );
        }
        (
            store.list_users("a").await?,
            sessions,
            store.list_keys("a").await?,
        )
    };

    let store = SqliteStore::open(&path)?;
    ensure!(
        store.list_users("a").await? == users,
        "users differ after reopening"
    );
    ensure!(users == vec![user], "users before reopening: {users:?}");
    ensure!(
        store.list_keys("a").await? == keys,
        "keys differ after reopening"
    );
    ensure!(keys == vec![key], "keys before reopening: {keys:?}");
    for s in sessions {
        let reread = store.load_session("a", s.id).await?;
        ensure!(
            reread.as_ref() == Some(&s),
            "session {} after reopening: {reread:?}, want {s:?}",
            s.id
        );
    }
    // And the reopened store writes again.
    ensure!(
        store.revoke_session("a", 1, 700, "admin", None).await?,
        "write after reopening lost"
    );
    Ok(())
}

//! The shared store conformance suite run against PostgreSQL, each test on a database of
//! its own (dropped afterwards), plus what only a shared database has: concurrent
//! migration by nodes starting together, and answers while the database is away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use wirecash_core::store::{KeyStore, UserRecord, UserStore};
use wirecash_core::{Store, StoreError};
use wirecash_store_postgres::testing::TempDatabase;
use wirecash_store_postgres::{PgOptions, PostgresStore};

async fn fresh_store() -> anyhow::Result<(Arc<dyn Store>, TempDatabase)> {
    let db = TempDatabase::create().await?;
    let store = PostgresStore::connect(db.url(), PgOptions::default()).await?;
    Ok((Arc::new(store), db))
}

wirecash_store_conformance::conformance_tests!(fresh_store);

/// Eight nodes starting at once on an empty database: all come up, the schema is applied
/// exactly once, and each sees the others' writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() -> anyhow::Result<()> {
    let db = TempDatabase::create().await?;
    let mut starts = Vec::new();
    for _ in 0..8 {
        let url = db.url().to_string();
        starts.push(tokio::spawn(async move {
            PostgresStore::connect(&url, PgOptions::default()).await
        }));
    }
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await?.context("a node failed to start")?);
    }
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let versions: Vec<i64> = client
        .query("SELECT version FROM wirecash_schema ORDER BY version", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ensure!(
        versions == vec![1, 2, 3, 4, 5, 6, 7],
        "schema versions recorded: {versions:?}"
    );
    let user = UserRecord {
        id: "u1".into(),
        env: "a".into(),
        username: "alice".into(),
        password_hash: "h".into(),
        disabled: false,
        created_at: 1,
        session_epoch: 0,
        previous_password: None,
    };
    stores[0].create_user(user.clone(), None).await?;
    for s in &stores[1..] {
        ensure!(s.find_user("a", "alice").await? == Some(user.clone()));
    }
    Ok(())
}

/// A database that cannot be reached gives `Unavailable` within the pool/connect
/// deadline, never a hang and never another kind of error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_is_unavailable_quickly() -> anyhow::Result<()> {
    // A port nothing listens on (bound and closed again).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let options = PgOptions {
        pool_size: 2,
        pool_timeout: Duration::from_millis(500),
        query_timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    let err = PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/x"), options)
        .await
        .err()
        .context("connect succeeded")?;
    ensure!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Keys written by one node are read by another (they share the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shared_between_nodes() -> anyhow::Result<()> {
    let db = TempDatabase::create().await?;
    let a = PostgresStore::connect(db.url(), PgOptions::default()).await?;
    let b = PostgresStore::connect(db.url(), PgOptions::default()).await?;
    let key = wirecash_core::store::KeyRecord {
        env: "a".into(),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        private_key_sealed: vec![1, 2, 3],
        created_at: 5,
        activates_at: 10,
    };
    a.insert_key(key.clone(), None).await?;
    ensure!(b.list_keys("a").await? == vec![key]);
    Ok(())
}

//! Scratch databases for tests: each test gets a database of its own on the server named
//! by `WIRECASH_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`), dropped
//! when the guard goes away. Leftovers of killed runs older than an hour are swept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

/// The environment variable naming the test server (a URL without a database name).
pub const SERVER_VAR: &str = "WIRECASH_TEST_POSTGRES";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const PREFIX: &str = "wirecash_t_";

/// The test server's base URL.
pub fn server() -> String {
    std::env::var(SERVER_VAR)
        .unwrap_or_else(|_| DEFAULT_SERVER.into())
        .trim_end_matches('/')
        .to_string()
}

/// A database that exists until this guard is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    name: String,
    url: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn admin() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(&format!("{}/postgres", server()), NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

impl TempDatabase {
    /// Creates an empty database with a fresh name.
    pub async fn create() -> Result<Self, tokio_postgres::Error> {
        let client = admin().await?;
        let now = now_secs();
        // Sweep databases of earlier runs that were killed before they could clean up.
        for row in client
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'wirecash\\_t\\_%'",
                &[],
            )
            .await?
        {
            let name: String = row.try_get(0)?;
            let born = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|s| s.parse::<u64>().ok());
            if born.is_some_and(|b| b + 3600 < now) {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
        }
        let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        let url = format!("{}/{name}", server());
        Ok(Self { name, url })
    }

    /// The URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside or outside a runtime: do the work on a thread of its own.
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let drop_it = async {
                    let client = admin().await?;
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), drop_it).await;
            });
        });
        let _ = worker.join();
    }
}

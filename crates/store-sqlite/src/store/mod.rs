//! `SqliteStore`: the store traits on SQLite, one module per trait, each owning its
//! SQL; here the store itself, its connections and the error mapping.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::Connection;
use wirecash_core::StoreError;
use wirecash_core::store::Store;

use crate::readers::Readers;
use crate::schema;
use crate::writer::Writer;

mod admin;
mod events;
mod introspectors;
mod keys;
mod login_guard;
mod rows;
mod sessions;
mod transfer;
mod users;
mod webhooks;

/// SQLite backend.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => StoreError::Conflict(e.to_string()),
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens the database at `path`, migrates it and starts the writer. A missing file is
    /// created, readable by its owner only (`crate::file`); its directory must exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::file::create_private(path)?;
        let mut conn = Connection::open(path).map_err(map_err)?;
        schema::configure(&conn, false).map_err(map_err)?;
        schema::migrate(&mut conn).map_err(map_err)?;
        let writer = Writer::start(conn)
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            readers: Readers::new(path),
        })
    }

    /// Runs a read on a pooled read-only connection (see `Readers`).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        self.readers.read(f)
    }

    /// Runs a write in the writer's next transaction; answered once it is durable.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write(move |c| f(c).map_err(map_err)).await
    }

    /// [`SqliteStore::write`] for one change statement, run without a savepoint of its
    /// own (see `Writer::write_one_statement`).
    async fn write_one_statement<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer
            .write_one_statement(move |c| f(c).map_err(map_err))
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        self.read(|c| {
            c.query_row("SELECT count(*) FROM signing_keys", [], |r| {
                r.get::<_, i64>(0)
            })
        })?;
        Ok(())
    }
}

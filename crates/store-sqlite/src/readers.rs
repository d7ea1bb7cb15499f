//! The read connections: a small pool of read-only connections beside the writer. WAL
//! lets them read while the writer commits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;
use wirecash_core::StoreError;

use crate::schema;
use crate::store::map_err;

/// Most idle read connections kept.
const MAX_IDLE_READERS: usize = 16;

/// A pool of read-only connections to one database file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// A pool for the database at `path`; connections are opened as they are needed.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = match self.idle.lock() {
            Ok(mut v) => v.pop(),
            Err(p) => p.into_inner().pop(),
        };
        match pooled {
            Some(c) => Ok(c),
            None => {
                let c = Connection::open(&self.path).map_err(map_err)?;
                schema::configure(&c, true).map_err(map_err)?;
                Ok(c)
            }
        }
    }

    /// Runs a read on a pooled connection. Reads are single primary-key lookups served
    /// from the page cache in microseconds, so they run inline: handing them to a
    /// blocking thread would cost more than the query.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.take()?;
        let result = f(&conn).map_err(map_err);
        let mut pool = match self.idle.lock() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        };
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        result
    }
}

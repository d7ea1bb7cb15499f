//! Opening the database for a command: who may make an installation, and the one
//! process that serves an SQLite file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use wirecash_core::Store;
use wirecash_store_postgres::{PgOptions, PostgresStore};
use wirecash_store_sqlite::SqliteStore;

use crate::config::Config;
pub use crate::config::Database;

/// What a command may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `serve`, `init`, the destination of `migrate-store`: a missing SQLite file is
    /// created (in an existing directory) and an empty database is fine.
    Create,
    /// Every other command: the database must hold an installation.
    Existing,
}

/// An open database.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Whether it holds no installation yet (no signing keys): the caller makes one.
    pub is_new: bool,
    /// The URL with any password redacted, for messages.
    pub name: String,
    /// The SQLite file, if it is one.
    pub sqlite_path: Option<PathBuf>,
    /// Held while this process owns the SQLite file.
    lock: Option<Lock>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("is_new", &self.is_new)
            .field("locked", &self.lock.is_some())
            .finish_non_exhaustive()
    }
}

/// The advice every "no installation here" message ends with.
const RUN_INIT: &str = "run `wirecash-auth init` to make a new installation there (or start \
                        `wirecash-auth serve`, which does the same on its first start), or \
                        check the path (--database, WIRECASH_AUTH_DATABASE or `database` in the \
                        configuration file; the default is wirecash-auth.db in the current \
                        directory)";

/// Opening the database for a command. Only `serve` and `init` make a new installation
/// (database, schema, master key, signing keys), and only in a directory that exists;
/// every other command needs one that exists, so a typo in a path is an error, not a
/// new empty installation. One process serves an SQLite file: `serve` and
/// `migrate-store` hold a lock file beside it (`PATH.lock`, with the holder's pid), and
/// a second one is refused with the pid of the first.
///
/// Opens `db`, running migrations. With `lock`, an SQLite file is locked for this
/// process first (refused if another process holds it).
pub async fn open(
    db: &Database,
    config: &Config,
    access: Access,
    lock: bool,
) -> anyhow::Result<Opened> {
    let name = db.redacted();
    let fail = |e| anyhow!("cannot open database {name}: {e}");
    let (store, sqlite_path, lock): (Arc<dyn Store>, _, _) = match db {
        Database::Sqlite(path) => {
            let path = path.clone();
            let dir = directory(&path);
            if !dir.is_dir() {
                bail!(
                    "the directory {} of database {} does not exist: check the path \
                     (--database, WIRECASH_AUTH_DATABASE or `database` in the configuration \
                     file), or create the directory first",
                    dir.display(),
                    path.display()
                );
            }
            let lock = if lock {
                Some(Lock::acquire(&path)?)
            } else {
                None
            };
            if access == Access::Existing && !path.exists() {
                bail!("there is no database at {}: {RUN_INIT}", path.display());
            }
            let opened = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&opened))
                .await
                .map_err(|e| anyhow!("opening the database failed: {e}"))?
                .map_err(fail)?;
            (Arc::new(store), Some(path), lock)
        }
        Database::Postgres(url) => {
            let pg = &config.postgres;
            let options = PgOptions {
                pool_size: usize::try_from(pg.pool_size).unwrap_or(16),
                pool_timeout: pg.pool_timeout,
                query_timeout: pg.query_timeout,
            };
            let store = PostgresStore::connect(url, options).await.map_err(fail)?;
            (Arc::new(store), None, None)
        }
    };
    let is_new = store
        .all_keys()
        .await
        .map_err(|e| anyhow!("cannot read database {name}: {e}"))?
        .is_empty();
    if is_new && access == Access::Existing {
        bail!("database {name} holds no wirecash-auth installation (no signing keys): {RUN_INIT}");
    }
    Ok(Opened {
        store,
        is_new,
        name,
        sqlite_path,
        lock,
    })
}

impl Opened {
    /// Whether this process holds the SQLite file's lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// The SQLite files (database, WAL, shared memory, lock) that others may read,
    /// with their modes: each holds or reveals password hashes.
    pub fn readable_by_others(&self) -> Vec<(PathBuf, u32)> {
        let Some(path) = &self.sqlite_path else {
            return Vec::new();
        };
        ["", "-wal", "-shm", ".lock"]
            .iter()
            .map(|suffix| suffixed(path, suffix))
            .filter_map(|p| {
                let mode = std::fs::metadata(&p).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then_some((p, mode))
            })
            .collect()
    }
}

/// The directory a database file is in (`.` for a bare file name).
fn directory(path: &Path) -> PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `path` with `suffix` appended to its file name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock of an SQLite database: an exclusive `flock` on `PATH.lock`, released by the
/// kernel when the process ends however it ends (so a stale file after `kill -9` locks
/// nothing). A separate file, because closing any descriptor of the database file itself
/// would drop SQLite's own POSIX locks in this process.
#[derive(Debug)]
struct Lock {
    _file: File,
}

impl Lock {
    fn acquire(database: &Path) -> anyhow::Result<Lock> {
        let path = suffixed(database, ".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                bail!(
                    "database {} is in use: {} holds its lock ({}); one process serves an \
                     SQLite database — stop that one first (several nodes need PostgreSQL; \
                     the admin commands work while it runs)",
                    database.display(),
                    holder(&path),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Lock { _file: file })
    }
}

/// Who holds a lock, from the pid in its file: `pid 1234 (wirecash-auth serve)`.
fn holder(lock: &Path) -> String {
    // The holder writes its pid right after locking; give it a moment if we came
    // between the two.
    for _ in 0..20 {
        let text = std::fs::read_to_string(lock).unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<u32>() {
            // Its program name and, if it is one of ours, the command that locks.
            let command = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| {
                    let args: Vec<String> = raw
                        .split(|b| *b == 0)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    let program = args
                        .first()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or_default()
                        .to_string();
                    match args
                        .iter()
                        .find(|a| ["serve", "init", "migrate-store"].contains(&a.as_str()))
                    {
                        Some(c) => format!("{program} {c}"),
                        None => program,
                    }
                })
                .unwrap_or_default();
            return if command.is_empty() {
                format!("process {pid}")
            } else {
                format!("process {pid} ({command})")
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "another process".into()
}

//! Where a [`Session`](crate::Session) keeps its tokens between processes: the small
//! `TokenStore` trait, an in-memory store, and a file store that writes atomically
//! (temporary file, fsync, rename) with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::client::Tokens;
use crate::error::Error;

/// What is persisted: the tokens and the environment they belong to, so that a file
/// written for one token service or user is never used for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Format version (1).
    pub version: u32,
    /// The environment's base URL ([`Client::base_url`](crate::Client::base_url)).
    pub base_url: String,
    /// The tokens (they name the username).
    pub tokens: Tokens,
}

/// Persistent storage for one session's tokens.
///
/// Called from a blocking thread (`spawn_blocking`) after every successful
/// authenticate or refresh, so implementations may do blocking I/O.
pub trait TokenStore: Send + Sync + 'static {
    /// The stored session, or `None` when there is none.
    fn load(&self) -> Result<Option<StoredSession>, Error>;
    /// Replaces the stored session.
    fn save(&self, session: &StoredSession) -> Result<(), Error>;
    /// Forgets the stored session (it has ended).
    fn clear(&self) -> Result<(), Error>;
}

/// A store in memory: for tests, and to share tokens between sessions of one process.
#[derive(Debug, Default)]
pub struct MemoryTokenStore(Mutex<Option<StoredSession>>);

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Result<Option<StoredSession>, Error> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    fn save(&self, session: &StoredSession) -> Result<(), Error> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.clone());
        Ok(())
    }
    fn clear(&self) -> Result<(), Error> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

/// A JSON file readable only by its owner (0600), replaced atomically: a crash while
/// saving leaves the previous file or the new one, never a torn one. A missing parent
/// directory is created with mode 0700. A file that others can read is refused, like
/// ssh refuses such a key: it holds a refresh token.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    /// A store at `path` (the file need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Storage(format!("{what} {}: {e}", self.path.display()))
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<StoredSession>, Error> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("cannot open", e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map_err(|e| self.err("cannot stat", e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(self.err(
                    "refusing to use",
                    format!(
                        "it holds a refresh token but is accessible to others (mode {:o}); chmod 600 it or delete it",
                        mode & 0o777
                    ),
                ));
            }
        }
        let session: StoredSession = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| self.err("cannot parse", e))?;
        if session.version != 1 {
            return Err(self.err(
                "cannot use",
                format!("unknown format version {}", session.version),
            ));
        }
        Ok(Some(session))
    }

    fn save(&self, session: &StoredSession) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(session).map_err(|e| self.err("cannot encode", e))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&dir).map_err(|e| self.err("cannot create the directory of", e))?;
        let name = self
            .path
            .file_name()
            .ok_or_else(|| self.err("no file name in", "the path ends in .."))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{}", std::process::id(), unique()));
        let tmp = dir.join(tmp_name);
        let result = (|| -> std::io::Result<()> {
            let mut file = open_private(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // The rename itself is durable only once the directory is synced.
            #[cfg(unix)]
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.err("cannot write", e))
    }

    fn clear(&self) -> Result<(), Error> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("cannot delete", e)),
        }
    }
}

/// A per-process counter, so two saves racing in one process use two temporary files.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sample(refresh: &str) -> StoredSession {
        StoredSession {
            version: 1,
            base_url: "http://127.0.0.1:8080/sandbox".into(),
            tokens: Tokens {
                username: "alice".into(),
                access_token: "a.b.c".into(),
                refresh_token: refresh.into(),
                expires_in: 3600,
                expires_at_ms: 1_700_000_000_000,
            },
        }
    }

    #[test]
    fn file_store_round_trips_with_mode_0600_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("session.json");
        let store = FileTokenStore::new(&path);
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample("r1")).unwrap();
        store.save(&sample("r2")).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample("r2")));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("session.json")]);
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
        store.clear().unwrap();
    }

    #[test]
    fn file_store_refuses_a_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let store = FileTokenStore::new(&path);
        store.save(&sample("r1")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = store.load().unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn file_store_reports_a_corrupt_file() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(b"{not json").unwrap();
        let e = FileTokenStore::new(&path).load().unwrap_err();
        assert!(matches!(e, Error::Storage(_)), "{e}");
    }
}

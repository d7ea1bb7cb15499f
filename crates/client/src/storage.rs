//! Where a [`Session`](crate::Session) keeps its tokens between processes: the small
//! `TokenStore` trait, an in-memory store, and a file store that writes atomically
//! (temporary file, fsync, rename) with mode 0600.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

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
/// [`SessionBuilder::build_async`](crate::SessionBuilder::build_async) calls `load` on
/// a blocking thread (`spawn_blocking`), [`SessionBuilder::build`] on the caller's
/// thread; a [`Session`](crate::Session) calls `save` after every successful
/// authenticate or refresh and `clear_if_unchanged` when the session has ended, always
/// on a blocking thread. So implementations may do blocking I/O.
///
/// [`SessionBuilder::build`]: crate::SessionBuilder::build
pub trait TokenStore: Send + Sync + 'static {
    /// The stored session, or `None` when there is none.
    fn load(&self) -> Result<Option<StoredSession>, Error>;
    /// Replaces the stored session.
    fn save(&self, session: &StoredSession) -> Result<(), Error>;
    /// Forgets the stored session, whatever it is.
    fn clear(&self) -> Result<(), Error>;
    /// Forgets the stored session only if it is still `ended` (same base URL and
    /// refresh token): a session another process saved meanwhile is kept. The default
    /// loads, compares and clears, which another process can interleave with; a store
    /// shared between processes should do it atomically, as [`FileTokenStore`] does.
    fn clear_if_unchanged(&self, ended: &StoredSession) -> Result<(), Error> {
        match self.load()? {
            Some(now) if same_session(&now, ended) => self.clear(),
            _ => Ok(()),
        }
    }
}

/// Whether two stored sessions are the same state of the same session.
fn same_session(a: &StoredSession, b: &StoredSession) -> bool {
    a.base_url == b.base_url
        && a.tokens.username == b.tokens.username
        && a.tokens.refresh_token == b.tokens.refresh_token
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
    fn clear_if_unchanged(&self, ended: &StoredSession) -> Result<(), Error> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|now| same_session(now, ended)) {
            *slot = None;
        }
        Ok(())
    }
}

/// Largest session file read (one is about 1 KiB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Temporary files older than this are leftovers of a crashed save (a save takes
/// milliseconds), and are removed.
const STALE_TEMPORARY: Duration = Duration::from_secs(60);

/// A JSON file readable only by its owner (0600), replaced atomically: a crash while
/// saving leaves the previous file or the new one, never a torn one, and the temporary
/// files of a crashed save are removed by the next load or save. A missing parent
/// directory is created with mode 0700. A file that others can read, or that belongs to
/// another user, is refused, like ssh refuses such a key: it holds a refresh token.
/// Ending a session deletes the file only if it still holds that session.
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

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn file_name(&self) -> Result<&std::ffi::OsStr, Error> {
        self.path
            .file_name()
            .ok_or_else(|| self.err("no file name in", "the path ends in .."))
    }

    /// `.{name}.{kind}-{pid}-{n}` beside the file: a name no other save or clear uses.
    fn scratch(&self, kind: &str) -> Result<PathBuf, Error> {
        let mut name = std::ffi::OsString::from(".");
        name.push(self.file_name()?);
        name.push(format!(".{kind}-{}-{}", std::process::id(), unique()));
        Ok(self.dir().join(name))
    }

    /// Reads and checks the file at `path` (the store's file, or a copy moved aside).
    fn read(&self, path: &Path) -> Result<Option<StoredSession>, Error> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("cannot open", e)),
        };
        let meta = file.metadata().map_err(|e| self.err("cannot stat", e))?;
        if !meta.is_file() {
            return Err(self.err("refusing to use", "it is not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let owner = meta.uid();
            let me = rustix::process::geteuid().as_raw();
            if owner != me {
                return Err(self.err(
                    "refusing to use",
                    format!(
                        "it holds a refresh token but is owned by user {owner}, not by this process's user {me}; delete it"
                    ),
                ));
            }
            let mode = meta.mode();
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
        let mut text = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| self.err("cannot read", e))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.err(
                "refusing to use",
                format!("larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        let session: StoredSession =
            serde_json::from_slice(&text).map_err(|e| self.err("cannot parse", e))?;
        if session.version != 1 {
            return Err(self.err(
                "cannot use",
                format!("unknown format version {}", session.version),
            ));
        }
        Ok(Some(session))
    }

    /// Removes the temporary files of saves and clears that crashed (best effort: a
    /// file that cannot be removed is left for the next time).
    fn remove_leftovers(&self) {
        let Ok(name) = self.file_name() else {
            return;
        };
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        let prefix = prefix.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            let Some(rest) = file_name.strip_prefix(&prefix) else {
                continue;
            };
            if !(rest.starts_with(".tmp-") || rest.starts_with(".ended-")) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMPORARY);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                tracing::debug!(file = %entry.path().display(), "removed the leftover of a crashed save");
            }
        }
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<StoredSession>, Error> {
        self.remove_leftovers();
        self.read(&self.path)
    }

    fn save(&self, session: &StoredSession) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(session).map_err(|e| self.err("cannot encode", e))?;
        let dir = self.dir();
        create_private_dir(&dir).map_err(|e| self.err("cannot create the directory of", e))?;
        let tmp = self.scratch("tmp")?;
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
        result.map_err(|e| self.err("cannot write", e))?;
        self.remove_leftovers();
        Ok(())
    }

    fn clear(&self) -> Result<(), Error> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("cannot delete", e)),
        }
    }

    /// Moves the file aside (an atomic rename: a save by another process from then on
    /// creates a new file), looks at what was moved, deletes it if it is the ended
    /// session, and otherwise puts it back — unless a newer file has appeared in the
    /// meantime, which then wins. While the file is aside (microseconds), another
    /// process that loads finds no session.
    fn clear_if_unchanged(&self, ended: &StoredSession) -> Result<(), Error> {
        let aside = self.scratch("ended")?;
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.err("cannot move aside", e)),
        }
        let ours = matches!(self.read(&aside), Ok(Some(now)) if same_session(&now, ended));
        let result = if ours {
            Ok(())
        } else {
            // hard_link, unlike rename, never replaces a file that is there now.
            match std::fs::hard_link(&aside, &self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot link the session file back; renaming it");
                    std::fs::rename(&aside, &self.path).map_err(|e| self.err("cannot put back", e))
                }
            }
        };
        let _ = std::fs::remove_file(&aside);
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(self.dir()) {
            let _ = d.sync_all();
        }
        result
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

    #[test]
    fn file_store_refuses_a_file_owned_by_someone_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let store = FileTokenStore::new(&path);
        store.save(&sample("r1")).unwrap();
        // Mode 0600, but another user's: they could replace its tokens at will.
        match std::os::unix::fs::chown(&path, Some(4242), None) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                // Only root can give a file away (CI runs as root).
                eprintln!("SKIPPED: giving a file to another user needs root: {e}");
                return;
            }
            Err(e) => panic!("chown: {e}"),
        }
        let e = store.load().unwrap_err();
        assert!(e.to_string().contains("owned by"), "{e}");
    }

    #[test]
    fn temporary_files_a_crashed_save_left_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let crashed = dir.path().join(".session.json.tmp-99999-3");
        let in_flight = dir.path().join(".session.json.tmp-88888-0");
        let unrelated = dir.path().join(".other.json.tmp-99999-3");
        for p in [&crashed, &in_flight, &unrelated] {
            std::fs::write(p, "{").unwrap();
        }
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for p in [&crashed, &unrelated] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(an_hour_ago)
                .unwrap();
        }
        FileTokenStore::new(&path).save(&sample("r1")).unwrap();
        assert!(!crashed.exists(), "the crashed save's file is still there");
        assert!(
            in_flight.exists(),
            "a save in progress elsewhere must be left alone"
        );
        assert!(
            unrelated.exists(),
            "another store's file must be left alone"
        );
    }

    #[test]
    fn clear_if_unchanged_deletes_only_the_ended_session_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let store = FileTokenStore::new(&path);
        store.clear_if_unchanged(&sample("r1")).unwrap(); // nothing stored: fine
        store.save(&sample("r2")).unwrap();
        store.clear_if_unchanged(&sample("r1")).unwrap();
        assert_eq!(
            store.load().unwrap(),
            Some(sample("r2")),
            "a newer session was lost"
        );
        store.clear_if_unchanged(&sample("r2")).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "{names:?}");
        // The memory store and the trait's default behave alike.
        let memory = MemoryTokenStore::new();
        memory.save(&sample("r2")).unwrap();
        memory.clear_if_unchanged(&sample("r1")).unwrap();
        assert_eq!(memory.load().unwrap(), Some(sample("r2")));
        memory.clear_if_unchanged(&sample("r2")).unwrap();
        assert_eq!(memory.load().unwrap(), None);
    }
}

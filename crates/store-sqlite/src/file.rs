//! The database file itself: created readable and writable by its owner only, since it
//! holds every password hash (SPEC §10). SQLite creates the `-wal` and `-shm` files with
//! the database file's mode, so they are private too.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use wirecash_core::StoreError;

/// Creates an empty database file with mode 0600 unless one exists. Its directory is
/// never created: a path that names none is a mistake to report, not to act on.
pub fn create_private(path: &Path) -> Result<(), StoreError> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Err(StoreError::Unavailable(format!(
                "cannot create {}: the directory {} does not exist",
                path.display(),
                dir.display()
            )))
        }
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_database_and_its_wal_are_owner_only_and_no_directory_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = crate::SqliteStore::open(&path).unwrap();
        for file in ["w.db", "w.db-wal", "w.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        drop(store);
        let missing = dir.path().join("nodir/sub/w.db");
        let err = crate::SqliteStore::open(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nodir/sub") && err.contains("does not exist"),
            "{err}"
        );
        assert!(!dir.path().join("nodir").exists());
    }
}

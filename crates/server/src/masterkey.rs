//! The master key that protects signing keys and derives the refresh-token secrets:
//! from the environment or a key file.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use wirecash_core::crypto::MasterKey;

use crate::config::Config;

/// The environment variable holding the master key.
pub const ENV_VAR: &str = "WIRECASH_AUTH_MASTER_KEY";

fn decode(text: &str, source: &str) -> anyhow::Result<MasterKey> {
    let t = text.trim();
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(t).ok())
        .ok_or_else(|| anyhow!("{source}: not base64"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|v: Vec<u8>| anyhow!("{source}: must decode to 32 bytes, got {}", v.len()))?;
    Ok(MasterKey::from_bytes(arr))
}

/// Where the key file is for this configuration.
pub fn key_file(config: &Config) -> anyhow::Result<PathBuf> {
    if let Some(p) = &config.master_key_file {
        return Ok(p.clone());
    }
    let db = match &config.database {
        crate::config::Database::Sqlite(path) => path.clone(),
        crate::config::Database::Postgres(_) => bail!(
            "a postgres:// database needs the master key given explicitly, the same on every node: \
             set {ENV_VAR} (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or \
             master_key_file (created on first start if missing; copy it to the other nodes)"
        ),
    };
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    Ok(db.with_file_name(name))
}

/// The master key (key-encryption key) that protects signing keys and derives the
/// refresh-token secrets: `WIRECASH_AUTH_MASTER_KEY` (base64 of 32 bytes) if set, else a
/// key file created with mode 0600 when an installation is made (by default next to the
/// SQLite file; with PostgreSQL there is no default place, since every node needs the
/// same key). An existing installation never gets a new key: one would not decrypt it.
///
/// Loads the master key of an existing installation: a missing key file is an error
/// (a new key could not decrypt the signing keys it protects).
pub fn load(config: &Config) -> anyhow::Result<MasterKey> {
    if let Ok(v) = std::env::var(ENV_VAR) {
        return decode(&v, ENV_VAR);
    }
    let path = key_file(config)?;
    read(&path).map_err(|e| {
        if is_not_found(&e) {
            anyhow!(
                "the master key file {} is missing, but the database holds signing keys \
                 encrypted with a master key: restore the file from your backup (or give the \
                 key in {ENV_VAR}; see master_key_file)",
                path.display()
            )
        } else {
            e
        }
    })
}

/// Loads the master key of a new installation, creating the key file if there is none;
/// returns the file it created.
pub fn load_or_create(config: &Config) -> anyhow::Result<(MasterKey, Option<PathBuf>)> {
    if let Ok(v) = std::env::var(ENV_VAR) {
        return Ok((decode(&v, ENV_VAR)?, None));
    }
    let path = key_file(config)?;
    match read(&path) {
        Ok(k) => Ok((k, None)),
        Err(e) if is_not_found(&e) => {
            let key = create(&path)?;
            Ok((key, Some(path)))
        }
        Err(e) => Err(e),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
}

fn read(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "master key file {} is readable by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    decode(&text, &path.display().to_string())
}

fn create(path: &Path) -> anyhow::Result<MasterKey> {
    let key = MasterKey::generate().map_err(|e| anyhow!("{e}"))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        // Another process (a CLI call, a second server) created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return read(path),
        // Its directory is never created: a path naming none is a mistake to report.
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot create master key file {}", path.display()));
        }
    };
    writeln!(file, "{}", STANDARD.encode(key.expose()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write master key file {}", path.display()))?;
    Ok(key)
}

//! The `user`, `session` and `key` commands over a remote admin API (`--admin-url`):
//! their options, and the client they make of them (the admin key from a file, the
//! CA to trust, timeouts); the requests themselves are in `api`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::Url;
use reqwest::header::HeaderValue;
use zeroize::Zeroizing;

mod api;

pub use api::{AdminApi, Key, Revoked, Rotated, Session, User, millis, time};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take (a user's creation hashes a password: seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest admin key file read.
const MAX_KEY_FILE: u64 = 4096;

/// Where the admin API is and how to reach it. Given `--admin-url`, the `user`,
/// `session` and `key` commands ask the server's admin API instead of opening the
/// database: they need no database credentials, configuration or master key.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteOptions {
    /// Drive the admin API at this URL (a server's admin_listen, e.g.
    /// https://auth-admin.internal:8081) instead of opening the database.
    #[arg(
        long,
        global = true,
        env = "WIRECASH_AUTH_ADMIN_URL",
        value_name = "URL"
    )]
    pub admin_url: Option<String>,
    /// The file holding the admin key for --admin-url (mode 0600; one readable by group
    /// or others is refused). A key is never taken on the command line.
    #[arg(
        long,
        global = true,
        env = "WIRECASH_AUTH_ADMIN_KEY_FILE",
        value_name = "FILE"
    )]
    pub admin_key_file: Option<PathBuf>,
    /// PEM certificates of the CA that issued the admin listener's certificate, for an
    /// https --admin-url: trusted instead of the system's roots.
    #[arg(
        long,
        global = true,
        env = "WIRECASH_AUTH_ADMIN_CA_FILE",
        value_name = "FILE"
    )]
    pub admin_ca_file: Option<PathBuf>,
}

impl RemoteOptions {
    /// The admin API to drive, or `None` for the local database. Refuses a key or CA file
    /// without a URL, and a URL without a key file.
    pub fn connect(&self) -> anyhow::Result<Option<AdminApi>> {
        let Some(url) = &self.admin_url else {
            if self.admin_key_file.is_some() || self.admin_ca_file.is_some() {
                bail!(
                    "--admin-key-file and --admin-ca-file (or WIRECASH_AUTH_ADMIN_KEY_FILE and \
                     WIRECASH_AUTH_ADMIN_CA_FILE) need --admin-url (or WIRECASH_AUTH_ADMIN_URL)"
                );
            }
            return Ok(None);
        };
        let base = parse_base(url)?;
        let Some(key_file) = &self.admin_key_file else {
            bail!(
                "--admin-url needs --admin-key-file FILE (or WIRECASH_AUTH_ADMIN_KEY_FILE): the \
                 admin key is read from a file, never from the command line"
            );
        };
        let key = read_key(key_file)?;
        let mut authorization = HeaderValue::from_str(&Zeroizing::new(format!("Bearer {}", *key)))
            .map_err(|_| {
                anyhow!(
                    "admin key file {} holds characters no admin key has",
                    key_file.display()
                )
            })?;
        authorization.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                "wirecash-auth/",
                env!("CARGO_PKG_VERSION"),
                " (cli)"
            ));
        if let Some(ca) = &self.admin_ca_file {
            if base.scheme() != "https" {
                bail!("--admin-ca-file is for an https --admin-url; {base} is plain http");
            }
            builder = builder.tls_certs_only(read_ca(ca)?);
        } else if base.scheme() == "http" && !is_loopback(&base) {
            eprintln!(
                "warning: {base} is plain http: the admin key and any password cross the network \
                 unencrypted; use https (with [tls] on the server) or an SSH tunnel"
            );
        }
        let http = builder
            .build()
            .map_err(|e| anyhow!("cannot make an HTTP client: {e}"))?;
        Ok(Some(AdminApi::new(
            http,
            base,
            key_file.clone(),
            authorization,
        )))
    }
}

fn parse_base(text: &str) -> anyhow::Result<Url> {
    // The text is not echoed: it could hold a password.
    let url = Url::parse(text.trim()).map_err(|e| {
        anyhow!("--admin-url is not a URL ({e}); give e.g. https://auth-admin.internal:8081")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--admin-url is an http:// or https:// URL, not {}:",
            url.scheme()
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "--admin-url holds a user name or password; the admin key comes from --admin-key-file"
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("--admin-url is the admin listener's base URL, without a query or fragment");
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The admin key in `path`, trimmed. Like ssh with a private key, a file that group or
/// others may open is refused: the key would be someone else's too.
fn read_key(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the admin key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .with_context(|| format!("cannot read the admin key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "admin key file {} is open to group or others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|_| anyhow!("admin key file {} is not a text file", path.display()))?;
    if text.len() as u64 > MAX_KEY_FILE {
        bail!(
            "admin key file {} is too long for an admin key",
            path.display()
        );
    }
    let key = text.trim();
    if key.is_empty() {
        bail!("admin key file {} is empty", path.display());
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "admin key file {} holds more than the admin key (one line, the key only)",
            path.display()
        );
    }
    Ok(Zeroizing::new(key.to_string()))
}

fn read_ca(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read --admin-ca-file {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| anyhow!("--admin-ca-file {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "--admin-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_base_url_is_http_or_https_without_credentials() {
        assert!(parse_base("http://127.0.0.1:8081").is_ok());
        assert!(parse_base("https://admin.example/prefix/").is_ok());
        for bad in [
            "ftp://x",
            "127.0.0.1:8081",
            "http://me:secret@x",
            "http://x/?a=b",
            "no url",
        ] {
            let e = format!("{:#}", parse_base(bad).unwrap_err());
            assert!(!e.contains("secret"), "{e}");
        }
    }
}

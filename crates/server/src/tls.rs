//! HTTPS served by the service itself (`[tls]`): the certificate and key, the rustls
//! configuration, and the reload of the pair.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail};
use arc_swap::ArcSwap;
use aws_lc_rs::digest::{SHA256, digest};
use axum::http::HeaderValue;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::config::TlsConfig;

/// HTTPS served by the service itself (`[tls]`): the certificate and key loaded from PEM
/// files (start-up errors name the key), a rustls configuration on aws-lc-rs with ALPN
/// `h2` and `http/1.1`, and the reload of the pair on SIGHUP or when the files change.
/// New connections get the new pair; a broken replacement is logged and the old pair
/// stays in use. Nothing here ever logs key material.
///
/// The TLS side of the server: what the accept loop needs and what the reload changes.
pub struct Tls {
    settings: TlsConfig,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
    hsts: HeaderValue,
    /// Digest of the file contents last looked at (loaded or refused), so that a broken
    /// replacement is reported once, not at every poll.
    seen: Mutex<[u8; 32]>,
    /// SIGHUP, registered when the pair is loaded — before the server reports ready —
    /// so that an early signal is not the default one that ends the process.
    hangup: Mutex<Option<tokio::signal::unix::Signal>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.settings.cert)
            .field("key", &self.settings.key)
            .finish_non_exhaustive()
    }
}

/// Hands every new connection the pair in use at that moment.
struct Resolver(ArcSwap<CertifiedKey>);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// A pair read from the files.
struct Loaded {
    key: Arc<CertifiedKey>,
    digest: [u8; 32],
    fingerprint: String,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files are as last seen; nothing was done.
    Unchanged,
    /// New connections get the pair with this SHA-256 certificate fingerprint.
    Loaded(String),
}

impl Tls {
    /// Loads the pair named by `settings`; errors name the configuration key.
    pub fn load(settings: &TlsConfig) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = load_pair(settings, &provider)?;
        let resolver = Arc::new(Resolver(ArcSwap::new(loaded.key)));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        // With TLS the protocol is chosen here, never by sniffing the first bytes.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut hsts = format!("max-age={}", settings.hsts_max_age.as_secs());
        if settings.hsts_include_subdomains {
            hsts.push_str("; includeSubDomains");
        }
        let hsts = HeaderValue::from_str(&hsts).map_err(|e| anyhow!("HSTS header: {e}"))?;
        tracing::info!(certificate_sha256 = %loaded.fingerprint, cert = %settings.cert.display(), "TLS certificate loaded");
        Ok(Self {
            settings: settings.clone(),
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            hsts,
            seen: Mutex::new(loaded.digest),
            hangup: Mutex::new(None),
        })
    }

    /// Starts listening for SIGHUP (inside the runtime): `watch` reloads on it.
    pub fn listen_for_hangup(self) -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let hangup =
            signal(SignalKind::hangup()).map_err(|e| anyhow!("cannot listen for SIGHUP: {e}"))?;
        *self.hangup.lock().unwrap_or_else(|p| p.into_inner()) = Some(hangup);
        Ok(self)
    }

    /// The acceptor for new connections (it always uses the current pair).
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The `Strict-Transport-Security` value sent on every response.
    pub fn hsts(&self) -> &HeaderValue {
        &self.hsts
    }

    /// Re-reads the files. Unless `force`d, files with the contents last looked at are
    /// left alone. A pair that fails to load is an error and the old pair stays.
    pub fn reload(&self, force: bool) -> anyhow::Result<Reload> {
        let contents = read_files(&self.settings)?;
        let digest = contents.digest();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !force && *seen == digest {
                return Ok(Reload::Unchanged);
            }
            *seen = digest;
        }
        let loaded = parse_pair(&contents, &self.settings, &self.provider)?;
        self.resolver.0.store(loaded.key);
        Ok(Reload::Loaded(loaded.fingerprint))
    }
}

/// Reloads whenever the files change (checked every `tls.reload_interval`) and on
/// SIGHUP (after `listen_for_hangup`); runs until aborted.
pub async fn watch(tls: Arc<Tls>) {
    let mut hangup = tls.hangup.lock().unwrap_or_else(|p| p.into_inner()).take();
    let mut tick = tokio::time::interval(tls.settings.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let force = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        let this = Arc::clone(&tls);
        // File reads and key parsing are blocking work.
        let result = tokio::task::spawn_blocking(move || this.reload(force)).await;
        match result {
            Ok(Ok(Reload::Loaded(fingerprint))) => {
                tracing::info!(certificate_sha256 = %fingerprint, signal = force, "TLS certificate reloaded; new connections use it");
            }
            Ok(Ok(Reload::Unchanged)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded; keeping the one in use");
            }
            Err(e) => tracing::warn!(error = %e, "TLS certificate reload failed"),
        }
    }
}

/// Plain HTTP sent to the HTTPS port: without this, the client reads the TLS alert as
/// a response and curl says "Received HTTP/0.9 when not allowed". The first byte of a
/// TLS connection is a handshake record (22); a request line starts with a method in
/// capitals. Such a connection gets a plain-HTTP `400` whose JSON body says where to
/// send the request, and is closed. Returns whether it was one.
pub async fn answer_plain_http(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HANDSHAKE: u8 = 22;
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] != HANDSHAKE && first[0].is_ascii_uppercase() => {}
        _ => return false,
    }
    // The request head, so that the answer can name the URL and the connection is not
    // reset with unread bytes in it.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let url = https_url(&String::from_utf8_lossy(&head), &local);
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": format!(
            "this port speaks HTTPS only: send the request to {url}"
        ),
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
        // Read what is still coming (a request body) for a moment: closing with unread
        // bytes would reset the connection and could lose the answer on the way.
        let drain = async {
            let mut total = 0usize;
            while total < 64 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
    }
    true
}

/// `https://HOST/PATH` of a plain-HTTP request head (the Host header, else the local
/// address; the path without its query, which may hold credentials). Only characters
/// that belong there are kept.
fn https_url(head: &str, local: &str) -> String {
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .map(|t| t.split(['?', '#']).next().unwrap_or_default())
        .filter(|p| p.starts_with('/') && p.len() <= 256)
        .filter(|p| p.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("/");
    let host = lines
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("host").then(|| value.trim())
        })
        .filter(|h| !h.is_empty() && h.len() <= 255)
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or(local);
    format!("https://{host}{path}")
}

/// The raw contents of both files (the key's wiped from memory when dropped).
struct Contents {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
}

impl Contents {
    fn digest(&self) -> [u8; 32] {
        let mut both = Zeroizing::new(Vec::with_capacity(self.cert.len() + self.key.len() + 8));
        both.extend_from_slice(&(self.cert.len() as u64).to_be_bytes());
        both.extend_from_slice(&self.cert);
        both.extend_from_slice(&self.key);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, &both).as_ref());
        out
    }
}

fn read_files(settings: &TlsConfig) -> anyhow::Result<Contents> {
    let read = |key: &str, path: &Path| {
        std::fs::read(path).map_err(|e| anyhow!("tls.{key}: cannot read {}: {e}", path.display()))
    };
    Ok(Contents {
        cert: read("cert", &settings.cert)?,
        key: Zeroizing::new(read("key", &settings.key)?),
    })
}

fn load_pair(settings: &TlsConfig, provider: &CryptoProvider) -> anyhow::Result<Loaded> {
    let contents = read_files(settings)?;
    parse_pair(&contents, settings, provider)
}

/// Parses and checks a pair. Messages about the key file never quote it: only which
/// check failed.
fn parse_pair(
    contents: &Contents,
    settings: &TlsConfig,
    provider: &CryptoProvider,
) -> anyhow::Result<Loaded> {
    let cert_path = settings.cert.display();
    let key_path = settings.key.display();
    let chain = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("tls.cert: {cert_path} is not valid PEM ({e})"))?;
    let Some(leaf) = chain.first() else {
        bail!("tls.cert: {cert_path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => anyhow!(
            "tls.key: {key_path} holds no PEM private key (PKCS#8 \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")"
        ),
        _ => anyhow!("tls.key: {key_path} is not valid PEM"),
    })?;
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        anyhow!(
            "tls.key: {key_path} is not a usable private key (RSA, ECDSA P-256/P-384 or Ed25519)"
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => bail!(
            "tls.key: the private key in {key_path} does not match the certificate in tls.cert ({cert_path})"
        ),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => bail!("tls.cert: the first certificate in {cert_path} does not parse ({e})"),
    }
    Ok(Loaded {
        key: Arc::new(certified),
        digest: contents.digest(),
        fingerprint,
    })
}

/// SHA-256 of a certificate, as `openssl x509 -noout -fingerprint -sha256` prints it.
pub fn fingerprint(cert: &[u8]) -> String {
    let mut out = String::with_capacity(95);
    for (i, b) in digest(&SHA256, cert).as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn settings(dir: &Path) -> TlsConfig {
        TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            hsts_max_age: Duration::from_secs(60),
            hsts_include_subdomains: false,
            reload_interval: Duration::from_secs(5),
        }
    }

    fn load_err(s: &TlsConfig) -> String {
        match Tls::load(s) {
            Ok(_) => panic!("loaded"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn start_up_errors_name_the_key_and_never_quote_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        assert!(load_err(&s).starts_with("tls.cert: cannot read"));
        let (cert, key) = pair("a.test");
        let (_, other_key) = pair("b.test");
        std::fs::write(&s.cert, &cert).unwrap();
        assert!(load_err(&s).starts_with("tls.key: cannot read"));
        std::fs::write(&s.key, "not pem at all").unwrap();
        assert!(load_err(&s).contains("tls.key:"), "{}", load_err(&s));
        // A key of another certificate.
        std::fs::write(&s.key, &other_key).unwrap();
        let e = load_err(&s);
        assert!(e.contains("tls.key") && e.contains("does not match"), "{e}");
        assert!(!e.contains(other_key.lines().nth(1).unwrap()), "{e}");
        // A broken PEM section in the key file: which check, not the text.
        let broken = key.replacen('M', "!", 3);
        std::fs::write(&s.key, &broken).unwrap();
        let e = load_err(&s);
        assert!(e.starts_with("tls.key:"), "{e}");
        for line in broken.lines().skip(1) {
            assert!(!e.contains(line), "{e}");
        }
        // The cert file holding only a key.
        std::fs::write(&s.key, &key).unwrap();
        std::fs::write(&s.cert, &key).unwrap();
        assert!(load_err(&s).contains("tls.cert:"), "{}", load_err(&s));
        std::fs::write(&s.cert, &cert).unwrap();
        let tls = Tls::load(&s).unwrap();
        assert_eq!(tls.hsts(), "max-age=60");
    }

    #[test]
    fn reload_swaps_a_good_pair_and_keeps_the_old_one_on_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let (cert, key) = pair("a.test");
        std::fs::write(&s.cert, &cert).unwrap();
        std::fs::write(&s.key, &key).unwrap();
        let tls = Tls::load(&s).unwrap();
        let served = || fingerprint(tls.resolver.0.load().cert[0].as_ref());
        let first = served();
        assert_eq!(tls.reload(false).unwrap(), Reload::Unchanged);
        assert_eq!(tls.reload(true).unwrap(), Reload::Loaded(first.clone()));
        // Only the certificate replaced: refused, the old pair stays; and it is not
        // tried again until the files change.
        let (cert2, key2) = pair("b.test");
        std::fs::write(&s.cert, &cert2).unwrap();
        assert!(tls.reload(false).is_err());
        assert_eq!(served(), first);
        assert_eq!(tls.reload(false).unwrap(), Reload::Unchanged);
        std::fs::write(&s.key, &key2).unwrap();
        let Reload::Loaded(second) = tls.reload(false).unwrap() else {
            panic!("not reloaded")
        };
        assert_ne!(second, first);
        assert_eq!(served(), second);
    }

    #[test]
    fn the_https_url_of_a_plain_request_keeps_only_what_belongs_there() {
        let local = "127.0.0.1:8443";
        for (head, want) in [
            (
                "POST /sandbox/token HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                "https://api.example.com/sandbox/token",
            ),
            (
                "GET /healthz?password=x HTTP/1.0\r\n\r\n",
                "https://127.0.0.1:8443/healthz",
            ),
            (
                "GET /a\"<b> HTTP/1.1\r\nhost: <script>\r\n\r\n",
                "https://127.0.0.1:8443/a\"<b>",
            ),
            (
                "GET http://x/ HTTP/1.1\r\nHOST: [::1]:9\r\n\r\n",
                "https://[::1]:9/",
            ),
        ] {
            assert_eq!(https_url(head, local), want, "{head:?}");
        }
    }

    #[test]
    fn hsts_header_carries_the_configured_age_and_subdomains_only_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        let (cert, key) = pair("a.test");
        std::fs::write(&s.cert, &cert).unwrap();
        std::fs::write(&s.key, &key).unwrap();
        s.hsts_max_age = Duration::from_secs(365 * 86400);
        assert_eq!(Tls::load(&s).unwrap().hsts(), "max-age=31536000");
        s.hsts_include_subdomains = true;
        assert_eq!(
            Tls::load(&s).unwrap().hsts(),
            "max-age=31536000; includeSubDomains"
        );
    }
}

//! HTTPS served by the service itself: authenticate and refresh over HTTP/1.1 and
//! HTTP/2 (by ALPN) with HSTS on every answer and none on plain HTTP.

// The certificate reloaded on SIGHUP and on file change (checked by the certificate each
// new handshake presents), a broken replacement refused with the old pair kept; silent
// or stalled handshakes cut at the header deadline; start-up errors that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::header::STRICT_TRANSPORT_SECURITY;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirecash_auth::config::TlsConfig;

use crate::server_process;
use crate::support::{ScratchDb, TestApp, add_user_cli};

/// A test CA that issues server certificates for 127.0.0.1.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

/// A certificate and its key, as PEM, and the certificate's DER.
pub(crate) struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wirecash-auth test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self) -> Pair {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A reqwest client that trusts this CA only (HTTP/2 by ALPN unless `http1_only`).
    fn client(&self, http1_only: bool) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(30));
        if http1_only {
            b = b.http1_only();
        }
        b.build().unwrap()
    }

    fn rustls_client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(self.pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// The certificate a new handshake with `addr` presents.
    async fn presented(&self, addr: SocketAddr) -> Vec<u8> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = self.rustls_client(&[]).connect(name, tcp).await.unwrap();
        let certs: &[CertificateDer<'_>] = tls.get_ref().1.peer_certificates().unwrap();
        certs[0].to_vec()
    }
}

fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // Written next to them and renamed: never a half-written file.
    for (path, text) in [(&cert, cert_pem), (&key, key_pem)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    (cert, key)
}

fn tls_config(cert: PathBuf, key: PathBuf, reload_interval: Duration) -> TlsConfig {
    TlsConfig {
        cert,
        key,
        hsts_max_age: Duration::from_secs(365 * 86400),
        hsts_include_subdomains: false,
        reload_interval,
    }
}

/// An in-process app serving HTTPS with a fresh pair from `ca`, and a client that
/// trusts `ca`.
pub(crate) async fn tls_app(
    ca: &TestCa,
    certs: &Path,
    reload_interval: Duration,
    f: impl FnOnce(&mut wirecash_auth::config::Config),
) -> (TestApp, Pair) {
    let pair = ca.issue();
    let (cert, key) = write_pair(certs, &pair.cert_pem, &pair.key_pem);
    let mut app = TestApp::spawn_with(|c| {
        c.tls = Some(tls_config(cert, key, reload_interval));
        f(c);
    })
    .await;
    app.base = format!("https://{}", app.addr);
    app.client = ca.client(true);
    (app, pair)
}

/// Polls until a new handshake presents `want` (or gives up after `limit`).
async fn until_presented(ca: &TestCa, addr: SocketAddr, want: &[u8], limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if ca.presented(addr).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_authenticate_and_refresh_work_on_http1_and_http2_with_hsts() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (mut app, _) = tls_app(&ca, certs.path(), Duration::from_secs(5), |_| {}).await;
    let pw = app.add_user("sandbox", "alice").await;
    for http1_only in [true, false] {
        app.client = ca.client(http1_only);
        let t = app.login("sandbox", "alice", &pw).await;
        let r = app
            .client
            .post(format!("{}/sandbox/token", app.base))
            .json(&serde_json::json!({
                "username": "alice",
                "access_token": t.access_token,
                "refresh_token": t.refresh_token,
            }))
            .send()
            .await
            .unwrap();
        let want = if http1_only {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(r.version(), want);
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers().get(STRICT_TRANSPORT_SECURITY).unwrap(),
            "max-age=31536000"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        app.remember(body["refresh_token"].as_str().unwrap());
        app.remember(body["access_token"].as_str().unwrap());
        // Errors and the operational routes carry it too.
        for path in ["/healthz", "/nowhere"] {
            let r = app
                .client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.version(), want);
            assert!(
                r.headers().contains_key(STRICT_TRANSPORT_SECURITY),
                "{path}"
            );
        }
    }
}

/// Plain HTTP sent to the HTTPS port: a plain-HTTP 400 whose JSON body says to use
/// https (curl showed "Received HTTP/0.9 when not allowed"); the port keeps speaking TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_https_port_gets_a_400_that_says_to_use_https() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, pair) = tls_app(&ca, certs.path(), Duration::from_secs(5), |_| {}).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/sandbox/token", app.addr))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(&format!("https://{}/sandbox/token", app.addr)),
        "{description}"
    );
    // A bare HTTP/1.0 request without a Host header gets the same, then the close.
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("https://"), "{answer}");
    // HTTPS on the same port is unaffected.
    assert_eq!(ca.presented(app.addr).await, pair.der);
    app.get("/healthz").await;
}

#[tokio::test]
async fn plain_http_answers_carry_no_hsts() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let a = app.authenticate_raw("sandbox", "alice", &pw).await;
    assert_eq!(a.status, 200);
    assert!(!a.headers.contains_key(STRICT_TRANSPORT_SECURITY));
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key(STRICT_TRANSPORT_SECURITY));
}

/// Waits until the server closes `c`; how long that took from `opened`.
async fn closed_after(c: &mut (impl AsyncReadExt + Unpin), opened: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("connection still open after 10 s");
    opened.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_or_stalled_tls_connections_are_cut_at_the_header_deadline() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, _) = tls_app(&ca, certs.path(), Duration::from_secs(5), |c| {
        c.http.header_read_timeout = Duration::from_secs(1);
        c.http.max_connections = 4;
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let opened = Instant::now();
    // 1: TCP only, nothing sent.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    // 2: the start of a ClientHello record, then nothing.
    let mut stalled = TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .await
        .unwrap();
    // 3 and 4: a finished handshake (HTTP/1.1, then HTTP/2 by ALPN), then nothing.
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let mut h1 = ca
        .rustls_client(&[b"http/1.1"])
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let mut h2 = ca.rustls_client(&[b"h2"]).connect(name, tcp).await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // All four slots are taken: a fifth connection is closed at once.
    let mut fifth = TcpStream::connect(app.addr).await.unwrap();
    let t = closed_after(&mut fifth, Instant::now()).await;
    assert!(t < Duration::from_millis(900), "over the cap, held {t:?}");
    // The deadline is 1 s; the HTTP/2 connection gets GOAWAY then and is dropped a
    // second later (no preface ever came).
    for (what, took, max) in [
        ("silent TCP", closed_after(&mut silent, opened).await, 2.5),
        (
            "stalled handshake",
            closed_after(&mut stalled, opened).await,
            2.5,
        ),
        ("silent HTTP/1.1", closed_after(&mut h1, opened).await, 3.0),
        ("silent HTTP/2", closed_after(&mut h2, opened).await, 4.0),
    ] {
        assert!(
            took >= Duration::from_millis(900) && took.as_secs_f64() < max,
            "{what}: closed after {took:?}"
        );
    }
    // The slots are free again.
    let t = app.login("sandbox", "alice", &pw).await;
    app.refresh("sandbox", "alice", &t).await.tokens();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_pair_is_picked_up_without_a_signal_and_a_broken_one_is_not() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, first) = tls_app(&ca, certs.path(), Duration::from_millis(100), |_| {}).await;
    assert_eq!(ca.presented(app.addr).await, first.der);
    let pw = app.add_user("sandbox", "alice").await;
    let second = ca.issue();
    write_pair(certs.path(), &second.cert_pem, &second.key_pem);
    assert!(until_presented(&ca, app.addr, &second.der, Duration::from_secs(10)).await);
    app.login("sandbox", "alice", &pw).await;
    // A certificate whose key is not beside it: refused, the second pair stays.
    let third = ca.issue();
    write_pair(certs.path(), &third.cert_pem, &second.key_pem);
    let started = Instant::now();
    while !crate::support::logs().contains("TLS certificate not reloaded") {
        assert!(started.elapsed() < Duration::from_secs(10), "no warning");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ca.presented(app.addr).await, second.der);
    app.login("sandbox", "alice", &pw).await;
}

/// A real server process with TLS from `WIRECASH_AUTH_TLS_*`; its address.
fn start_tls_process(
    dir: &Path,
    db: &ScratchDb,
    cert: &Path,
    key: &Path,
) -> (server_process::Server, SocketAddr) {
    let server = server_process::start_node(
        &dir.join("server.log"),
        db,
        &[],
        &[
            ("WIRECASH_AUTH_TLS_CERT", cert.to_str().unwrap()),
            ("WIRECASH_AUTH_TLS_KEY", key.to_str().unwrap()),
            // Only the signal reloads here.
            ("WIRECASH_AUTH_TLS_RELOAD_INTERVAL", "1h"),
        ],
    );
    let addr = server
        .base
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    (server, addr)
}

fn hangup(server: &server_process::Server) {
    let pid = server.child.id().to_string();
    let ok = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The key's PEM body lines: none may appear in a log.
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_makes_new_handshakes_present_the_new_certificate_and_keeps_it_over_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    db.init();
    add_user_cli(&db, "alice", "pw-alice-sighup");
    let ca = TestCa::new();
    let first = ca.issue();
    let (cert, key) = write_pair(dir.path(), &first.cert_pem, &first.key_pem);
    let (server, addr) = start_tls_process(dir.path(), &db, &cert, &key);
    assert_eq!(ca.presented(addr).await, first.der);
    let client = ca.client(false);
    let a = server_process::post(
        &client,
        format!("https://{addr}/sandbox/authenticate"),
        serde_json::json!({"username": "alice", "password": "pw-alice-sighup"}),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers.get(STRICT_TRANSPORT_SECURITY).unwrap(),
        "max-age=31536000"
    );
    // New files, then SIGHUP: new handshakes present the new certificate.
    let second = ca.issue();
    write_pair(dir.path(), &second.cert_pem, &second.key_pem);
    assert_eq!(
        ca.presented(addr).await,
        first.der,
        "reloaded without a signal"
    );
    hangup(&server);
    assert!(until_presented(&ca, addr, &second.der, Duration::from_secs(10)).await);
    // A broken replacement (a certificate with another one's key): logged without key
    // material, and the second pair stays.
    let third = ca.issue();
    write_pair(dir.path(), &third.cert_pem, &first.key_pem);
    hangup(&server);
    let log = dir.path().join("server.log");
    let started = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("TLS certificate not reloaded") {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no warning");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains("tls.key"), "the warning names the key");
    for line in [first.key_pem, second.key_pem]
        .iter()
        .flat_map(|k| key_lines(k))
    {
        assert!(!text.contains(&line), "key material in the log");
    }
    assert_eq!(ca.presented(addr).await, second.der);
    let r = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = server_process::terminate(server);
    assert!(status.success(), "{status:?}");
}

/// Runs `serve` with `envs` and expects it to fail at start; its stderr.
fn failed_start(db: &ScratchDb, envs: &[(&str, &str)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirecash-auth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env_remove("WIRECASH_AUTH_MASTER_KEY")
        .env_remove("WIRECASH_AUTH_CONFIG")
        .env("WIRECASH_AUTH_ADMIN_LISTEN", "127.0.0.1:0")
        .envs(db.env())
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return err;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("serve started with {envs:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_refuses_to_start_with_a_missing_broken_or_mismatched_pair_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let ca = TestCa::new();
    let (a, b) = (ca.issue(), ca.issue());
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("a.crt"), &a.cert_pem).unwrap();
    std::fs::write(p("a.key"), &a.key_pem).unwrap();
    std::fs::write(p("b.key"), &b.key_pem).unwrap();
    std::fs::write(p("junk"), "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    for (cert, key, want) in [
        (p("missing.crt"), p("a.key"), "tls.cert: cannot read"),
        (p("a.crt"), p("missing.key"), "tls.key: cannot read"),
        (p("junk"), p("a.key"), "tls.cert"),
        (p("a.crt"), p("a.crt"), "tls.key"),
        (p("a.crt"), p("b.key"), "does not match"),
    ] {
        let err = failed_start(
            &db,
            &[
                ("WIRECASH_AUTH_TLS_CERT", &cert),
                ("WIRECASH_AUTH_TLS_KEY", &key),
            ],
        );
        assert!(err.contains(want), "{cert} {key}: {err}");
        for line in key_lines(&b.key_pem) {
            assert!(!err.contains(&line));
        }
    }
    let err = failed_start(&db, &[("WIRECASH_AUTH_TLS_CERT", &p("a.crt"))]);
    assert!(err.contains("tls.key"), "{err}");
}

/// With `[tls]` the admin listener speaks HTTPS with the same certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_https_under_tls_too() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, _) = tls_app(&ca, certs.path(), Duration::from_secs(5), |_| {}).await;
    let admin = app.admin_base.replace("http://", "https://");
    let r = app
        .client
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(format!("{admin}/admin/v1/environments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Plain HTTP to it gets no admin answer.
    let plain = reqwest::Client::new()
        .get(format!("{}/admin/v1/environments", app.admin_base))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert!(!matches!(plain, Ok(200 | 401)), "{plain:?}");
}

/// Under `[tls]` the console's cookies are `Secure` with the `__Host-` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_cookies_are_secure_with_the_host_prefix_under_tls() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, _) = tls_app(&ca, certs.path(), Duration::from_secs(5), |_| {}).await;
    let key =
        crate::console::admin_key(&app, "tls-viewer", wirecash_core::store::AdminRole::Viewer)
            .await;
    let admin = app.admin_base.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{admin}/console/login"))
        .send()
        .await
        .unwrap();
    let nonce = form.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(nonce.starts_with("__Host-wc_console_login="), "{nonce}");
    assert!(
        nonce.ends_with("; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure"),
        "{nonce}"
    );
    let body = form.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = &body[at..at + body[at..].find('"').unwrap()];
    let signed = client
        .post(format!("{admin}/console/login"))
        .header("cookie", nonce.split(';').next().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::support::form_body(&[
            ("admin_key", &key),
            ("csrf", token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-wc_console="))
        .unwrap();
    assert!(
        session.ends_with("; Path=/; Max-Age=1800; HttpOnly; SameSite=Strict; Secure"),
        "{session}"
    );
    let page = client
        .get(format!("{admin}/console"))
        .header("cookie", session.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // The plain-HTTP cookie name is not a session here.
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let plain_name = client
        .get(format!("{admin}/console"))
        .header("cookie", format!("wc_console={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain_name.status(), 303);
}

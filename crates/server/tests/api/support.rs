//! Test fixtures: `TestApp` (the real app on port 0 with a fake clock and its own
//! database), HTTP helpers, the CLI runner, and the check that no secret a test used
//! ever reached a log line.

// The same fixtures serve both test binaries: `crate::BACKEND` says whether each test's
// database is an SQLite file or a scratch PostgreSQL database.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wirecash_core::events::Actor;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use wirecash_auth::config::{Config, Overrides};
use wirecash_core::admin::AdminService;
use wirecash_core::{AuthService, FakeClock, SystemClock};
use wirecash_store_postgres::testing::TempDatabase;

/// Where a test binary's databases live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of one test: its URL, the environment a process needs to open it (the
/// master key file with PostgreSQL, which has no default place for it), and the guard
/// that drops a scratch PostgreSQL database at the end.
#[derive(Debug)]
pub struct ScratchDb {
    pub url: String,
    pub master_key_file: Option<PathBuf>,
    _pg: Option<TempDatabase>,
}

impl ScratchDb {
    /// A fresh database for this binary's backend; files go to `dir`.
    pub async fn create(dir: &Path) -> ScratchDb {
        match crate::BACKEND {
            Backend::Sqlite => Self::sqlite(dir),
            Backend::Postgres => {
                let pg = TempDatabase::create().await.unwrap_or_else(|e| {
                    let cause = std::error::Error::source(&e)
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    panic!(
                        "the PostgreSQL test server {} is not reachable ({e}{cause}): start \
                         it, or point WIRECASH_TEST_POSTGRES at one (README, \"The two \
                         commands\")",
                        wirecash_store_postgres::testing::server()
                    )
                });
                ScratchDb {
                    url: pg.url().to_string(),
                    master_key_file: Some(dir.join("master.key")),
                    _pg: Some(pg),
                }
            }
        }
    }

    /// An SQLite database `dir/test.db` (its key file is created next to it).
    pub fn sqlite(dir: &Path) -> ScratchDb {
        ScratchDb {
            url: format!("sqlite://{}", dir.join("test.db").display()),
            master_key_file: None,
            _pg: None,
        }
    }

    /// The same database opened with the master key in `path`.
    pub fn with_master_key_file(mut self, path: PathBuf) -> ScratchDb {
        self.master_key_file = Some(path);
        self
    }

    /// Makes the installation with `wirecash-auth init`, as provisioning does before
    /// the first start (the admin commands need one).
    pub fn init(&self) {
        ok_stdout(&run_cli(self, &["init"], None));
    }

    /// Writes a user straight into the store, past `user add`'s rules for names: a user
    /// of an installation from before a rule. Needs the installation (`init`).
    pub async fn add_legacy_user(&self, env: &str, name: &str, password: &str) {
        let config = test_config(self);
        let db = wirecash_auth::database::open(
            &config.database,
            &config,
            wirecash_auth::database::Access::Existing,
            false,
        )
        .await
        .unwrap();
        let hasher = wirecash_auth::password_hasher(&config).unwrap();
        let hash = hasher
            .hash(zeroize::Zeroizing::new(password.to_string()))
            .await
            .unwrap();
        db.store
            .create_user(
                wirecash_core::store::UserRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    env: env.to_string(),
                    username: name.to_string(),
                    password_hash: hash,
                    disabled: false,
                    created_at: wirecash_core::Clock::now(&SystemClock),
                    session_epoch: 0,
                    previous_password: None,
                },
                None,
            )
            .await
            .unwrap();
    }

    /// Environment variables a `wirecash-auth` process needs for this database.
    pub fn env(&self) -> Vec<(String, String)> {
        self.master_key_file
            .iter()
            .map(|f| {
                (
                    "WIRECASH_AUTH_MASTER_KEY_FILE".to_string(),
                    f.display().to_string(),
                )
            })
            .collect()
    }
}

/// Every log line of this test process (all levels of our crates).
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,wirecash_core=trace,wirecash_auth=trace,wirecash_store_sqlite=trace,wirecash_store_postgres=trace,audit=trace",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buf
    })
    .clone()
}

/// The captured log text so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&capture_logs().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Access and refresh token of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

impl Tokens {
    pub fn from_json(v: &Value) -> Tokens {
        Tokens {
            access_token: v["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            refresh_token: v["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
            expires_in: v["expires_in"].as_u64().expect("expires_in"),
        }
    }
}

/// A JSON answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<none>")
    }
    pub fn tokens(&self) -> Tokens {
        assert_eq!(
            self.status, 200,
            "expected 200, got {} {}",
            self.status, self.body
        );
        Tokens::from_json(&self.body)
    }
}

/// The application under test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    /// The admin listener's base URL (`http://127.0.0.1:PORT`).
    pub admin_base: String,
    pub client: reqwest::Client,
    pub clock: FakeClock,
    pub service: Arc<AuthService>,
    pub config: Config,
    pub dir: Option<TempDir>,
    pub db: Option<ScratchDb>,
    secrets: Mutex<Vec<String>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Cheap Argon2 parameters for tests; the defaults stay OWASP's.
pub fn test_config(db: &ScratchDb) -> Config {
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database: Some(db.url.clone()),
        log_format: None,
    };
    let mut c = Config::load_from(None, &BTreeMap::new(), &flags).unwrap();
    c.master_key_file = db.master_key_file.clone();
    // Every test request comes from 127.0.0.1: rate limits are tested on their own.
    c.rate_limit.authenticate_rps = 0;
    c.rate_limit.token_rps = 0;
    c.password_hash.memory_kib = 64;
    c.password_hash.iterations = 1;
    c.key_reload_interval = Duration::from_millis(50);
    c
}

impl TestApp {
    /// The app with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// The app with settings changed by `f`.
    pub async fn spawn_with(f: impl FnOnce(&mut Config)) -> TestApp {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let db = ScratchDb::create(dir.path()).await;
        let mut config = test_config(&db);
        f(&mut config);
        Self::start(dir, db, config, None).await
    }

    async fn start(
        dir: TempDir,
        db: ScratchDb,
        mut config: Config,
        clock: Option<FakeClock>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_base = format!("http://{}", admin_listener.local_addr().unwrap());
        // The default public URL names the configured port 0; the issuer and the
        // metadata's endpoints should name the real one.
        if config.public_url.ends_with(":0") {
            config.public_url = format!("http://{addr}");
        }
        let clock =
            clock.unwrap_or_else(|| FakeClock::new(wirecash_core::Clock::now(&SystemClock)));
        let service = wirecash_auth::build_service(&config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let svc = service.clone();
        let cfg = config.clone();
        tokio::spawn(async move {
            let _ =
                wirecash_auth::run_with_admin(listener, Some(admin_listener), svc, &cfg, async {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            admin_base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            clock,
            service,
            config,
            dir: Some(dir),
            db: Some(db),
            secrets: Mutex::new(Vec::new()),
            shutdown: Some(tx),
        }
    }

    /// Stops this app and starts a new one on the same database with changed settings.
    pub async fn restart_with(mut self, f: impl FnOnce(&mut Config)) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let dir = self.dir.take().expect("dir");
        let db = self.db.take().expect("db");
        let mut config = self.config.clone();
        f(&mut config);
        let secrets = std::mem::take(&mut *self.secrets.lock().unwrap());
        // A restart does not turn the clock back.
        let app = Self::start(dir, db, config, Some(self.clock.clone())).await;
        *app.secrets.lock().unwrap() = secrets;
        app
    }

    /// Records a secret that must never appear in any log line.
    pub fn remember(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_string());
    }

    fn remember_tokens(&self, a: &Answer) {
        for k in ["access_token", "refresh_token"] {
            if let Some(s) = a.body[k].as_str() {
                self.remember(s);
            }
        }
    }

    /// Admin operations on the app's database (in-process).
    pub fn admin(&self) -> AdminService {
        self.service.admin()
    }

    /// Creates a user and returns its password.
    pub async fn add_user(&self, env: &str, name: &str) -> String {
        let password = format!("pw-{name}-{}", uuid::Uuid::new_v4().simple());
        self.remember(&password);
        let hasher = wirecash_auth::password_hasher(&self.config).unwrap();
        self.admin()
            .add_user(
                &Actor::Cli,
                &hasher,
                &self::env(env),
                &user(name),
                zeroize::Zeroizing::new(password.clone()),
            )
            .await
            .unwrap();
        password
    }

    /// Sends a request built by the test; tokens in the answer are remembered as secrets.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let a = answer(request.send().await.unwrap()).await;
        self.remember_tokens(&a);
        a
    }

    /// POSTs a JSON body (already serialized) with `Content-Type: application/json`.
    pub async fn post_raw(&self, path: &str, body: &str) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(path, &body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POSTs a form (RFC 6749 encoding), with HTTP Basic client credentials if given
    /// (form-urlencoded inside, RFC 6749 §2.3.1). An empty body answers JSON `null`.
    pub async fn post_form(
        &self,
        path: &str,
        params: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(params));
        if let Some((id, secret)) = basic {
            request = request.header("authorization", basic_header(id, secret));
        }
        let r = request.send().await.unwrap();
        let a = answer_maybe_empty(r).await;
        self.remember_tokens(&a);
        a
    }

    pub async fn authenticate_raw(&self, env: &str, username: &str, password: &str) -> Answer {
        self.post_json(
            &format!("/{env}/authenticate"),
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Authenticates, asserting success.
    pub async fn login(&self, env: &str, username: &str, password: &str) -> Tokens {
        self.authenticate_raw(env, username, password)
            .await
            .tokens()
    }

    pub async fn refresh_raw(
        &self,
        env: &str,
        username: &str,
        access: &str,
        refresh: &str,
    ) -> Answer {
        self.post_json(
            &format!("/{env}/token"),
            &json!({"username": username, "access_token": access, "refresh_token": refresh}),
        )
        .await
    }

    pub async fn refresh(&self, env: &str, username: &str, t: &Tokens) -> Answer {
        self.refresh_raw(env, username, &t.access_token, &t.refresh_token)
            .await
    }

    /// Runs the real `wirecash-auth` binary on this app's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_cli(self.db.as_ref().expect("db"), args, stdin)
    }

    /// Number of live (unrevoked) sessions of a user.
    pub async fn live_sessions(&self, env: &str, user: &str) -> usize {
        self.admin()
            .sessions(&self::env(env), Some(&self::user(user)), None, 10_000)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.revoked_at.is_none())
            .count()
    }
}

/// An environment name for the admin operations (tests name valid ones).
pub fn env(name: &str) -> wirecash_core::validate::EnvName {
    wirecash_core::validate::EnvName::parse(name).unwrap()
}

pub fn introspector(name: &str) -> wirecash_core::validate::IntrospectorName {
    wirecash_core::validate::IntrospectorName::parse(name).unwrap()
}

/// A username for the admin operations.
pub fn user(name: &str) -> wirecash_core::validate::Username {
    wirecash_core::validate::Username::parse(name).unwrap()
}

/// Runs the binary on `db` with optional standard input.
pub fn run_cli(db: &ScratchDb, args: &[&str], stdin: Option<&str>) -> Output {
    run_cli_with(db, args, stdin, &[])
}

/// Adds a sandbox user through the real CLI (`user add NAME --password-stdin`).
pub fn add_user_cli(db: &ScratchDb, name: &str, password: &str) {
    let out = run_cli(
        db,
        &["user", "add", name, "--env", "sandbox", "--password-stdin"],
        Some(password),
    );
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `run_cli` with extra environment variables.
pub fn run_cli_with(
    db: &ScratchDb,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> Output {
    let mut cmd = bin_command(envs);
    // Before the command, as older scripts write it (moved behind it by the binary).
    cmd.arg("--database").arg(&db.url).args(args).envs(db.env());
    run_command(cmd, stdin)
}

/// Runs the binary with exactly `args` (no `--database` added) in `dir`.
pub fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Output {
    let mut cmd = bin_command(envs);
    cmd.current_dir(dir).args(args);
    run_command(cmd, stdin)
}

/// `run_in` for a command that must end by itself (a `serve` that must refuse to
/// start): after `limit` it is killed and the test fails, instead of hanging.
pub fn run_in_bounded(dir: &Path, args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = bin_command(envs);
    cmd.current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
            panic!("{args:?} was still running after {limit:?}");
        }
    }
}

/// The binary with no `WIRECASH_AUTH_*` variable of the test's own environment, cheap
/// Argon2 as in the in-process app, no rate limits, and `envs`.
pub fn bin_command(envs: &[(&str, &str)]) -> std::process::Command {
    bin_command_via(&[], envs)
}

/// `bin_command`, run by `prefix` (e.g. `sh -c 'umask 022 && exec "$0" "$@"'`), which
/// gets the binary's path and arguments as its own.
pub fn bin_command_via(prefix: &[&str], envs: &[(&str, &str)]) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_wirecash-auth");
    let mut cmd = match prefix.split_first() {
        None => std::process::Command::new(bin),
        Some((program, args)) => {
            let mut cmd = std::process::Command::new(program);
            cmd.args(args).arg(bin);
            cmd
        }
    };
    for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("WIRECASH_AUTH_")) {
        cmd.env_remove(var);
    }
    // Tests run side by side: no fixed admin port unless a test asks for one.
    cmd.env("WIRECASH_AUTH_ADMIN_LISTEN", "127.0.0.1:0")
        .env("WIRECASH_AUTH_PASSWORD_HASH_MEMORY_KIB", "64")
        .env("WIRECASH_AUTH_PASSWORD_HASH_ITERATIONS", "1")
        .env("WIRECASH_AUTH_RATE_LIMIT_AUTHENTICATE_RPS", "0")
        .env("WIRECASH_AUTH_RATE_LIMIT_TOKEN_RPS", "0")
        .envs(envs.iter().copied());
    cmd
}

fn run_command(mut cmd: std::process::Command, stdin: Option<&str>) -> Output {
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Standard error of a finished command.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output of a command that must have succeeded.
pub fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `application/x-www-form-urlencoded` encoding of `params`.
pub fn form_body(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An `Authorization: Basic` value as RFC 6749 §2.3.1 builds it.
pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Like `answer`, but an empty body is JSON `null` (RFC 7009 answers 200 with none).
pub async fn answer_maybe_empty(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text:?}"))
    };
    Answer {
        status,
        body,
        headers,
    }
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text:?}"));
    Answer {
        status,
        body,
        headers,
    }
}

/// Decodes the payload of a JWT without verifying it.
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if std::thread::panicking() {
            return;
        }
        let secrets = std::mem::take(&mut *self.secrets.lock().unwrap());
        if secrets.is_empty() {
            return;
        }
        // One pass over the logs for every secret: a load test remembers thousands of
        // tokens, and the logs of the whole test binary are megabytes.
        let finder = aho_corasick::AhoCorasick::new(&secrets).unwrap();
        if let Some(m) = finder.find(&logs()) {
            panic!(
                "a secret reached the logs: {}",
                secrets[m.pattern().as_usize()]
            );
        }
    }
}

/// A virtualenv under the test target dir named `name`, with `packages` (pinned pip
/// requirements), created on first use: built beside its final place and renamed into
/// it, so that an interrupted install is never mistaken for a finished one and two tests
/// (or test processes) making it at once do not collide. It is only ever run as
/// `bin/python`, which finds its packages after the move.
pub async fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = root.join(name);
    if venv.join("installed").exists() {
        return venv;
    }
    let partial = root.join(format!(
        "{name}.partial-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let status = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&partial)
        .status()
        .await
        .expect("python3 is needed for the third-party tests");
    assert!(status.success(), "python3 -m venv failed");
    let out = tokio::process::Command::new(partial.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "pip install {packages:?} failed (is PyPI reachable?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(partial.join("installed"), packages.join("\n")).unwrap();
    // An older, unfinished venv in place (from before the rename) is replaced.
    if venv.exists() && !venv.join("installed").exists() {
        let _ = std::fs::remove_dir_all(&venv);
    }
    // Another test may have won the race; its venv is as good as ours.
    if std::fs::rename(&partial, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    assert!(venv.join("installed").exists());
    venv
}

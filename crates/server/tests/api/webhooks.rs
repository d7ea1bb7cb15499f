//! Webhooks (SPEC §12) against a local receiver: the Standard Webhooks format checked by
//! its reference library, retries with the same id, at least once across `kill -9`, no
//! second delivery after a 2xx, and a slow endpoint that holds up no other.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use wirecash_core::events::Actor;
use wirecash_core::store::AdminRole;
use wirecash_core::validate::AdminKeyName;

use crate::support::TestApp;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Behaviour {
    /// Statuses to answer, in order; then 204.
    script: VecDeque<u16>,
    /// How long each answer takes.
    delay: Duration,
}

/// A local webhook receiver that records what it gets.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let (status, delay) = {
        let mut b = r.behaviour.lock().unwrap();
        (b.script.pop_front().unwrap_or(204), b.delay)
    };
    tokio::time::sleep(delay).await;
    let headers = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    r.got.lock().unwrap().push(Received { headers, body });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// A receiver on `listener` (127.0.0.1:0 unless a test needs a known port).
    pub async fn start_on(listener: tokio::net::TcpListener) -> Receiver {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            got: Arc::default(),
            behaviour: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    pub async fn start() -> Receiver {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.behaviour.lock().unwrap().script.extend(statuses);
    }

    pub fn slow(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `n` requests came; `tick` runs between looks (e.g. to
    /// move a fake clock on, so that retries fall due).
    pub async fn wait_for(&self, n: usize, mut tick: impl FnMut()) -> Vec<Received> {
        for _ in 0..300 {
            if self.received().len() >= n {
                return self.received();
            }
            tick();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} of {n} deliveries arrived", self.received().len());
    }
}

/// An app that may deliver to loopback, retrying after 100 ms (doubling).
pub async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.webhook.allowed_networks =
            vec![wirecash_auth::webhooks::egress::Network::parse("127.0.0.0/8").unwrap()];
        c.webhook.retry_base = Duration::from_millis(100);
    })
    .await
}

async fn owner_key(app: &TestApp) -> String {
    let issued = app
        .service
        .admin()
        .create_admin_key(
            &Actor::Cli,
            &app.service.admin_secrets().key_mac,
            &AdminKeyName::parse("root").unwrap(),
            AdminRole::Owner,
        )
        .await
        .unwrap();
    app.remember(&issued.key);
    issued.key.to_string()
}

async fn admin(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.admin_base))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Subscribes `url`; returns `(id, secret)`.
pub async fn subscribe(app: &TestApp, key: &str, url: &str, events: &[&str]) -> (String, String) {
    let (status, b) = admin(
        app,
        key,
        reqwest::Method::POST,
        "/admin/v1/webhooks",
        Some(json!({"url": url, "events": events})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let secret = b["secret"].as_str().unwrap().to_string();
    app.remember(&secret);
    (b["id"].as_str().unwrap().to_string(), secret)
}

/// A virtualenv with the Standard Webhooks reference library.
async fn reference_venv() -> PathBuf {
    crate::support::python_venv("py-standardwebhooks-1.3.0", &["standardwebhooks==1.3.0"]).await
}

/// The reference library's verdict on a delivery with `secret`: the payload's type.
async fn verify_with_reference(secret: &str, r: &Received) -> Result<String, String> {
    let venv = reference_venv().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("delivery.json");
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), json!(v)))
        .collect();
    std::fs::write(
        &file,
        json!({"headers": headers, "body": r.body}).to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party/verify_webhook.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(secret)
        .arg(&file)
        .output()
        .await
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_verify_with_the_standard_webhooks_reference_library_across_a_secret_rotation() {
    let app = app().await;
    let key = owner_key(&app).await;
    let receiver = Receiver::start().await;
    let (id, secret) =
        subscribe(&app, &key, &receiver.url, &["user_created", "webhook_test"]).await;
    app.add_user("sandbox", "alice").await;
    let got = receiver.wait_for(1, || {}).await;
    let first = &got[0];
    assert_eq!(
        verify_with_reference(&secret, first).await,
        Ok("user_created".to_string())
    );
    let body = first.json();
    assert_eq!(body["data"]["username"], "alice");
    assert_eq!(body["data"]["environment"], "sandbox");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(
        first.header("webhook-id"),
        body["data"]["event_id"].as_str()
    );
    assert_eq!(first.header("content-type"), Some("application/json"));
    // A wrong secret is refused by the library: the check can fail.
    let (_, other) = wirecash_auth::webhooks::sign::Secret::generate().unwrap();
    assert!(verify_with_reference(&other, first).await.is_err());
    // Rotating the secret: deliveries carry both signatures during the overlap.
    let (status, rotated) = admin(
        &app,
        &key,
        reqwest::Method::POST,
        &format!("/admin/v1/webhooks/{id}/rotate-secret"),
        Some(json!({"overlap": "1h"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    app.remember(&new_secret);
    let (status, _) = admin(
        &app,
        &key,
        reqwest::Method::POST,
        &format!("/admin/v1/webhooks/{id}/test"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let got = receiver.wait_for(2, || {}).await;
    let test = &got[1];
    assert_eq!(
        test.header("webhook-signature").unwrap().split(' ').count(),
        2
    );
    assert_eq!(
        verify_with_reference(&new_secret, test).await,
        Ok("webhook_test".to_string())
    );
    assert_eq!(
        verify_with_reference(&secret, test).await,
        Ok("webhook_test".to_string())
    );
    // Events of other types are not sent to it.
    app.add_user("sandbox", "bob").await;
    app.service
        .admin()
        .set_disabled(
            &Actor::Cli,
            &crate::support::env("sandbox"),
            &crate::support::user("bob"),
            true,
        )
        .await
        .unwrap();
    let got = receiver.wait_for(3, || {}).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        ["user_created", "webhook_test", "user_created"],
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_with_the_same_id_and_nothing_is_sent_after_the_2xx() {
    let app = app().await;
    let key = owner_key(&app).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 503]);
    let (id, _) = subscribe(&app, &key, &receiver.url, &[]).await;
    app.add_user("sandbox", "alice").await;
    let clock = app.clock.clone();
    let got = receiver
        .wait_for(3, || clock.advance(Duration::from_secs(1)))
        .await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event, one id: {ids:?}"
    );
    // Well after the 2xx, nothing more comes.
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.received().len(), 3);
    let (status, d) = admin(
        &app,
        &key,
        reqwest::Method::GET,
        &format!("/admin/v1/webhooks/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let d = &d["items"][0];
    assert_eq!(
        (&d["status"], &d["attempts"], &d["last_status"]),
        (&json!("delivered"), &json!(3), &json!(204)),
        "{d}"
    );
    // A re-send sends it once more, with the same id.
    let (status, _) = admin(
        &app,
        &key,
        reqwest::Method::POST,
        &format!("/admin/v1/webhooks/{id}/deliveries/{}/resend", ids[0]),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let got = receiver.wait_for(4, || {}).await;
    assert_eq!(got[3].header("webhook-id"), Some(ids[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_holds_up_neither_a_fast_one_nor_the_token_paths() {
    let app = app().await;
    let key = owner_key(&app).await;
    let slow = Receiver::start().await;
    slow.slow(Duration::from_secs(3));
    let fast = Receiver::start().await;
    subscribe(&app, &key, &slow.url, &[]).await;
    subscribe(&app, &key, &fast.url, &[]).await;
    let pw = app.add_user("sandbox", "alice").await;
    for n in 0..9 {
        app.add_user("sandbox", &format!("u{n}")).await;
    }
    // All ten reach the fast endpoint while the slow one has finished at most a few
    // (it takes 3 s each, 4 at a time).
    fast.wait_for(10, || {}).await;
    assert!(slow.received().len() < 10, "the slow endpoint kept up?");
    // And logins and refreshes go on meanwhile.
    let t = app.login("sandbox", "alice", &pw).await;
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_in_private_networks_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let key = owner_key(&app).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://10.0.0.1/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
    ] {
        let (status, b) = admin(
            &app,
            &key,
            reqwest::Method::POST,
            "/admin/v1/webhooks",
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(status, 400, "{url}: {b}");
    }
    let (status, b) = admin(
        &app,
        &key,
        reqwest::Method::POST,
        "/admin/v1/webhooks",
        Some(json!({"url": "http://93.184.216.34/", "events": ["nope"]})),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    // The API is the owner's.
    let op = app
        .service
        .admin()
        .create_admin_key(
            &Actor::Cli,
            &app.service.admin_secrets().key_mac,
            &AdminKeyName::parse("op").unwrap(),
            AdminRole::Operator,
        )
        .await
        .unwrap();
    app.remember(&op.key);
    let (status, _) = admin(
        &app,
        &op.key,
        reqwest::Method::GET,
        "/admin/v1/webhooks",
        None,
    )
    .await;
    assert_eq!(status, 403);
}

/// The fenced blocks of `lang` in docs/webhooks.md.
fn doc_snippets(lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/webhooks.md"),
    )
    .unwrap();
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

/// Runs `program` with the snippet on a delivery; its output or its error.
async fn run_snippet(
    program: &str,
    ext: &str,
    code: &str,
    secret: &str,
    r: &Received,
) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("verify.{ext}"));
    std::fs::write(&file, code).unwrap();
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), json!(v)))
        .collect();
    let delivery = json!({"headers": headers, "body": r.body}).to_string();
    let mut child = tokio::process::Command::new(program)
        .arg(&file)
        .env("WEBHOOK_SECRET", secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for the docs/webhooks.md test: {e}"));
    use tokio::io::AsyncWriteExt as _;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(delivery.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_and_node_snippets_of_the_docs_verify_real_deliveries_as_pasted() {
    let app = app().await;
    let key = owner_key(&app).await;
    let receiver = Receiver::start().await;
    let (_, secret) = subscribe(&app, &key, &receiver.url, &[]).await;
    app.add_user("sandbox", "alice").await;
    let got = receiver.wait_for(1, || {}).await;
    let (_, wrong) = wirecash_auth::webhooks::sign::Secret::generate().unwrap();
    let python = doc_snippets("python");
    let js = doc_snippets("js");
    assert_eq!((python.len(), js.len()), (1, 1), "one snippet each");
    for (program, ext, code) in [("python3", "py", &python[0]), ("node", "js", &js[0])] {
        assert_eq!(
            run_snippet(program, ext, code, &secret, &got[0]).await,
            Ok("user_created".to_string()),
            "{program}"
        );
        assert!(
            run_snippet(program, ext, code, &wrong, &got[0])
                .await
                .is_err(),
            "{program} accepted a wrong secret"
        );
        let mut tampered = got[0].clone();
        tampered.body = tampered.body.replace("alice", "mallory");
        assert!(
            run_snippet(program, ext, code, &secret, &tampered)
                .await
                .is_err(),
            "{program} accepted a changed body"
        );
    }
}

/// Binary-level: the node's address for the admin API and an owner key made by the CLI.
fn cli_owner_key(db: &crate::support::ScratchDb) -> String {
    let out = crate::support::run_cli(
        db,
        &["admin-key", "create", "root", "--role", "owner"],
        None,
    );
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const NODE_ENVS: &[(&str, &str)] = &[
    ("WIRECASH_AUTH_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("WIRECASH_AUTH_WEBHOOK_RETRY_BASE", "200ms"),
];

async fn post_as(client: &reqwest::Client, key: &str, url: String, body: Value) -> (u16, Value) {
    let r = client
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Distinct `webhook-id`s received, and how often each.
fn ids(r: &Receiver) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for x in r.received() {
        *out.entry(x.header("webhook-id").unwrap_or("").to_string())
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_during_five_events_and_a_kill_9_lose_nothing() {
    use crate::server_process::{start_node, terminate};
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::ScratchDb::create(dir.path()).await;
    db.init();
    let key = cli_owner_key(&db);
    // The receiver's port, free until the receiver comes up.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let log = dir.path().join("server.log");
    let mut server = start_node(&log, &db, &[], NODE_ENVS);
    let client = reqwest::Client::new();
    let admin = server.admin_base.clone().unwrap();
    let (status, b) = post_as(
        &client,
        &key,
        format!("{admin}/admin/v1/webhooks"),
        json!({"url": format!("http://{addr}/hook")}),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    for n in 0..5 {
        let (status, b) = post_as(
            &client,
            &key,
            format!("{admin}/admin/v1/sandbox/users"),
            json!({"username": format!("u{n}"), "password": "a long enough password"}),
        )
        .await;
        assert_eq!(status, 201, "{b}");
    }
    // Attempts fail meanwhile (nothing listens); then the node dies mid-way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().unwrap();
    let _ = server.child.wait();
    let receiver = Receiver::start_on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    server = start_node(&log, &db, &[], NODE_ENVS);
    receiver.wait_for(5, || {}).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = ids(&receiver);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got.values().all(|n| *n == 1),
        "nothing twice (none was delivered before the kill): {got:?}"
    );
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.iter().all(|t| t == "user_created"), "{types:?}");
    assert!(terminate(server).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_deliver_each_event_once() {
    if !matches!(crate::BACKEND, crate::support::Backend::Postgres) {
        return; // one SQLite file is served by one process
    }
    use crate::server_process::{start_node, terminate};
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::ScratchDb::create(dir.path()).await;
    db.init();
    let key = cli_owner_key(&db);
    let receiver = Receiver::start().await;
    let nodes: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| {
            start_node(
                &dir.path().join(format!("node-{n}.log")),
                &db,
                &[],
                NODE_ENVS,
            )
        })
        .collect();
    let client = reqwest::Client::new();
    let admins: Vec<String> = nodes
        .iter()
        .map(|n| n.admin_base.clone().unwrap())
        .collect();
    let (status, b) = post_as(
        &client,
        &key,
        format!("{}/admin/v1/webhooks", admins[0]),
        json!({"url": receiver.url}),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    // Events made on both nodes.
    for n in 0..20 {
        let (status, b) = post_as(
            &client,
            &key,
            format!("{}/admin/v1/sandbox/users", admins[n % 2]),
            json!({"username": format!("u{n}"), "password": "a long enough password"}),
        )
        .await;
        assert_eq!(status, 201, "{b}");
    }
    receiver.wait_for(20, || {}).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = ids(&receiver);
    assert_eq!(got.len(), 20, "{got:?}");
    assert!(
        got.values().all(|n| *n == 1),
        "an event was delivered twice: {got:?}"
    );
    for n in nodes {
        assert!(terminate(n).success());
    }
}

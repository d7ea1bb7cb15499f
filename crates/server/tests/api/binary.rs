//! The real binary on SQLite: start-up with `--listen 127.0.0.1:0` and its ready line,
//! the key file next to the database, graceful shutdown on SIGTERM, JSON logs, and a bad
//! configuration refused.

use std::process::Command;

use serde_json::json;

use crate::server_process::{post, start, start_with, terminate};
use crate::support::{ScratchDb, add_user_cli};

#[tokio::test]
async fn the_binary_prints_its_address_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    db.init();
    add_user_cli(&db, "alice", "a long enough password\n");
    let server = start(dir.path(), &db, "10s");
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let a = post(
        &client,
        format!("{}/sandbox/authenticate", server.base),
        json!({"username": "alice", "password": "a long enough password"}),
    )
    .await
    .unwrap();
    let t = a.tokens();
    let status = terminate(server);
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    // The key file was created with mode 0600 next to the database.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("test.db.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let logs = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    for secret in ["a long enough password", &t.access_token, &t.refresh_token] {
        assert!(!logs.contains(secret));
    }
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let server = start_with(dir.path(), &db, "10s", &["--log-format", "json"]);
    let r = reqwest::get(format!("{}/nope", server.base)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(terminate(server).success());
    let logs = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let mut ready = false;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(
            v["timestamp"].is_string() && v["target"].is_string(),
            "{line}"
        );
        if v["message"] == "wirecash-auth ready" {
            ready = true;
            // A list is a JSON array, not the text of one.
            assert_eq!(
                v["environments"],
                json!(["sandbox", "production"]),
                "{line}"
            );
            assert_eq!(v["tls"], json!(false), "{line}");
        }
    }
    assert!(ready, "{logs}");
}

#[tokio::test]
async fn the_binary_refuses_a_bad_configuration_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[tokens]\naccess_ttl = \"an hour\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wirecash-auth"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tokens.access_ttl"), "{err}");
    // What a duration may look like, not where the parser stopped.
    assert!(
        err.contains("a number and a unit") && !err.contains("at 0"),
        "{err}"
    );
}

/// SIGTERM at once after the ready line: a graceful stop (exit 0), not death by the
/// signal's default action. The handlers were installed only when the accept loop first
/// polled them, after the ready line, and the full suite under load hit that window.
#[tokio::test]
async fn sigterm_right_after_the_ready_line_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    for _ in 0..3 {
        let status = terminate(start(dir.path(), &db, "10s"));
        assert!(status.success(), "{status:?}");
    }
}

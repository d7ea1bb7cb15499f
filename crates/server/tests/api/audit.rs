//! Audit events (docs/audit.md): the real binary and the admin CLI with JSON logs; every
//! event is triggered and each record has exactly the fields the document lists for it,
//! with `target: audit`, and no password or token reaches any log line.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::server_process::{post, start_node, terminate};
use crate::support::{ScratchDb, Tokens, run_cli_with};

/// Keys every JSON log line has besides the event's own fields.
const ENVELOPE: &[&str] = &["timestamp", "level", "target", "message"];

/// event → (level, fields), from the tables of docs/audit.md.
fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit.md"))
        .unwrap();
    let mut events = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `event` | level | `f1`, `f2` | when |
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let fields = cells[3]
            .split(',')
            .map(|f| f.trim().trim_matches('`').to_string())
            .collect();
        assert!(
            events
                .insert(name.clone(), (cells[2].to_uppercase(), fields))
                .is_none(),
            "{name} twice"
        );
    }
    assert!(events.len() >= 17, "{events:?}");
    events
}

/// The audit records among JSON log lines.
fn audit_records(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|v| v["target"] == "audit")
        .collect()
}

fn cli(db: &ScratchDb, args: &[&str], stdin: Option<&str>) -> String {
    let mut full = vec!["--log-format", "json"];
    full.extend_from_slice(args);
    let out = run_cli_with(db, &full, stdin, &[("RUST_LOG", "info")]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// `cli`, also returning standard output.
fn cli_out(db: &ScratchDb, args: &[&str]) -> (String, String) {
    let mut full = vec!["--log-format", "json"];
    full.extend_from_slice(args);
    let out = run_cli_with(db, &full, None, &[("RUST_LOG", "info")]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn every_event_has_its_documented_shape() {
    let documented = documented();
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let password = "a long enough password";
    // The installation, made before the first start as provisioning does (key_created).
    let mut logs = cli(&db, &["init"], None);
    logs += &cli(
        &db,
        &[
            "user",
            "add",
            "alice",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );

    let added = cli(
        &db,
        &["introspector", "add", "orders-api", "--env", "sandbox"],
        None,
    );
    logs.push_str(&added);

    let log_file = dir.path().join("server.log");
    let server = start_node(&log_file, &db, &["--log-format", "json"], &[]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let login = || {
        post(
            &client,
            url("/sandbox/authenticate"),
            json!({"username": "alice", "password": password}),
        )
    };
    let refresh = |t: &Tokens| {
        post(
            &client,
            url("/sandbox/token"),
            json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token}),
        )
    };
    let mut secrets = vec![password.to_string()];
    let mut keep = |t: Tokens| {
        secrets.push(t.access_token.clone());
        secrets.push(t.refresh_token.clone());
        t
    };
    // login_ok, refresh ×2, refresh_replayed (t0 again inside the grace window),
    // reuse_detected (t0 again two generations late), refresh_refused (t2 of the
    // revoked session).
    let t0 = keep(login().await.unwrap().tokens());
    let t1 = keep(refresh(&t0).await.unwrap().tokens());
    let replay = keep(refresh(&t0).await.unwrap().tokens());
    assert_eq!(
        (replay.access_token, replay.refresh_token),
        (t1.access_token.clone(), t1.refresh_token.clone())
    );
    let t2 = keep(refresh(&t1).await.unwrap().tokens());
    assert_eq!(refresh(&t0).await.unwrap().status, 400);
    assert_eq!(refresh(&t2).await.unwrap().status, 400);
    // login_failed ×10, lockout, login_locked.
    for _ in 0..11 {
        post(
            &client,
            url("/sandbox/authenticate"),
            json!({"username": "mallory", "password": "wrong horse"}),
        )
        .await
        .unwrap();
    }
    // The standard endpoints: the client revokes a session (session_revoked, actor
    // client), a revocation of garbage changes nothing (revoke_ignored), and wrong
    // introspector credentials are refused (introspector_refused).
    let r = keep(login().await.unwrap().tokens());
    let form = |token: &str| crate::support::form_body(&[("token", token)]);
    for token in [r.refresh_token.as_str(), "garbage"] {
        let status = client
            .post(url("/sandbox/revoke"))
            .basic_auth("alice", Some(password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(token))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let status = client
        .post(url("/sandbox/introspect"))
        .basic_auth("orders-api", Some("wrong secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&r.access_token))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    // Two live sessions, ended by the incident button below.
    keep(login().await.unwrap().tokens());
    keep(login().await.unwrap().tokens());
    // The admin API: a refused key, then the incident button with a key the CLI made
    // (admin_key_created) and revokes afterwards (admin_key_revoked).
    let admin = server.admin_base.clone().expect("the admin listener is on");
    let refused = client
        .get(format!("{admin}/admin/v1/environments"))
        .bearer_auth("wcak_not_a_key")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused, 401);
    let created = cli_out(&db, &["admin-key", "create", "ops", "--role", "operator"]);
    logs.push_str(&created.1);
    let admin_key = created.0.trim().to_string();
    let status = client
        .post(format!("{admin}/admin/v1/sandbox/sessions/revoke-all"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // A planned rotation: the old password keeps working for the logins below.
    let status = client
        .post(format!("{admin}/admin/v1/sandbox/users/alice/credentials"))
        .bearer_auth(&admin_key)
        .json(&json!({"password": "the rotated password", "overlap": "1h"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    logs.push_str(&cli(&db, &["admin-key", "revoke", "ops"], None));
    // Two live sessions again: the CLI revokes one by id, then the user's others.
    keep(login().await.unwrap().tokens());
    let t = keep(login().await.unwrap().tokens());
    let sid = crate::support::claims(&t.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(terminate(server).success());
    logs.push_str(&std::fs::read_to_string(&log_file).unwrap());

    // The admin commands.
    for (args, stdin) in [
        (
            vec!["session", "revoke", sid.as_str(), "--env", "sandbox"],
            None,
        ),
        (
            vec!["session", "revoke", "--user", "alice", "--env", "sandbox"],
            None,
        ),
        (vec!["key", "rotate", "--env", "sandbox"], None),
        (vec!["user", "disable", "alice", "--env", "sandbox"], None),
        (vec!["user", "enable", "alice", "--env", "sandbox"], None),
        (
            vec![
                "user",
                "passwd",
                "alice",
                "--env",
                "sandbox",
                "--password-stdin",
            ],
            Some("another long password\n"),
        ),
        (vec!["user", "delete", "alice", "--env", "sandbox"], None),
        (
            vec!["introspector", "remove", "orders-api", "--env", "sandbox"],
            None,
        ),
    ] {
        logs.push_str(&cli(&db, &args, stdin));
    }

    for secret in secrets.iter().map(String::as_str).chain([
        "another long password",
        "mallory",
        "the rotated password",
        admin_key.as_str(),
    ]) {
        assert!(!logs.contains(secret), "a secret reached the log: {secret}");
    }
    let records = audit_records(&logs);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        let event = r["event"]
            .as_str()
            .unwrap_or_else(|| panic!("no event name: {r}"));
        let (level, fields) = documented
            .get(event)
            .unwrap_or_else(|| panic!("undocumented audit event {event}: {r}"));
        assert_eq!(r["level"].as_str(), Some(level.as_str()), "{r}");
        // Keys are created for every environment; admin keys belong to none; everything
        // else happened in sandbox.
        let envs: &[&str] = if event == "key_created" {
            &["sandbox", "production"]
        } else if event.starts_with("admin_key_") {
            &[""]
        } else {
            &["sandbox"]
        };
        assert!(envs.contains(&r["env"].as_str().unwrap_or("")), "{r}");
        let keys: BTreeSet<String> = r
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !ENVELOPE.contains(&k.as_str()) && *k != "event")
            .cloned()
            .collect();
        assert_eq!(&keys, fields, "fields of {event}: {r}");
        *seen.entry(event.to_string()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("key_created", 2), // one per environment
        ("login_ok", 6),
        ("refresh", 2),
        ("refresh_replayed", 1),
        ("reuse_detected", 1),
        ("refresh_refused", 1),
        ("login_failed", 10),
        ("lockout", 1),
        ("login_locked", 1),
        ("user_added", 1),
        ("session_revoked", 2),
        ("revoke_ignored", 1),
        ("introspector_refused", 1),
        ("introspector_added", 1),
        ("introspector_removed", 1),
        ("user_sessions_revoked", 1),
        ("key_rotated", 1),
        ("user_disabled", 1),
        ("user_enabled", 1),
        ("password_changed", 1),
        ("user_deleted", 1),
        ("admin_key_created", 1),
        ("admin_key_revoked", 1),
        ("admin_key_refused", 1),
        ("env_sessions_revoked", 1),
        ("credentials_rotated", 1),
    ]
    .into_iter()
    .collect();
    let seen_ref: BTreeMap<&str, usize> = seen.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(seen_ref, expected);
    assert_eq!(
        documented
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "every documented event is triggered here"
    );

    // The values that identify things are right.
    let find = |event: &str| records.iter().find(|r| r["event"] == event).unwrap();
    let reuse = find("reuse_detected");
    assert_eq!(reuse["generation"], 0);
    assert_eq!(reuse["revoked"], true);
    assert_eq!(
        reuse["sid"].to_string(),
        crate::support::claims(&t0.access_token)["sid"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        reuse["user_id"],
        crate::support::claims(&t0.access_token)["sub"]
    );
    assert_eq!(find("refresh_refused")["reason"], "revoked");
    assert_eq!(find("lockout")["kind"], "username");
    assert_eq!(find("lockout")["failures"], 10);
    assert_eq!(find("login_failed")["client_ip"], "127.0.0.1");
    let by_actor = |actor: &str| {
        records
            .iter()
            .find(|r| r["event"] == "session_revoked" && r["actor"] == actor)
            .unwrap()
    };
    assert_eq!(by_actor("cli")["sid"].to_string(), sid);
    assert_eq!(
        by_actor("client")["sid"].to_string(),
        crate::support::claims(&r.access_token)["sid"]
            .as_str()
            .unwrap()
    );
    assert_eq!(find("revoke_ignored")["reason"], "unknown_token");
    assert_eq!(find("login_ok")["via"], "authenticate");
    assert_eq!(find("introspector_added")["introspector"], "orders-api");
    assert_eq!(find("user_sessions_revoked")["count"], 1);
}

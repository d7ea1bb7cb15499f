//! The crash test on the real binary, on either backend: `kill -9` under load, restart,
//! and check that every token received with a 200 still works and no spent one revives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

use crate::server_process::{Server, post, start, terminate};
use crate::support::{ScratchDb, Tokens, add_user_cli};

struct Chain {
    latest: Tokens,
    spent: Vec<Tokens>,
    /// When the request without an answer was sent (`None`: every request was answered).
    unanswered_since: Option<std::time::Instant>,
    /// When the last 200 arrived.
    answered_at: Option<std::time::Instant>,
    in_flight: bool,
}

/// Runs refresh chains until the server dies; returns their state at that moment.
async fn load_until_killed(server: Server, chains: Vec<Tokens>, spin_ms: u64) -> Vec<Chain> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let states: Vec<Arc<Mutex<Chain>>> = chains
        .into_iter()
        .map(|t| {
            Arc::new(Mutex::new(Chain {
                latest: t,
                spent: vec![],
                unanswered_since: None,
                answered_at: None,
                in_flight: false,
            }))
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let (client, stop, state) = (client.clone(), stop.clone(), state.clone());
        let url = format!("{}/sandbox/token", server.base);
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = {
                    let mut s = state.lock().await;
                    s.unanswered_since = Some(std::time::Instant::now());
                    json!({"username": "alice", "access_token": s.latest.access_token, "refresh_token": s.latest.refresh_token})
                };
                match post(&client, url.clone(), body).await {
                    Ok(a) if a.status == 200 => {
                        let mut s = state.lock().await;
                        let next = a.tokens();
                        let old = std::mem::replace(&mut s.latest, next);
                        s.spent.push(old);
                        s.unanswered_since = None;
                        s.answered_at = Some(std::time::Instant::now());
                    }
                    Ok(a) => panic!("refresh refused while the server was up: {} {}", a.status, a.body),
                    Err(_) => return, // the server is gone
                }
                n += 1;
                // Even chains mostly idle (so that at the kill they hold a received, unsent
                // token — idle 200 ms against a request of a few ms, even on a loaded CI
                // box where requests take tens of ms); odd ones keep the server busy.
                if i % 2 == 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                } else if n.is_multiple_of(3) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(spin_ms)).await;
    // Kill just after an idling chain got its answer, so that at least one holds a token
    // received with a 200 and unsent (on a box loaded enough that requests take longer
    // than the idle 200 ms, a kill at a fixed moment can find every chain mid-request).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let mut fresh = false;
        for s in states.iter().step_by(2) {
            let s = s.lock().await;
            fresh |= s.unanswered_since.is_none()
                && s.answered_at
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(50));
        }
        if fresh {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    // A request sent after this instant cannot have been served: the kill is pending
    // on every server thread, and a thread that would read the request dies on its way
    // back from the kernel, before any of its code runs. One sent before it without an
    // answer may or may not have been committed. (Not the moment `wait` returns: on a
    // loaded box the process takes a while to be torn down, every chain that wakes
    // meanwhile sends a request that fails, and would count as in flight.)
    let dead_at = std::time::Instant::now();
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let mut out = Vec::new();
    for s in states {
        let mut s = Arc::try_unwrap(s).ok().unwrap().into_inner();
        s.in_flight = s.unanswered_since.is_some_and(|t| t < dead_at);
        out.push(s);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_issued_token_and_revives_no_spent_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let password = "crash test password";
    db.init();
    add_user_cli(&db, "alice", password);
    let client = reqwest::Client::new();
    let mut secrets: Vec<String> = vec![password.to_string()];
    let mut server = start(dir.path(), &db, "0s");
    let mut checked_total = 0;
    for round in 0..3u64 {
        let mut chains = Vec::new();
        for _ in 0..12 {
            let a = post(
                &client,
                format!("{}/sandbox/authenticate", server.base),
                json!({"username": "alice", "password": password}),
            )
            .await
            .unwrap();
            chains.push(a.tokens());
        }
        let states = load_until_killed(server, chains, 300 + round * 150).await;
        server = start(dir.path(), &db, "0s");
        let total: usize = states.iter().map(|s| s.spent.len()).sum();
        assert!(
            total > 50,
            "round {round}: only {total} refreshes before the kill"
        );
        let mut checked_idle = 0;
        for s in &states {
            secrets.push(s.latest.access_token.clone());
            secrets.push(s.latest.refresh_token.clone());
            let url = format!("{}/sandbox/token", server.base);
            let body = |t: &Tokens| json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token});
            let latest = post(&client, url.clone(), body(&s.latest)).await.unwrap();
            if s.in_flight {
                // Its last request may or may not have been committed: either answer is
                // consistent, but never a 5xx.
                assert!(
                    latest.status == 200 || latest.status == 400,
                    "{} {}",
                    latest.status,
                    latest.body
                );
            } else {
                assert_eq!(
                    latest.status, 200,
                    "round {round}: a token received with a 200 was lost: {}",
                    latest.body
                );
                checked_idle += 1;
            }
            if let Some(t) = latest.body["refresh_token"].as_str() {
                secrets.push(t.to_string());
            }
            // Every spent token stays spent.
            if let Some(spent) = s.spent.last() {
                let again = post(&client, url, body(spent)).await.unwrap();
                assert_eq!(
                    again.status, 400,
                    "round {round}: a spent token refreshed after the crash"
                );
            }
        }
        eprintln!(
            "round {round}: {total} refreshes before kill -9; {checked_idle} of {} chains checked as idle",
            states.len()
        );
        assert!(
            checked_idle >= 1,
            "round {round}: no chain was idle at the kill; nothing was checked"
        );
        checked_total += checked_idle;
    }
    assert!(
        checked_total >= 6,
        "only {checked_total} received tokens were checked after the crashes"
    );
    assert!(terminate(server).success());
    let logs = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(logs.contains("reuse_detected"), "trace logs were captured");
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "a secret reached the server log"
        );
    }
}

/// Every page of an admin list.
async fn all_items(
    client: &reqwest::Client,
    admin: &str,
    path: &str,
    key: &str,
) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{admin}{path}{sep}limit=200&cursor={c}"),
            None => format!("{admin}{path}{sep}limit=200"),
        };
        let page: serde_json::Value = client
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

/// An admin change and its event are one commit: `kill -9` while admin writes run, then
/// every user has exactly its `user_created` event (and a disabled one its
/// `user_disabled`), and every such event its change — a crash between them leaves
/// neither, never one without the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_admin_writes_leaves_each_change_with_its_event_or_neither() {
    use std::collections::{BTreeMap, BTreeSet};
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    db.init();
    let out = crate::support::run_cli(
        &db,
        &["admin-key", "create", "crash", "--role", "operator"],
        None,
    );
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut server = start(dir.path(), &db, "0s");
    let mut made_total = 0;
    for round in 0..3u64 {
        let admin = server.admin_base.clone().expect("admin listener");
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for t in 0..6 {
            let (client, stop, key, admin) =
                (client.clone(), stop.clone(), key.clone(), admin.clone());
            tasks.push(tokio::spawn(async move {
                let mut made = 0u32;
                let mut n = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("r{round}-t{t}-{n}");
                    n += 1;
                    let created = client
                        .post(format!("{admin}/admin/v1/sandbox/users"))
                        .bearer_auth(&key)
                        .json(&json!({"username": name, "password": "crash test password"}))
                        .send()
                        .await;
                    if !matches!(&created, Ok(r) if r.status() == 201) {
                        continue;
                    }
                    made += 1;
                    if n.is_multiple_of(2) {
                        let _ = client
                            .patch(format!("{admin}/admin/v1/sandbox/users/{name}"))
                            .bearer_auth(&key)
                            .json(&json!({"disabled": true}))
                            .send()
                            .await;
                    }
                }
                made
            }));
        }
        tokio::time::sleep(Duration::from_millis(400 + round * 200)).await;
        server.child.kill().unwrap(); // SIGKILL, mid-write
        let _ = server.child.wait();
        stop.store(true, Ordering::SeqCst);
        let mut made = 0;
        for t in tasks {
            made += t.await.unwrap();
        }
        assert!(
            made > 20,
            "round {round}: only {made} users made before the kill"
        );
        made_total += made;
        server = start(dir.path(), &db, "0s");
    }
    let admin = server.admin_base.clone().expect("admin listener");
    let users = all_items(&client, &admin, "/admin/v1/sandbox/users", &key).await;
    let events = all_items(&client, &admin, "/admin/v1/sandbox/events", &key).await;
    let disabled: BTreeSet<String> = users
        .iter()
        .filter(|u| u["disabled"] == true)
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    let names: BTreeSet<String> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    let mut per_kind: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &events {
        let who = e["username"].as_str().unwrap_or("").to_string();
        *per_kind
            .entry((e["type"].as_str().unwrap().to_string(), who))
            .or_default() += 1;
    }
    let with = |kind: &str| -> BTreeSet<String> {
        per_kind
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, u)| u.clone())
            .collect()
    };
    assert!(
        per_kind.values().all(|n| *n == 1),
        "an event twice: {per_kind:?}"
    );
    assert_eq!(
        with("user_created"),
        names,
        "users and user_created events differ"
    );
    assert_eq!(
        with("user_disabled"),
        disabled,
        "disabled users and user_disabled events differ"
    );
    assert!(
        names.len() >= made_total as usize,
        "{} users, {made_total} answered 201",
        names.len()
    );
    assert!(terminate(server).success());
}

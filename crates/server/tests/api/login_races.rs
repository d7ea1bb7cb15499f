//! Logins racing the changes that end a user's sessions (SPEC §2): a login whose password
//! check was running while a password change, a disable, a revoke-all or a delete
//! committed never leaves a live session behind and never ends in a 5xx.

// Such a login gets the wrong-password answer. Two shapes: login loops from several
// addresses while the change commits (the natural race, many rounds), and logins held in
// the Argon2 queue behind slow checks while the change commits (every login of the round
// has read the user before the change and is decided after it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wirecash_core::events::Actor;

use serde_json::json;

use crate::server_process::start_node;
use crate::support::{
    Answer, ScratchDb, TestApp, Tokens, add_user_cli, answer, run_cli, run_cli_with,
};
use crate::support::{env, user as name};

/// Rounds of the loop tests, and login loops (each from its own address) per round.
const ROUNDS: usize = 15;
const LOOPS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Password,
    Disable,
    RevokeAll,
    Delete,
}

async fn spawn(memory_kib: u32) -> TestApp {
    TestApp::spawn_with(|c| {
        // Locks would only hide the race: every login here must reach its check.
        c.security.login_max_failures = 0;
        c.security.address_max_failures = 0;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        // A check of a few milliseconds (the defaults take tens): the window between
        // reading the user and inserting the session that the race needs.
        c.password_hash.memory_kib = memory_kib;
    })
    .await
}

/// One login from `addr`, without the fixture (so that loops can run in tasks).
async fn login_from(
    client: &reqwest::Client,
    base: &str,
    addr: &str,
    user: &str,
    password: &str,
) -> Answer {
    let r = client
        .post(format!("{base}/sandbox/authenticate"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", addr)
        .body(json!({"username": user, "password": password}).to_string())
        .send()
        .await
        .unwrap();
    answer(r).await
}

async fn apply(app: &TestApp, change: Change, user: &str) {
    let admin = app.admin();
    match change {
        Change::Password => {
            let hasher = wirecash_auth::password_hasher(&app.config).unwrap();
            let new = format!("new-{}", uuid::Uuid::new_v4().simple());
            app.remember(&new);
            admin
                .set_password(
                    &Actor::Cli,
                    &hasher,
                    &env("sandbox"),
                    &name(user),
                    zeroize::Zeroizing::new(new),
                )
                .await
                .unwrap();
        }
        Change::Disable => admin
            .set_disabled(&Actor::Cli, &env("sandbox"), &name(user), true)
            .await
            .unwrap(),
        Change::RevokeAll => {
            admin
                .revoke_user_sessions(&Actor::Cli, &env("sandbox"), &name(user))
                .await
                .unwrap();
        }
        Change::Delete => admin
            .delete_user(&Actor::Cli, &env("sandbox"), &name(user))
            .await
            .unwrap(),
    }
}

/// What every login of a round must satisfy once the change committed: a 200 or the
/// wrong-password 400, never anything else; no live session left (re-enabling a
/// disabled user brings none back); no token handed out refreshes. The first broken
/// rule, if any.
async fn check_round(
    app: &TestApp,
    change: Change,
    user: &str,
    answers: &[Answer],
) -> Option<String> {
    for a in answers {
        if !(a.status == 200 || (a.status == 400 && a.error() == "invalid_grant")) {
            return Some(format!("a racing login got {} {}", a.status, a.body));
        }
    }
    if change == Change::Disable {
        app.admin()
            .set_disabled(&Actor::Cli, &env("sandbox"), &name(user), false)
            .await
            .unwrap();
    }
    if change != Change::Delete {
        let live = app.live_sessions("sandbox", user).await;
        if live > 0 {
            return Some(format!(
                "{live} live session(s) of logins checked before the change"
            ));
        }
    }
    for a in answers.iter().filter(|a| a.status == 200) {
        let t = Tokens::from_json(&a.body);
        let r = app.refresh("sandbox", user, &t).await;
        if (r.status.as_u16(), r.error()) != (400, "invalid_grant") {
            return Some(format!(
                "a session of a racing login still refreshes: {}",
                r.status
            ));
        }
    }
    None
}

/// Login loops from `LOOPS` addresses with the password; the change commits while they
/// run. Only for changes after which no login can succeed any more (a revoke-all lets
/// the next login in, legitimately: see `held_logins_decided_after_the_change`).
async fn loops_while_the_change_commits(change: Change) {
    let app = spawn(2048).await;
    let mut successes = 0;
    let mut lost = Vec::new();
    for round in 0..ROUNDS {
        let user = format!("u{round}");
        let pw = app.add_user("sandbox", &user).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut loops = Vec::new();
        for i in 0..LOOPS {
            let (client, base) = (app.client.clone(), app.base.clone());
            let (stop, user, pw) = (Arc::clone(&stop), user.clone(), pw.clone());
            loops.push(tokio::spawn(async move {
                let addr = format!("203.0.113.{}", i + 1);
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.push(login_from(&client, &base, &addr, &user, &pw).await);
                }
                seen
            }));
        }
        // Let the loops get going, then commit the change in the middle of them.
        tokio::time::sleep(Duration::from_millis(15 + (round as u64 * 7) % 25)).await;
        apply(&app, change, &user).await;
        // Logins that were past their check finish after the change.
        tokio::time::sleep(Duration::from_millis(30)).await;
        stop.store(true, Ordering::Relaxed);
        let mut answers = Vec::new();
        for l in loops {
            answers.extend(l.await.unwrap());
        }
        successes += answers.iter().filter(|a| a.status == 200).count();
        if let Some(broken) = check_round(&app, change, &user, &answers).await {
            lost.push(format!("round {round}: {broken}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{change:?}: {} of {ROUNDS} rounds lost the race:\n{}",
        lost.len(),
        lost.join("\n")
    );
    assert!(
        successes > 0,
        "{change:?}: no login succeeded before the change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_ends_the_sessions_of_logins_racing_it() {
    loops_while_the_change_commits(Change::Password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disable_ends_the_sessions_of_logins_racing_it_also_after_enable() {
    loops_while_the_change_commits(Change::Disable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_logins_never_answers_5xx_or_leaves_a_session() {
    loops_while_the_change_commits(Change::Delete).await;
}

/// Argon2 parameters of the "slow" user: a check of half a second or more.
const SLOW_MEMORY_KIB: &str = "65536";
const SLOW_ITERATIONS: &str = "16";

/// How many times the server has read a user (`find_user` calls, from its metrics).
async fn users_read(client: &reqwest::Client, base: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(
                "wirecash_store_operation_duration_seconds_count{operation=\"find_user\"} ",
            )
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the server has read a user `n` times.
async fn until_read(client: &reqwest::Client, base: &str, n: f64) {
    for _ in 0..2000 {
        if users_read(client, base).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the server never read a user {n} times");
}

/// The CLI command that makes `change` for `user`.
fn cli_change(db: &ScratchDb, change: Change, user: &str) {
    let (args, stdin): (Vec<&str>, _) = match change {
        Change::Password => (
            vec![
                "user",
                "passwd",
                user,
                "--env",
                "sandbox",
                "--password-stdin",
            ],
            Some("a new password for the race\n"),
        ),
        Change::Disable => (vec!["user", "disable", user, "--env", "sandbox"], None),
        Change::RevokeAll => (
            vec!["session", "revoke", "--user", user, "--env", "sandbox"],
            None,
        ),
        Change::Delete => (vec!["user", "delete", user, "--env", "sandbox"], None),
    };
    let out = run_cli(db, &args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real binary; every login of a round reads the user, then waits in the Argon2
/// queue behind slow checks (of another user, whose stored hash has expensive
/// parameters) that occupy every hashing thread; the change commits, through the CLI,
/// during that wait — once the server's own metrics show that every login of the round
/// has read the user, so the order is certain, not hoped for. Every login was checked against the
/// user as it was before the change and is decided after it: each must get the answer
/// of a wrong password, and no session may be left.
async fn held_logins_decided_after_the_change(change: Change) {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    db.init();
    let slow = run_cli_with(
        &db,
        &[
            "user",
            "add",
            "slow",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some("the slow user's password\n"),
        &[
            ("WIRECASH_AUTH_PASSWORD_HASH_MEMORY_KIB", SLOW_MEMORY_KIB),
            ("WIRECASH_AUTH_PASSWORD_HASH_ITERATIONS", SLOW_ITERATIONS),
        ],
    );
    assert!(
        slow.status.success(),
        "{}",
        String::from_utf8_lossy(&slow.stderr)
    );
    let server = start_node(
        &dir.path().join("server.log"),
        &db,
        &[],
        &[
            ("WIRECASH_AUTH_SECURITY_LOGIN_MAX_FAILURES", "0"),
            ("WIRECASH_AUTH_SECURITY_ADDRESS_MAX_FAILURES", "0"),
            ("WIRECASH_AUTH_SECURITY_USERNAME_MAX_FAILURES", "0"),
        ],
    );
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut decided = 0;
    for round in 0..2 {
        let user = format!("held{round}");
        let pw = format!("password of {user}");
        add_user_cli(&db, &user, &format!("{pw}\n"));
        // Every hashing thread busy, and one slow check waiting (wrong password: no
        // rehash follows).
        let read = users_read(&client, &base).await;
        let mut slow = Vec::new();
        for _ in 0..threads + 1 {
            let (client, base) = (client.clone(), base.clone());
            slow.push(tokio::spawn(async move {
                let a = login_from(&client, &base, "127.0.0.1", "slow", "wrong").await;
                (a, std::time::Instant::now())
            }));
        }
        let slow_read = read + (threads + 1) as f64;
        until_read(&client, &base, slow_read).await;
        let mut held = Vec::new();
        for _ in 0..6 {
            let (client, base) = (client.clone(), base.clone());
            let (user, pw) = (user.clone(), pw.clone());
            held.push(tokio::spawn(async move {
                login_from(&client, &base, "127.0.0.1", &user, &pw).await
            }));
        }
        // Every held login has read the user (and queued behind the slow checks).
        until_read(&client, &base, slow_read + 6.0).await;
        cli_change(&db, change, &user);
        let applied = std::time::Instant::now();
        let mut answers = Vec::new();
        for h in held {
            answers.push(h.await.unwrap());
        }
        let mut held_until_applied = true;
        for s in slow {
            let (a, ended) = s.await.unwrap();
            assert_eq!(a.status, 400, "{}", a.body);
            held_until_applied &= ended > applied;
        }
        if !held_until_applied {
            // The slow checks ended before the change did (a very loaded machine): the
            // round proves nothing; the next one tries again.
            continue;
        }
        decided += 1;
        for a in &answers {
            assert_eq!(
                (a.status.as_u16(), a.error()),
                (400, "invalid_grant"),
                "{change:?}: a login checked before the change and decided after it got {}",
                a.body
            );
        }
        let list = run_cli(
            &db,
            &["session", "list", "--env", "sandbox", "--user", &user],
            None,
        );
        let listed = String::from_utf8_lossy(&list.stdout);
        assert!(
            !listed.lines().any(|l| l.contains(" live ")),
            "{change:?}: a live session was left:\n{listed}"
        );
    }
    assert!(
        decided > 0,
        "{change:?}: no round held its logins long enough"
    );
}

#[tokio::test]
async fn held_logins_lose_to_a_password_change() {
    held_logins_decided_after_the_change(Change::Password).await;
}

#[tokio::test]
async fn held_logins_lose_to_a_disable() {
    held_logins_decided_after_the_change(Change::Disable).await;
}

#[tokio::test]
async fn held_logins_lose_to_a_revoke_of_all_sessions() {
    held_logins_decided_after_the_change(Change::RevokeAll).await;
}

#[tokio::test]
async fn held_logins_lose_to_a_delete() {
    held_logins_decided_after_the_change(Change::Delete).await;
}

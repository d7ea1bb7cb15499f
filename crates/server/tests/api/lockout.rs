//! Brute-force protection: failed logins per username and per client address lock with
//! 429 and `Retry-After`.

// The lock ends by itself and grows with further failures, unknown usernames lock the
// same way, and during a lock even the right password gets 429 (no oracle).

use std::time::Duration;

use crate::support::{Answer, TestApp};

fn retry_after(a: &Answer) -> u64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

fn assert_locked(a: &Answer, secs: u64) {
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.error(), "too_many_requests");
    assert_eq!(retry_after(a), secs, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
}

async fn fail(app: &TestApp, user: &str, times: usize) {
    for i in 0..times {
        let a = app
            .authenticate_raw("sandbox", user, "wrong password")
            .await;
        assert_eq!(a.status, 400, "failure {} of {user}: {}", i + 1, a.body);
        assert_eq!(a.error(), "invalid_grant");
    }
}

#[tokio::test]
async fn eleven_wrong_passwords_lock_the_user_and_the_lock_ends_by_itself() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    fail(&app, "alice", 10).await;
    let eleventh = app
        .authenticate_raw("sandbox", "alice", "wrong password")
        .await;
    assert_locked(&eleventh, 60);
    // The right password is refused the same way while locked.
    let right = app.authenticate_raw("sandbox", "alice", &pw).await;
    assert_locked(&right, 60);
    assert_eq!(right.body, eleventh.body);
    app.clock.advance(Duration::from_secs(30));
    assert_locked(&app.authenticate_raw("sandbox", "alice", &pw).await, 30);
    app.clock.advance(Duration::from_secs(30));
    app.login("sandbox", "alice", &pw).await;
    let logs = crate::support::logs();
    assert!(
        logs.contains("event=\"lockout\"") && logs.contains("kind=\"username\""),
        "no lockout audit event"
    );
}

#[tokio::test]
async fn an_unknown_username_locks_exactly_like_a_real_one() {
    let app = TestApp::spawn().await;
    app.add_user("sandbox", "alice").await;
    fail(&app, "alice", 10).await;
    fail(&app, "nobody", 10).await;
    let real = app.authenticate_raw("sandbox", "alice", "x").await;
    let unknown = app.authenticate_raw("sandbox", "nobody", "x").await;
    assert_locked(&real, 60);
    assert_locked(&unknown, 60);
    assert_eq!(real.body, unknown.body);
}

#[tokio::test]
async fn locks_grow_with_further_failures_and_a_success_clears_the_count() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    fail(&app, "alice", 10).await;
    app.clock.advance(Duration::from_secs(60));
    // The lock ended; the next failure locks again, twice as long.
    fail(&app, "alice", 1).await;
    assert_locked(&app.authenticate_raw("sandbox", "alice", "x").await, 120);
    app.clock.advance(Duration::from_secs(120));
    fail(&app, "alice", 1).await;
    assert_locked(&app.authenticate_raw("sandbox", "alice", "x").await, 240);
    app.clock.advance(Duration::from_secs(240));
    app.login("sandbox", "alice", &pw).await;
    // Counting starts again from zero.
    fail(&app, "alice", 9).await;
    app.login("sandbox", "alice", &pw).await;
}

#[tokio::test]
async fn the_address_limit_counts_across_usernames_and_believes_only_trusted_proxies() {
    let app = TestApp::spawn_with(|c| {
        c.security.login_max_failures = 0;
        c.security.address_max_failures = 5;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let from = |addr: &str, user: &str, password: &str| {
        app.client
            .post(format!("{}/sandbox/authenticate", app.base))
            .header("content-type", "application/json")
            .header("x-forwarded-for", addr)
            .body(serde_json::json!({"username": user, "password": password}).to_string())
    };
    for i in 0..5 {
        let a = app
            .send(from("203.0.113.7", &format!("guess{i}"), "x"))
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
    }
    assert_locked(&app.send(from("203.0.113.7", "alice", &pw)).await, 60);
    // A forged left-most entry does not escape: the proxy appended the real address.
    assert_locked(
        &app.send(from("198.51.100.1, 203.0.113.7", "alice", &pw))
            .await,
        60,
    );
    // Another client behind the same proxy is not affected.
    assert_eq!(
        app.send(from("203.0.113.8", "alice", &pw)).await.status,
        200
    );
}

#[tokio::test]
async fn limits_of_zero_turn_lockout_off() {
    let app = TestApp::spawn_with(|c| {
        c.security.login_max_failures = 0;
        c.security.address_max_failures = 0;
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    fail(&app, "alice", 25).await;
    app.login("sandbox", "alice", &pw).await;
}

/// A login request from `addr` (believed: the tests trust 127.0.0.1 as a proxy).
fn login_from(app: &TestApp, addr: &str, user: &str, password: &str) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}/sandbox/authenticate", app.base))
        .header("content-type", "application/json")
        .header("x-forwarded-for", addr)
        .body(serde_json::json!({"username": user, "password": password}).to_string())
}

/// Sends all `guesses` (address, username, password) at once and counts the answers:
/// how many were checked (400 wrong password) and how many refused (429).
async fn burst(app: &TestApp, guesses: Vec<(String, String, String)>) -> (usize, usize) {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(guesses.len()));
    let mut tasks = Vec::new();
    for (addr, user, password) in guesses {
        let request = login_from(app, &addr, &user, &password);
        let start = std::sync::Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            crate::support::answer(request.send().await.unwrap()).await
        }));
    }
    let (mut checked, mut refused) = (0, 0);
    for t in tasks {
        let a = t.await.unwrap();
        match a.status.as_u16() {
            400 => checked += 1,
            429 => refused += 1,
            other => panic!("a guess of the burst got {other} {}", a.body),
        }
    }
    (checked, refused)
}

/// Configuration of the burst tests: a check of a couple of milliseconds, so that the
/// guesses of a burst really are in flight together.
fn burst_config(c: &mut wirecash_auth::config::Config) {
    c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    c.password_hash.memory_kib = 2048;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_from_one_address_runs_no_more_checks_than_the_limit() {
    let app = TestApp::spawn_with(burst_config).await;
    for round in 0..5 {
        let user = format!("alice{round}");
        let pw = app.add_user("sandbox", &user).await;
        // 60 concurrent wrong guesses (before, every one was checked).
        let addr = format!("203.0.113.{}", round + 1);
        let guesses: Vec<_> = (0..60)
            .map(|i| (addr.clone(), user.clone(), format!("wrong {i}")))
            .collect();
        let (checked, refused) = burst(&app, guesses).await;
        assert!(
            checked <= 10,
            "round {round}: {checked} of 60 concurrent guesses were checked, {refused} refused (limit 10)"
        );
        assert!(checked >= 1, "round {round}: nothing was checked");
        // The address is locked now, for the right password too.
        let right = app.send(login_from(&app, &addr, &user, &pw)).await;
        assert_eq!(right.status, 429, "round {round}: {}", right.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_across_usernames_from_one_address_runs_no_more_checks_than_its_limit() {
    let app = TestApp::spawn_with(|c| {
        burst_config(c);
        c.security.address_max_failures = 10;
    })
    .await;
    for round in 0..5 {
        let addr = format!("198.51.100.{}", round + 1);
        let guesses = (0..60)
            .map(|i| {
                (
                    addr.clone(),
                    format!("user{round}-{i}"),
                    "wrong".to_string(),
                )
            })
            .collect();
        let (checked, refused) = burst(&app, guesses).await;
        assert!(
            checked <= 10,
            "round {round}: {checked} of 60 concurrent guesses were checked, {refused} refused (limit 10)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_from_many_addresses_runs_no_more_checks_than_the_username_limit() {
    let app = TestApp::spawn_with(|c| {
        burst_config(c);
        c.security.username_max_failures = 30;
    })
    .await;
    for round in 0..3 {
        let user = format!("bob{round}");
        app.add_user("sandbox", &user).await;
        // 8 addresses × 10 guesses: each address within its own limit of 10.
        let guesses = (0..80)
            .map(|i| {
                (
                    format!("192.0.2.{}", i % 8 + 1),
                    user.clone(),
                    format!("wrong {i}"),
                )
            })
            .collect();
        let (checked, refused) = burst(&app, guesses).await;
        assert!(
            checked <= 30,
            "round {round}: {checked} of 80 concurrent guesses were checked, {refused} refused (limit 30)"
        );
        assert!(checked >= 10, "round {round}: only {checked} checked");
    }
}

#[tokio::test]
async fn a_guesser_elsewhere_cannot_lock_the_partner_out() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let guesser = "203.0.113.66";
    // Ten wrong guesses lock the guesser's address for alice...
    for _ in 0..10 {
        let a = app.send(login_from(&app, guesser, "alice", "guess")).await;
        assert_eq!(a.status, 400, "{}", a.body);
    }
    assert_locked(&app.send(login_from(&app, guesser, "alice", &pw)).await, 60);
    // ...and one more guess an hour keeps it locked, for two days.
    for _ in 0..48 {
        app.clock.advance(Duration::from_secs(3600));
        let a = app.send(login_from(&app, guesser, "alice", "guess")).await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(
            app.send(login_from(&app, guesser, "alice", &pw))
                .await
                .status,
            429
        );
    }
    // The partner's servers, which never failed, get in with the right password.
    let partner = app
        .send(login_from(&app, "198.51.100.7", "alice", &pw))
        .await;
    assert_eq!(partner.status, 200, "{}", partner.body);
}

#[tokio::test]
async fn under_a_distributed_attack_an_address_that_logged_in_before_still_gets_in() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.security.username_max_failures = 30;
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let partner = "198.51.100.7";
    app.send(login_from(&app, partner, "alice", &pw))
        .await
        .tokens();
    // Guessers from four addresses, each below its own limit, exhaust the username's.
    for i in 0..30 {
        let addr = format!("203.0.113.{}", i % 4 + 1);
        let a = app.send(login_from(&app, &addr, "alice", "guess")).await;
        assert_eq!(a.status, 400, "{}", a.body);
    }
    // Now an address that never logged in as alice is refused, right password or not,
    // and the same for a name that does not exist (no oracle)...
    let fresh = app.send(login_from(&app, "192.0.2.9", "alice", &pw)).await;
    assert_eq!(fresh.status, 429, "{}", fresh.body);
    for i in 0..30 {
        let addr = format!("203.0.113.{}", i % 4 + 1);
        app.send(login_from(&app, &addr, "nobody", "guess")).await;
    }
    let unknown = app.send(login_from(&app, "192.0.2.9", "nobody", "x")).await;
    assert_eq!(unknown.status, 429, "{}", unknown.body);
    assert_eq!(unknown.body, fresh.body);
    // ...while the partner's address, which logged in before, still gets in.
    let known = app.send(login_from(&app, partner, "alice", &pw)).await;
    assert_eq!(known.status, 200, "{}", known.body);
}

//! Brute-force protection: failed logins per username and per client address lock with
//! 429 and `Retry-After`, the lock ends by itself and grows with further failures,
//! unknown usernames lock the same way, and during a lock even the right password gets
//! 429 (no oracle).

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

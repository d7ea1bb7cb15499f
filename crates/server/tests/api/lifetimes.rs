//! Idle and absolute session lifetimes and the per-user session limit.

use std::time::Duration;

use crate::support::TestApp;
use crate::support::env;

#[tokio::test]
async fn a_session_unused_for_the_idle_lifetime_ends() {
    let app = TestApp::spawn_with(|c| {
        c.tokens.refresh_idle_ttl = Duration::from_secs(3600);
        c.tokens.refresh_absolute_ttl = Duration::from_secs(30 * 86400);
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut t = app.login("sandbox", "alice", &pw).await;
    // Used every 59 minutes, it lives well past one idle lifetime.
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(59 * 60));
        t = app.refresh("sandbox", "alice", &t).await.tokens();
    }
    app.clock.advance(Duration::from_secs(3600));
    let a = app.refresh("sandbox", "alice", &t).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error(), "invalid_grant");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_it_is_used() {
    let app = TestApp::spawn_with(|c| {
        c.tokens.refresh_idle_ttl = Duration::from_secs(3600);
        c.tokens.refresh_absolute_ttl = Duration::from_secs(4 * 3600);
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut t = app.login("sandbox", "alice", &pw).await;
    for _ in 0..7 {
        app.clock.advance(Duration::from_secs(30 * 60));
        t = app.refresh("sandbox", "alice", &t).await.tokens();
    }
    app.clock.advance(Duration::from_secs(30 * 60));
    let a = app.refresh("sandbox", "alice", &t).await;
    assert_eq!(a.status, 400, "4 h after authenticate the session is over");
    // Authenticating again starts a new one.
    let t = app.login("sandbox", "alice", &pw).await;
    app.refresh("sandbox", "alice", &t).await.tokens();
}

#[tokio::test]
async fn beyond_max_sessions_per_user_the_least_recently_used_session_ends() {
    let app = TestApp::spawn_with(|c| c.tokens.max_sessions_per_user = 3).await;
    let pw = app.add_user("sandbox", "alice").await;
    let pw_bob = app.add_user("sandbox", "bob").await;
    let bob = app.login("sandbox", "bob", &pw_bob).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(1));
        sessions.push(app.login("sandbox", "alice", &pw).await);
    }
    // Use the oldest one, so the second becomes the least recently used.
    app.clock.advance(Duration::from_secs(1));
    sessions[0] = app.refresh("sandbox", "alice", &sessions[0]).await.tokens();
    app.clock.advance(Duration::from_secs(1));
    let fourth = app.login("sandbox", "alice", &pw).await;
    assert_eq!(app.live_sessions("sandbox", "alice").await, 3);
    assert_eq!(
        app.refresh("sandbox", "alice", &sessions[1]).await.status,
        400,
        "LRU session ended"
    );
    app.refresh("sandbox", "alice", &sessions[0]).await.tokens();
    app.refresh("sandbox", "alice", &sessions[2]).await.tokens();
    app.refresh("sandbox", "alice", &fourth).await.tokens();
    // Other users are not affected.
    app.refresh("sandbox", "bob", &bob).await.tokens();
    // A login loop cannot grow the table.
    for _ in 0..20 {
        app.login("sandbox", "alice", &pw).await;
    }
    let all = app
        .admin()
        .sessions(
            &env("sandbox"),
            Some(&crate::support::user("alice")),
            None,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
}

//! Reuse detection and the idempotent grace window (SPEC §2).

use std::collections::HashSet;
use std::time::Duration;

use crate::support::{TestApp, Tokens};

#[tokio::test]
async fn with_grace_zero_a_spent_token_is_refused_and_its_successor_dies_with_it() {
    let app = TestApp::spawn_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    let t1 = app.refresh("sandbox", "alice", &t0).await.tokens();
    let replay = app.refresh("sandbox", "alice", &t0).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.error(), "invalid_grant");
    assert!(
        replay.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let after = app.refresh("sandbox", "alice", &t1).await;
    assert_eq!(after.status, 400, "the successor must die with the session");
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
    // The user can start again.
    app.login("sandbox", "alice", &pw).await;
}

#[tokio::test]
async fn with_grace_concurrent_refreshes_of_one_token_share_one_successor() {
    let app = TestApp::spawn_with(|c| c.tokens.refresh_reuse_grace = Duration::from_secs(10)).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    let answers = futures_join(&app, &t0, 16).await;
    let mut refresh_tokens = HashSet::new();
    let mut access_tokens = HashSet::new();
    for a in &answers {
        let t = a.tokens();
        refresh_tokens.insert(t.refresh_token);
        access_tokens.insert(t.access_token);
    }
    assert_eq!(refresh_tokens.len(), 1, "one and the same successor");
    assert_eq!(
        access_tokens.len(),
        1,
        "and the access token issued with it"
    );
    let t1 = answers[0].tokens();
    // A replay inside the window, sequentially, answers the same again.
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(
        app.refresh("sandbox", "alice", &t0)
            .await
            .tokens()
            .refresh_token,
        t1.refresh_token
    );
    // The session lives on.
    let t2 = app.refresh("sandbox", "alice", &t1).await.tokens();
    // t0 is now two generations old: reuse, even inside the grace window.
    let reuse = app.refresh("sandbox", "alice", &t0).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.error(), "invalid_grant");
    assert_eq!(
        app.refresh("sandbox", "alice", &t2).await.status,
        400,
        "the session was revoked"
    );
}

#[tokio::test]
async fn replay_after_the_grace_window_is_reuse() {
    let app = TestApp::spawn_with(|c| c.tokens.refresh_reuse_grace = Duration::from_secs(10)).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    let t1 = app.refresh("sandbox", "alice", &t0).await.tokens();
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(app.refresh("sandbox", "alice", &t0).await.status, 400);
    assert_eq!(app.refresh("sandbox", "alice", &t1).await.status, 400);
}

#[tokio::test]
async fn with_grace_zero_concurrent_refreshes_yield_at_most_one_success_and_no_5xx() {
    let app = TestApp::spawn_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let pw = app.add_user("sandbox", "alice").await;
    for _ in 0..5 {
        let t0 = app.login("sandbox", "alice", &pw).await;
        let answers = futures_join(&app, &t0, 16).await;
        let ok = answers.iter().filter(|a| a.status == 200).count();
        assert!(ok <= 1, "{ok} successes");
        for a in &answers {
            assert!(
                a.status == 200 || a.status == 400,
                "{} {}",
                a.status,
                a.body
            );
        }
    }
}

async fn futures_join(app: &TestApp, t: &Tokens, n: usize) -> Vec<crate::support::Answer> {
    let mut set = tokio::task::JoinSet::new();
    let body = serde_json::json!({
        "username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token
    })
    .to_string();
    for _ in 0..n {
        let client = app.client.clone();
        let url = format!("{}/sandbox/token", app.base);
        let body = body.clone();
        set.spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            crate::support::answer(r).await
        });
    }
    let mut out = Vec::new();
    while let Some(a) = set.join_next().await {
        let a = a.unwrap();
        for k in ["access_token", "refresh_token"] {
            if let Some(s) = a.body[k].as_str() {
                app.remember(s);
            }
        }
        out.push(a);
    }
    out
}

//! `POST /{env}/token`: rotation and the binding of username, access and refresh token.

use std::time::Duration;

use crate::support::{TestApp, claims};

#[tokio::test]
async fn refresh_returns_a_new_refresh_and_a_new_access_token() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    let a = app.refresh("sandbox", "alice", &t0).await;
    let t1 = a.tokens();
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_ne!(t1.refresh_token, t0.refresh_token);
    assert_ne!(t1.access_token, t0.access_token);
    assert_eq!(t1.expires_in, 3600);
    assert_eq!(
        claims(&t1.access_token)["sid"],
        claims(&t0.access_token)["sid"]
    );
    // And the chain goes on.
    let t2 = app.refresh("sandbox", "alice", &t1).await.tokens();
    app.refresh("sandbox", "alice", &t2).await.tokens();
}

#[tokio::test]
async fn tokens_that_do_not_belong_together_are_invalid_grant() {
    let app = TestApp::spawn().await;
    let pw_a = app.add_user("sandbox", "alice").await;
    let pw_b = app.add_user("sandbox", "bob").await;
    let alice1 = app.login("sandbox", "alice", &pw_a).await;
    let alice2 = app.login("sandbox", "alice", &pw_a).await;
    let bob = app.login("sandbox", "bob", &pw_b).await;

    let at = &alice1.access_token;
    let tampered_access = flip(at, at.len() / 2);
    let tampered_signature = flip(at, at.len() - 2);
    let altered_refresh = flip(&alice1.refresh_token, 20);

    let cases: Vec<(&str, &str, String, String)> = vec![
        (
            "wrong username",
            "bob",
            alice1.access_token.clone(),
            alice1.refresh_token.clone(),
        ),
        (
            "unknown username",
            "nobody",
            alice1.access_token.clone(),
            alice1.refresh_token.clone(),
        ),
        (
            "another session's access token",
            "alice",
            alice2.access_token.clone(),
            alice1.refresh_token.clone(),
        ),
        (
            "another user's access token",
            "alice",
            bob.access_token.clone(),
            alice1.refresh_token.clone(),
        ),
        (
            "tampered access token payload",
            "alice",
            tampered_access,
            alice1.refresh_token.clone(),
        ),
        (
            "tampered access token signature",
            "alice",
            tampered_signature,
            alice1.refresh_token.clone(),
        ),
        (
            "altered refresh token",
            "alice",
            alice1.access_token.clone(),
            altered_refresh,
        ),
        (
            "refresh token of another user",
            "alice",
            alice1.access_token.clone(),
            bob.refresh_token.clone(),
        ),
        (
            "access token as refresh token",
            "alice",
            alice1.access_token.clone(),
            alice1.access_token.clone(),
        ),
        (
            "garbage refresh token",
            "alice",
            alice1.access_token.clone(),
            "x".repeat(66),
        ),
    ];
    for (what, user, access, refresh) in cases {
        let a = app.refresh_raw("sandbox", user, &access, &refresh).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.error(), "invalid_grant", "{what}");
    }
    // None of that spent or revoked anything: the right triple still works.
    app.refresh("sandbox", "alice", &alice1).await.tokens();
    app.refresh("sandbox", "alice", &alice2).await.tokens();
    app.refresh("sandbox", "bob", &bob).await.tokens();
}

#[tokio::test]
async fn an_expired_access_token_still_refreshes() {
    let app = TestApp::spawn_with(|c| c.tokens.access_ttl = Duration::from_secs(60)).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    assert_eq!(t0.expires_in, 60);
    app.clock.advance(Duration::from_secs(3600));
    let exp = claims(&t0.access_token)["exp"].as_i64().unwrap();
    assert!(
        exp * 1000 < wirecash_core::Clock::now(&app.clock),
        "the access token has expired"
    );
    let t1 = app.refresh("sandbox", "alice", &t0).await.tokens();
    assert_eq!(t1.expires_in, 60);
    let new_exp = claims(&t1.access_token)["exp"].as_i64().unwrap();
    assert!(new_exp > exp + 3000);
}

/// `s` with the (ASCII) character at `i` changed.
fn flip(s: &str, i: usize) -> String {
    let mut out = s.to_string();
    let c = if &s[i..=i] == "A" { "B" } else { "A" };
    out.replace_range(i..=i, c);
    out
}

//! What a client loop can leave in the session table (SPEC §2).

// `client_credentials` grants make sessions of their own kind that never evict a
// refreshable session, and a login + revoke loop cannot grow a user's rows past
// `max_sessions_per_user` plus a small constant.

use crate::support::TestApp;
use crate::support::env;

async fn session_rows(app: &TestApp, user: &str) -> usize {
    app.admin()
        .sessions(
            &env("sandbox"),
            Some(&crate::support::user(user)),
            None,
            100_000,
        )
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn client_credentials_grants_never_log_out_a_refreshable_session() {
    let app = TestApp::spawn_with(|c| c.tokens.max_sessions_per_user = 5).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    for i in 0..100 {
        let r = app
            .post_form(
                "/sandbox/oauth2/token",
                &[("grant_type", "client_credentials")],
                Some(("alice", pw.as_str())),
            )
            .await;
        assert_eq!(r.status, 200, "grant {i}: {}", r.body);
        assert!(r.body.get("refresh_token").is_none());
    }
    // The partner's refreshable session is still there.
    let r = app.refresh("sandbox", "alice", &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // And the machine-to-machine sessions are bounded too.
    assert!(session_rows(&app, "alice").await <= 5 + 5 + 16);
}

#[tokio::test]
async fn a_login_and_revoke_loop_leaves_a_bounded_number_of_rows() {
    let app = TestApp::spawn_with(|c| c.tokens.max_sessions_per_user = 5).await;
    let pw = app.add_user("sandbox", "alice").await;
    for i in 0..65 {
        let t = app.login("sandbox", "alice", &pw).await;
        let r = app
            .post_form(
                "/sandbox/revoke",
                &[("token", t.refresh_token.as_str())],
                Some(("alice", pw.as_str())),
            )
            .await;
        assert_eq!(r.status, 200, "revoke {i}: {}", r.body);
    }
    let rows = session_rows(&app, "alice").await;
    assert!(rows <= 5 + 16, "{rows} session rows for a limit of 5");
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
}

#[tokio::test]
async fn session_list_shows_the_kind_of_each_session() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    app.login("sandbox", "alice", &pw).await;
    let r = app
        .post_form(
            "/sandbox/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some(("alice", pw.as_str())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let out = app.cli(
        &["session", "list", "--env", "sandbox", "--user", "alice"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("KIND"), "{text}");
    assert!(text.contains("client_credentials"), "{text}");
    assert!(text.contains("refresh"), "{text}");
}

//! Credentials in the query string are refused however their names are encoded (SPEC
//! §2, §9): percent-encoded names, `;` separators, `name[]` and `name+` forms.

// The routes that take credentials take no query string at all, so there is nothing to
// encode around; every such request gets 400 before the body is read, and nothing is
// logged.

use crate::support::TestApp;

/// Query strings that a form parser (PHP, Rails, Python's `cgi`) would read as
/// credentials, and others besides.
const QUERIES: &[&str] = &[
    "pass%77ord=PW&user%6Eame=alice",
    "x=1;password=PW",
    "password[]=PW",
    "password+=PW",
    "%70assword=PW",
    "PASSWORD=PW",
    "x=1&refresh%5Ftoken=PW",
    "anything=at-all",
];

#[tokio::test]
async fn authenticate_refuses_any_query_string_even_with_a_good_body() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    for q in QUERIES {
        let q = q.replace("PW", &pw);
        let r = app
            .post_raw(
                &format!("/sandbox/authenticate?{q}"),
                &serde_json::json!({"username": "alice", "password": pw}).to_string(),
            )
            .await;
        assert_eq!(r.status, 400, "?{q}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "?{q}");
        assert!(
            r.body["error_description"]
                .as_str()
                .unwrap()
                .contains("query string"),
            "?{q}: {}",
            r.body
        );
    }
    // No session was made by any of them.
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
    // An empty query (a bare `?`) is no query.
    let ok = app
        .post_raw(
            "/sandbox/authenticate?",
            &serde_json::json!({"username": "alice", "password": pw}).to_string(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn the_form_endpoints_refuse_any_query_string() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let cases = [
        (
            "/sandbox/oauth2/token?client%5Fsecret=PW",
            vec![("grant_type", "client_credentials")],
        ),
        (
            "/sandbox/oauth2/token?x=1;client_secret=PW",
            vec![("grant_type", "client_credentials")],
        ),
        (
            "/sandbox/revoke?client_secret[]=PW",
            vec![("token", t.refresh_token.as_str())],
        ),
        (
            "/sandbox/introspect?x=y",
            vec![("token", t.access_token.as_str())],
        ),
    ];
    for (path, form) in cases {
        let path = path.replace("PW", &pw);
        let r = app
            .post_form(&path, &form, Some(("alice", pw.as_str())))
            .await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{path}");
    }
    // The session was not revoked by the refused /revoke.
    app.refresh("sandbox", "alice", &t).await.tokens();
}

//! Per-address request rate limits: a burst of one second's worth, then 429 with
//! `Retry-After` before the body is even read; other addresses (behind a trusted proxy)
//! and later seconds are not affected.

use std::time::Duration;

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn requests_over_the_rate_get_429_before_their_body_is_read_and_the_rate_recovers() {
    let app = TestApp::spawn_with(|c| {
        // One a second: a slow CI box cannot take a second between two requests.
        c.rate_limit.authenticate_rps = 1;
        c.rate_limit.token_rps = 1;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let login = |from: &str, body: String| {
        app.client
            .post(format!("{}/sandbox/authenticate", app.base))
            .header("content-type", "application/json")
            .header("x-forwarded-for", from)
            .body(body)
    };
    let good = json!({"username": "alice", "password": pw}).to_string();
    let t = app.send(login("203.0.113.1", good.clone())).await.tokens();
    // The second within the second: refused, and before the body is looked at.
    let over = app.send(login("203.0.113.1", "not json".into())).await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.error(), "too_many_requests");
    assert_eq!(over.headers["retry-after"], "1");
    assert!(
        over.body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many requests")
    );
    // Another client behind the same proxy has its own bucket.
    assert_eq!(
        app.send(login("203.0.113.2", good.clone())).await.status,
        200
    );

    // /token has its own limit.
    let refresh = |t: &crate::support::Tokens| {
        app.client
            .post(format!("{}/sandbox/token", app.base))
            .header("content-type", "application/json")
            .header("x-forwarded-for", "203.0.113.1")
            .body(json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token}).to_string())
    };
    let current = app.send(refresh(&t)).await.tokens();
    let over = app.send(refresh(&current)).await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.headers["retry-after"], "1");

    // A second later both buckets have refilled.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.send(login("203.0.113.1", good)).await.status, 200);
    assert_eq!(app.send(refresh(&current)).await.status, 200);
}

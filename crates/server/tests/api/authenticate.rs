//! `POST /{env}/authenticate`.

use serde_json::json;
use wirecash_core::events::Actor;

use crate::support::{TestApp, claims};
use crate::support::{env, user};

#[tokio::test]
async fn authenticate_returns_the_four_fields_with_bearer_and_access_ttl() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let a = app.authenticate_raw("sandbox", "alice", &pw).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let obj = a.body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], app.config.tokens.access_ttl.as_secs());
    assert_eq!(a.headers["cache-control"], "no-store");
    let c = claims(a.body["access_token"].as_str().unwrap());
    assert_eq!(c["username"], "alice");
    assert_eq!(c["env"], "sandbox");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let pw_bob = app.add_user("sandbox", "bob").await;
    app.admin()
        .set_disabled(&Actor::Cli, &env("sandbox"), &user("bob"), true)
        .await
        .unwrap();
    let unknown = app.authenticate_raw("sandbox", "mallory", &pw).await;
    let wrong = app
        .authenticate_raw("sandbox", "alice", "not-the-password")
        .await;
    let disabled = app.authenticate_raw("sandbox", "bob", &pw_bob).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(disabled.status, wrong.status);
    assert_eq!(disabled.body, wrong.body);
    assert_eq!(wrong.error(), "invalid_grant");
    // A user of another environment does not exist here.
    let other_env = app.authenticate_raw("production", "alice", &pw).await;
    assert_eq!(other_env.body, wrong.body);
}

#[tokio::test]
async fn published_curl_sample_with_lower_case_post_works() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let method = reqwest::Method::from_bytes(b"post").unwrap();
    let request = app
        .client
        .request(method.clone(), format!("{}/sandbox/authenticate", app.base))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(json!({"username": "alice", "password": pw}).to_string());
    let t = app.send(request).await.tokens();
    let request = app
        .client
        .request(method.clone(), format!("{}/sandbox/token", app.base))
        .header("Content-Type", "application/json")
        .body(format!(
            "{{\"username\":\"alice\",\"access_token\":\"{}\", \"refresh_token\": \"{}\"}}",
            t.access_token, t.refresh_token
        ));
    app.send(request).await.tokens();
    // Elsewhere, method names stay case-sensitive.
    let r = app
        .client
        .request(method, format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn login_with_changed_argon2_parameters_rehashes_the_password() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let before = app
        .admin()
        .user(&env("sandbox"), &user("alice"))
        .await
        .unwrap()
        .password_hash;
    assert!(before.contains("m=64,t=1,p=1"), "{before}");
    let app = app.restart_with(|c| c.password_hash.memory_kib = 128).await;
    app.login("sandbox", "alice", &pw).await;
    // The rehash runs after the answer, off the request path.
    let mut after = String::new();
    for _ in 0..100 {
        after = app
            .admin()
            .user(&env("sandbox"), &user("alice"))
            .await
            .unwrap()
            .password_hash;
        if after != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(after.contains("m=128,t=1,p=1"), "{after}");
    app.login("sandbox", "alice", &pw).await;
    // Sessions survive a rehash (it is not a password change).
    assert_eq!(app.live_sessions("sandbox", "alice").await, 2);
}

//! Environments are isolated (SPEC §1).

use crate::support::TestApp;
use wirecash_core::events::Actor;

#[tokio::test]
async fn a_sandbox_token_is_refused_in_production() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    // The same username with the same password in production.
    let hasher = wirecash_auth::password_hasher(&app.config).unwrap();
    app.admin()
        .add_user(
            &Actor::Cli,
            &hasher,
            &crate::support::env("production"),
            &crate::support::user("alice"),
            zeroize::Zeroizing::new(pw.clone()),
        )
        .await
        .unwrap();
    let sandbox = app.login("sandbox", "alice", &pw).await;
    let production = app.login("production", "alice", &pw).await;
    let a = app.refresh("production", "alice", &sandbox).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error(), "invalid_grant");
    let mixed = app
        .refresh_raw(
            "production",
            "alice",
            &production.access_token,
            &sandbox.refresh_token,
        )
        .await;
    assert_eq!(mixed.status, 400);
    let mixed = app
        .refresh_raw(
            "sandbox",
            "alice",
            &production.access_token,
            &sandbox.refresh_token,
        )
        .await;
    assert_eq!(mixed.status, 400);
    // Each works at home, and the issuers differ.
    let c_s = crate::support::claims(&sandbox.access_token);
    let c_p = crate::support::claims(&production.access_token);
    assert_ne!(c_s["iss"], c_p["iss"]);
    assert!(c_s["iss"].as_str().unwrap().ends_with("/sandbox"));
    app.refresh("sandbox", "alice", &sandbox).await.tokens();
    app.refresh("production", "alice", &production)
        .await
        .tokens();
    // The keys differ too.
    let ks = app.get("/sandbox/.well-known/jwks.json").await.body;
    let kp = app.get("/production/.well-known/jwks.json").await.body;
    assert_ne!(ks["keys"][0]["kid"], kp["keys"][0]["kid"]);
}

#[tokio::test]
async fn unknown_environments_and_paths_are_404_with_a_json_body() {
    let app = TestApp::spawn().await;
    for path in [
        "/staging/authenticate",
        "/staging/token",
        "/Sandbox/token",
        "/%ff/token",
    ] {
        let a = app
            .post_json(path, &serde_json::json!({"username": "a", "password": "b"}))
            .await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.error(), "not_found");
    }
    for path in [
        "/staging/.well-known/jwks.json",
        "/",
        "/sandbox",
        "/sandbox/nope",
        "/sandbox/token/extra",
    ] {
        let a = app.get(path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(a.body["error_description"].is_string());
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
}

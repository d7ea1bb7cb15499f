//! End to end, as a partner would run it: the real token service on 127.0.0.1:0, the
//! example API in front of its JWKS, and `wirecash-client` getting and refreshing the
//! token that the API then accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wirecash_auth::config::{Config, Overrides};
use wirecash_client::{Client, ManualClock, RequestBuilderExt, Session};
use wirecash_core::SystemClock;
use wirecash_verify::Verifier;

struct TokenService {
    base: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The token service with a fresh database, cheap Argon2, and a user alice in sandbox.
async fn token_service() -> (TokenService, String) {
    let dir = tempfile::tempdir().unwrap();
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database: Some(format!("sqlite://{}", dir.path().join("auth.db").display())),
        log_format: None,
    };
    let mut config = Config::load_from(None, &BTreeMap::new(), &flags).unwrap();
    config.password_hash.memory_kib = 64;
    config.password_hash.iterations = 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    config.public_url = base.clone();
    let service = wirecash_auth::build_service(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let hasher = wirecash_auth::password_hasher(&config).unwrap();
    let admin = service.admin();
    let password = "correct horse battery staple".to_string();
    admin
        .add_user(
            &wirecash_core::events::Actor::Cli,
            &hasher,
            &wirecash_core::validate::EnvName::parse("sandbox").unwrap(),
            &wirecash_core::validate::Username::parse("alice").unwrap(),
            zeroize::Zeroizing::new(password.clone()),
        )
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = wirecash_auth::run(listener, service, &config, async {
            let _ = rx.await;
        })
        .await;
    });
    (
        TokenService {
            base,
            _dir: dir,
            _stop: tx,
        },
        password,
    )
}

async fn protected_api(token_service: &str) -> String {
    let verifiers = ["sandbox", "production"]
        .iter()
        .map(|env| {
            Verifier::builder(format!("{token_service}/{env}"))
                .build()
                .unwrap()
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, protected_api::app(verifiers))
            .await
            .unwrap();
    });
    base
}

#[tokio::test]
async fn client_gets_a_token_and_the_protected_api_accepts_it_before_and_after_refresh() {
    let (auth, password) = token_service().await;
    let api = protected_api(&auth.base).await;
    let clock = ManualClock::starting_now();
    let client = Client::builder()
        .sandbox(&auth.base)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let session = Session::builder(client, "alice")
        .password(password)
        .build()
        .unwrap();
    let http = reqwest::Client::new();

    let first = session.token().await.unwrap();
    let answer = http
        .get(format!("{api}/sandbox/country/list"))
        .wirecash_token(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let codes: Vec<&str> = body["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"DE"), "{body}");

    // The handler sees the verified claims; `Bearer <t>` works as well as the raw token.
    let me: Value = http
        .get(format!("{api}/sandbox/whoami"))
        .header("authorization", format!("Bearer {}", first.as_str()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["env"], "sandbox");

    // An hour later (by the client's clock) the session refreshes; the new token works.
    clock.advance(Duration::from_secs(3600));
    let second = session.token().await.unwrap();
    assert_ne!(second, first);
    let answer = http
        .get(format!("{api}/sandbox/country/list"))
        .wirecash_token(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // No token, and a sandbox token on the production API: 401 with the JSON body.
    for request in [
        http.get(format!("{api}/sandbox/country/list")),
        http.get(format!("{api}/production/country/list"))
            .wirecash_token(&second),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401);
        assert!(
            answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{body}");
    }
}

//! Access tokens verify with an independent JOSE implementation (jwt-compact, pure Rust
//! crypto) against the published JWKS; key rotation keeps old tokens verifiable.

use std::time::Duration;

use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, UntrustedToken};
use serde::Deserialize;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::{env, user};

#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub username: String,
    pub sid: String,
    pub jti: String,
    pub env: String,
}

/// Verifies `token` with the JWKS key of its `kid`; returns the claims and the kid.
pub fn verify(jwks: &Value, token: &str) -> (jwt_compact::Claims<Claims>, String) {
    let untrusted = UntrustedToken::new(token).expect("parse");
    let kid = untrusted.header().key_id.clone().expect("kid");
    assert_eq!(untrusted.header().token_type.as_deref(), Some("at+jwt"));
    let jwk_json = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"))
        .clone();
    let jwk: JsonWebKey<'_> = serde_json::from_value(jwk_json.clone()).unwrap();
    let claims = match untrusted.algorithm() {
        "EdDSA" => {
            assert_eq!(jwk_json["kty"], "OKP");
            let key =
                <jwt_compact::alg::Ed25519 as Algorithm>::VerifyingKey::try_from(&jwk).unwrap();
            jwt_compact::alg::Ed25519
                .validator::<Claims>(&key)
                .validate(&untrusted)
                .expect("EdDSA signature")
                .claims()
                .clone()
        }
        "ES256" => {
            assert_eq!(jwk_json["crv"], "P-256");
            let key = <jwt_compact::alg::Es256 as Algorithm>::VerifyingKey::try_from(&jwk).unwrap();
            jwt_compact::alg::Es256
                .validator::<Claims>(&key)
                .validate(&untrusted)
                .expect("ES256 signature")
                .claims()
                .clone()
        }
        other => panic!("unexpected alg {other}"),
    };
    (claims, kid)
}

async fn check_claims(app: &TestApp, alg: &str) {
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let jwks = app.get("/sandbox/.well-known/jwks.json").await;
    assert!(
        jwks.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let (c, _) = verify(&jwks.body, &t.access_token);
    assert_eq!(jwks.body["keys"][0]["alg"], alg);
    let user = app
        .admin()
        .user(&env("sandbox"), &user("alice"))
        .await
        .unwrap();
    assert_eq!(c.custom.iss, format!("{}/sandbox", app.config.public_url));
    assert_eq!(c.custom.aud, c.custom.iss);
    assert_eq!(c.custom.sub, user.id);
    assert_eq!(c.custom.username, "alice");
    assert_eq!(c.custom.client_id, "alice");
    assert_eq!(c.custom.env, "sandbox");
    assert!(c.custom.sid.parse::<i64>().is_ok());
    assert_eq!(c.custom.jti.len(), 36);
    let iat = c.issued_at.unwrap().timestamp();
    let exp = c.expiration.unwrap().timestamp();
    assert_eq!(exp - iat, 3600);
    assert!(
        c.not_before.is_none(),
        "no not-before trap on a fresh token"
    );
    let now = chrono_now();
    assert!((iat - now).abs() < 60);
    // The refreshed token verifies too, same session.
    let t1 = app.refresh("sandbox", "alice", &t).await.tokens();
    let (c1, _) = verify(&jwks.body, &t1.access_token);
    assert_eq!(c1.custom.sid, c.custom.sid);
    assert_ne!(c1.custom.jti, c.custom.jti);
}

fn chrono_now() -> i64 {
    wirecash_core::Clock::now(&wirecash_core::SystemClock) / 1000
}

#[tokio::test]
async fn eddsa_access_tokens_verify_against_the_jwks_and_carry_the_claims() {
    let app = TestApp::spawn().await;
    check_claims(&app, "EdDSA").await;
}

#[tokio::test]
async fn es256_access_tokens_verify_against_the_jwks_and_carry_the_claims() {
    let app =
        TestApp::spawn_with(|c| c.tokens.signing_alg = wirecash_core::SigningAlg::ES256).await;
    check_claims(&app, "ES256").await;
}

#[tokio::test]
async fn es256_grace_replays_return_the_same_access_token() {
    let app =
        TestApp::spawn_with(|c| c.tokens.signing_alg = wirecash_core::SigningAlg::ES256).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = app.login("sandbox", "alice", &pw).await;
    let t1 = app.refresh("sandbox", "alice", &t0).await.tokens();
    let again = app.refresh("sandbox", "alice", &t0).await.tokens();
    assert_eq!(again.access_token, t1.access_token);
    assert_eq!(again.refresh_token, t1.refresh_token);
    app.refresh("sandbox", "alice", &again).await.tokens();
}

#[tokio::test]
async fn after_key_rotate_old_tokens_verify_and_new_ones_carry_the_new_kid() {
    let app =
        TestApp::spawn_with(|c| c.tokens.key_activation_delay = Duration::from_secs(60)).await;
    let pw = app.add_user("sandbox", "alice").await;
    let old = app.login("sandbox", "alice", &pw).await;
    let jwks = app.get("/sandbox/.well-known/jwks.json").await.body;
    let (_, old_kid) = verify(&jwks, &old.access_token);

    // Rotate with the real CLI, on the running server's database.
    let out = app.cli(&["key", "rotate", "--env", "sandbox"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = app.cli(&["key", "list", "--env", "sandbox"], None);
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(listing.contains("pending"), "{listing}");

    // The server picks the new key up: published at once, not yet signing.
    let mut published = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        published = app.get("/sandbox/.well-known/jwks.json").await.body;
        if published["keys"].as_array().unwrap().len() == 2 {
            break;
        }
    }
    assert_eq!(
        published["keys"].as_array().unwrap().len(),
        2,
        "new key published"
    );
    let still_old = app.refresh("sandbox", "alice", &old).await.tokens();
    assert_eq!(
        verify(&published, &still_old.access_token).1,
        old_kid,
        "signing waits for the activation delay"
    );

    // After the activation delay new tokens carry the new kid; old ones still verify.
    app.clock.advance(Duration::from_secs(61));
    let new = app.refresh("sandbox", "alice", &still_old).await.tokens();
    let jwks = app.get("/sandbox/.well-known/jwks.json").await.body;
    let (_, new_kid) = verify(&jwks, &new.access_token);
    assert_ne!(new_kid, old_kid);
    verify(&jwks, &old.access_token);
    verify(&jwks, &still_old.access_token);

    // Once every token the old key signed has expired (+ leeway), it leaves the JWKS.
    app.clock.advance(Duration::from_secs(3600 + 30 + 1));
    let jwks = app.get("/sandbox/.well-known/jwks.json").await.body;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str()]);
}

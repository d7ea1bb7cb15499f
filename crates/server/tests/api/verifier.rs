//! `wirecash-verify` in front of a small API, against the real token service: valid
//! tokens reach the handler with their claims; expired, tampered, foreign, wrongly
//! signed and missing ones get 401 with the JSON body; key rotation needs no restart.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wirecash_core::FakeClock;
use wirecash_verify::{
    AccessTokenClaims, BoxFuture, Claims, Rejection, TokenCheck, Verifier, VerifyLayer,
};

use crate::proxy::Proxy;
use crate::support::TestApp;

const JWKS: &str = "GET /sandbox/.well-known/jwks.json";

/// The verifier's clock is the token service's fake clock.
#[derive(Debug, Clone)]
struct ServerTime(FakeClock);

impl wirecash_verify::Clock for ServerTime {
    fn now_millis(&self) -> i64 {
        wirecash_core::Clock::now(&self.0)
    }
}

async fn whoami(claims: Claims) -> Json<Value> {
    Json(json!({"username": claims.username, "env": claims.env, "sid": claims.sid}))
}

/// A protected API: `/sandbox/whoami` behind the layer, `/ext/whoami` verified by the
/// extractor alone. Returns its base URL.
async fn protected(verifier: Verifier) -> String {
    let app = Router::new()
        .route("/sandbox/whoami", get(whoami))
        .layer(VerifyLayer::new(verifier.clone()))
        .merge(
            Router::new()
                .route("/ext/whoami", get(whoami))
                .layer(Extension(verifier)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

struct Fixture {
    app: TestApp,
    proxy: Proxy,
    api: String,
    http: reqwest::Client,
}

async fn fixture_with(f: impl FnOnce(&mut wirecash_auth::config::Config)) -> Fixture {
    fixture_checked(f, None, None).await
}

/// The app, a proxy in front of it, and the protected API whose verifier fetches the
/// JWKS through the proxy; the verifier runs on the app's clock unless `clock` is given.
async fn fixture_checked(
    f: impl FnOnce(&mut wirecash_auth::config::Config),
    check: Option<DenySession>,
    clock: Option<Arc<dyn wirecash_verify::Clock>>,
) -> Fixture {
    let app = TestApp::spawn_with(f).await;
    let proxy = Proxy::start(app.addr).await;
    let clock = clock.unwrap_or_else(|| Arc::new(ServerTime(app.clock.clone())));
    let mut builder = Verifier::builder(format!("{}/sandbox", app.config.public_url))
        .jwks_url(format!("{}/sandbox/.well-known/jwks.json", proxy.base))
        .clock(clock);
    if let Some(c) = check {
        builder = builder.check(c);
    }
    let api = protected(builder.build().unwrap()).await;
    Fixture {
        app,
        proxy,
        api,
        http: reqwest::Client::new(),
    }
}

impl Fixture {
    async fn call(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.get(format!("{}{path}", self.api));
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let headers = answer.headers().clone();
        let text = answer.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text:?}"));
        (status, body, headers)
    }

    async fn token(&self, env: &str, user: &str) -> String {
        let pw = self.app.add_user(env, user).await;
        self.app.login(env, user, &pw).await.access_token
    }

    /// Asserts a 401 with the JSON body and the RFC 6750 challenge; returns the
    /// description.
    async fn refused(&self, authorization: Option<&str>) -> String {
        let (status, body, headers) = self.call("/sandbox/whoami", authorization).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_token", "{body}");
        let challenge = headers["www-authenticate"].to_str().unwrap().to_string();
        // An empty header, or one of another scheme, is no credentials, like a missing
        // one (RFC 6750 §3.1).
        if authorization.is_some_and(|a| !a.trim().is_empty() && !a.starts_with("Basic ")) {
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\""),
                "{challenge}"
            );
        } else {
            assert_eq!(
                challenge, "Bearer",
                "RFC 6750 §3.1: no error code without credentials"
            );
        }
        body["error_description"].as_str().unwrap().to_string()
    }
}

fn parts(token: &str) -> (Value, Value, String) {
    let p: Vec<&str> = token.split('.').collect();
    let header = serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap();
    let payload = serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap();
    (header, payload, p[2].to_string())
}

fn assemble(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    )
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims_raw_or_bearer() {
    let fx = fixture_with(|_| {}).await;
    let token = fx.token("sandbox", "alice").await;
    let sid = crate::support::claims(&token)["sid"].clone();
    for header in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
    ] {
        let (status, body, _) = fx.call("/sandbox/whoami", Some(&header)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"username": "alice", "env": "sandbox", "sid": sid})
        );
    }
    // The extractor alone (a Verifier in the extensions) verifies too.
    let (status, body, _) = fx.call("/ext/whoami", Some(&token)).await;
    assert_eq!(
        (status, body["username"].clone()),
        (StatusCode::OK, json!("alice"))
    );
    let (status, body, headers) = fx.call("/ext/whoami", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(fx.proxy.count(JWKS), 1, "one JWKS fetch, then the cache");
}

#[tokio::test]
async fn missing_tampered_and_foreign_tokens_get_401_with_the_json_body() {
    let fx = fixture_with(|_| {}).await;
    let token = fx.token("sandbox", "alice").await;

    fx.refused(None).await;
    fx.refused(Some("")).await;
    fx.refused(Some("Basic YWxpY2U6cHc=")).await;
    fx.refused(Some("not.a.jwt")).await;
    // Two headers, or one that is not `<token>` / `Bearer <token>`: 400 invalid_request.
    for request in [
        fx.http
            .get(format!("{}/sandbox/whoami", fx.api))
            .header("authorization", &token)
            .header("authorization", &token),
        fx.http
            .get(format!("{}/sandbox/whoami", fx.api))
            .header("authorization", format!("Bearer {token} {token}")),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }

    // Another user's name in the payload, original signature.
    let (header, mut payload, signature) = parts(&token);
    payload["username"] = json!("mallory");
    let d = fx
        .refused(Some(&assemble(&header, &payload, &signature)))
        .await;
    assert!(d.contains("signature"), "{d}");
    // One character of the signature changed.
    let mut bad_sig = signature.clone().into_bytes();
    bad_sig[10] = if bad_sig[10] == b'A' { b'B' } else { b'A' };
    let (h, p, _) = parts(&token);
    fx.refused(Some(&assemble(
        &h,
        &p,
        std::str::from_utf8(&bad_sig).unwrap(),
    )))
    .await;

    // A genuine token of the production environment.
    let production = fx.token("production", "bob").await;
    let d = fx.refused(Some(&production)).await;
    assert!(d.contains("unknown key"), "{d}");
    // Even with the production keys trusted, the issuer is checked…
    let public = &fx.app.config.public_url;
    let production_keys = format!("{}/production/.well-known/jwks.json", fx.app.base);
    let sandbox_with_production_keys = Verifier::builder(format!("{public}/sandbox"))
        .jwks_url(&production_keys)
        .build()
        .unwrap();
    let e = sandbox_with_production_keys
        .verify(&production)
        .await
        .unwrap_err();
    assert!(e.description().contains("issuer"), "{e}");
    // …and the env claim.
    let wrong_env = Verifier::builder(format!("{public}/production"))
        .environment("sandbox")
        .jwks_url(&production_keys)
        .build()
        .unwrap();
    let e = wrong_env.verify(&production).await.unwrap_err();
    assert!(e.description().contains("environment"), "{e}");
    // The same production verifier accepts it with the right environment.
    let right = Verifier::builder(format!("{public}/production"))
        .jwks_url(&production_keys)
        .build()
        .unwrap();
    assert_eq!(right.verify(&production).await.unwrap().username, "bob");
}

#[tokio::test]
async fn alg_none_and_hs256_keyed_with_the_public_key_are_refused() {
    let fx = fixture_with(|_| {}).await;
    let token = fx.token("sandbox", "alice").await;
    let (header, payload, _) = parts(&token);
    let kid = header["kid"].as_str().unwrap().to_string();

    let none = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    fx.refused(Some(&assemble(&none, &payload, ""))).await;
    let none_upper = json!({"alg": "None", "typ": "at+jwt", "kid": kid});
    fx.refused(Some(&assemble(&none_upper, &payload, ""))).await;

    // HS256 "signed" with the published public key as the HMAC secret, in the forms an
    // attacker would try: raw key bytes, the base64url text, the JWK JSON.
    let jwks = fx.app.get("/sandbox/.well-known/jwks.json").await.body;
    let jwk = jwks["keys"][0].clone();
    let x = jwk["x"].as_str().unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        B64.decode(x).unwrap(),
        x.as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ];
    let claims: AccessTokenClaims = serde_json::from_value(payload.clone()).unwrap();
    for secret in secrets {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        let d = fx.refused(Some(&forged)).await;
        assert!(d.contains("algorithm"), "{d}");
    }
    // The genuine token still passes: the refusals were about the algorithm.
    let (status, _, _) = fx.call("/sandbox/whoami", Some(&token)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_expired_token_is_refused_after_the_leeway() {
    let fx = fixture_with(|_| {}).await;
    let token = fx.token("sandbox", "alice").await;
    // One hour and 29 s later: expired, but within the 30 s leeway.
    fx.app.clock.advance(Duration::from_secs(3600 + 29));
    let (status, body, _) = fx.call("/sandbox/whoami", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    fx.app.clock.advance(Duration::from_secs(2));
    let d = fx.refused(Some(&token)).await;
    assert!(d.contains("expired"), "{d}");
}

#[tokio::test]
async fn after_key_rotate_new_tokens_are_accepted_without_restarting_the_api() {
    // The API's clock runs apart from the token service's: the service must pass its
    // key activation delay (60 s) while the API's JWKS cache (max-age 30 s) stays fresh,
    // so the new key can only be found through the unknown-kid fetch.
    let api_clock = wirecash_verify::ManualClock::starting_now();
    let fx = fixture_checked(|_| {}, None, Some(Arc::new(api_clock.clone()))).await;
    let old = fx.token("sandbox", "alice").await;
    assert_eq!(fx.call("/sandbox/whoami", Some(&old)).await.0, 200);
    assert_eq!(fx.proxy.count(JWKS), 1);

    let out = fx.app.cli(&["key", "rotate", "--env", "sandbox"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..200 {
        let keys = fx.app.get("/sandbox/.well-known/jwks.json").await.body;
        if keys["keys"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The CLI's key signs from 60 s after the rotation by the wall clock; the service's
    // fake clock started earlier, so give it a margin.
    fx.app.clock.advance(Duration::from_secs(90));
    api_clock.advance(Duration::from_secs(11));
    let new = fx.token("sandbox", "bob").await;
    let (old_kid, new_kid) = (parts(&old).0["kid"].clone(), parts(&new).0["kid"].clone());
    assert_ne!(old_kid, new_kid, "the new key signs");
    let (status, body, _) = fx.call("/sandbox/whoami", Some(&new)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "bob");
    assert_eq!(fx.proxy.count(JWKS), 2, "one fetch for the unknown kid");

    // Unknown kids right after a fetch do not make the API fetch again (rate limit).
    let (mut header, payload, signature) = parts(&new);
    header["kid"] = json!("no-such-key");
    let d = fx
        .refused(Some(&assemble(&header, &payload, &signature)))
        .await;
    assert!(d.contains("unknown key"), "{d}");
    assert_eq!(fx.proxy.count(JWKS), 2);
    // Once the interval has passed, an unknown kid may look again.
    api_clock.advance(Duration::from_secs(10));
    fx.refused(Some(&assemble(&header, &payload, &signature)))
        .await;
    assert_eq!(fx.proxy.count(JWKS), 3);
    // Tokens of the old key stay valid.
    assert_eq!(fx.call("/sandbox/whoami", Some(&old)).await.0, 200);
}

/// Refuses one session: a stand-in for a revocation list or introspection.
struct DenySession(Arc<std::sync::Mutex<Option<String>>>);

impl TokenCheck for DenySession {
    fn check<'a>(
        &'a self,
        _token: &'a str,
        claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            if self.0.lock().unwrap().as_deref() == Some(claims.sid.as_str()) {
                Err(Rejection::invalid("the session has been revoked"))
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test]
async fn a_token_check_runs_after_verification_and_can_refuse() {
    let denied = Arc::new(std::sync::Mutex::new(None));
    let fx = fixture_checked(|_| {}, Some(DenySession(denied.clone())), None).await;
    let token = fx.token("sandbox", "alice").await;
    assert_eq!(fx.call("/sandbox/whoami", Some(&token)).await.0, 200);
    let sid = crate::support::claims(&token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    *denied.lock().unwrap() = Some(sid);
    let d = fx.refused(Some(&token)).await;
    assert_eq!(d, "the session has been revoked");
}

#[tokio::test]
async fn unreachable_keys_are_a_503_not_a_401() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let token = app.login("sandbox", "alice", &pw).await.access_token;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let verifier = Verifier::builder(format!("{}/sandbox", app.config.public_url))
        .jwks_url(format!("http://{dead}/sandbox/.well-known/jwks.json"))
        .build()
        .unwrap();
    let api = protected(verifier).await;
    let answer = reqwest::Client::new()
        .get(format!("{api}/sandbox/whoami"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "1");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

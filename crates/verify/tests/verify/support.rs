//! Keys of our own, tokens signed with them, and JWKS servers on 127.0.0.1:0.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub fn ed25519() -> (EncodingKey, Jwk) {
    let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let enc = EncodingKey::from_ed_der(doc.as_ref());
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::EdDSA).unwrap();
    jwk.common.key_id = Some("ed".into());
    (enc, jwk)
}

pub fn p256() -> (EncodingKey, Jwk) {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let enc = EncodingKey::from_ec_der(doc.as_ref());
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("ec".into());
    (enc, jwk)
}

/// Serves `keys` with `cache_control`; returns the issuer and a fetch counter.
pub async fn jwks(keys: Vec<Jwk>, cache_control: &'static str) -> (String, Arc<AtomicUsize>) {
    let body = serde_json::to_string(&JwkSet { keys }).unwrap();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/sandbox/.well-known/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move {
                (
                    [
                        ("content-type", "application/json"),
                        ("cache-control", cache_control),
                    ],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/sandbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (issuer, fetches)
}

pub fn claims(issuer: &str, now_s: i64) -> Value {
    json!({
        "iss": issuer, "aud": issuer, "sub": "u-1", "client_id": "alice",
        "username": "alice", "sid": "7", "iat": now_s, "exp": now_s + 3600,
        "jti": "j-1", "env": "sandbox"
    })
}

pub fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    typ: Option<&str>,
    claims: &Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_string);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A JWKS endpoint the test steers: it counts fetches, and can be made slow, failing,
/// or to redirect elsewhere. It answers on every path.
pub struct JwksServer {
    /// `http://127.0.0.1:PORT/sandbox`.
    pub issuer: String,
    /// Where the keys are: `{issuer}/.well-known/jwks.json`.
    pub url: String,
    state: Arc<ServerState>,
}

struct ServerState {
    fetches: AtomicUsize,
    body: Mutex<String>,
    failing: AtomicBool,
    delay_ms: AtomicU64,
    redirect_to: Mutex<Option<String>>,
    cache_control: &'static str,
}

impl JwksServer {
    /// Serves `keys` with `Cache-Control: {cache_control}`.
    pub async fn start(keys: Vec<Jwk>, cache_control: &'static str) -> JwksServer {
        let state = Arc::new(ServerState {
            fetches: AtomicUsize::new(0),
            body: Mutex::new(serde_json::to_string(&JwkSet { keys }).unwrap()),
            failing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            redirect_to: Mutex::new(None),
            cache_control,
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(move || {
            let s = s.clone();
            async move {
                s.fetches.fetch_add(1, Ordering::SeqCst);
                let delay = s.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                let redirect = s.redirect_to.lock().unwrap().clone();
                let mut answer = axum::http::Response::builder();
                if let Some(location) = redirect {
                    answer = answer.status(302).header("location", location);
                    return answer.body(axum::body::Body::empty()).unwrap();
                }
                if s.failing.load(Ordering::SeqCst) {
                    return answer
                        .status(500)
                        .body(axum::body::Body::from("down"))
                        .unwrap();
                }
                let body = s.body.lock().unwrap().clone();
                answer
                    .status(200)
                    .header("content-type", "application/json")
                    .header("cache-control", s.cache_control)
                    .body(axum::body::Body::from(body))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/sandbox", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer {
            url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            state,
        }
    }

    /// Fetches so far.
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Answers 500 from now on (or again 200).
    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// Waits this long before answering.
    pub fn delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Answers `302 Location: url` from now on.
    pub fn redirect_to(&self, url: &str) {
        *self.state.redirect_to.lock().unwrap() = Some(url.to_string());
    }

    /// Waits, for at most 2 s, until `n` fetches have been made.
    pub async fn until_fetches(&self, n: usize) {
        for _ in 0..400 {
            if self.fetches() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A token of `issuer`'s sandbox signed with `key` under `kid`, valid for ten hours from
/// `now_s`.
pub fn token(alg: Algorithm, kid: &str, key: &EncodingKey, issuer: &str, now_s: i64) -> String {
    let mut c = claims(issuer, now_s);
    c["exp"] = json!(now_s + 36_000);
    sign(alg, Some(kid), Some("at+jwt"), &c, key)
}

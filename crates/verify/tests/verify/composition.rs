//! Item 6 of issue #17: the layer and the extractor in one router, and requests whose
//! `Authorization` header is not one well-formed value.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Extension, Json, Router};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};
use tower::ServiceExt;
use wirecash_verify::{Claims, Clock, ManualClock, Verifier, VerifyLayer};

use crate::support::{ed25519, token};

const SANDBOX: &str = "https://auth.example/sandbox";
const PRODUCTION: &str = "https://auth.example/production";

async fn whoami(claims: Claims) -> Json<Value> {
    Json(json!({"username": claims.username, "env": claims.env}))
}

struct Setup {
    sandbox_token: String,
    production_token: String,
    sandbox: Verifier,
    production: Verifier,
}

/// Two environments with a key each, and a token of each.
fn setup() -> Setup {
    let clock = ManualClock::starting_now();
    let now_s = clock.now_millis() / 1000;
    let (sk, sjwk) = ed25519();
    let (pk, pjwk) = ed25519();
    let verifier = |issuer: &str, jwk| {
        Verifier::builder(issuer)
            .static_jwks(serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap())
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap()
    };
    let mut production_claims = crate::support::claims(PRODUCTION, now_s);
    production_claims["env"] = json!("production");
    Setup {
        sandbox_token: token(Algorithm::EdDSA, "ed", &sk, SANDBOX, now_s),
        production_token: crate::support::sign(
            Algorithm::EdDSA,
            Some("ed"),
            Some("at+jwt"),
            &production_claims,
            &pk,
        ),
        sandbox: verifier(SANDBOX, sjwk),
        production: verifier(PRODUCTION, pjwk),
    }
}

async fn call(app: &Router, path: &str, authorization: &[&[u8]]) -> (StatusCode, Value, String) {
    let mut request = Request::get(path);
    for value in authorization {
        request = request.header(
            "authorization",
            axum::http::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let answer = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = answer.status();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap(), challenge)
}

#[tokio::test]
async fn the_extractor_does_not_take_claims_an_outer_layer_for_another_environment_made() {
    let s = setup();
    // The whole API sits behind the sandbox layer; the production routes say, with a
    // Verifier extension, that they want production tokens.
    let production_routes = Router::new()
        .route("/production/whoami", get(whoami))
        .layer(Extension(s.production.clone()));
    let app = Router::new()
        .route("/sandbox/whoami", get(whoami))
        .merge(production_routes)
        .layer(VerifyLayer::new(s.sandbox.clone()));

    let (status, body, _) = call(&app, "/sandbox/whoami", &[s.sandbox_token.as_bytes()]).await;
    assert_eq!(
        (status, body["env"].clone()),
        (StatusCode::OK, json!("sandbox"))
    );
    let (status, body, _) = call(&app, "/production/whoami", &[s.sandbox_token.as_bytes()]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a sandbox token reached a production handler: {body}"
    );
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn with_matching_layer_and_extension_the_token_is_verified_once_and_passes() {
    let s = setup();
    let app = Router::new()
        .route("/production/whoami", get(whoami))
        .layer(Extension(s.production.clone()))
        .layer(VerifyLayer::new(s.production.clone()));
    let (status, body, _) =
        call(&app, "/production/whoami", &[s.production_token.as_bytes()]).await;
    assert_eq!(
        (status, body["env"].clone()),
        (StatusCode::OK, json!("production"))
    );
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let s = setup();
    let layered = Router::new()
        .route("/sandbox/whoami", get(whoami))
        .layer(VerifyLayer::new(s.sandbox.clone()));
    let extracted = Router::new()
        .route("/sandbox/whoami", get(whoami))
        .layer(Extension(s.sandbox.clone()));
    let t = s.sandbox_token.as_bytes();
    for app in [&layered, &extracted] {
        for headers in [vec![t, t], vec![t, b"garbage".as_slice()]] {
            let (status, body, challenge) = call(app, "/sandbox/whoami", &headers).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_request", "{body}");
            assert!(
                challenge.starts_with("Bearer error=\"invalid_request\""),
                "{challenge}"
            );
        }
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_a_bad_request() {
    let s = setup();
    let app = Router::new()
        .route("/sandbox/whoami", get(whoami))
        .layer(VerifyLayer::new(s.sandbox.clone()));
    let t = &s.sandbox_token;
    let malformed: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        format!("Bearer {t} {t}").into_bytes(),
        format!("Bearer {t}\tx").into_bytes(),
        format!("{t} trailing").into_bytes(),
        b"eyJ\xff.a.b".to_vec(),
        b"Bearer a,b.c".to_vec(),
    ];
    for value in &malformed {
        let (status, body, challenge) = call(&app, "/sandbox/whoami", &[value]).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{:?}: {body}",
            String::from_utf8_lossy(value)
        );
        assert_eq!(body["error"], "invalid_request");
        assert!(challenge.contains("invalid_request"), "{challenge}");
    }
    // Well-formed but not ours: an unsupported scheme is no credentials (RFC 6750
    // §3.1: no error code), a syntactically fine non-token is an invalid token.
    let (status, body, challenge) = call(&app, "/sandbox/whoami", &[b"Basic YWxpY2U6cHc="]).await;
    assert_eq!(
        (status, challenge.as_str()),
        (StatusCode::UNAUTHORIZED, "Bearer"),
        "{body}"
    );
    let (status, _, challenge) = call(&app, "/sandbox/whoami", &[b"not.a.jwt"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    // Both accepted forms still pass.
    for value in [t.clone(), format!("Bearer {t}"), format!("bearer   {t} ")] {
        let (status, body, _) = call(&app, "/sandbox/whoami", &[value.as_bytes()]).await;
        assert_eq!(status, StatusCode::OK, "{value}: {body}");
    }
}

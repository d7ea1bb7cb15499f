//! Property tests of the request parsers through the real server: whatever the body,
//! the answer is a JSON 2xx/4xx, never a 5xx or a hang.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::support::TestApp;

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,80}".prop_map(Value::String),
        "[A-Za-z0-9_-]{66}".prop_map(Value::String),
        prop::collection::vec(".{0,8}", 0..4).prop_map(|v| json!(v)),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let object =
        (json_value(), json_value(), json_value(), json_value()).prop_map(|(u, p, a, r)| {
            json!({"username": u, "password": p, "access_token": a, "refresh_token": r})
                .to_string()
                .into_bytes()
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ".{0,200}".prop_map(String::into_bytes),
        object
    ]
}

#[test]
fn arbitrary_bodies_never_get_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::spawn());
    let _ = rt.block_on(app.add_user("sandbox", "alice"));
    let paths = [
        "/sandbox/authenticate",
        "/sandbox/token",
        "/production/token",
        "/nope/token",
    ];
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..paths.len(), 0..content_types.len(), body());
    runner
        .run(&strategy, |(p, c, body)| {
            let status = rt.block_on(async {
                let mut req = app
                    .client
                    .post(format!("{}{}", app.base, paths[p]))
                    .body(body);
                if !content_types[c].is_empty() {
                    req = req.header("content-type", content_types[c]);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                let parsed: Result<Value, _> = serde_json::from_str(&text);
                assert!(
                    parsed.is_ok_and(|v| v.is_object()),
                    "not a JSON object: {text}"
                );
                status
            });
            prop_assert!((200..500).contains(&status), "status {}", status);
            Ok(())
        })
        .unwrap();
    drop(app);
}

fn form_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("client_credentials".to_string()),
        Just("password".to_string()),
        Just("refresh_token".to_string()),
        Just("alice".to_string()),
        "[A-Za-z0-9_-]{66}",
        ".{0,60}",
    ]
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let names = prop_oneof![
        Just("grant_type"),
        Just("username"),
        Just("password"),
        Just("refresh_token"),
        Just("token"),
        Just("token_type_hint"),
        Just("client_id"),
        Just("client_secret"),
        Just("scope"),
    ];
    let pairs = prop::collection::vec((names, form_value()), 0..6).prop_map(|pairs| {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "[a-z_=&%+0-9A-F]{0,200}".prop_map(String::into_bytes),
        pairs
    ]
}

fn authorization() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Some),
        "Basic [A-Za-z0-9+/=%]{0,60}".prop_map(|s| Some(s.into_bytes())),
        (".{0,20}", ".{0,20}").prop_map(|(id, secret)| {
            use base64::Engine;
            let raw = format!("{id}:{secret}");
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            Some(format!("Basic {b64}").into_bytes())
        }),
    ]
}

/// The RFC 6749 / 7009 / 7662 endpoints: whatever the form and the Authorization header,
/// a JSON 2xx/4xx (or the empty 200 of a revocation), never a 5xx.
#[test]
fn arbitrary_forms_and_client_credentials_never_get_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::spawn());
    let _ = rt.block_on(app.add_user("sandbox", "alice"));
    let paths = [
        "/sandbox/oauth2/token",
        "/sandbox/revoke",
        "/sandbox/introspect",
    ];
    let content_types = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/json",
        "",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..paths.len(),
        0..content_types.len(),
        form_body(),
        authorization(),
    );
    runner
        .run(&strategy, |(p, c, body, auth)| {
            let (status, text) = rt.block_on(async {
                let mut req = app
                    .client
                    .post(format!("{}{}", app.base, paths[p]))
                    .body(body);
                if !content_types[c].is_empty() {
                    req = req.header("content-type", content_types[c]);
                }
                if let Some(value) = auth
                    .as_deref()
                    .and_then(|a| reqwest::header::HeaderValue::from_bytes(a).ok())
                {
                    req = req.header("authorization", value);
                }
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            });
            prop_assert!((200..500).contains(&status), "status {} {}", status, text);
            let empty_revoke_ok = status == 200 && p == 1 && text.is_empty();
            let parsed: Result<Value, _> = serde_json::from_str(&text);
            prop_assert!(
                empty_revoke_ok || parsed.is_ok_and(|v| v.is_object()),
                "not a JSON object: {}",
                text
            );
            Ok(())
        })
        .unwrap();
    drop(app);
}

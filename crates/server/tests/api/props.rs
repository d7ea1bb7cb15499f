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

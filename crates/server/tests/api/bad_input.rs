//! SPEC §9: every request that is not exactly right gets a 4xx with a JSON error body
//! and changes no state.

use reqwest::Method;

use crate::support::TestApp;

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

fn case(
    name: &'static str,
    path: &str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.to_string(),
        content_type,
        body: body.into(),
        status,
    }
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_json_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let json = Some("application/json");
    let good_refresh = format!(
        r#"{{"username":"alice","access_token":"{}","refresh_token":"{}"}}"#,
        t.access_token, t.refresh_token
    );
    let long = "a".repeat(5000);
    let mut cases = vec![
        case(
            "no content type",
            "/sandbox/authenticate",
            None,
            r#"{"username":"alice","password":"x"}"#,
            415,
        ),
        case(
            "form content type",
            "/sandbox/authenticate",
            Some("application/x-www-form-urlencoded"),
            "username=alice&password=x",
            415,
        ),
        case(
            "text content type",
            "/sandbox/token",
            Some("text/plain"),
            good_refresh.clone(),
            415,
        ),
        case("empty body", "/sandbox/authenticate", json, "", 400),
        case(
            "not json",
            "/sandbox/authenticate",
            json,
            "username=alice",
            400,
        ),
        case(
            "truncated json",
            "/sandbox/token",
            json,
            &good_refresh[..40],
            400,
        ),
        case(
            "json array",
            "/sandbox/authenticate",
            json,
            r#"["alice","x"]"#,
            400,
        ),
        case(
            "json string",
            "/sandbox/authenticate",
            json,
            r#""alice""#,
            400,
        ),
        case("json null", "/sandbox/token", json, "null", 400),
        case(
            "missing password",
            "/sandbox/authenticate",
            json,
            r#"{"username":"alice"}"#,
            400,
        ),
        case(
            "missing username",
            "/sandbox/authenticate",
            json,
            r#"{"password":"x"}"#,
            400,
        ),
        case(
            "null password",
            "/sandbox/authenticate",
            json,
            r#"{"username":"alice","password":null}"#,
            400,
        ),
        case(
            "empty username",
            "/sandbox/authenticate",
            json,
            r#"{"username":"","password":"x"}"#,
            400,
        ),
        case(
            "numeric password",
            "/sandbox/authenticate",
            json,
            r#"{"username":"alice","password":12345}"#,
            400,
        ),
        case(
            "object username",
            "/sandbox/authenticate",
            json,
            r#"{"username":{"a":1},"password":"x"}"#,
            400,
        ),
        case(
            "absurdly long username",
            "/sandbox/authenticate",
            json,
            format!(r#"{{"username":"{long}","password":"x"}}"#),
            400,
        ),
        case(
            "missing refresh_token",
            "/sandbox/token",
            json,
            format!(
                r#"{{"username":"alice","access_token":"{}"}}"#,
                t.access_token
            ),
            400,
        ),
        case(
            "missing access_token",
            "/sandbox/token",
            json,
            format!(
                r#"{{"username":"alice","refresh_token":"{}"}}"#,
                t.refresh_token
            ),
            400,
        ),
        case(
            "empty refresh_token",
            "/sandbox/token",
            json,
            format!(
                r#"{{"username":"alice","access_token":"{}","refresh_token":""}}"#,
                t.access_token
            ),
            400,
        ),
        case(
            "array refresh_token",
            "/sandbox/token",
            json,
            format!(
                r#"{{"username":"alice","access_token":"{}","refresh_token":["{}"]}}"#,
                t.access_token, t.refresh_token
            ),
            400,
        ),
        case(
            "absurdly long access_token",
            "/sandbox/token",
            json,
            format!(
                r#"{{"username":"alice","access_token":"{}","refresh_token":"{}"}}"#,
                "x".repeat(10_000),
                t.refresh_token
            ),
            400,
        ),
        case(
            "body over the size limit",
            "/sandbox/token",
            json,
            format!(r#"{{"username":"alice","pad":"{}"}}"#, "x".repeat(100_000)),
            413,
        ),
        case(
            "credentials in the query string",
            "/sandbox/token?username=alice&access_token=a&refresh_token=b",
            json,
            "",
            400,
        ),
        case(
            "tokens in query, body good",
            &format!("/sandbox/token?refresh_token={}", t.refresh_token),
            json,
            good_refresh.clone(),
            400,
        ),
        case(
            "deeply nested json",
            "/sandbox/authenticate",
            json,
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            400,
        ),
        case(
            "invalid utf-8",
            "/sandbox/authenticate",
            json,
            b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(),
            400,
        ),
        case(
            "unknown environment",
            "/staging/token",
            json,
            good_refresh.clone(),
            404,
        ),
        case(
            "unknown path",
            "/sandbox/tokens",
            json,
            good_refresh.clone(),
            404,
        ),
    ];
    cases.push(Case {
        name: "GET on token",
        method: Method::GET,
        path: "/sandbox/token".into(),
        content_type: None,
        body: vec![],
        status: 405,
    });
    cases.push(Case {
        name: "PUT on authenticate",
        method: Method::PUT,
        path: "/sandbox/authenticate".into(),
        content_type: json,
        body: b"{}".to_vec(),
        status: 405,
    });
    cases.push(Case {
        name: "DELETE on jwks",
        method: Method::DELETE,
        path: "/sandbox/.well-known/jwks.json".into(),
        content_type: None,
        body: vec![],
        status: 405,
    });
    assert!(cases.len() >= 20);

    for c in &cases {
        let mut req = app
            .client
            .request(c.method.clone(), format!("{}{}", app.base, c.path))
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, c.status, "{}: {text}", c.name);
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", c.name));
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "{}: {body}",
            c.name
        );
        assert!(
            !text.contains(&t.refresh_token) && !text.contains(&t.access_token),
            "{}: echoes a token",
            c.name
        );
    }
    // No state changed: still exactly one session, and its refresh token is unspent.
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    app.refresh("sandbox", "alice", &t).await.tokens();
    let logs = crate::support::logs();
    assert!(!logs.contains(&t.refresh_token));
}

#[tokio::test]
async fn extra_fields_are_ignored_and_charset_parameters_accepted() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let body =
        serde_json::json!({"username": "alice", "password": pw, "client": "java", "extra": [1, 2]});
    let request = app
        .client
        .post(format!("{}/sandbox/authenticate", app.base))
        .header("content-type", "application/json; charset=UTF-8")
        .body(body.to_string());
    app.send(request).await.tokens();
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408_and_blocks_nobody() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        b"POST /sandbox/authenticate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
    )
    .await
    .unwrap();
    // Meanwhile others are served.
    app.login("sandbox", "alice", &pw).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        slow.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the server held the connection open");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"invalid_request\""), "{text}");
}

/// Names and claims no user can have — NUL and other control characters, which
/// PostgreSQL refuses in text — get the ordinary 400, never a 500 (found by the property
/// test on PostgreSQL).
#[tokio::test]
async fn control_characters_in_names_and_claims_are_ordinary_refusals() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    for name in ["\u{0}", "ali\u{0}ce", "bob\u{7}"] {
        let a = app.authenticate_raw("sandbox", name, &pw).await;
        assert_eq!(a.status, 400, "{name:?}: {}", a.body);
        assert_eq!(a.error(), "invalid_grant");
    }
    let t = app.login("sandbox", "alice", &pw).await;
    let a = app
        .refresh_raw("sandbox", "al\u{0}ice", &t.access_token, &t.refresh_token)
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    // A live refresh token with an access token whose claims carry a NUL `sub`: refused
    // as a mismatch, and the session is not spent.
    let mut parts: Vec<String> = t.access_token.split('.').map(str::to_string).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = crate::support::claims(&t.access_token);
    claims["sub"] = serde_json::Value::String("\u{0}".into());
    parts[1] = b64.encode(claims.to_string());
    let forged = parts.join(".");
    let a = app
        .refresh_raw("sandbox", "alice", &forged, &t.refresh_token)
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.error(), "invalid_grant");
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 200);
}

#[tokio::test]
async fn a_repeated_json_key_is_invalid_request_wherever_it_is() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    app.add_user("sandbox", "mallory").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let bodies = [
        // A proxy reading the first value sees mallory; the last one is alice.
        (
            "/sandbox/authenticate",
            format!(r#"{{"username":"mallory","username":"alice","password":"{pw}"}}"#),
        ),
        (
            "/sandbox/authenticate",
            format!(r#"{{"username":"alice","password":"x","password":"{pw}"}}"#),
        ),
        // Also a repeated field the service does not read, and one nested deeper.
        (
            "/sandbox/authenticate",
            format!(r#"{{"username":"alice","password":"{pw}","x":1,"x":2}}"#),
        ),
        (
            "/sandbox/authenticate",
            format!(r#"{{"username":"alice","password":"{pw}","x":{{"a":1,"a":2}}}}"#),
        ),
        (
            "/sandbox/token",
            format!(
                r#"{{"username":"alice","access_token":"{}","refresh_token":"{}","refresh_token":"{}"}}"#,
                t.access_token, t.refresh_token, t.refresh_token
            ),
        ),
    ];
    for (path, body) in bodies {
        let r = app.post_raw(path, &body).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{path}: {}", r.body);
        assert!(
            r.body["error_description"]
                .as_str()
                .unwrap()
                .contains("more than once"),
            "{}",
            r.body
        );
    }
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    assert_eq!(app.live_sessions("sandbox", "mallory").await, 0);
    app.refresh("sandbox", "alice", &t).await.tokens();
}

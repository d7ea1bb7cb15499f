//! Errors raised below the application (bad framing, header limits) are answered in the
//! §2 JSON shape with the right status, like every other error (SPEC §9); the header
//! limit is the documented 64 KiB.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// Sends `request` on a new connection and reads the whole answer (the server closes
/// the connection after a framing error).
async fn exchange(app: &TestApp, request: &[u8]) -> (u16, String, String) {
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn assert_json_error(status: u16, head: &str, body: &str, want: u16, what: &str) {
    assert_eq!(status, want, "{what}: {head}\n{body}");
    assert!(
        head.contains("content-type: application/json"),
        "{what}: {head}"
    );
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: body {body:?}"));
    assert!(
        v["error"].is_string() && v["error_description"].is_string(),
        "{what}: {v}"
    );
}

#[tokio::test]
async fn two_different_content_lengths_get_a_json_400() {
    let app = TestApp::spawn().await;
    let (status, head, body) = exchange(
        &app,
        b"POST /sandbox/authenticate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
    )
    .await;
    assert_json_error(status, &head, &body, 400, "two content lengths");
}

#[tokio::test]
async fn a_header_section_over_the_limit_gets_a_json_431_and_one_under_it_is_served() {
    let app = TestApp::spawn().await;
    let request = |pad: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(pad)
        )
    };
    // 60 KiB of headers: within the documented 64 KiB.
    let (status, _, _) = exchange(&app, request(60 * 1024).as_bytes()).await;
    assert_eq!(status, 200);
    // 70 KiB: over it.
    let (status, head, body) = exchange(&app, request(70 * 1024).as_bytes()).await;
    assert_json_error(status, &head, &body, 431, "70 KiB of headers");
}

#[tokio::test]
async fn a_malformed_chunked_body_gets_a_json_400_not_413() {
    let app = TestApp::spawn().await;
    let (status, head, body) = exchange(
        &app,
        b"POST /sandbox/authenticate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    .await;
    assert_json_error(status, &head, &body, 400, "malformed chunk size");
}

#[tokio::test]
async fn a_malformed_request_line_gets_a_json_400() {
    let app = TestApp::spawn().await;
    let (status, head, body) = exchange(&app, b"P\x01ST / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_json_error(status, &head, &body, 400, "bad method");
}

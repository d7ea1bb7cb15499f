//! docs/published-samples.md: the published `POST /token` samples, corrected.

// The curl, Node.js (built-in `fetch`), Python (`requests`) and raw HTTP samples are
// taken from the page as they stand, pointed at a test server, and run: with the
// placeholders they print the service's 400 `invalid_grant`; with a user's real tokens,
// a 200 with a new refresh token.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, Tokens};

/// The page's fenced block of language `lang`.
fn sample(page: &str, lang: &str) -> String {
    let fence = format!("```{lang}\n");
    let start = page
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} sample"))
        + fence.len();
    let end = page[start..].find("```").unwrap() + start;
    page[start..end].to_string()
}

/// `text` pointed at `app`, with `tokens` (of alice) in place of the placeholders.
fn fill(text: &str, app: &TestApp, tokens: Option<&Tokens>) -> String {
    let text = text.replace("127.0.0.1:8080", &app.addr.to_string());
    match tokens {
        None => text,
        Some(t) => text
            .replace("YOUR USERNAME", "alice")
            .replace("YOUR ACCESS TOKEN", &t.access_token)
            .replace("YOUR REFRESH TOKEN", &t.refresh_token),
    }
}

/// Runs `program args… file` with `code` in `file`; returns standard output.
async fn run(program: &Path, args: &[&str], dir: &Path, name: &str, code: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, code).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(program)
            .args(args)
            .arg(&file)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} did not finish"))
    .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The raw HTTP sample, its Content-Length set to its body's, lines ending in CR LF.
async fn send_http(app: &TestApp, text: &str) -> String {
    let (head, body) = text.split_once("\n\n").unwrap();
    let body = body.trim_end_matches('\n');
    let head = head
        .lines()
        .map(|l| match l.strip_prefix("Content-Length: ") {
            Some(_) => format!("Content-Length: {}", body.len()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n{body}");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}

/// Every token a sample printed, for the check that none reached a log line.
fn remember_tokens(app: &TestApp, printed: &str) {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    for word in printed.split(|c: char| !token_char(c)) {
        if (word.starts_with("eyJ") || word.starts_with("AR")) && word.len() > 40 {
            app.remember(word);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corrected_samples_work_as_pasted() {
    let venv = crate::third_party::authlib_venv().await;
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/published-samples.md"),
    )
    .unwrap();
    // The Content-Length the page states is right for its placeholder body.
    let http = sample(&page, "http");
    let (_, body) = http.split_once("\n\n").unwrap();
    assert!(http.contains(&format!("Content-Length: {}\n", body.trim_end().len())));

    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let python = venv.join("bin/python");
    let node = Path::new("node");
    let bash = Path::new("bash");
    for with_tokens in [false, true] {
        let fresh = || async {
            let t = app.login("sandbox", "alice", &pw).await;
            with_tokens.then_some(t)
        };
        // Each sample once with the placeholders, once with tokens of a login of its own
        // (a refresh spends them).
        let t = fresh().await;
        let curl = run(
            bash,
            &[],
            dir.path(),
            "sample.sh",
            &fill(&sample(&page, "sh"), &app, t.as_ref()),
        )
        .await;
        let t = fresh().await;
        let js = run(
            node,
            &[],
            dir.path(),
            "sample.js",
            &fill(&sample(&page, "javascript"), &app, t.as_ref()),
        )
        .await;
        let t = fresh().await;
        let py = run(
            &python,
            &[],
            dir.path(),
            "sample.py",
            &fill(&sample(&page, "python"), &app, t.as_ref()),
        )
        .await;
        let t = fresh().await;
        let raw = send_http(&app, &fill(&http, &app, t.as_ref())).await;
        if with_tokens {
            assert!(curl.contains("\"token_type\":\"Bearer\""), "curl: {curl}");
            assert!(
                js.contains("token_type: 'Bearer'") && js.contains("refresh_token: 'AR"),
                "node: {js}"
            );
            assert!(
                py.contains("'token_type': 'Bearer'") && py.contains("'refresh_token': 'AR"),
                "python: {py}"
            );
            assert!(
                raw.starts_with("HTTP/1.1 200 OK\r\n") && raw.contains("\"token_type\":\"Bearer\""),
                "http: {raw}"
            );
            for out in [&curl, &js, &py, &raw] {
                remember_tokens(&app, out);
            }
        } else {
            assert!(curl.contains("\"error\":\"invalid_grant\""), "curl: {curl}");
            assert!(js.contains("error: 'invalid_grant'"), "node: {js}");
            assert!(py.contains("'error': 'invalid_grant'"), "python: {py}");
            assert!(
                raw.starts_with("HTTP/1.1 400 Bad Request\r\n") && raw.contains("invalid_grant"),
                "http: {raw}"
            );
        }
    }
}

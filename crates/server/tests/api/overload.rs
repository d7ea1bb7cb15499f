//! A login flood that fills the Argon2 pool: the logins it has no place for are
//! answered 503 with `Retry-After` at once (not after the queued ones).

// A connection that sends its next login before the `Retry-After` is up has it held,
// and a refresh on such a connection is neither held nor refused.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::metrics::{Exposition, scrape_base};
use crate::support::TestApp;

/// One keep-alive HTTP/1.1 connection, driven by hand so that the test knows which
/// requests share a connection.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer: status, `Retry-After` if any, JSON body.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

impl Raw {
    async fn connect(app: &TestApp) -> Raw {
        Raw {
            stream: TcpStream::connect(app.addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, path: &str, body: &Value) {
        let body = body.to_string();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream
            .write_all(format!("{head}{body}").as_bytes())
            .await
            .unwrap();
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn read(&mut self) -> Reply {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let mut length = 0;
        let mut retry_after = None;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "retry-after" => retry_after = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        while self.buf.len() < end + length {
            self.fill().await;
        }
        let body = serde_json::from_slice(&self.buf[end..end + length]).unwrap();
        self.buf.drain(..end + length);
        Reply {
            status: status.parse().unwrap(),
            retry_after,
            body,
        }
    }

    async fn post(&mut self, path: &str, body: &Value) -> Reply {
        self.send(path, body).await;
        self.read().await
    }
}

async fn metrics(app: &TestApp) -> Exposition {
    scrape_base(&app.client, &app.base).await
}

const HELD: &str = "wirecash_http_requests_held_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_argon2_pool_refuses_at_once_and_holds_connections_that_do_not_wait() {
    let app = TestApp::spawn_with(|c| {
        // Each check costs a few milliseconds, so the flood below fills the pool long
        // before it drains; no lockout, so that every guess reaches the pool (the
        // worst case: a flood from many addresses and usernames).
        c.password_hash.memory_kib = 2048;
        c.password_hash.iterations = 8;
        c.security.login_max_failures = 0;
        c.security.address_max_failures = 0;
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let tokens = app.login("sandbox", "alice", &pw).await;
    let before = metrics(&app).await;

    // More wrong-password logins at once than the pool has places (one running and 64
    // waiting per core), each on a connection of its own.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let flood = cores * 65 + 60;
    let mut conns = Vec::new();
    for _ in 0..flood {
        conns.push(Raw::connect(&app).await);
    }
    let guess = json!({"username": "alice", "password": "wrong"});
    for c in &mut conns {
        c.send("/sandbox/authenticate", &guess).await;
    }
    // Each answer with the moment it arrived, handed over as it comes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for mut c in conns {
        let tx = tx.clone();
        tokio::spawn(async move {
            let reply = c.read().await;
            let _ = tx.send((reply, Instant::now(), c));
        });
    }
    drop(tx);
    let mut refresh = json!({
        "username": "alice",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
    });
    let (mut refusals, mut last_refusal, mut last_check) = (0, None, None);
    let mut probed = None;
    while let Some((reply, at, mut conn)) = rx.recv().await {
        match reply.status {
            400 => {
                assert_eq!(reply.body["error"], "invalid_grant");
                last_check = last_check.max(Some(at));
                continue;
            }
            503 => {
                assert_eq!(reply.body["error"], "temporarily_unavailable");
                assert_eq!(reply.retry_after.as_deref(), Some("1"));
                refusals += 1;
                last_refusal = last_refusal.max(Some(at));
            }
            other => panic!("a flood login got {other}: {}", reply.body),
        }
        if probed.is_some() {
            continue;
        }
        // A connection just refused (its second is running): a refresh on it is answered
        // and not held, and a login sent before its second is up is held, then handled.
        let held = |m: &Exposition| m.get(HELD, &[("route", "/{env}/authenticate")]);
        let held_before = held(&metrics(&app).await);
        let refreshed = conn.post("/sandbox/token", &refresh).await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        refresh["access_token"] = refreshed.body["access_token"].clone();
        refresh["refresh_token"] = refreshed.body["refresh_token"].clone();
        if at.elapsed() > Duration::from_millis(700) {
            // Too slow a box to be sure the second is not up yet: try the next refusal.
            continue;
        }
        let login = conn.post("/sandbox/authenticate", &guess).await;
        match login.status {
            400 => {}
            503 => refusals += 1,
            other => panic!("a held login got {other}: {}", login.body),
        }
        let held_after = held(&metrics(&app).await);
        probed = Some(held_after - held_before);
    }
    // The pool had no place for some, and they were told so at once: every refusal came
    // before the last of the queued checks was done.
    assert!(
        refusals > 0,
        "no login of {flood} was refused; the pool was never full"
    );
    assert!(
        last_refusal < last_check,
        "the refusals waited for the queue"
    );
    assert_eq!(
        probed,
        Some(1.0),
        "the refused connection's next login was not held (None: no refusal could be probed in time)"
    );
    let after = metrics(&app).await;
    assert_eq!(
        after.get("wirecash_password_hash_rejected_total", &[])
            - before.get("wirecash_password_hash_rejected_total", &[]),
        f64::from(refusals)
    );
    // Only the password-checking routes have a hold at all.
    for (series, _) in after.samples.iter().filter(|(s, _)| s.0 == HELD) {
        let route = series.1.get("route").map(String::as_str);
        assert!(
            matches!(
                route,
                Some("/{env}/authenticate" | "/{env}/oauth2/token" | "/{env}/revoke")
            ),
            "{series:?}"
        );
    }
}

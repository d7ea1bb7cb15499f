//! Transport limits: slow or idle connections (slowloris) are cut off at the header
//! deadline and cannot keep a normal client from refreshing; beyond the connection cap
//! new connections are closed at once, and slots come back as the deadline frees them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// Waits until the server closes `c` (EOF or reset); how long that took.
async fn closed_within(c: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // e.g. a 408 before the close
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_at_the_header_deadline_and_block_nobody() {
    let app = TestApp::spawn_with(|c| c.http.header_read_timeout = Duration::from_secs(1)).await;
    let pw = app.add_user("sandbox", "alice").await;
    // 200 connections: half send a request line and then trickle one header byte now and
    // then, half send nothing at all.
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            c.write_all(b"POST /sandbox/token HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                .await
                .unwrap();
        }
        slow.push(c);
    }
    let trickle = async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for c in slow.iter_mut().step_by(2) {
                let _ = c.write_all(b"a").await;
            }
        }
    };
    // Meanwhile a normal client logs in and refreshes.
    let normal = async {
        let mut t = app.login("sandbox", "alice", &pw).await;
        for _ in 0..5 {
            t = app.refresh("sandbox", "alice", &t).await.tokens();
        }
    };
    tokio::join!(trickle, normal);
    // Every slow connection is closed by the server by the deadline (1 s from its start,
    // trickling or not), not held open.
    for (i, c) in slow.iter_mut().enumerate() {
        let took = closed_within(c, Duration::from_secs(10)).await;
        assert!(took.is_some(), "slow connection {i} still open after 10 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_cap_new_connections_are_closed_until_slots_free_up() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_connections = 20;
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Give the server a moment to accept them all, then one more: closed at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let closed = closed_within(&mut extra, Duration::from_millis(900)).await;
    assert!(
        closed.is_some(),
        "a connection beyond the cap was served or held"
    );
    // The idle ones are cut at the header deadline; then a normal client gets through.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = app.login("sandbox", "alice", &pw).await;
    app.refresh("sandbox", "alice", &t).await.tokens();
}

//! The database goes away under load and comes back: requests are answered 503 while it
//! is away, and service resumes by itself — no restart, no token lost, none revived.

// The 503 is `temporarily_unavailable` (with `Retry-After`), within the pool/query
// deadlines; `/readyz` turns red meanwhile. The outage is made by a TCP proxy between
// the app and PostgreSQL that can cut every connection and refuse or swallow new ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::support::{Answer, TestApp, Tokens};

const UP: u8 = 0;
/// New connections are closed at once; open ones were cut.
const REFUSING: u8 = 1;
/// New connections are accepted and never answered (a black hole: a dead host).
const SILENT: u8 = 2;

/// A proxy in front of PostgreSQL.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(UP));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (m, l) = (mode.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                match m.load(Ordering::SeqCst) {
                    REFUSING => drop(inbound),
                    SILENT => {
                        let task = tokio::spawn(async move {
                            // Read and discard, never answer.
                            let mut buf = [0u8; 1024];
                            while matches!(inbound.read(&mut buf).await, Ok(n) if n > 0) {}
                        });
                        l.lock().await.push(task.abort_handle());
                    }
                    _ => {
                        let task = tokio::spawn(async move {
                            if let Ok(mut outbound) =
                                TcpStream::connect(("127.0.0.1", upstream)).await
                            {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                        l.lock().await.push(task.abort_handle());
                    }
                }
            }
        });
        Proxy { port, mode, live }
    }

    /// Cuts every open connection; new ones get `mode`.
    async fn fail(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        for task in self.live.lock().await.drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.mode.store(UP, Ordering::SeqCst);
    }
}

/// The app on a scratch database reached through a proxy, with short deadlines.
async fn app_behind_proxy() -> (TestApp, Proxy) {
    let app = TestApp::spawn().await;
    let real = app.config.database.url();
    let proxy = Proxy::start(5432).await;
    let proxied = real.replacen(":5432/", &format!(":{}/", proxy.port), 1);
    assert_ne!(proxied, real, "the scratch database URL names port 5432");
    let app = app
        .restart_with(|c| {
            c.database = wirecash_auth::config::Database::Postgres(proxied);
            c.postgres.pool_size = 8;
            c.postgres.pool_timeout = Duration::from_millis(500);
            c.postgres.query_timeout = Duration::from_secs(1);
        })
        .await;
    (app, proxy)
}

#[derive(Default)]
struct Chain {
    /// The last token pair received with a 200.
    latest: Option<Tokens>,
    /// Pairs spent by a successful refresh (200 received for their successor).
    spent: Vec<Tokens>,
    ok: usize,
    unavailable: usize,
}

/// Refreshes `chains` in a loop until `stop`; every answer must be a 200 or a 503
/// `temporarily_unavailable` with `Retry-After`, and come within `limit`.
async fn drive(
    app: Arc<TestApp>,
    chains: Vec<Arc<Mutex<Chain>>>,
    stop: Arc<AtomicU8>,
    limit: Duration,
) {
    let mut tasks = Vec::new();
    for chain in chains {
        let (app, stop) = (app.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while stop.load(Ordering::SeqCst) == 0 {
                let t = chain.lock().await.latest.clone().unwrap();
                let sent = Instant::now();
                let a: Answer = app.refresh("sandbox", "alice", &t).await;
                let took = sent.elapsed();
                assert!(took < limit, "an answer took {took:?} ({})", a.status);
                let mut c = chain.lock().await;
                match a.status.as_u16() {
                    200 => {
                        c.latest = Some(a.tokens());
                        c.spent.push(t);
                        c.ok += 1;
                    }
                    503 => {
                        assert_eq!(a.error(), "temporarily_unavailable", "{}", a.body);
                        assert!(
                            a.headers.contains_key("retry-after"),
                            "503 without Retry-After"
                        );
                        c.unavailable += 1;
                        drop(c);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    s => panic!("unexpected answer {s}: {}", a.body),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn outage(mode: u8) {
    let (app, proxy) = app_behind_proxy().await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut chains = Vec::new();
    for _ in 0..6 {
        let t = app.login("sandbox", "alice", &pw).await;
        chains.push(Arc::new(Mutex::new(Chain {
            latest: Some(t),
            ..Chain::default()
        })));
    }
    let app = Arc::new(app);
    // No answer may take longer than the deadlines allow (pool wait + one query, a few
    // store calls per request): a hang fails the test instead of stalling it.
    let limit = Duration::from_secs(8);
    let run = |stop: Arc<AtomicU8>| tokio::spawn(drive(app.clone(), chains.clone(), stop, limit));

    // Phase 1: up.
    let stop = Arc::new(AtomicU8::new(0));
    let load = run(stop.clone());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ok_before: usize = sum(&chains, |c| c.ok).await;
    assert!(ok_before > 0, "no refresh succeeded before the outage");

    // Phase 2: down. Every answer is a 503 once the cut connections have failed.
    proxy.fail(mode).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ok_at_cut = sum(&chains, |c| c.ok).await;
    let unavailable_at_cut = sum(&chains, |c| c.unavailable).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        sum(&chains, |c| c.ok).await,
        ok_at_cut,
        "a refresh succeeded while the database was away"
    );
    assert!(
        sum(&chains, |c| c.unavailable).await > unavailable_at_cut,
        "no 503 while the database was away"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503, "/readyz while down: {}", ready.body);

    // Phase 3: back. Service resumes without a restart.
    proxy.restore();
    let back = Instant::now();
    loop {
        if app.get("/readyz").await.status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "/readyz stayed red"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(1, Ordering::SeqCst);
    load.await.unwrap();
    let ok_after = sum(&chains, |c| c.ok).await;
    assert!(
        ok_after > ok_at_cut,
        "no refresh succeeded after the database came back"
    );
    eprintln!(
        "outage mode {mode}: {ok_before} refreshes before, {} 503s while down, {} after",
        sum(&chains, |c| c.unavailable).await,
        ok_after - ok_at_cut
    );

    // No token lost: the last pair each chain received still refreshes (a request cut
    // mid-flight may have committed; inside the grace window the retry is a replay).
    // None revived: tokens two generations back are refused.
    for chain in &chains {
        let c = chain.lock().await;
        let latest = c.latest.clone().unwrap();
        let a = app.refresh("sandbox", "alice", &latest).await;
        assert_eq!(a.status, 200, "a received token was lost: {}", a.body);
        if c.spent.len() >= 2 {
            let old = &c.spent[c.spent.len() - 2];
            let a = app.refresh("sandbox", "alice", old).await;
            assert_eq!(a.status, 400, "a spent token revived: {}", a.body);
            // That was reuse: this session is over now, as it should be.
        }
    }
}

async fn sum(chains: &[Arc<Mutex<Chain>>], f: impl Fn(&Chain) -> usize) -> usize {
    let mut n = 0;
    for c in chains {
        n += f(&*c.lock().await);
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_refusing_connections_gives_503s_and_service_resumes_by_itself() {
    outage(REFUSING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_host_going_silent_gives_503s_within_the_deadline_and_service_resumes() {
    outage(SILENT).await;
}

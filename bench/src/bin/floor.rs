//! The CPU floor of a durable refresh: the refresh chains of `wirecash-bench refresh`,
//! run inside one process against the service itself, with no socket and no HTTP.
//!
//! `--layer core` calls `AuthService::refresh` (token checks, minting and signing, the
//! SQLite writer and its `fsync`-ed group commit, metrics, audit); `--layer router`
//! hands each request to the application's axum router as the server's connection code
//! does (routing, middleware, JSON body in and out), minus hyper and the kernel. What
//! `core` costs per refresh no HTTP server, however lean, can take away; `router` adds
//! what the application's own request handling costs.
//!
//! It opens the database and configuration `bench/run.sh` made (`MODES=floor-core` or
//! `floor-router`), with the server's allocator and runtime, and reports the process's
//! CPU over the measured window per refresh, less the in-process client's own share
//! (measured apart, see `client_cost`).
//!
//! The other side of the bound: `--layer echo-raw` and `echo-hyper --listen ADDR` are
//! servers that do no token work at all, answering every request with the same
//! token-sized 200 (`bench/run.sh` with `ECHO=raw` or `ECHO=hyper` puts one in the
//! server's place): `echo-raw` reads requests with `httparse` and writes the answer
//! itself, the least any HTTP/1 server over loopback can do; `echo-hyper` is hyper's
//! HTTP/1 server with its default settings. See bench/README.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::body::Body;
use axum::extract::ConnectInfo;
use clap::{Parser, ValueEnum};
use http_body_util::BodyExt;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue};
use tower::ServiceExt;
use wirecash_auth::app::AppParts;
use wirecash_auth::config::{Config, Overrides};
use wirecash_auth::database::{self, Access};
use wirecash_core::validate::EnvName;
use wirecash_core::{AuthService, SystemClock};
use wirecash_proto::{AuthenticateResponse, RefreshTokenRequest};
use zeroize::Zeroizing;

#[allow(dead_code)] // this binary needs only the CPU samples
#[path = "../procfs.rs"]
mod procfs;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Layer {
    /// `AuthService::refresh`, nothing around it.
    Core,
    /// The application's router, as the server's connection code calls it.
    Router,
    /// A server on `--listen` answering every request with one fixed token answer,
    /// parsing with `httparse` and writing by hand.
    EchoRaw,
    /// The same answer from hyper's HTTP/1 server.
    EchoHyper,
}

#[derive(Parser)]
#[command(about = "In-process refresh chains: the CPU floor under any HTTP layer")]
struct Args {
    /// The configuration file (as `wirecash-auth --config`).
    #[arg(long, required_if_eq_any([("layer", "core"), ("layer", "router")]))]
    config: Option<std::path::PathBuf>,
    /// The database (as `wirecash-auth --database`); it must hold the users.
    #[arg(long, required_if_eq_any([("layer", "core"), ("layer", "router")]))]
    database: Option<String>,
    /// The echo layers: where to listen (the ready line names the address).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The environment of the users.
    #[arg(long, default_value = "sandbox")]
    env: String,
    /// Users `PREFIX0` … `PREFIX(N-1)`, all with the password in
    /// `WIRECASH_BENCH_PASSWORD`.
    #[arg(long, default_value_t = 64)]
    users: usize,
    #[arg(long, default_value = "bench-")]
    user_prefix: String,
    /// Concurrent refresh chains.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// What the chains call.
    #[arg(long, value_enum, default_value = "core")]
    layer: Layer,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    duration: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    warmup: Duration,
}

/// What every chain shares.
struct Plan {
    service: Arc<AuthService>,
    router: Option<Router>,
    env: EnvName,
    measure_start: Instant,
    end: Instant,
    done: AtomicU64,
}

/// The application as the server runs it.
type Router = wirecash_auth::app::App;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The server's runtime: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if matches!(args.layer, Layer::EchoRaw | Layer::EchoHyper) {
        return echo::serve(args.listen, args.layer == Layer::EchoHyper).await;
    }
    let (Some(config_file), Some(database)) = (&args.config, &args.database) else {
        bail!("--config and --database are required for this layer");
    };
    let password = std::env::var("WIRECASH_BENCH_PASSWORD")
        .context("set WIRECASH_BENCH_PASSWORD to the bench users' password")?;
    let flags = Overrides {
        listen: None,
        database: Some(database.clone()),
        log_format: None,
    };
    let config = Config::load(Some(config_file), &flags)?;
    // What `serve` sets up around the service: its logging and its metrics recorder.
    wirecash_auth::logging::init(config.log_format);
    let metrics = wirecash_auth::observe::install();
    let db = database::open(&config.database, &config, Access::Existing, true).await?;
    let (service, _) = wirecash_auth::build_service_on(&config, Arc::new(SystemClock), &db).await?;
    let router = (args.layer == Layer::Router).then(|| {
        wirecash_auth::app::app(AppParts {
            service: Arc::clone(&service),
            trusted_proxies: config.rate_limit.trusted_proxies.clone().into(),
            rate_limits: Arc::new(wirecash_auth::http::ratelimit::RateLimits::new(
                &config.rate_limit,
            )),
            metrics,
            openapi: bytes::Bytes::new(),
        })
    });
    let env = EnvName::parse(&args.env).map_err(|e| anyhow!("--env: {e}"))?;

    // Every chain logs in first, all at once, before the clock starts.
    let logins = (0..args.concurrency).map(|i| {
        let service = Arc::clone(&service);
        let env = env.clone();
        let user = format!("{}{}", args.user_prefix, i % args.users.max(1));
        let password = Zeroizing::new(password.clone());
        tokio::spawn(async move {
            service
                .authenticate(&env, &user, password, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
                .await
                .map(|g| (user, g.access_token, g.refresh_token))
        })
    });
    let mut firsts = Vec::with_capacity(args.concurrency);
    for login in logins {
        firsts.push(login.await?.map_err(|e| anyhow!("authenticate: {e}"))?);
    }

    let start = Instant::now();
    let plan = Arc::new(Plan {
        service,
        router,
        env,
        measure_start: start + args.warmup,
        end: start + args.warmup + args.duration,
        done: AtomicU64::new(0),
    });
    let chains: Vec<_> = firsts
        .into_iter()
        .enumerate()
        .map(|(i, first)| tokio::spawn(chain(i, Arc::clone(&plan), first)))
        .collect();
    tokio::time::sleep_until(plan.measure_start.into()).await;
    let cpu0 = procfs::sample("self").ok_or_else(|| anyhow!("cannot read /proc/self"))?;
    let t0 = Instant::now();
    let done0 = plan.done.load(Ordering::Acquire);
    tokio::time::sleep_until(plan.end.into()).await;
    let cpu1 = procfs::sample("self").ok_or_else(|| anyhow!("cannot read /proc/self"))?;
    let seconds = t0.elapsed().as_secs_f64();
    let done = plan.done.load(Ordering::Acquire) - done0;
    for chain in chains {
        chain.await??;
    }
    if done == 0 {
        bail!("no refresh succeeded in the window");
    }

    let tick = procfs::tick();
    let per = |ticks: u64| ticks as f64 * tick * 1e6 / done as f64;
    let used = cpu1.total.saturating_sub(cpu0.total);
    let total = per(used);
    // The SQLite writer thread's part (PostgreSQL has none: its work is in its backends).
    let writer = match (
        cpu0.threads.get("sqlite-writer"),
        cpu1.threads.get("sqlite-writer"),
    ) {
        (Some(a), Some(b)) => format!(" (SQLite writer {:.1} us)", per(b.saturating_sub(*a))),
        _ => String::new(),
    };
    let client = client_cost(args.layer);
    let layer = if args.layer == Layer::Core {
        "core"
    } else {
        "router"
    };
    println!(
        "floor-{layer}: {:.0} refreshes/s, process {:.2} cores = {total:.1} us per refresh{writer}, \
         in-process client {client:.1} us: floor {:.1} us per refresh",
        done as f64 / seconds,
        used as f64 * tick / seconds,
        total - client,
    );
    Ok(())
}

/// One refresh chain: refresh with the tokens just received, for as long as the run
/// lasts. A failed refresh ends the run with its error: in one process, with no network
/// and no timeouts, none should fail.
async fn chain(id: usize, plan: Arc<Plan>, first: (String, String, String)) -> anyhow::Result<()> {
    let (user, mut access, mut refresh) = first;
    // Each chain stands for one client connection: its own peer address and hold.
    let peer = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        40_000u16.wrapping_add(id as u16),
    );
    let hold = wirecash_auth::http::hold::ConnectionHold::new();
    let path = format!("/{}/token", plan.env.as_str());
    loop {
        let now = Instant::now();
        if now >= plan.end {
            return Ok(());
        }
        let next = match &plan.router {
            None => plan
                .service
                .refresh(&plan.env, &user, &access, &refresh)
                .await
                .map(|g| (g.access_token, g.refresh_token))
                .map_err(|e| anyhow!("{e}")),
            Some(router) => {
                let body = serde_json::to_vec(&RefreshTokenRequest {
                    username: user.clone(),
                    access_token: access.clone(),
                    refresh_token: refresh.clone(),
                })?;
                via_router(router.clone(), &path, peer, &hold, body).await
            }
        };
        match next {
            Ok((a, r)) => {
                access = a;
                refresh = r;
                if now >= plan.measure_start {
                    plan.done.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(e) => bail!("chain {id}: refresh failed: {e}"),
        }
    }
}

/// One `POST /{env}/token` through the router, with what the server's connection code
/// puts into every request (the peer address and the connection's hold).
async fn via_router(
    router: Router,
    path: &str,
    peer: SocketAddr,
    hold: &wirecash_auth::http::hold::ConnectionHold,
    body: Vec<u8>,
) -> anyhow::Result<(String, String)> {
    let mut request = hyper::Request::post(path)
        .header(HOST, HeaderValue::from_static("127.0.0.1"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(CONTENT_LENGTH, HeaderValue::from(body.len()))
        .body(Body::from(body))?;
    if let Some(refused) = wirecash_auth::framing::header_section_too_large(&request) {
        bail!("refused: {}", refused.status());
    }
    let extensions = request.extensions_mut();
    extensions.insert(ConnectInfo::<SocketAddr>(peer));
    extensions.insert(hold.clone());
    let response = router.oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&bytes));
    }
    let grant: AuthenticateResponse = serde_json::from_slice(&bytes)?;
    Ok((grant.access_token, grant.refresh_token))
}

/// CPU per refresh of what the in-process client does besides calling the layer,
/// measured apart on one thread: nothing worth counting for `core` (it moves the
/// strings it got); for `router`, writing the request body and reading the answer, as
/// the HTTP load generator does in its own process.
fn client_cost(layer: Layer) -> f64 {
    if layer == Layer::Core {
        return 0.0;
    }
    // The answer the echo servers give, and tokens of its sizes for the request.
    let answer = echo::answer_body();
    let access = "a".repeat(570);
    let refresh = "r".repeat(66);
    const N: u32 = 200_000;
    let cpu0 = procfs::sample("thread-self").map_or(0, |s| s.total);
    let t0 = Instant::now();
    let mut sink = 0usize;
    for _ in 0..N {
        let body = serde_json::to_vec(&RefreshTokenRequest {
            username: "bench-1".into(),
            access_token: access.clone(),
            refresh_token: refresh.clone(),
        })
        .unwrap_or_default();
        sink += body.len();
        if let Ok(grant) = serde_json::from_slice::<AuthenticateResponse>(&answer) {
            sink += grant.access_token.len();
        }
    }
    std::hint::black_box(sink);
    let cpu1 = procfs::sample("thread-self").map_or(0, |s| s.total);
    // The tick is coarse (10 ms); 200,000 rounds run for a second or so.
    let ticks = cpu1.saturating_sub(cpu0) as f64 * procfs::tick();
    let wall = t0.elapsed().as_secs_f64();
    // One thread cannot use more CPU than wall time; a tick rounded up could say so.
    ticks.min(wall) * 1e6 / f64::from(N)
}

/// Servers that do no token work: the floor of the I/O side.
mod echo {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::{Buf, Bytes, BytesMut};
    use http_body_util::{BodyExt, Full};
    use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use wirecash_proto::AuthenticateResponse;

    /// The largest request accepted (the server's body limit is of this order).
    const MAX_REQUEST: usize = 64 * 1024;

    /// A token answer of the real sizes: the server answers the bench with 714 bytes, an
    /// EdDSA access token of 95 + 387 + 86 characters and a 66-character refresh token.
    pub fn answer_body() -> Bytes {
        let body = serde_json::to_vec(&AuthenticateResponse {
            access_token: format!(
                "eyJ{}.{}.{}",
                "a".repeat(92),
                "b".repeat(387),
                "c".repeat(86)
            ),
            expires_in: 3600,
            refresh_token: "r".repeat(66),
            token_type: "Bearer".into(),
        })
        .unwrap_or_default();
        Bytes::from(body)
    }

    pub async fn serve(listen: SocketAddr, hyper: bool) -> anyhow::Result<()> {
        let listener = TcpListener::bind(listen).await?;
        // The server's ready line, which bench/run.sh waits for.
        println!("wirecash-auth listening on {}", listener.local_addr()?);
        let body = answer_body();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
             pragma: no-cache\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let raw: Arc<[u8]> = [head.as_bytes(), &body].concat().into();
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            if hyper {
                tokio::spawn(with_hyper(stream, body.clone()));
            } else {
                tokio::spawn(by_hand(stream, Arc::clone(&raw)));
            }
        }
    }

    /// Reads whole requests (head by `httparse`, then `Content-Length` bytes of body)
    /// and answers each with `answer`.
    async fn by_hand(mut stream: TcpStream, answer: Arc<[u8]>) {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            let needed = loop {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(&buf) {
                    Ok(httparse::Status::Complete(head)) => {
                        let length = request
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                            .and_then(|h| std::str::from_utf8(h.value).ok())
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if length > MAX_REQUEST {
                            return;
                        }
                        if buf.len() >= head + length {
                            break head + length;
                        }
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return,
                }
                if buf.len() > MAX_REQUEST {
                    return;
                }
                match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            };
            buf.advance(needed);
            if stream.write_all(&answer).await.is_err() {
                return;
            }
        }
    }

    /// hyper's HTTP/1 server, reading each body in full and answering `body`.
    async fn with_hyper(stream: TcpStream, body: Bytes) {
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    let _ = request.into_body().collect().await;
                    let mut response = hyper::Response::new(Full::new(body));
                    let headers = response.headers_mut();
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }
}

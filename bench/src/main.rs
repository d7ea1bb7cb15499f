//! `wirecash-bench`: a closed-loop load generator for the wirecash-auth HTTP API. It
//! drives refresh chains or authenticate loops over keep-alive HTTP/1.1 connections and
//! reports throughput, latency percentiles and the CPU/memory of client and server.

mod conn;
mod load;
mod procfs;
mod report;
mod stats;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use conn::{ClientKind, Connector, Target};
use load::Plan;
use procfs::{BoxUse, CpuSample, CpuUse};
use report::{ChainAuth, Report};
use stats::{Latency, Record};

/// How long the refresh chains' first logins may take, all together.
const FIRST_LOGINS_TIMEOUT: Duration = Duration::from_secs(120);

/// What the loops do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Chains of `POST /{env}/token`, each refresh token spent exactly once.
    Refresh,
    /// Loops of `POST /{env}/authenticate` (Argon2 verification on the server).
    Authenticate,
}

/// How the flood beside the load is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FloodShape {
    /// Wrong-password logins, each loop on one keep-alive connection.
    Keepalive,
    /// Fresh connections from many loopback addresses, cycling every `--phase` through
    /// no flood, a control flood of malformed logins (no hashing) and wrong-password
    /// logins (Argon2); the measured latencies are reported per phase.
    Interleaved,
}

/// Load generator for wirecash-auth.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// `refresh` or `authenticate`.
    #[arg(value_enum)]
    mode: Mode,
    /// Base URL of the service (plain http); several nodes as a comma-separated list,
    /// loop i then talks to node i mod N.
    #[arg(long, env = "WIRECASH_BENCH_URL")]
    url: String,
    /// Environment (stage) the bench users live in.
    #[arg(long, default_value = "sandbox")]
    env: String,
    /// Number of bench users: `{user-prefix}0` … `{user-prefix}{N-1}`; loop i uses
    /// user i mod N.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Prefix of the bench users' names.
    #[arg(long, default_value = "bench-")]
    user_prefix: String,
    /// Password all bench users share.
    #[arg(long, env = "WIRECASH_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    /// Concurrent loops (refresh chains), each on its own connection.
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Measured time.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured time before it (chains authenticate, connections open, caches warm).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Give up on one request after this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// HTTP client library.
    #[arg(long, value_enum, default_value = "hyper")]
    client: ClientKind,
    /// Client runtime threads (1 = a single-threaded runtime, cheapest).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// PID of the server on this box, to report its CPU and RSS over the window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also run this many wrong-password login loops (each on its own connection) beside
    /// the load, to see what a login flood does to it; their answers are reported apart.
    #[arg(long, default_value_t = 0)]
    flood: usize,
    /// Threads of the flood's own runtime, as an attacker's own process would have
    /// (0 = run the flood loops on the measuring runtime, where answering them delays the
    /// measured requests inside the load generator too).
    #[arg(long, default_value_t = 1)]
    flood_threads: usize,
    /// How the flood is made (see `FloodShape`).
    #[arg(long, value_enum, default_value = "keepalive")]
    flood_shape: FloodShape,
    /// Interleaved flood: how long each phase lasts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    phase: Duration,
    /// Refresh mode: present every refresh twice, the second time as a grace replay (the
    /// same request again, answered with the same successor); both are measured.
    #[arg(long)]
    replay: bool,
    /// Interleaved flood: source addresses it comes from (127.0.0.2 onwards).
    #[arg(long, default_value_t = 64)]
    flood_sources: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.users == 0 || args.threads == 0 {
        bail!("--concurrency, --users and --threads must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let report = runtime.block_on(run(&args))?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// A sample at the start and one at the end of the window (`None`: unreadable).
type Pair<T> = (Option<T>, Option<T>);

/// CPU samples of client, server and box at the start and end of the measured window.
struct Window {
    start: Instant,
    end: Instant,
    client: Pair<CpuSample>,
    server: Pair<CpuSample>,
    machine: Pair<(u64, u64)>,
}

async fn sample_window(measure_start: Instant, end: Instant, server: Option<String>) -> Window {
    sleep_until(measure_start).await;
    let start = Instant::now();
    let m0 = procfs::box_sample();
    let c0 = procfs::sample("self");
    let s0 = server.as_deref().and_then(procfs::sample);
    sleep_until(end).await;
    let stop = Instant::now();
    let m1 = procfs::box_sample();
    let c1 = procfs::sample("self");
    let s1 = server.as_deref().and_then(procfs::sample);
    Window {
        start,
        end: stop,
        client: (c0, c1),
        server: (s0, s1),
        machine: (m0, m1),
    }
}

fn cpu_use(pair: &Pair<CpuSample>, w: &Window) -> Option<CpuUse> {
    match pair {
        (Some(a), Some(b)) => Some(CpuUse::between(a, b, w.end - w.start)),
        _ => None,
    }
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let mut connectors = Vec::new();
    let mut flood_connectors = Vec::new();
    let mut target = None;
    for url in args.url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let t = Target::parse(url, &args.env)?;
        connectors.push(Connector::new(
            args.client,
            t.clone(),
            args.request_timeout,
        )?);
        flood_connectors.push(Connector::new(
            args.client,
            t.clone(),
            args.request_timeout,
        )?);
        target.get_or_insert(t);
    }
    let Some(target) = target else {
        bail!("--url: no URL given");
    };
    let users: Vec<String> = (0..args.users)
        .map(|i| format!("{}{i}", args.user_prefix))
        .collect();
    let server = args.server_pid.map(|p| p.to_string());
    if let Some(pid) = &server
        && procfs::sample(pid).is_none()
    {
        bail!("--server-pid {pid}: no such process readable in /proc");
    }

    let plan = Plan {
        measure_start: Instant::now(),
        end: Instant::now(),
        request_timeout: args.request_timeout,
        authenticate_path: target.path("authenticate"),
        token_path: target.path("token"),
        users,
        password: args.password.clone(),
        chains_started: AtomicUsize::new(0),
        chains: match args.mode {
            Mode::Refresh => args.concurrency,
            Mode::Authenticate => 0,
        },
        phase: (args.flood > 0 && args.flood_shape == FloodShape::Interleaved)
            .then_some(args.phase),
        replay: args.replay,
    };
    for connector in &connectors {
        load::preflight(connector.conn(), &plan)
            .await
            .context("preflight")?;
    }

    let mut plan = Arc::new(plan);
    // The refresh chains' first logins, before the clock starts: the window measures
    // refreshes, not Argon2.
    let firsts = match args.mode {
        Mode::Refresh => {
            let conns = (0..args.concurrency)
                .map(|id| connectors[id % connectors.len()].conn())
                .collect();
            let deadline = Instant::now() + FIRST_LOGINS_TIMEOUT;
            load::first_logins(conns, Arc::clone(&plan), deadline)
                .await
                .context("the refresh chains' first logins")?
        }
        Mode::Authenticate => Vec::new(),
    };

    // Every login task has ended, so the plan is this function's alone again.
    let Some(timed) = Arc::get_mut(&mut plan) else {
        bail!("a first-login task still holds the plan");
    };
    let start = Instant::now();
    timed.measure_start = start + args.warmup;
    timed.end = timed.measure_start + args.duration;
    let sampler = tokio::spawn(sample_window(plan.measure_start, plan.end, server.clone()));

    let mut loops = JoinSet::new();
    match args.mode {
        Mode::Refresh => {
            for (id, (conn, tokens)) in firsts.into_iter().enumerate() {
                loops.spawn(load::refresh_chain(id, conn, Arc::clone(&plan), tokens));
            }
        }
        Mode::Authenticate => {
            for id in 0..args.concurrency {
                let conn = connectors[id % connectors.len()].conn();
                loops.spawn(load::authenticate_loop(id, conn, Arc::clone(&plan)));
            }
        }
    }
    let flood_runtime = match (args.flood, args.flood_threads) {
        (0, _) | (_, 0) => None,
        (_, threads) => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("flood")
                .enable_all()
                .build()
                .context("starting the flood runtime")?,
        ),
    };
    let flood_runtime_threads = if flood_runtime.is_some() {
        args.flood_threads
    } else {
        0
    };
    let mut flood = Vec::new();
    let interleaved = match args.flood_shape {
        FloodShape::Interleaved if args.flood > 0 => {
            let server = tokio::net::lookup_host(target.authority())
                .await?
                .next()
                .with_context(|| format!("{} does not resolve", target.authority()))?;
            let sources: Vec<std::net::IpAddr> = (0..args.flood_sources.clamp(1, 250))
                .map(|i| std::net::IpAddr::from([127, 0, 0, u8::try_from(i + 2).unwrap_or(2)]))
                .collect();
            Some((server, Arc::new(sources)))
        }
        _ => None,
    };
    for id in 0..args.flood {
        let plan = Arc::clone(&plan);
        let work: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
            match &interleaved {
                Some((server, sources)) => Box::pin(load::interleaved_flood_loop(
                    id,
                    *server,
                    Arc::clone(sources),
                    plan,
                )),
                // Connections of their own, never shared with the measured loops.
                None => Box::pin(load::flood_loop(
                    id,
                    flood_connectors[id % flood_connectors.len()].conn(),
                    plan,
                )),
            };
        flood.push(match &flood_runtime {
            Some(rt) => rt.spawn(work),
            None => tokio::spawn(work),
        });
    }
    let mut total = Record::new()?;
    while let Some(done) = loops.join_next().await {
        total.merge(&done.context("a load loop panicked")??)?;
    }
    let mut flood_answers = std::collections::BTreeMap::new();
    for done in flood {
        for (cause, n) in done.await.context("a flood loop panicked")?? {
            *flood_answers.entry(cause).or_insert(0) += n;
        }
    }
    if let Some(rt) = flood_runtime {
        // Its loops have ended; dropping a runtime would block, which async code may not.
        rt.shutdown_background();
    }
    let window = sampler.await.context("the CPU sampler panicked")?;
    let memory = server.as_deref().and_then(procfs::memory);

    let client_cpu = cpu_use(&window.client, &window);
    let server_cpu = cpu_use(&window.server, &window);
    let machine_cpu = match window.machine {
        (Some(a), Some(b)) => Some(BoxUse::between(
            a,
            b,
            client_cpu.as_ref().map_or(0.0, |c| c.cores),
            server_cpu.as_ref().map_or(0.0, |c| c.cores),
        )),
        _ => None,
    };
    let ok = total.ok.len();
    let duration_s = args.duration.as_secs_f64();
    Ok(Report {
        mode: match args.mode {
            Mode::Refresh => "refresh",
            Mode::Authenticate => "authenticate",
        },
        client: args.client,
        concurrency: args.concurrency,
        client_threads: args.threads,
        users: plan.users.len(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s,
        ok,
        ok_per_s: ok as f64 / duration_s,
        errors: total.errors.clone(),
        latency: Latency::of(&total.ok),
        chain_authenticates: (args.mode == Mode::Refresh).then(|| ChainAuth {
            latency: Latency::of(&total.reauth),
            errors: total.reauth_errors.clone(),
        }),
        error_details: total.details.clone(),
        phases: plan.phase.map(|phase| {
            let quiet = Latency::of(&total.by_phase[load::QUIET]);
            let control = Latency::of(&total.by_phase[load::CONTROL]);
            let hashing = Latency::of(&total.by_phase[load::HASHING]);
            report::Phases {
                phase_s: phase.as_secs_f64(),
                sources: args.flood_sources.clamp(1, 250),
                p99_ratio: hashing.p99_ms / control.p99_ms.max(f64::MIN_POSITIVE),
                p99_ratio_quiet: hashing.p99_ms / quiet.p99_ms.max(f64::MIN_POSITIVE),
                quiet,
                control,
                hashing,
            }
        }),
        flood: (args.flood > 0).then(|| report::Flood {
            concurrency: args.flood,
            threads: flood_runtime_threads,
            per_s: flood_answers.values().sum::<u64>() as f64 / duration_s,
            answers: flood_answers,
        }),
        client_cpu,
        server_cpu,
        machine_cpu,
        server_rss_kib: memory.map(|m| m.0),
        server_peak_rss_kib: memory.map(|m| m.1),
    })
}

//! `wirecash-bench-audit`: CPU cost of one `refresh` audit event — the hot-path event of
//! docs/audit.md — through the service's JSON log set-up, enabled or filtered out. Logs
//! go to stderr: redirect it to a file, as a service manager would.

use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[path = "../procfs.rs"]
#[allow(dead_code)] // this binary needs only the CPU sample
mod procfs;

/// Emits `refresh` audit events as the service does (`--log-format json`).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Log filter, as `RUST_LOG`: `info` leaves the event out (the default level),
    /// `info,audit=debug` writes every one.
    #[arg(long, default_value = "info,audit=debug")]
    filter: String,
    /// Events to emit.
    #[arg(long, default_value_t = 1_000_000)]
    events: i64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // As crates/server/src/logging.rs sets it up for `--log-format json`.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.filter)?)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .json()
        .flatten_event(true)
        .try_init()
        .map_err(|e| anyhow!("{e}"))?;
    let before = procfs::sample("self").context("cannot read /proc/self/stat")?;
    let started = Instant::now();
    for i in 0..args.events {
        // A session id and a user id as the service writes them.
        wirecash_core::audit::refresh(
            "sandbox",
            1_882_938_035_210_151_956 + i,
            i,
            "75e502de-4cf8-472c-a64d-366cc9576267",
        );
    }
    let wall = started.elapsed();
    let after = procfs::sample("self").context("cannot read /proc/self/stat")?;
    let cpu = after.total.saturating_sub(before.total) as f64 * procfs::tick();
    let n = args.events.max(1) as f64;
    println!(
        "filter {:?}: {} events, {:.0} ns wall and {:.0} ns CPU per event",
        args.filter,
        args.events,
        wall.as_secs_f64() * 1e9 / n,
        cpu * 1e9 / n
    );
    Ok(())
}

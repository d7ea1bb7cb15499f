//! The result of a run, printed as a table for people or as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::conn::ClientKind;
use crate::procfs::{BoxUse, CpuUse};
use crate::stats::Latency;

/// Everything a run measured.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `refresh` or `authenticate`.
    pub mode: &'static str,
    /// Client library used.
    pub client: ClientKind,
    /// Concurrent loops (chains), each with its own connection.
    pub concurrency: usize,
    /// Client runtime threads.
    pub client_threads: usize,
    /// Distinct bench users.
    pub users: usize,
    /// Warm-up, not measured, in seconds.
    pub warmup_s: f64,
    /// Measured window, in seconds.
    pub duration_s: f64,
    /// Successful (200) requests of the mode's kind started in the window.
    pub ok: u64,
    /// `ok / duration_s`.
    pub ok_per_s: f64,
    /// Failed requests of the mode's kind, by cause.
    pub errors: BTreeMap<String, u64>,
    /// Latency of the successful requests.
    pub latency: Latency,
    /// Refresh mode only: authenticates the chains needed (start and re-authentication).
    pub chain_authenticates: Option<ChainAuth>,
    /// First detail seen per error cause.
    pub error_details: BTreeMap<String, String>,
    /// The wrong-password login flood run beside the load (`--flood`), if any.
    pub flood: Option<Flood>,
    /// With the interleaved flood: the load's latency in each kind of phase.
    pub phases: Option<Phases>,
    /// CPU of this load generator over the window (1.0 = one core).
    pub client_cpu: Option<CpuUse>,
    /// CPU of the server (`--server-pid`) over the window.
    pub server_cpu: Option<CpuUse>,
    /// CPU of the whole box over the window: shows load from other programs.
    pub machine_cpu: Option<BoxUse>,
    /// Server `VmRSS` at the end of the run, KiB.
    pub server_rss_kib: Option<u64>,
    /// Server `VmHWM` (peak RSS since it started) at the end of the run, KiB.
    pub server_peak_rss_kib: Option<u64>,
}

/// A flood of wrong-password logins beside the measured load.
#[derive(Debug, serde::Serialize)]
pub struct Flood {
    /// Concurrent flood loops, each with its own connection.
    pub concurrency: usize,
    /// Threads of the flood's own runtime (0: it shared the measuring runtime).
    pub threads: usize,
    /// Their answers inside the window, by cause.
    pub answers: BTreeMap<String, u64>,
    /// Answers per second.
    pub per_s: f64,
}

/// The measured load's latency while the control flood ran and while the hashing flood
/// ran, alternating phase by phase (`--flood-shape interleaved`).
#[derive(Debug, serde::Serialize)]
pub struct Phases {
    /// Length of one phase, seconds.
    pub phase_s: f64,
    /// Source addresses of the flood.
    pub sources: usize,
    /// With no flood.
    pub quiet: Latency,
    /// During malformed logins that hash nothing.
    pub control: Latency,
    /// During wrong-password logins (Argon2).
    pub hashing: Latency,
    /// `hashing.p99_ms / control.p99_ms`.
    pub p99_ratio: f64,
    /// `hashing.p99_ms / quiet.p99_ms`.
    pub p99_ratio_quiet: f64,
}

/// Authenticates done by refresh chains inside the window.
#[derive(Debug, serde::Serialize)]
pub struct ChainAuth {
    /// Successful ones, with their latency.
    pub latency: Latency,
    /// Failed ones, by cause.
    pub errors: BTreeMap<String, u64>,
}

fn errors_line(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    let total: u64 = errors.values().sum();
    let parts: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{total} ({})", parts.join(", "))
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (mean {:.2})",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
    )
}

fn cpu_line(c: &CpuUse) -> String {
    let top: Vec<String> = c
        .threads
        .iter()
        .take(6)
        .map(|(name, cores)| format!("{name} {cores:.2}"))
        .collect();
    format!("{:.2} cores  [{}]", c.cores, top.join(", "))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    /// A table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let (what, done) = if self.mode == "refresh" {
            ("refresh chains", "refreshes ok")
        } else {
            ("authenticate loops", "authenticates ok")
        };
        let _ = writeln!(
            s,
            "== {}: {} {what}, {} users, {:.0}s measured after {:.0}s warm-up, {} client on {} thread(s)",
            self.mode,
            self.concurrency,
            self.users,
            self.duration_s,
            self.warmup_s,
            format!("{:?}", self.client).to_lowercase(),
            self.client_threads
        );
        let _ = writeln!(s, "  {:<18}{}  ({:.1}/s)", done, self.ok, self.ok_per_s);
        let _ = writeln!(s, "  {:<18}{}", "errors", errors_line(&self.errors));
        let _ = writeln!(s, "  {:<18}{}", "latency ms", latency_line(&self.latency));
        if let Some(auth) = &self.chain_authenticates {
            let line = if auth.latency.count == 0 && auth.errors.is_empty() {
                "none in the window".to_owned()
            } else {
                format!(
                    "{} ok, errors {}; latency ms {}",
                    auth.latency.count,
                    errors_line(&auth.errors),
                    latency_line(&auth.latency)
                )
            };
            let _ = writeln!(s, "  {:<18}{line}", "chain auths");
        }
        if let Some(f) = &self.flood {
            let _ = writeln!(
                s,
                "  {:<18}{} wrong-password loops on {}, {:.1} answers/s: {}",
                "login flood",
                f.concurrency,
                match f.threads {
                    0 => "the measuring runtime".to_string(),
                    n => format!("{n} thread(s) of their own"),
                },
                f.per_s,
                errors_line(&f.answers)
            );
        }
        if let Some(p) = &self.phases {
            let _ = writeln!(
                s,
                "  {:<18}{:.0}s phases, fresh connections from {} addresses",
                "interleaved flood", p.phase_s, p.sources
            );
            let _ = writeln!(s, "  {:<18}{}", "  no flood", latency_line(&p.quiet));
            let _ = writeln!(
                s,
                "  {:<18}{}",
                "  during control",
                latency_line(&p.control)
            );
            let _ = writeln!(
                s,
                "  {:<18}{}",
                "  during hashing",
                latency_line(&p.hashing)
            );
            let _ = writeln!(
                s,
                "  {:<18}{:.2}x of control, {:.2}x of no flood",
                "  p99 hashing", p.p99_ratio, p.p99_ratio_quiet
            );
        }
        if let Some(c) = &self.client_cpu {
            let _ = writeln!(s, "  {:<18}{}", "client CPU", cpu_line(c));
        }
        if let Some(c) = &self.server_cpu {
            let _ = writeln!(s, "  {:<18}{}", "server CPU", cpu_line(c));
        }
        if let Some(m) = &self.machine_cpu {
            let _ = writeln!(
                s,
                "  {:<18}{:.2} of {} cores busy; {:.2} outside client and server (softirq, other programs)",
                "box CPU", m.busy_cores, m.cpus, m.other_cores
            );
        }
        if let (Some(rss), Some(hwm)) = (self.server_rss_kib, self.server_peak_rss_kib) {
            let _ = writeln!(
                s,
                "  {:<18}now {:.1} MiB, peak (VmHWM) {:.1} MiB",
                "server RSS",
                mib(rss),
                mib(hwm)
            );
        }
        for (cause, detail) in &self.error_details {
            let _ = writeln!(s, "  first {cause}: {detail}");
        }
        s
    }
}

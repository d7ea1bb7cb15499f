//! CPU time and memory of a process read from Linux `/proc`, so a run can say how the
//! box's cores were split between client and server (and between the server's threads)
//! without `perf`.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// CPU time of one process, total and per thread name, at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// utime + stime of the whole process, in clock ticks.
    pub total: u64,
    /// utime + stime per thread name (`comm`), summed over threads of that name.
    pub threads: BTreeMap<String, u64>,
}

/// Seconds per clock tick of `/proc/*/stat` (`USER_HZ`, 100 on Linux in practice).
pub fn tick() -> f64 {
    // `getconf` avoids an `unsafe` sysconf call; the answer does not change while we run.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|hz| *hz > 0.0)
        .map_or(0.01, |hz| 1.0 / hz)
}

/// The name and utime + stime of a `/proc/.../stat` line.
fn parse_stat(line: &str) -> Option<(String, u64)> {
    // `comm` is in parentheses and may itself contain spaces or parentheses.
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // After `comm` come state (field 3) …; utime and stime are fields 14 and 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Samples the CPU time of `pid` ("self" works too) and of each of its threads.
pub fn sample(pid: &str) -> Option<CpuSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, total) = parse_stat(&stat)?;
    let mut threads = BTreeMap::new();
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            let path = entry.path().join("stat");
            if let Some((comm, t)) = fs::read_to_string(path).ok().and_then(|s| parse_stat(&s)) {
                *threads.entry(comm).or_default() += t;
            }
        }
    }
    Some(CpuSample { total, threads })
}

/// CPU used between two samples, as a share of one core (1.0 = one core busy).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuUse {
    /// The whole process.
    pub cores: f64,
    /// Per thread name, busiest first; threads that exited in between are missing.
    pub threads: Vec<(String, f64)>,
}

impl CpuUse {
    /// The difference `after - before` over `elapsed`.
    pub fn between(before: &CpuSample, after: &CpuSample, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let tick = tick();
        let cores = |ticks: u64| ticks as f64 * tick / secs;
        let mut threads: Vec<(String, f64)> = after
            .threads
            .iter()
            .map(|(name, t)| {
                let b = before.threads.get(name).copied().unwrap_or(0);
                (name.clone(), cores(t.saturating_sub(b)))
            })
            .filter(|(_, c)| *c > 0.0)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        Self {
            cores: cores(after.total.saturating_sub(before.total)),
            threads,
        }
    }
}

/// Busy and total CPU time of the whole box from the first line of `/proc/stat`, in
/// clock ticks summed over all CPUs.
pub fn box_sample() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = field(3) + field(4);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Some((busy, busy + idle))
}

/// CPUs of the box (`cpuN` lines of `/proc/stat`), not just those this process may use.
fn online_cpus() -> usize {
    let n = fs::read_to_string("/proc/stat")
        .map(|s| {
            s.lines()
                .filter(|l| {
                    l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
                })
                .count()
        })
        .unwrap_or(0);
    n.max(1)
}

/// How busy the whole box was between two [`box_sample`]s.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoxUse {
    /// CPUs the box has.
    pub cpus: usize,
    /// Busy CPU time over the window, in cores (at most `cpus`).
    pub busy_cores: f64,
    /// Busy cores not charged to client or server: softirq (loopback TCP, block I/O
    /// completion, which no process is charged for), kernel threads, other programs.
    pub other_cores: f64,
}

impl BoxUse {
    /// Busy time between `before` and `after`, minus what client and server used.
    pub fn between(before: (u64, u64), after: (u64, u64), client: f64, server: f64) -> Self {
        let cpus = online_cpus();
        let total = after.1.saturating_sub(before.1).max(1) as f64;
        let busy_cores = after.0.saturating_sub(before.0) as f64 / total * cpus as f64;
        Self {
            cpus,
            busy_cores,
            other_cores: (busy_cores - client - server).max(0.0),
        }
    }
}

/// Resident memory of `pid` from `/proc/PID/status`, in KiB: (`VmRSS`, `VmHWM`), the
/// current and the peak resident set size.
pub fn memory(pid: &str) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "42 (tokio (w) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 3 0";
        assert_eq!(parse_stat(line), Some(("tokio (w) 1".to_owned(), 280)));
    }

    #[test]
    fn samples_itself() {
        assert!(sample("self").is_some());
        assert!(memory("self").is_some_and(|(rss, hwm)| rss > 0 && hwm >= rss));
    }
}

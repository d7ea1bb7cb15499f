//! What a load loop records (a latency histogram and error counts) and how the loops'
//! records add up.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency the histograms hold, in microseconds (60 s); longer ones are
/// clamped, which only matters beyond any sane `--request-timeout`.
const MAX_MICROS: u64 = 60_000_000;

/// One loop's (and, merged, the whole run's) record of the measured window.
pub struct Record {
    /// Latencies of successful (200) requests of the measured kind, microseconds.
    pub ok: Histogram<u64>,
    /// Failures of the measured kind by cause (`"http 400"`, `"transport"`, …).
    pub errors: BTreeMap<String, u64>,
    /// Latencies of the authenticates a refresh chain needed (first one and
    /// re-authentications); empty in authenticate mode.
    pub reauth: Histogram<u64>,
    /// Failed authenticates of refresh chains, by cause.
    pub reauth_errors: BTreeMap<String, u64>,
    /// The first detail (error body or message) seen for each cause.
    pub details: BTreeMap<String, String>,
    /// With an interleaved flood: the latencies of `ok` by the flood phase they started
    /// in (`load::QUIET`, `CONTROL`, `HASHING`).
    pub by_phase: [Histogram<u64>; 3],
}

impl Record {
    /// An empty record.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ok: new_histogram()?,
            errors: BTreeMap::new(),
            reauth: new_histogram()?,
            reauth_errors: BTreeMap::new(),
            details: BTreeMap::new(),
            by_phase: [new_histogram()?, new_histogram()?, new_histogram()?],
        })
    }

    /// Adds another loop's record.
    pub fn merge(&mut self, other: &Record) -> anyhow::Result<()> {
        self.ok.add(&other.ok)?;
        self.reauth.add(&other.reauth)?;
        for (mine, theirs) in self.by_phase.iter_mut().zip(&other.by_phase) {
            mine.add(theirs)?;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.reauth_errors {
            *self.reauth_errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.details {
            self.details.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(())
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // Three significant digits: 0.1 % resolution at any magnitude.
    Ok(Histogram::new_with_bounds(1, MAX_MICROS, 3)?)
}

/// Records `latency` into `h`, clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
    h.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// Counts one failure of `cause` in `map`.
pub fn count(map: &mut BTreeMap<String, u64>, cause: impl Into<String>) {
    *map.entry(cause.into()).or_default() += 1;
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// Summarises a microsecond histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self {
                count: 0,
                mean_ms: 0.0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                p999_ms: 0.0,
                max_ms: 0.0,
            };
        }
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

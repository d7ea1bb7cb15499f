//! Time as the verifier sees it: a `Clock` trait so that `exp` checks and JWKS cache
//! ages can be tested deterministically.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time.
///
/// `exp` is judged by the wall clock; the JWKS cache's ages and fetch limits by a
/// monotonic one, which a wall clock stepped back (NTP, a VM resumed) cannot stretch.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch (for `exp`).
    fn now_millis(&self) -> i64;

    /// Milliseconds on a monotonic clock: only differences matter, and it never steps
    /// back whatever happens to the wall clock. The JWKS cache measures freshness,
    /// staleness and the refetch interval with it. The default counts from the first
    /// call in this process (`std::time::Instant`).
    fn monotonic_millis(&self) -> i64 {
        static START: OnceLock<Instant> = OnceLock::new();
        millis(START.get_or_init(Instant::now).elapsed())
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to: for tests of code that uses a [`Verifier`].
/// [`advance`](Self::advance) moves the wall clock and the monotonic one together;
/// [`set_millis`](Self::set_millis) steps the wall clock alone, as NTP would.
///
/// [`Verifier`]: crate::Verifier
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    wall: Arc<AtomicI64>,
    monotonic: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::at_millis(SystemClock.now_millis())
    }

    /// A clock standing at `ms` milliseconds since the Unix epoch.
    pub fn at_millis(ms: i64) -> Self {
        Self {
            wall: Arc::new(AtomicI64::new(ms)),
            monotonic: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Lets time pass: both clocks move forward.
    pub fn advance(&self, by: Duration) {
        self.wall.fetch_add(millis(by), Ordering::SeqCst);
        self.monotonic.fetch_add(millis(by), Ordering::SeqCst);
    }

    /// Sets the wall clock (forward or back); the monotonic clock does not move.
    pub fn set_millis(&self, ms: i64) {
        self.wall.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.wall.load(Ordering::SeqCst)
    }

    fn monotonic_millis(&self) -> i64 {
        self.monotonic.load(Ordering::SeqCst)
    }
}

/// A duration in milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

//! The service's metrics through the `metrics` facade: fixed names and labels, and the
//! helpers the lifecycle calls (docs/metrics.md lists them).

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    histogram,
};

use crate::error::StoreError;
use crate::lifecycle::Reject;

/// Authenticate calls by outcome (`ok`, `failed`, `locked`, `error`).
pub const LOGINS: &str = "wirecash_logins_total";
/// A username or client address locked after too many failures, by `kind`.
pub const LOCKOUTS: &str = "wirecash_lockouts_total";
/// Refresh calls by outcome (`rotated`, `grace_replay`, `reuse_detected`, `refused`,
/// `error`).
pub const REFRESHES: &str = "wirecash_refreshes_total";
/// Refused refreshes by `reason`; they add up to `REFRESHES{outcome="refused"}`.
pub const REFRESH_REFUSALS: &str = "wirecash_refresh_refusals_total";
/// Access tokens signed (one signature each): logins, rotations, and the hot path's
/// attempt of a refresh that turned out to be a replay.
pub const ACCESS_TOKENS_SIGNED: &str = "wirecash_access_tokens_signed_total";
/// Password checks and hashes waiting for an Argon2 thread.
pub const HASH_QUEUE_DEPTH: &str = "wirecash_password_hash_queue_depth";
/// Time from queueing a password check until a thread takes it.
pub const HASH_WAIT: &str = "wirecash_password_hash_wait_seconds";
/// Time one Argon2 verification or hash takes, by `operation`.
pub const HASH_DURATION: &str = "wirecash_password_hash_duration_seconds";
/// Password checks refused at once because the queue was full (answered 503).
pub const HASH_REJECTED: &str = "wirecash_password_hash_rejected_total";
/// Latency of store calls, by `operation`.
pub const STORE_DURATION: &str = "wirecash_store_operation_duration_seconds";
/// Store calls that failed, by `operation`.
pub const STORE_ERRORS: &str = "wirecash_store_errors_total";

/// Outcomes of `REFRESHES`.
pub const REFRESH_OUTCOMES: [&str; 5] = [
    "rotated",
    "grace_replay",
    "reuse_detected",
    "refused",
    "error",
];
/// Outcomes of `LOGINS`.
pub const LOGIN_OUTCOMES: [&str; 4] = ["ok", "failed", "locked", "error"];
/// `kind`s of `LOCKOUTS`.
pub const LOCKOUT_KINDS: [&str; 3] = ["username", "address", "username_all_addresses"];
/// Reason of a refusal before any lookup: the refresh token is not one of ours (forged,
/// altered, foreign, or of another environment) or the username cannot exist.
pub const INVALID_TOKEN: &str = "invalid_token";
/// `reason`s of `REFRESH_REFUSALS`.
pub const REFUSAL_REASONS: [&str; 6] = [
    INVALID_TOKEN,
    "unknown_session",
    "revoked",
    "user_disabled",
    "expired",
    "mismatch",
];

/// The service's metrics, through the `metrics` facade: names, labels and the helpers the
/// lifecycle calls. Without a recorder installed (the CLI, unit tests) every call is a
/// no-op; the server installs a Prometheus recorder and serves `GET /metrics`.
/// Every name and label value is fixed here — never a username, token or raw path — so
/// the number of series stays bounded whatever clients send. docs/metrics.md lists them.
///
/// Registers help texts and units, and every fixed label combination at zero, so that
/// dashboards see a series (and `rate()` works) before its first event.
pub fn describe() {
    describe_counter!(LOGINS, "Authenticate calls by outcome");
    describe_counter!(
        LOCKOUTS,
        "Usernames or client addresses locked after failed logins"
    );
    describe_counter!(REFRESHES, "Refresh-token calls by outcome");
    describe_counter!(REFRESH_REFUSALS, "Refused refresh-token calls by reason");
    describe_counter!(ACCESS_TOKENS_SIGNED, "Access tokens signed");
    describe_gauge!(
        HASH_QUEUE_DEPTH,
        "Password checks waiting for an Argon2 thread"
    );
    describe_histogram!(HASH_WAIT, Unit::Seconds, "Wait for an Argon2 thread");
    describe_histogram!(
        HASH_DURATION,
        Unit::Seconds,
        "Argon2 work per password check or hash"
    );
    describe_counter!(
        HASH_REJECTED,
        "Password checks refused because the queue was full"
    );
    describe_histogram!(STORE_DURATION, Unit::Seconds, "Latency of store operations");
    describe_counter!(STORE_ERRORS, "Failed store operations");
    for outcome in LOGIN_OUTCOMES {
        counter!(LOGINS, "outcome" => outcome).absolute(0);
    }
    for kind in LOCKOUT_KINDS {
        counter!(LOCKOUTS, "kind" => kind).absolute(0);
    }
    for outcome in REFRESH_OUTCOMES {
        counter!(REFRESHES, "outcome" => outcome).absolute(0);
    }
    for reason in REFUSAL_REASONS {
        counter!(REFRESH_REFUSALS, "reason" => reason).absolute(0);
    }
    counter!(HASH_REJECTED).absolute(0);
    counter!(ACCESS_TOKENS_SIGNED).absolute(0);
    metrics::gauge!(HASH_QUEUE_DEPTH).increment(0.0);
    RECORDER_READY.store(true, Ordering::Release);
    let _ = HANDLES.set(Handles {
        logins: LOGIN_OUTCOMES.map(|o| counter!(LOGINS, "outcome" => o)),
        refreshes: REFRESH_OUTCOMES.map(|o| counter!(REFRESHES, "outcome" => o)),
        refusals: REFUSAL_REASONS.map(|r| counter!(REFRESH_REFUSALS, "reason" => r)),
        signed: counter!(ACCESS_TOKENS_SIGNED),
    });
}

/// Set by `describe`, which the server calls once its recorder is installed: from then
/// on a metric's handle can be resolved once and kept (before, a kept handle would be
/// the no-op one for good).
static RECORDER_READY: AtomicBool = AtomicBool::new(false);

/// The handles of the fixed label sets, resolved once: a counter macro with labels
/// builds its key and looks it up in the registry on every call.
struct Handles {
    logins: [Counter; LOGIN_OUTCOMES.len()],
    refreshes: [Counter; REFRESH_OUTCOMES.len()],
    refusals: [Counter; REFUSAL_REASONS.len()],
    signed: Counter,
}

static HANDLES: OnceLock<Handles> = OnceLock::new();

/// Increments the counter of `value` among `values` through the kept handles, or
/// through the registry when there are none (no recorder yet).
fn count(
    name: &'static str,
    label: &'static str,
    value: &'static str,
    values: &[&'static str],
    kept: impl FnOnce(&Handles) -> &[Counter],
) {
    if let Some(h) = HANDLES.get()
        && let Some(i) = values.iter().position(|v| *v == value)
        && let Some(c) = kept(h).get(i)
    {
        c.increment(1);
        return;
    }
    counter!(name, label => value).increment(1);
}

/// The latency histogram and error counter of one store operation, resolved on first
/// use once the recorder is installed (`crate::store::Timed` keeps one per operation).
pub struct StoreMetric {
    operation: &'static str,
    handles: OnceLock<(Histogram, Counter)>,
}

impl StoreMetric {
    /// The metric of `operation`.
    pub const fn new(operation: &'static str) -> Self {
        Self {
            operation,
            handles: OnceLock::new(),
        }
    }

    fn handles(&self) -> Option<&(Histogram, Counter)> {
        if !RECORDER_READY.load(Ordering::Acquire) {
            return None;
        }
        Some(self.handles.get_or_init(|| {
            (
                histogram!(STORE_DURATION, "operation" => self.operation),
                counter!(STORE_ERRORS, "operation" => self.operation),
            )
        }))
    }
}

/// Counts an authenticate call by its result.
pub(crate) fn login<T>(result: &Result<T, crate::Error>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(crate::Error::InvalidGrant(_) | crate::Error::InvalidClient(_)) => "failed",
        Err(crate::Error::Locked(_)) => "locked",
        Err(_) => "error",
    };
    count(LOGINS, "outcome", outcome, &LOGIN_OUTCOMES, |h| &h.logins);
}

/// Counts a lock of a username or an address.
pub(crate) fn lockout(kind: &'static str) {
    counter!(LOCKOUTS, "kind" => kind).increment(1);
}

/// Counts a refresh that did not fail with an error.
pub(crate) fn refresh(outcome: &'static str) {
    count(REFRESHES, "outcome", outcome, &REFRESH_OUTCOMES, |h| {
        &h.refreshes
    });
}

/// Counts one access token signed.
pub(crate) fn access_token_signed() {
    match HANDLES.get() {
        Some(h) => h.signed.increment(1),
        None => counter!(ACCESS_TOKENS_SIGNED).increment(1),
    }
}

/// Counts a refused refresh under its reason.
pub(crate) fn refresh_refused(reason: &'static str) {
    refresh("refused");
    count(REFRESH_REFUSALS, "reason", reason, &REFUSAL_REASONS, |h| {
        &h.refusals
    });
}

/// Counts a refresh refused by the lifecycle.
pub(crate) fn refresh_rejected(r: Reject) {
    refresh_refused(r.as_str());
}

/// Runs one store call, recording its latency (and a failure) under `operation`.
pub async fn store<T>(
    metric: &StoreMetric,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let result = call.await;
    let seconds = started.elapsed().as_secs_f64();
    match metric.handles() {
        Some((latency, errors)) => {
            latency.record(seconds);
            if result.is_err() {
                errors.increment(1);
            }
        }
        None => {
            let operation = metric.operation;
            histogram!(STORE_DURATION, "operation" => operation).record(seconds);
            if result.is_err() {
                counter!(STORE_ERRORS, "operation" => operation).increment(1);
            }
        }
    }
    result
}

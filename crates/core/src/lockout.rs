//! Brute-force protection (SPEC §2): after `max_failures` failed logins for one username
//! or one client address, that key is locked for a growing window — one minute, then
//! doubling with every further failure up to an hour. Locks end by themselves (there is
//! no permanent lockout, so an attacker cannot lock a user out for good), failures are
//! forgotten after a day without one, and a successful login clears the username's count.
//! The arithmetic lives here, pure; the counters live in the store, shared by all nodes.

use std::time::Duration;

/// The first lock.
pub const FIRST_LOCK: Duration = Duration::from_secs(60);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(3600);
/// Failures older than this (with none since) are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How long to lock after the `failures`-th failure in a row, given the limit
/// (`0` = no limit): nothing below the limit, then 1 min, 2, 4, … capped at 1 h.
pub fn lock_for(failures: u32, max_failures: u32) -> Option<Duration> {
    if max_failures == 0 || failures < max_failures {
        return None;
    }
    let doublings = (failures - max_failures).min(16);
    Some(FIRST_LOCK.saturating_mul(1u32 << doublings).min(MAX_LOCK))
}

/// Whole seconds a client should wait for a lock ending `until_ms` (at least 1).
pub fn retry_after_secs(until_ms: i64, now_ms: i64) -> u64 {
    let ms = until_ms.saturating_sub(now_ms).max(0);
    u64::try_from(ms.saturating_add(999) / 1000)
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_the_limit_double_and_cap() {
        assert_eq!(lock_for(9, 10), None);
        assert_eq!(lock_for(10, 10), Some(Duration::from_secs(60)));
        assert_eq!(lock_for(11, 10), Some(Duration::from_secs(120)));
        assert_eq!(lock_for(13, 10), Some(Duration::from_secs(480)));
        assert_eq!(lock_for(16, 10), Some(MAX_LOCK));
        assert_eq!(lock_for(u32::MAX, 10), Some(MAX_LOCK));
        assert_eq!(lock_for(1, 1), Some(FIRST_LOCK));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert_eq!(lock_for(1_000_000, 0), None);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(61_000, 1_000), 60);
        assert_eq!(retry_after_secs(61_001, 1_000), 61);
        assert_eq!(retry_after_secs(1_000, 1_000), 1);
        assert_eq!(retry_after_secs(0, 1_000), 1);
    }
}

//! Brute-force protection (SPEC §10) as pure rules over failed-login counters; the
//! counters live in the store, and every change to them is one atomic step.

use std::time::Duration;

use crate::clock::{UnixMillis, millis};
use crate::store::GuardCounter;

/// The first lock.
pub const FIRST_LOCK: Duration = Duration::from_secs(60);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(3600);
/// Failures older than this (with none since) are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// An address that logged in as a user this recently is that user's known address.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Attempts admitted this long ago and never settled (a crashed node) no longer count.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// What a client is told to wait when a scope's attempts are all in flight.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

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

/// The scopes a login is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One username from one address.
    UsernameFromAddress,
    /// One address, across usernames.
    Address,
    /// One username, across addresses.
    Username,
}

impl Scope {
    /// Stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsernameFromAddress => "username",
            Scope::Address => "address",
            Scope::Username => "username_all_addresses",
        }
    }
}

/// The limits of the three scopes (`0` turns one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Failures of one username from one address.
    pub username_from_address: u32,
    /// Failures from one address across usernames.
    pub address: u32,
    /// Failures of one username across addresses.
    pub username: u32,
}

impl Limits {
    /// Whether any limit is on.
    pub fn any(&self) -> bool {
        self.username_from_address > 0 || self.address > 0 || self.username > 0
    }
}

/// Brute-force protection (SPEC §10) as pure rules over failed-login counters; the
/// counters live in the store, shared by all nodes, and every change to them is one
/// atomic step (`LoginGuardStore::update_login_guards`).
///
/// A login is counted in up to three scopes: the username *from this address* (limit
/// `login_max_failures`), the address across usernames (`address_max_failures`) and the
/// username across all addresses (`username_max_failures`, higher). An attempt is
/// *reserved* in every scope before its password is checked and settled after, so a
/// burst of concurrent guesses runs no more checks than a scope has left. After the
/// limit a scope locks for a growing window (1 min, doubling, at most 1 h); once a lock
/// ends, one attempt at a time is let through. Failures are forgotten after a day
/// without one.
///
/// Guesses from elsewhere never lock a partner out of its own account: the username
/// scope counts at most `login_max_failures` failures per address (one guesser is held
/// by its own per-address lock), and it does not apply at all to an address that logged
/// in as that user within `KNOWN_FOR` (a partner's servers). None of this depends on
/// whether the username exists. docs/configuration.md has the design and its limits.
///
/// The counters one login uses, in the order of `update_login_guards`' keys: always
/// the username-from-address one (it also remembers successful logins), the address one
/// when the address is known and its limit on, and the username one when its limit is
/// on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    limits: Limits,
    address: bool,
    username: bool,
}

/// What `admit` reserved, to be settled with the same counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reserved {
    scopes: [bool; 3],
}

impl Reserved {
    /// Whether any counter holds a reservation.
    pub fn any(&self) -> bool {
        self.scopes.iter().any(|r| *r)
    }
}

/// The answer to a login attempt before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the password; settle these reservations afterwards.
    Admitted(Reserved),
    /// Refuse without checking: locked, or every attempt the scope allows is in flight.
    Refused {
        /// When to try again.
        until: UnixMillis,
    },
}

/// A lock a failure set off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLock {
    /// The scope that locked.
    pub scope: Scope,
    /// Its failures so far.
    pub failures: u32,
    /// How long.
    pub lock: Duration,
}

impl Plan {
    /// The counters a login from an address (`has_address`) uses under `limits`.
    pub fn new(limits: Limits, has_address: bool) -> Self {
        Self {
            limits,
            address: has_address && limits.address > 0,
            username: limits.username > 0,
        }
    }

    /// The scopes in counter order, with their limits.
    pub fn scopes(&self) -> Vec<(Scope, u32)> {
        let mut v = vec![(
            Scope::UsernameFromAddress,
            self.limits.username_from_address,
        )];
        if self.address {
            v.push((Scope::Address, self.limits.address));
        }
        if self.username {
            v.push((Scope::Username, self.limits.username));
        }
        v
    }

    /// Decides whether a login may check its password and, if so, reserves the attempt
    /// in every scope that counts it (all or nothing). `counters` in `scopes()` order.
    pub fn admit(&self, counters: &mut [GuardCounter], now: UnixMillis) -> Admission {
        let scopes = self.scopes();
        if counters.len() != scopes.len() {
            // A store that returned other counters than asked for: refuse, briefly.
            return Admission::Refused {
                until: now.saturating_add(millis(BUSY_RETRY)),
            };
        }
        for c in counters.iter_mut() {
            forget_old(c, now);
        }
        let known = counters[0].succeeded_at > 0
            && counters[0].succeeded_at > now.saturating_sub(millis(KNOWN_FOR));
        let pair = counters[0];
        let mut reserve = [false; 3];
        let mut refused_until: Option<UnixMillis> = None;
        for (i, ((scope, max), c)) in scopes.iter().zip(counters.iter()).enumerate() {
            let applies = match scope {
                Scope::UsernameFromAddress | Scope::Address => *max > 0,
                // A partner's known address is not held by guesses from elsewhere.
                Scope::Username => *max > 0 && !known,
            };
            if !applies {
                continue;
            }
            if let Some(until) = refusal(c, *max, now) {
                refused_until = Some(refused_until.map_or(until, |u| u.max(until)));
                continue;
            }
            reserve[i] = match scope {
                // One address adds at most its own limit to the username's count: a lone
                // guesser is held by its own lock and never locks the username for
                // everyone.
                Scope::Username => {
                    let pair_max = self.limits.username_from_address;
                    pair_max == 0 || pair.failures < pair_max
                }
                _ => true,
            };
        }
        if let Some(until) = refused_until {
            return Admission::Refused { until };
        }
        for (c, r) in counters.iter_mut().zip(reserve) {
            if r {
                c.pending = c.pending.saturating_add(1);
                c.reserved_at = now;
            }
        }
        Admission::Admitted(Reserved { scopes: reserve })
    }

    /// Settles a failed attempt: each reserved scope counts one more failure and locks
    /// when it reached its limit. Returns the locks that were set off.
    pub fn failed(
        &self,
        counters: &mut [GuardCounter],
        reserved: Reserved,
        now: UnixMillis,
    ) -> Vec<NewLock> {
        let mut locks = Vec::new();
        for (i, ((scope, max), c)) in self
            .scopes()
            .into_iter()
            .zip(counters.iter_mut())
            .enumerate()
        {
            forget_old(c, now);
            if !reserved.scopes.get(i).copied().unwrap_or(false) {
                continue;
            }
            c.pending = c.pending.saturating_sub(1);
            c.failures = c.failures.saturating_add(1);
            c.last_failure_at = now;
            if let Some(lock) = lock_for(c.failures, max) {
                c.locked_until = c.locked_until.max(now.saturating_add(millis(lock)));
                locks.push(NewLock {
                    scope,
                    failures: c.failures,
                    lock,
                });
            }
        }
        locks
    }

    /// Settles a successful attempt: the reservations are released, the username's
    /// failures from this address are forgotten, and the address becomes a known one.
    pub fn succeeded(&self, counters: &mut [GuardCounter], reserved: Reserved, now: UnixMillis) {
        for (i, c) in counters.iter_mut().enumerate() {
            forget_old(c, now);
            if reserved.scopes.get(i).copied().unwrap_or(false) {
                c.pending = c.pending.saturating_sub(1);
            }
        }
        if let Some(pair) = counters.first_mut() {
            pair.failures = 0;
            pair.last_failure_at = 0;
            pair.succeeded_at = now;
        }
    }
}

impl Plan {
    /// Gives back the reservations of an attempt that counts neither way.
    pub fn released(&self, counters: &mut [GuardCounter], reserved: Reserved) {
        for (i, c) in counters.iter_mut().enumerate() {
            if reserved.scopes.get(i).copied().unwrap_or(false) {
                c.pending = c.pending.saturating_sub(1);
            }
            if c.pending == 0 {
                c.reserved_at = 0;
            }
        }
    }
}

/// Drops what no longer counts: failures a day old, reservations of a crashed node.
fn forget_old(c: &mut GuardCounter, now: UnixMillis) {
    if c.failures > 0 && c.last_failure_at <= now.saturating_sub(millis(FORGET_AFTER)) {
        c.failures = 0;
        c.last_failure_at = 0;
    }
    if c.pending > 0 && c.reserved_at <= now.saturating_sub(millis(STALE_AFTER)) {
        c.pending = 0;
    }
    if c.pending == 0 {
        c.reserved_at = 0;
    }
    if c.locked_until <= now {
        c.locked_until = 0;
    }
    if c.succeeded_at <= now.saturating_sub(millis(KNOWN_FOR)) {
        c.succeeded_at = 0;
    }
}

/// Until when a scope refuses another attempt, if it does: while locked; and while the
/// attempts in flight take every failure the scope has left (after a lock ended, one).
fn refusal(c: &GuardCounter, max: u32, now: UnixMillis) -> Option<UnixMillis> {
    if c.locked_until > now {
        return Some(c.locked_until);
    }
    let budget = max.saturating_sub(c.failures).max(1);
    (c.pending >= budget).then(|| now.saturating_add(millis(BUSY_RETRY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = 1_800_000_000_000;

    fn limits(pair: u32, address: u32, username: u32) -> Limits {
        Limits {
            username_from_address: pair,
            address,
            username,
        }
    }

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

    /// Admits `n` attempts at once (none settled); returns how many were admitted.
    fn burst(plan: &Plan, counters: &mut [GuardCounter], n: usize) -> usize {
        (0..n)
            .filter(|_| matches!(plan.admit(counters, NOW), Admission::Admitted(_)))
            .count()
    }

    #[test]
    fn a_burst_is_admitted_only_up_to_what_the_scope_has_left() {
        let plan = Plan::new(limits(10, 0, 0), true);
        let mut c = vec![GuardCounter::default()];
        assert_eq!(burst(&plan, &mut c, 60), 10);
        // With 7 failures counted, 3 more may be in flight at once.
        let mut c = vec![GuardCounter {
            failures: 7,
            last_failure_at: NOW - 1,
            ..GuardCounter::default()
        }];
        assert_eq!(burst(&plan, &mut c, 60), 3);
        // After a lock ended: one at a time.
        let mut c = vec![GuardCounter {
            failures: 12,
            last_failure_at: NOW - 1,
            locked_until: NOW,
            ..GuardCounter::default()
        }];
        assert_eq!(burst(&plan, &mut c, 60), 1);
    }

    #[test]
    fn a_refused_attempt_reserves_nothing_anywhere() {
        let plan = Plan::new(limits(10, 5, 0), true);
        let mut c = vec![
            GuardCounter::default(),
            GuardCounter {
                locked_until: NOW + 5_000,
                ..GuardCounter::default()
            },
        ];
        assert_eq!(
            plan.admit(&mut c, NOW),
            Admission::Refused { until: NOW + 5_000 }
        );
        assert_eq!(c[0].pending, 0);
    }

    #[test]
    fn failures_lock_at_the_limit_and_successes_clear_the_address_pair_only() {
        let plan = Plan::new(limits(3, 100, 50), true);
        let mut c = vec![GuardCounter::default(); 3];
        for i in 1..=3 {
            let Admission::Admitted(r) = plan.admit(&mut c, NOW) else {
                panic!("attempt {i} refused")
            };
            let locks = plan.failed(&mut c, r, NOW);
            assert_eq!(c[0].failures, i);
            assert_eq!(c[0].pending, 0);
            assert_eq!(locks.len(), usize::from(i == 3), "{locks:?}");
        }
        assert_eq!(c[0].locked_until, NOW + 60_000);
        assert!(matches!(plan.admit(&mut c, NOW), Admission::Refused { .. }));
        let later = NOW + 60_000;
        let Admission::Admitted(r) = plan.admit(&mut c, later) else {
            panic!("refused after the lock")
        };
        plan.succeeded(&mut c, r, later);
        assert_eq!((c[0].failures, c[0].succeeded_at), (0, later));
        assert_eq!((c[1].failures, c[2].failures), (3, 3));
        assert!(c.iter().all(|c| c.pending == 0));
    }

    #[test]
    fn one_address_adds_at_most_its_own_limit_to_the_username() {
        let plan = Plan::new(limits(10, 0, 50), true);
        let mut c = vec![GuardCounter::default(); 2];
        let mut t = NOW;
        let mut most = 0;
        for _ in 0..200 {
            t += 3_600_000; // one guess an hour: every lock has ended
            if let Admission::Admitted(r) = plan.admit(&mut c, t) {
                plan.failed(&mut c, r, t);
            }
            most = most.max(c[1].failures);
            assert_eq!(c[1].locked_until, 0, "the username locked for everyone");
        }
        assert_eq!(most, 10);
        assert!(
            c[0].failures > 100,
            "the guesser's own count: {}",
            c[0].failures
        );
    }

    #[test]
    fn a_known_address_is_not_held_by_the_username_lock_but_a_new_one_is() {
        let plan = Plan::new(limits(10, 0, 50), true);
        let username = GuardCounter {
            failures: 60,
            last_failure_at: NOW - 1,
            locked_until: NOW + 60_000,
            ..GuardCounter::default()
        };
        let mut fresh = vec![GuardCounter::default(), username];
        assert_eq!(
            plan.admit(&mut fresh, NOW),
            Admission::Refused {
                until: NOW + 60_000
            }
        );
        let known = GuardCounter {
            succeeded_at: NOW - 3_600_000,
            ..GuardCounter::default()
        };
        let mut from_known = vec![known, username];
        assert!(matches!(
            plan.admit(&mut from_known, NOW),
            Admission::Admitted(_)
        ));
        // Knowledge fades: 30 days after the last success the address is new again.
        let mut stale = vec![
            GuardCounter {
                succeeded_at: NOW - millis(KNOWN_FOR),
                ..GuardCounter::default()
            },
            username,
        ];
        assert!(matches!(
            plan.admit(&mut stale, NOW),
            Admission::Refused { .. }
        ));
    }

    #[test]
    fn old_failures_and_stale_reservations_are_forgotten() {
        let plan = Plan::new(limits(10, 0, 0), true);
        let mut c = vec![GuardCounter {
            failures: 30,
            last_failure_at: NOW - millis(FORGET_AFTER),
            pending: 10,
            reserved_at: NOW - millis(STALE_AFTER),
            ..GuardCounter::default()
        }];
        assert_eq!(burst(&plan, &mut c, 60), 10);
    }

    #[test]
    fn counters_of_another_shape_are_refused_not_trusted() {
        let plan = Plan::new(limits(10, 10, 10), true);
        let mut c = vec![GuardCounter::default()];
        assert!(matches!(plan.admit(&mut c, NOW), Admission::Refused { .. }));
    }
}

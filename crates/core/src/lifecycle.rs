//! The refresh-token rules of SPEC §2 as one pure function: given a session as stored,
//! what was presented, and the time, decide what happens. No I/O, so every rule is
//! unit-tested here with plain values.

use crate::clock::{UnixMillis, millis};
use crate::crypto::{HASH_LEN, ct_eq};
use crate::policy::TokenPolicy;
use crate::store::{SessionKind, SessionRecord};

/// How far ahead of `now` a rotation's time may be and still count as just now: the
/// clock skew between nodes that share a database. A clock stepped back by more is
/// no reason to accept a replay (see `within_grace`).
pub const MAX_CLOCK_SKEW_MS: i64 = 1_000;

/// What a refresh request presented, already hashed.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// `username` of the request.
    pub username: &'a str,
    /// Generation carried by the (MAC-checked) refresh token.
    pub generation: i64,
    /// Keyed hash of the refresh token.
    pub token_hash: &'a [u8; HASH_LEN],
    /// Keyed hash of the access token presented with it (the WireCash `POST /token`
    /// binding), or `None` when the caller proved ownership by client authentication
    /// instead (the RFC 6749 §6 `refresh_token` grant, with the user's credentials).
    pub access_hash: Option<&'a [u8; HASH_LEN]>,
}

/// Why a refresh is refused without touching the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No such session (never existed, purged, or another environment's).
    UnknownSession,
    /// The session was revoked (by an admin, a reuse detection, a password change…).
    Revoked,
    /// The user is disabled.
    UserDisabled,
    /// Idle or absolute lifetime is over.
    Expired,
    /// Username, access token or refresh token do not belong together.
    Mismatch,
}

impl Reject {
    /// The `error_description` shown to the client: enough to act on, nothing more.
    pub fn description(self) -> &'static str {
        match self {
            Reject::Revoked | Reject::UserDisabled => {
                "the session has been revoked; authenticate again"
            }
            Reject::Expired => "the session has expired; authenticate again",
            Reject::UnknownSession | Reject::Mismatch => {
                "the refresh token is invalid, or does not belong to this username and access token"
            }
        }
    }

    /// Stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::UnknownSession => "unknown_session",
            Reject::Revoked => "revoked",
            Reject::UserDisabled => "user_disabled",
            Reject::Expired => "expired",
            Reject::Mismatch => "mismatch",
        }
    }
}

/// The outcome of a refresh request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The presented token is the live one: rotate.
    Rotate,
    /// The immediately previous token within the grace window: answer again with the
    /// current (already issued) successor.
    Replay,
    /// A spent token outside the grace window: revoke the whole session.
    Reuse,
    /// Refuse; nothing changes.
    Reject(Reject),
}

/// Whether the session has outlived its idle or absolute lifetime at `now`.
pub fn is_expired(s: &SessionRecord, now: UnixMillis, policy: &TokenPolicy) -> bool {
    now >= session_end(s, policy)
}

/// When a session stops being refreshable: the earlier of its idle end (from its last
/// use) and its absolute end (from its authenticate).
pub fn session_end(s: &SessionRecord, policy: &TokenPolicy) -> UnixMillis {
    let idle = s
        .last_used_at
        .saturating_add(millis(policy.refresh_idle_ttl));
    let absolute = s
        .created_at
        .saturating_add(millis(policy.refresh_absolute_ttl));
    idle.min(absolute)
}

/// Whether `now` falls in the grace window of a rotation at `rotated_at`. The window
/// is `refresh_reuse_grace` long from the rotation and never wider: a clock that reads
/// earlier than the rotation (stepped back, or a node behind the one that rotated) gets
/// at most `MAX_CLOCK_SKEW_MS` of slack, never "as long as the clock is behind".
pub fn within_grace(now: UnixMillis, rotated_at: UnixMillis, policy: &TokenPolicy) -> bool {
    let grace = millis(policy.refresh_reuse_grace);
    let since = now.saturating_sub(rotated_at);
    since < grace && since >= -MAX_CLOCK_SKEW_MS.min(grace)
}

/// Decides a refresh. `session` is `None` when the token's session does not exist.
pub fn decide(
    session: Option<&SessionRecord>,
    p: &Presented<'_>,
    now: UnixMillis,
    policy: &TokenPolicy,
) -> Decision {
    let Some(s) = session else {
        return Decision::Reject(Reject::UnknownSession);
    };
    // A client_credentials session never handed out a refresh token: nothing of it
    // refreshes, whatever is presented.
    if s.kind != SessionKind::Refresh {
        return Decision::Reject(Reject::UnknownSession);
    }
    if s.revoked_at.is_some() {
        return Decision::Reject(Reject::Revoked);
    }
    if s.user_disabled {
        return Decision::Reject(Reject::UserDisabled);
    }
    // A valid token with somebody else's username proves nothing about reuse: refuse only.
    if s.username != p.username {
        return Decision::Reject(Reject::Mismatch);
    }
    if is_expired(s, now, policy) {
        return Decision::Reject(Reject::Expired);
    }
    if p.generation == s.generation {
        // The live token: it must be this chain's (hash) and come with its own access token.
        let access_ok = p
            .access_hash
            .is_none_or(|a| ct_eq(a, &s.current_access_hash));
        if ct_eq(p.token_hash, &s.current_hash) && access_ok {
            return Decision::Rotate;
        }
        return Decision::Reject(Reject::Mismatch);
    }
    if p.generation == s.generation - 1 {
        let is_prev = s.prev_hash.is_some_and(|h| ct_eq(p.token_hash, &h));
        if !is_prev {
            return Decision::Reject(Reject::Mismatch);
        }
        let in_grace = within_grace(now, s.rotated_at, policy);
        let same_access = match p.access_hash {
            Some(a) => s.prev_access_hash.is_some_and(|h| ct_eq(a, &h)),
            None => true,
        };
        return if in_grace && same_access {
            Decision::Replay
        } else {
            Decision::Reuse
        };
    }
    if p.generation < s.generation - 1 {
        // A genuine (MAC-checked) token of this session, two or more generations old.
        return Decision::Reuse;
    }
    // From the future: only possible after restoring an old backup. Refuse.
    Decision::Reject(Reject::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const H0: [u8; 32] = [0; 32];
    const H1: [u8; 32] = [1; 32];
    const A0: [u8; 32] = [10; 32];
    const A1: [u8; 32] = [11; 32];
    const DAY: i64 = 86_400_000;

    fn policy() -> TokenPolicy {
        TokenPolicy {
            refresh_reuse_grace: Duration::from_secs(10),
            ..TokenPolicy::default()
        }
    }

    /// A session at generation 1 (rotated once at t=1000).
    fn session() -> SessionRecord {
        SessionRecord {
            id: 7,
            env: "sandbox".into(),
            kind: SessionKind::Refresh,
            user_id: "u1".into(),
            username: "alice".into(),
            user_disabled: false,
            created_at: 0,
            last_used_at: 1_000,
            generation: 1,
            current_hash: H1,
            current_access_hash: A1,
            prev_hash: Some(H0),
            prev_access_hash: Some(A0),
            rotated_at: 1_000,
            access_token_sealed: vec![],
            access_expires_at: 3_601_000,
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn presented<'a>(generation: i64, t: &'a [u8; 32], a: &'a [u8; 32]) -> Presented<'a> {
        Presented {
            username: "alice",
            generation,
            token_hash: t,
            access_hash: Some(a),
        }
    }

    #[test]
    fn live_token_with_its_access_token_rotates() {
        let s = session();
        assert_eq!(
            decide(Some(&s), &presented(1, &H1, &A1), 2_000, &policy()),
            Decision::Rotate
        );
    }

    #[test]
    fn live_token_with_another_access_token_is_refused_without_reuse() {
        let s = session();
        let d = decide(Some(&s), &presented(1, &H1, &A0), 2_000, &policy());
        assert_eq!(d, Decision::Reject(Reject::Mismatch));
    }

    #[test]
    fn client_authenticated_refresh_follows_the_same_rules_without_the_access_token() {
        let s = session();
        let unbound = |generation, t| Presented {
            username: "alice",
            generation,
            token_hash: t,
            access_hash: None,
        };
        assert_eq!(
            decide(Some(&s), &unbound(1, &H1), 2_000, &policy()),
            Decision::Rotate
        );
        assert_eq!(
            decide(Some(&s), &unbound(0, &H0), 2_000, &policy()),
            Decision::Replay
        );
        assert_eq!(
            decide(Some(&s), &unbound(0, &H0), 11_000, &policy()),
            Decision::Reuse
        );
        // The token's own hash still has to match, and the owner still has to be alice.
        assert_eq!(
            decide(Some(&s), &unbound(1, &H0), 2_000, &policy()),
            Decision::Reject(Reject::Mismatch)
        );
        let mut p = unbound(1, &H1);
        p.username = "bob";
        assert_eq!(
            decide(Some(&s), &p, 2_000, &policy()),
            Decision::Reject(Reject::Mismatch)
        );
    }

    #[test]
    fn wrong_username_is_refused_even_with_a_spent_token() {
        let s = session();
        let mut p = presented(0, &H0, &A0);
        p.username = "bob";
        assert_eq!(
            decide(Some(&s), &p, 2_000, &policy()),
            Decision::Reject(Reject::Mismatch)
        );
        let mut p = presented(1, &H1, &A1);
        p.username = "Alice";
        assert_eq!(
            decide(Some(&s), &p, 2_000, &policy()),
            Decision::Reject(Reject::Mismatch)
        );
    }

    #[test]
    fn previous_token_inside_grace_replays_and_outside_is_reuse() {
        let s = session();
        let p = presented(0, &H0, &A0);
        assert_eq!(decide(Some(&s), &p, 1_000, &policy()), Decision::Replay);
        assert_eq!(decide(Some(&s), &p, 10_999, &policy()), Decision::Replay);
        assert_eq!(decide(Some(&s), &p, 11_000, &policy()), Decision::Reuse);
    }

    #[test]
    fn a_clock_stepped_back_does_not_widen_the_grace_window() {
        // Rotated at 1 000; the clock then reads an hour earlier. Before, every instant
        // until the clock caught up counted as inside the window.
        let s = session();
        let hour_back = 1_000 - 3_600_000;
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), hour_back, &policy()),
            Decision::Reuse
        );
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), 1_000 - 1_001, &policy()),
            Decision::Reuse
        );
        // A node a little behind the one that rotated (clock skew) still replays.
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), 1_000 - 500, &policy()),
            Decision::Replay
        );
        // With no grace at all, no slack either.
        let none = TokenPolicy {
            refresh_reuse_grace: Duration::ZERO,
            ..policy()
        };
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), 1_000 - 500, &none),
            Decision::Reuse
        );
    }

    #[test]
    fn a_client_credentials_session_never_refreshes() {
        let s = SessionRecord {
            kind: SessionKind::ClientCredentials,
            ..session()
        };
        assert_eq!(
            decide(Some(&s), &presented(1, &H1, &A1), 2_000, &policy()),
            Decision::Reject(Reject::UnknownSession)
        );
    }

    #[test]
    fn grace_zero_makes_every_spent_token_reuse() {
        let s = session();
        let pol = TokenPolicy {
            refresh_reuse_grace: Duration::ZERO,
            ..policy()
        };
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), 1_000, &pol),
            Decision::Reuse
        );
    }

    #[test]
    fn previous_token_with_wrong_access_token_in_grace_is_reuse() {
        let s = session();
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A1), 1_500, &policy()),
            Decision::Reuse
        );
    }

    #[test]
    fn two_generations_old_is_reuse_even_in_grace() {
        let mut s = session();
        s.generation = 3;
        assert_eq!(
            decide(Some(&s), &presented(1, &H1, &A1), 1_000, &policy()),
            Decision::Reuse
        );
    }

    #[test]
    fn previous_generation_with_unknown_hash_is_a_mismatch() {
        let s = session();
        let other = [5; 32];
        let d = decide(Some(&s), &presented(0, &other, &A0), 1_000, &policy());
        assert_eq!(d, Decision::Reject(Reject::Mismatch));
        let d = decide(Some(&s), &presented(1, &other, &A1), 1_000, &policy());
        assert_eq!(d, Decision::Reject(Reject::Mismatch));
    }

    #[test]
    fn future_generation_is_refused() {
        let s = session();
        assert_eq!(
            decide(Some(&s), &presented(2, &H1, &A1), 1_000, &policy()),
            Decision::Reject(Reject::Mismatch)
        );
    }

    #[test]
    fn idle_lifetime_counts_from_last_use() {
        let s = session();
        let pol = policy();
        let idle = millis(pol.refresh_idle_ttl);
        let p = presented(1, &H1, &A1);
        assert_eq!(
            decide(Some(&s), &p, 1_000 + idle - 1, &pol),
            Decision::Rotate
        );
        assert_eq!(
            decide(Some(&s), &p, 1_000 + idle, &pol),
            Decision::Reject(Reject::Expired)
        );
    }

    #[test]
    fn absolute_lifetime_counts_from_authenticate() {
        let mut s = session();
        s.last_used_at = 29 * DAY;
        let pol = policy();
        let p = presented(1, &H1, &A1);
        assert_eq!(decide(Some(&s), &p, 30 * DAY - 1, &pol), Decision::Rotate);
        assert_eq!(
            decide(Some(&s), &p, 30 * DAY, &pol),
            Decision::Reject(Reject::Expired)
        );
    }

    #[test]
    fn revoked_disabled_and_unknown_sessions_are_refused() {
        let p = presented(1, &H1, &A1);
        let mut s = session();
        s.revoked_at = Some(1_500);
        assert_eq!(
            decide(Some(&s), &p, 2_000, &policy()),
            Decision::Reject(Reject::Revoked)
        );
        let mut s = session();
        s.user_disabled = true;
        assert_eq!(
            decide(Some(&s), &p, 2_000, &policy()),
            Decision::Reject(Reject::UserDisabled)
        );
        assert_eq!(
            decide(None, &p, 2_000, &policy()),
            Decision::Reject(Reject::UnknownSession)
        );
    }

    #[test]
    fn spent_token_of_expired_session_is_not_reuse() {
        let s = session();
        let pol = policy();
        let late = 1_000 + millis(pol.refresh_idle_ttl);
        assert_eq!(
            decide(Some(&s), &presented(0, &H0, &A0), late, &pol),
            Decision::Reject(Reject::Expired)
        );
    }
}

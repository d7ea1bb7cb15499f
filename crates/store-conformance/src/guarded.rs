//! The single-statement check-and-rotate of the refresh hot path: it must apply exactly
//! when the lifecycle's `decide` says `Rotate` on the stored session, and change nothing
//! otherwise.

use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use wirecash_core::TokenPolicy;
use wirecash_core::clock::millis;
use wirecash_core::lifecycle::{Decision, Presented, decide};
use wirecash_core::store::{Rotation, RotationGuard, SessionRecord, Store};

use crate::fixtures::{add_session, add_user, hash, load, touch};

const IDLE: i64 = 10_000;
const ABSOLUTE: i64 = 100_000;

fn policy() -> TokenPolicy {
    TokenPolicy {
        refresh_idle_ttl: Duration::from_millis(IDLE as u64),
        refresh_absolute_ttl: Duration::from_millis(ABSOLUTE as u64),
        refresh_reuse_grace: Duration::from_secs(5),
        ..TokenPolicy::default()
    }
}

/// What a client presents, as the service would turn it into a guarded rotation.
struct Attempt {
    username: &'static str,
    user_id: String,
    generation: i64,
    token_hash: [u8; 32],
    access_hash: [u8; 32],
    now: i64,
}

impl Attempt {
    /// The live token pair of `s`, presented by its owner at `now`.
    fn live(s: &SessionRecord, now: i64) -> Attempt {
        Attempt {
            username: if s.username == "alice" {
                "alice"
            } else {
                "bob"
            },
            user_id: s.user_id.clone(),
            generation: s.generation,
            token_hash: s.current_hash,
            access_hash: s.current_access_hash,
            now,
        }
    }

    fn rotation(&self, s: &SessionRecord) -> (Rotation, RotationGuard) {
        let p = policy();
        (
            Rotation {
                session_id: s.id,
                env: s.env.clone(),
                expected_generation: self.generation,
                expected_hash: self.token_hash,
                generation: self.generation + 1,
                current_hash: hash(200),
                current_access_hash: hash(201),
                prev_hash: self.token_hash,
                prev_access_hash: self.access_hash,
                rotated_at: self.now,
                access_token_sealed: vec![9, 9, 9],
                access_expires_at: self.now + 300,
            },
            RotationGuard {
                current_access_hash: self.access_hash,
                user_id: self.user_id.clone(),
                username: self.username.to_string(),
                used_after: self.now - millis(p.refresh_idle_ttl),
                created_after: self.now - millis(p.refresh_absolute_ttl),
            },
        )
    }
}

/// Runs one attempt on session `id`: the guarded rotation must apply iff `decide` says
/// `Rotate` on the stored row; returns whether it applied.
async fn check(
    store: &dyn Store,
    env: &str,
    id: i64,
    a: &Attempt,
    case: &str,
) -> anyhow::Result<bool> {
    let before = load(store, env, id).await?;
    let presented = Presented {
        username: a.username,
        generation: a.generation,
        token_hash: &a.token_hash,
        access_hash: Some(&a.access_hash),
    };
    let decision = decide(Some(&before), &presented, a.now, &policy());
    let (rotation, guard) = a.rotation(&before);
    let applied = store.rotate_guarded(rotation, guard).await?;
    ensure!(
        applied == (decision == Decision::Rotate),
        "{case}: decide says {decision:?} but the guarded rotation applied = {applied}"
    );
    let after = load(store, env, id).await?;
    if applied {
        ensure!(
            after.generation == before.generation + 1
                && after.current_hash == hash(200)
                && after.prev_hash == Some(a.token_hash)
                && after.last_used_at == a.now,
            "{case}: applied, but the row is {after:?}"
        );
    } else {
        ensure!(
            after == before,
            "{case}: refused, but the row changed to {after:?}"
        );
    }
    Ok(applied)
}

pub async fn rotate_guarded_applies_exactly_when_the_lifecycle_says_rotate(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    let s = &*store;
    // Sessions created at 1000 (last used 1000) unless touched.
    let mut next_id = 100;
    let mut fresh = async |user| -> anyhow::Result<SessionRecord> {
        next_id += 1;
        add_session(s, next_id, user, 1_000, 1).await?;
        load(s, "a", next_id).await
    };

    // (case, session, attempt, expected outcome): `check` compares with `decide`, the
    // expectation makes sure both sides are exercised.
    let expect = async |case: &str, r: &SessionRecord, a: Attempt, want: bool| {
        let applied = check(s, "a", r.id, &a, case).await?;
        ensure!(
            applied == want,
            "{case}: applied = {applied}, expected {want}"
        );
        anyhow::Ok(())
    };

    let r = fresh(&alice).await?;
    expect("live pair", &r, Attempt::live(&r, 5_000), true).await?;
    // Idle boundary: expired at exactly last_used + idle, live one ms before.
    let r = fresh(&alice).await?;
    expect("idle boundary", &r, Attempt::live(&r, 1_000 + IDLE), false).await?;
    expect(
        "just inside idle",
        &r,
        Attempt::live(&r, 1_000 + IDLE - 1),
        true,
    )
    .await?;
    // Absolute boundary on a session kept in use.
    let r = fresh(&alice).await?;
    touch(s, "a", r.id, 30, 1_000 + ABSOLUTE - 500).await?;
    let r = load(s, "a", r.id).await?;
    expect(
        "absolute boundary",
        &r,
        Attempt::live(&r, 1_000 + ABSOLUTE),
        false,
    )
    .await?;
    expect(
        "just inside absolute",
        &r,
        Attempt::live(&r, 1_000 + ABSOLUTE - 1),
        true,
    )
    .await?;
    // Revoked.
    let r = fresh(&alice).await?;
    s.revoke_session("a", r.id, 2_000, "admin", None).await?;
    expect("revoked", &r, Attempt::live(&r, 3_000), false).await?;
    // Somebody else's username, access token, refresh token.
    let r = fresh(&alice).await?;
    let mut a = Attempt::live(&r, 3_000);
    a.username = "bob";
    expect("other username", &r, a, false).await?;
    let mut a = Attempt::live(&r, 3_000);
    a.access_hash = hash(77);
    expect("other access token", &r, a, false).await?;
    let mut a = Attempt::live(&r, 3_000);
    a.token_hash = hash(78);
    expect("other refresh token", &r, a, false).await?;
    // A claimed owner that is not the owner never rotates (decide cannot see claims).
    let mut a = Attempt::live(&r, 3_000);
    a.user_id = bob.id.clone();
    let (rotation, guard) = a.rotation(&r);
    ensure!(
        !s.rotate_guarded(rotation, guard).await?,
        "rotated with another owner"
    );
    // The previous pair (a grace replay) is never rotated here.
    let r = fresh(&alice).await?;
    let mut old = Attempt::live(&r, 2_000);
    touch(s, "a", r.id, 40, 2_000).await?;
    old.now = 2_001;
    expect("previous pair in grace", &r, old, false).await?;
    // A disabled owner's live session (no login makes one, and disabling revokes them
    // all; a row copied in by `migrate-store` is the one way, so it is made that way).
    let r = fresh(&bob).await?;
    s.set_user_disabled("a", "bob", true, 2_000, None).await?;
    let mut copied = r.clone();
    copied.id = 999;
    copied.revoked_at = None;
    copied.revoked_reason = None;
    s.import_session(copied).await?;
    let r = load(s, "a", 999).await?;
    ensure!(r.user_disabled && r.revoked_at.is_none(), "{r:?}");
    expect("disabled owner", &r, Attempt::live(&r, 3_000), false).await?;
    // Twice in a row with the same expectation: the second loses.
    let r = fresh(&alice).await?;
    expect("first of two", &r, Attempt::live(&r, 4_000), true).await?;
    expect("second of two", &r, Attempt::live(&r, 4_000), false).await?;
    Ok(())
}

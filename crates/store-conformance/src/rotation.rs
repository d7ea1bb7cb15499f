//! `rotate` as a compare-and-set: it applies only on the exact state it was decided on,
//! so two racing refreshes of one token can never both win.

use std::sync::Arc;

use anyhow::ensure;
use tokio::sync::Barrier;
use wirecash_core::store::{SessionRecord, Store};

use crate::fixtures::{add_session, add_user, hash, load, rotation_after};

/// A rotation on the current state applies, writes every field it carries, and the
/// same rotation replayed afterwards loses.
pub async fn rotate_applies_once_and_loses_compare_and_set_afterwards(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 1_000, 1).await?;
    let before = load(&*store, "a", 1).await?;

    let r = rotation_after(&before, 20, 1_500);
    ensure!(
        store.rotate(r.clone()).await?,
        "rotation on the current state lost"
    );
    let want = SessionRecord {
        generation: 1,
        current_hash: hash(20),
        current_access_hash: hash(21),
        prev_hash: Some(before.current_hash),
        prev_access_hash: Some(before.current_access_hash),
        rotated_at: 1_500,
        last_used_at: 1_500,
        access_token_sealed: r.access_token_sealed.clone(),
        access_expires_at: 1_800,
        ..before.clone()
    };
    let after = load(&*store, "a", 1).await?;
    ensure!(after == want, "after rotate: {after:?}\nwant {want:?}");

    ensure!(!store.rotate(r).await?, "the same rotation applied twice");
    let again = load(&*store, "a", 1).await?;
    ensure!(
        again == want,
        "a lost rotation changed the session: {again:?}"
    );

    // The next rotation is decided on the new state and applies.
    ensure!(
        store.rotate(rotation_after(&after, 30, 2_000)).await?,
        "second rotation lost"
    );
    let third = load(&*store, "a", 1).await?;
    ensure!(
        third.generation == 2 && third.prev_hash == Some(hash(20)) && third.created_at == 1_000,
        "after the second rotation: {third:?}"
    );
    Ok(())
}

/// A stale generation, a hash that is not current, another environment or an unknown
/// session: each loses and leaves the session as it was.
pub async fn rotate_with_stale_generation_or_hash_loses(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 1_000, 1).await?;
    let s = load(&*store, "a", 1).await?;

    let mut wrong_generation = rotation_after(&s, 20, 1_500);
    wrong_generation.expected_generation = 1;
    let mut wrong_hash = rotation_after(&s, 20, 1_500);
    wrong_hash.expected_hash = hash(99);
    let mut wrong_env = rotation_after(&s, 20, 1_500);
    wrong_env.env = "b".into();
    let mut unknown = rotation_after(&s, 20, 1_500);
    unknown.session_id = 2;
    for (what, r) in [
        ("stale generation", wrong_generation),
        ("hash not current", wrong_hash),
        ("other environment", wrong_env),
        ("unknown session", unknown),
    ] {
        ensure!(!store.rotate(r).await?, "rotate with {what} applied");
        let now = load(&*store, "a", 1).await?;
        ensure!(now == s, "rotate with {what} changed the session: {now:?}");
    }
    Ok(())
}

/// A revoked session cannot be rotated, even with the right expectation.
pub async fn rotate_on_revoked_session_loses(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 1_000, 1).await?;
    let s = load(&*store, "a", 1).await?;
    ensure!(
        store.revoke_session("a", 1, 1_200, "reuse", None).await?,
        "revoke"
    );
    let revoked = load(&*store, "a", 1).await?;

    ensure!(
        !store.rotate(rotation_after(&s, 20, 1_500)).await?,
        "rotated a revoked session"
    );
    let now = load(&*store, "a", 1).await?;
    ensure!(now == revoked, "rotate changed a revoked session: {now:?}");
    Ok(())
}

/// Many rotations decided on the same state race; exactly one wins and its values stick.
pub async fn concurrent_rotations_with_same_expectation_have_exactly_one_winner(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    const RACERS: u8 = 32;
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 1_000, 1).await?;
    let s = load(&*store, "a", 1).await?;

    let start = Arc::new(Barrier::new(usize::from(RACERS)));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        // Each racer would issue a different token: seeds 100, 102, 104, ...
        let r = rotation_after(&s, 100 + 2 * i, 1_500 + i64::from(i));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.rotate(r).await.map(|won| (i, won))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await??;
        if won {
            winners.push(i);
        }
    }
    ensure!(
        winners.len() == 1,
        "{} of {RACERS} racing rotations won: {winners:?}",
        winners.len()
    );
    let w = winners[0];
    let after = load(&*store, "a", 1).await?;
    ensure!(
        after.generation == 1
            && after.current_hash == hash(100 + 2 * w)
            && after.rotated_at == 1_500 + i64::from(w)
            && after.prev_hash == Some(s.current_hash),
        "session after the race (winner {w}): {after:?}"
    );
    Ok(())
}

//! The background purge of dead sessions, signing keys and the readiness ping.

use std::sync::Arc;

use anyhow::{bail, ensure};
use wirecash_core::store::{KeyRecord, PurgeCutoffs, Store};

use crate::fixtures::{add_session, add_user, ensure_absent, load, touch};

/// How a purge test session is set up: created at, rotated at, revoked at, dead.
type Shape = (i64, Option<i64>, Option<i64>, bool);

const CUTOFFS: PurgeCutoffs = PurgeCutoffs {
    idle_before: 1_000,
    absolute_before: 500,
    revoked_before: 800,
};

/// One of each case, repeated along the ids so dead and live rows interleave.
const SHAPES: [Shape; 6] = [
    (600, None, None, true),              // idle: last used 600 < 1000
    (400, Some(2_000), None, true),       // absolute: created 400 < 500
    (600, Some(2_000), Some(700), true),  // revoked 700 < 800
    (600, Some(2_000), None, false),      // live
    (600, Some(2_000), Some(900), false), // revoked recently: kept for audit
    (500, Some(1_000), Some(800), false), // exactly at every cut-off: "before" is strict
];

/// The purge deletes idle-expired, absolute-expired and long-revoked sessions in every
/// environment, keeps the rest, and its cursor walks the table `batch` ids at a time.
pub async fn purge_deletes_dead_sessions_in_batches_and_keeps_live_ones(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let empty = store.purge_sessions(0, 5, CUTOFFS).await?;
    ensure!(
        empty == (0, 0),
        "purge of an empty table = {empty:?}, want (0, 0)"
    );

    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "b", "bob").await?;
    let mut dead = Vec::new();
    let mut kept = Vec::new();
    for id in 1..=18_i64 {
        let (created, rotated, revoked, is_dead) = SHAPES[usize::try_from(id - 1)? % SHAPES.len()];
        let seed = u8::try_from(id)?;
        add_session(&*store, id, &alice, created, seed).await?;
        if let Some(at) = rotated {
            touch(&*store, "a", id, seed + 100, at).await?;
        }
        if let Some(at) = revoked {
            ensure!(
                store.revoke_session("a", id, at, "test", None).await?,
                "revoke {id}"
            );
        }
        if is_dead {
            dead.push(("a", id))
        } else {
            kept.push(("a", id))
        }
    }
    add_session(&*store, 19, &bob, 600, 19).await?; // idle, in another environment
    dead.push(("b", 19));

    // 19 rows in batches of 5: at least 4 steps, the first covering ids 1..=5 only.
    let mut cursor = 0;
    let mut steps = Vec::new();
    loop {
        let (deleted, next) = store.purge_sessions(cursor, 5, CUTOFFS).await?;
        steps.push(deleted);
        if next == 0 {
            break;
        }
        ensure!(next > cursor, "purge cursor went from {cursor} to {next}");
        if steps.len() > 50 {
            bail!("purge walk does not end: steps {steps:?}, cursor {next}");
        }
        cursor = next;
    }
    ensure!(
        steps.len() >= 4,
        "19 rows walked in {} steps of 5: {steps:?}",
        steps.len()
    );
    ensure!(
        steps[0] == 3,
        "first batch (ids 1..=5) deleted {}, want 3",
        steps[0]
    );
    let total: u64 = steps.iter().sum();
    ensure!(
        total == dead.len() as u64,
        "purge deleted {total}, want {} ({steps:?})",
        dead.len()
    );

    for (env, id) in dead {
        ensure_absent(&*store, env, id).await?;
    }
    for (env, id) in kept {
        load(&*store, env, id).await?;
    }
    let again = store.purge_sessions(0, 100, CUTOFFS).await?;
    ensure!(
        again == (0, 0),
        "a second full purge = {again:?}, want (0, 0)"
    );
    ensure!(
        store.find_user("a", "alice").await?.is_some(),
        "purge must leave users alone"
    );
    Ok(())
}

fn key(env: &str, kid: &str, activates_at: i64) -> KeyRecord {
    KeyRecord {
        env: env.into(),
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_key_sealed: kid.bytes().chain([0, 1, 2]).collect(),
        created_at: activates_at - 5,
        activates_at,
    }
}

/// Keys read back field for field, oldest activation first, per environment; deleting
/// removes just that key.
pub async fn keys_insert_list_by_activation_and_delete(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    ensure!(
        store.list_keys("a").await?.is_empty(),
        "a fresh store has keys"
    );
    let (k1, k2, k3) = (
        key("a", "k1", 100),
        key("a", "k2", 300),
        key("a", "k3", 200),
    );
    let other = key("b", "k1", 50);
    for k in [k2.clone(), k1.clone(), other.clone(), k3.clone()] {
        store.insert_key(k, None).await?;
    }
    let listed = store.list_keys("a").await?;
    ensure!(
        listed == vec![k1.clone(), k3.clone(), k2.clone()],
        "list_keys(a) = {listed:?}"
    );
    let listed = store.list_keys("b").await?;
    ensure!(listed == vec![other.clone()], "list_keys(b) = {listed:?}");

    store.delete_key("a", "k3").await?;
    let listed = store.list_keys("a").await?;
    ensure!(
        listed == vec![k1.clone(), k2],
        "after deleting k3: {listed:?}"
    );
    store.delete_key("a", "k1").await?;
    let listed = store.list_keys("b").await?;
    ensure!(
        listed == vec![other],
        "deleting a/k1 touched b/k1: {listed:?}"
    );
    Ok(())
}

/// A healthy store answers the readiness ping.
pub async fn ping_succeeds_on_a_fresh_store(store: Arc<dyn Store>) -> anyhow::Result<()> {
    store.ping().await?;
    Ok(())
}

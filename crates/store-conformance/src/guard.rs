//! Failed-login counters (brute-force protection): one atomic read-modify-write of a
//! set of counters, whatever runs at the same time, and the purge of old ones.

use std::sync::{Arc, Mutex};

use anyhow::ensure;
use wirecash_core::store::{GuardCounter, Store};

use crate::fixtures::hash;

/// The counters of `keys` as stored (read with an update that changes nothing).
pub async fn read_guards(
    store: &dyn Store,
    keys: &[[u8; 32]],
) -> anyhow::Result<Vec<GuardCounter>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    store
        .update_login_guards(
            keys,
            Box::new(move |c: &mut [GuardCounter]| {
                *out.lock().unwrap_or_else(|p| p.into_inner()) = c.to_vec();
                Vec::new()
            }),
        )
        .await?;
    let v = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(v)
}

/// Sets the counters of `keys` to `values`.
async fn write_guards(
    store: &dyn Store,
    keys: &[[u8; 32]],
    values: Vec<GuardCounter>,
) -> anyhow::Result<()> {
    store
        .update_login_guards(
            keys,
            Box::new(move |c: &mut [GuardCounter]| {
                for (c, v) in c.iter_mut().zip(values) {
                    *c = v;
                }
                Vec::new()
            }),
        )
        .await?;
    Ok(())
}

/// Missing counters read as zero, in the order asked for; every field round-trips;
/// a counter left empty is gone; the purge deletes only counters whose every time is
/// old (and whose last success is older than its own cut-off).
pub async fn login_guards_round_trip_read_as_zero_and_purge(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let (k1, k2, k3) = (hash(1), hash(2), hash(3));
    let fresh = read_guards(&*store, &[k1, k2]).await?;
    ensure!(
        fresh == vec![GuardCounter::default(); 2],
        "fresh counters {fresh:?}"
    );
    let full = GuardCounter {
        failures: 7,
        last_failure_at: 100,
        locked_until: 5_000,
        pending: 2,
        reserved_at: 90,
        succeeded_at: 80,
    };
    let failed_only = GuardCounter {
        failures: 1,
        last_failure_at: 200,
        ..GuardCounter::default()
    };
    let known = GuardCounter {
        succeeded_at: 9_000,
        ..GuardCounter::default()
    };
    write_guards(&*store, &[k1, k2, k3], vec![full, failed_only, known]).await?;
    let back = read_guards(&*store, &[k3, k1, k2]).await?;
    ensure!(
        back == vec![known, full, failed_only],
        "counters read back as {back:?}"
    );
    // Emptied: gone (a purge finds nothing of it).
    write_guards(&*store, &[k2], vec![GuardCounter::default()]).await?;
    ensure!(
        read_guards(&*store, &[k2]).await? == vec![GuardCounter::default()],
        "an emptied counter kept values"
    );
    // At 6000 with successes before 8000 forgotten: k1 (lock to 5000, success 80) goes,
    // k3 (success 9000) stays.
    ensure!(
        store.purge_login_failures(6_000, 8_000).await? == 1,
        "purge at 6000: want k1 only"
    );
    let after = read_guards(&*store, &[k1, k3]).await?;
    ensure!(
        after == vec![GuardCounter::default(), known],
        "after the purge: {after:?}"
    );
    ensure!(
        store.purge_login_failures(6_000, 9_001).await? == 1,
        "purge of a forgotten success"
    );
    Ok(())
}

/// 50 updates of the same counters at once, each adding one: every update saw a count
/// no other saw, and the final count is 50 — on every node of a shared database.
pub async fn concurrent_login_guard_updates_are_atomic(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let (k1, k2) = (hash(9), hash(10));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        // Half the updates name the keys the other way round.
        let keys = if i % 2 == 0 { [k1, k2] } else { [k2, k1] };
        set.spawn(async move {
            let seen = Arc::new(Mutex::new(0u32));
            let out = Arc::clone(&seen);
            store
                .update_login_guards(
                    &keys,
                    Box::new(move |c: &mut [GuardCounter]| {
                        for c in c.iter_mut() {
                            c.failures += 1;
                            c.last_failure_at = 1_000;
                        }
                        *out.lock().unwrap_or_else(|p| p.into_inner()) = c[0].failures;
                        Vec::new()
                    }),
                )
                .await?;
            let n = *seen.lock().unwrap_or_else(|p| p.into_inner());
            anyhow::Ok(n)
        });
    }
    let mut counts = Vec::new();
    while let Some(r) = set.join_next().await {
        counts.push(r??);
    }
    counts.sort_unstable();
    ensure!(
        counts == (1..=50).collect::<Vec<u32>>(),
        "counts seen {counts:?}"
    );
    let end = read_guards(&*store, &[k1, k2]).await?;
    ensure!(
        end.iter().all(|c| c.failures == 50),
        "final counters {end:?}"
    );
    Ok(())
}

/// A session made with a change of failed-login counters makes the change in the same
/// transaction; a session the store refuses (its user changed) leaves them as they were.
pub async fn create_session_settles_login_guards_with_it(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    use wirecash_core::store::GuardChange;
    let alice = crate::fixtures::add_user(&*store, "a", "alice").await?;
    let k = hash(20);
    let pending = GuardCounter {
        pending: 1,
        reserved_at: 10,
        ..GuardCounter::default()
    };
    write_guards(&*store, &[k], vec![pending]).await?;
    let settle = |at: i64| GuardChange {
        keys: vec![k],
        update: Box::new(move |c: &mut [GuardCounter]| {
            c[0].pending = 0;
            c[0].reserved_at = 0;
            c[0].succeeded_at = at;
            Vec::new()
        }),
    };
    store
        .create_session(
            crate::fixtures::new_session(1, &alice, 20, 1),
            10,
            Some(settle(77)),
        )
        .await?;
    let settled = GuardCounter {
        succeeded_at: 77,
        ..GuardCounter::default()
    };
    ensure!(
        read_guards(&*store, &[k]).await? == vec![settled],
        "the counters did not settle with the session"
    );
    store.change_password("a", "alice", "new", 30, None).await?;
    let refused = store
        .create_session(
            crate::fixtures::new_session(2, &alice, 40, 1),
            10,
            Some(settle(99)),
        )
        .await;
    crate::fixtures::ensure_not_found("a session for a changed user", refused)?;
    ensure!(
        read_guards(&*store, &[k]).await? == vec![settled],
        "a refused session changed the counters"
    );
    Ok(())
}

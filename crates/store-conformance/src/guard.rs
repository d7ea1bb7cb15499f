//! Failed-login counters (brute-force protection).

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::store::Store;

use crate::fixtures::hash;

/// Failures count up, are forgotten after a quiet period, locks apply to any of the keys
/// asked about, only ever grow, end by themselves, and counters can be cleared and purged.
pub async fn login_failures_count_lock_expire_and_clear(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let (k1, k2, k3) = (hash(1), hash(2), hash(3));
    ensure!(
        store.login_locked_until(&[k1, k2], 0).await?.is_none(),
        "fresh store has a lock"
    );
    for (i, t) in [100, 200, 300].into_iter().enumerate() {
        let n = store.record_login_failure(&k1, t, 0).await?;
        ensure!(n as usize == i + 1, "failure {} counted as {n}", i + 1);
    }
    ensure!(
        store.record_login_failure(&k2, 300, 0).await? == 1,
        "keys share a counter"
    );
    // The last failure (300) is at the forget cut-off: the count starts again.
    ensure!(
        store.record_login_failure(&k1, 1_000, 300).await? == 1,
        "old failures not forgotten"
    );
    ensure!(
        store.record_login_failure(&k1, 1_100, 300).await? == 2,
        "recent failure forgotten"
    );

    store.lock_login(&k1, 5_000).await?;
    ensure!(
        store.login_locked_until(&[k1], 4_000).await? == Some(5_000),
        "lock not seen"
    );
    ensure!(
        store.login_locked_until(&[k3, k1], 4_000).await? == Some(5_000),
        "lock not seen among keys"
    );
    ensure!(
        store.login_locked_until(&[k1], 5_000).await?.is_none(),
        "lock lasts past its end"
    );
    store.lock_login(&k1, 3_000).await?;
    ensure!(
        store.login_locked_until(&[k1], 4_000).await? == Some(5_000),
        "a lock shrank"
    );
    store.lock_login(&k2, 6_000).await?;
    ensure!(
        store.login_locked_until(&[k1, k2], 4_000).await? == Some(6_000),
        "not the latest lock"
    );
    ensure!(
        store.login_locked_until(&[k3], 4_000).await?.is_none(),
        "an unknown key is locked"
    );

    store.clear_login_failures(&k1).await?;
    ensure!(
        store.login_locked_until(&[k1], 4_000).await?.is_none(),
        "cleared key still locked"
    );
    ensure!(
        store.record_login_failure(&k1, 4_100, 0).await? == 1,
        "cleared key kept its count"
    );

    // At 6000: k1 (last failure 4100, no lock) goes; k2 (last failure 300, locked until
    // 6000) stays until 6001.
    ensure!(
        store.purge_login_failures(6_000).await? == 1,
        "purge at 6000: want k1 only"
    );
    ensure!(
        store.login_locked_until(&[k2], 5_999).await? == Some(6_000),
        "purged a live lock"
    );
    ensure!(
        store.purge_login_failures(6_001).await? == 1,
        "old counter not purged"
    );
    ensure!(
        store.record_login_failure(&k2, 7_000, 0).await? == 1,
        "purged counter survived"
    );
    ensure!(
        store.record_login_failure(&k1, 7_000, 0).await? == 1,
        "purged counter survived"
    );
    ensure!(
        store.login_locked_until(&[k1, k2], 0).await?.is_none(),
        "lock survived the purge"
    );
    Ok(())
}

/// Failures recorded at once all count.
pub async fn concurrent_login_failures_all_count(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let key = hash(9);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        set.spawn(async move { store.record_login_failure(&key, 1_000 + i, 0).await });
    }
    let mut counts = Vec::new();
    while let Some(r) = set.join_next().await {
        counts.push(r??);
    }
    counts.sort_unstable();
    ensure!(
        counts == (1..=50).collect::<Vec<u32>>(),
        "counts {counts:?}"
    );
    Ok(())
}

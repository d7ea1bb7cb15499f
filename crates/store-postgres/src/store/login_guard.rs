//! `LoginGuardStore` on PostgreSQL: the failed-login counters.

use async_trait::async_trait;
use wirecash_core::StoreError;
use wirecash_core::store::{GuardCounter, GuardUpdate, LoginGuardStore};

use super::PostgresStore;
use super::events::insert_events;
use super::rows::*;

#[async_trait]
impl LoginGuardStore for PostgresStore {
    async fn update_login_guards(
        &self,
        keys: &[[u8; 32]],
        update: GuardUpdate,
    ) -> Result<(), StoreError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            update_guards(&tx, keys, update).await?;
            tx.commit().await?;
            Ok::<_, Fail>(())
        })
        .await
    }

    async fn purge_login_failures(
        &self,
        before: i64,
        succeeded_before: i64,
    ) -> Result<u64, StoreError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM login_failures WHERE last_failure_at < $1 AND locked_until < $1
                        AND reserved_at < $1 AND succeeded_at < $2",
                )
                .await?;
            c.execute(&st, &[&before, &succeeded_before]).await
        })
        .await
    }
}

/// Reads the counters of `keys` locked (`FOR UPDATE`, in key order, so that two logins
/// with overlapping counters cannot deadlock), lets `update` change them and writes them
/// back, with the events it returns, in the caller's transaction.
pub(super) async fn update_guards(
    tx: &deadpool_postgres::Transaction<'_>,
    keys: &[[u8; 32]],
    update: GuardUpdate,
) -> Result<(), Fail> {
    let wanted: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    // Rows are locked in key order by every caller, so two logins with overlapping
    // counters cannot deadlock.
    let mut sorted = wanted.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let create = tx
        .prepare_cached(
            "INSERT INTO login_failures (key, failures, last_failure_at)
             SELECT k, 0, 0 FROM unnest($1::bytea[]) AS k ORDER BY k
             ON CONFLICT (key) DO NOTHING",
        )
        .await?;
    tx.execute(&create, &[&sorted]).await?;
    let read = tx
        .prepare_cached(
            "SELECT key, failures, last_failure_at, locked_until, pending, reserved_at,
                succeeded_at
             FROM login_failures WHERE key = ANY($1) ORDER BY key FOR UPDATE",
        )
        .await?;
    let rows = tx.query(&read, &[&sorted]).await?;
    let mut counters = Vec::with_capacity(wanted.len());
    for key in &wanted {
        let row = rows
            .iter()
            .find(|r| r.try_get::<_, &[u8]>(0).ok() == Some(*key));
        counters.push(row.map(guard_from_row).transpose()?.unwrap_or_default());
    }
    let events = update(&mut counters);
    let (mut gone, mut kept) = (Vec::new(), Vec::new());
    for (key, n) in wanted.iter().zip(&counters) {
        if n.is_empty() {
            gone.push(*key);
        } else {
            kept.push((*key, *n));
        }
    }
    let write = tx
        .prepare_cached(
            "UPDATE login_failures f SET failures = v.failures, last_failure_at = v.last_failure_at,
                locked_until = v.locked_until, pending = v.pending, reserved_at = v.reserved_at,
                succeeded_at = v.succeeded_at
             FROM unnest($1::bytea[], $2::int[], $3::bigint[], $4::bigint[], $5::int[],
                         $6::bigint[], $7::bigint[])
                  AS v(key, failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at)
             WHERE f.key = v.key",
        )
        .await?;
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let column =
        |f: &dyn Fn(&GuardCounter) -> i64| -> Vec<i64> { kept.iter().map(|(_, n)| f(n)).collect() };
    let keys: Vec<&[u8]> = kept.iter().map(|(k, _)| *k).collect();
    let failures: Vec<i32> = kept.iter().map(|(_, n)| count(n.failures)).collect();
    let pending: Vec<i32> = kept.iter().map(|(_, n)| count(n.pending)).collect();
    tx.execute(
        &write,
        &[
            &keys,
            &failures,
            &column(&|n| n.last_failure_at),
            &column(&|n| n.locked_until),
            &pending,
            &column(&|n| n.reserved_at),
            &column(&|n| n.succeeded_at),
        ],
    )
    .await?;
    if !gone.is_empty() {
        let delete = tx
            .prepare_cached("DELETE FROM login_failures WHERE key = ANY($1)")
            .await?;
        tx.execute(&delete, &[&gone]).await?;
    }
    insert_events(tx, &events).await?;
    Ok(())
}

//! `LoginGuardStore` on SQLite: the failed-login counters.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use wirecash_core::StoreError;
use wirecash_core::store::{GuardCounter, GuardUpdate, LoginGuardStore};

use super::SqliteStore;

#[async_trait]
impl LoginGuardStore for SqliteStore {
    async fn update_login_guards(
        &self,
        keys: &[[u8; 32]],
        update: GuardUpdate,
    ) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        // The writer runs one transaction at a time: read, decide and write back are one
        // atomic step.
        self.write(move |c| update_guards(c, &keys, update)).await
    }

    async fn purge_login_failures(
        &self,
        before: i64,
        succeeded_before: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM login_failures WHERE last_failure_at < ?1 AND locked_until < ?1
                    AND reserved_at < ?1 AND succeeded_at < ?2",
            )?
            .execute(params![before, succeeded_before])
            .map(|n| n as u64)
        })
        .await
    }
}

/// Reads the counters of `keys`, lets `update` change them and writes them back, in the
/// caller's transaction (the writer's: nothing else runs meanwhile).
pub(super) fn update_guards(
    c: &Connection,
    keys: &[[u8; 32]],
    update: GuardUpdate,
) -> rusqlite::Result<()> {
    let mut read = c.prepare_cached(
        "SELECT failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at
             FROM login_failures WHERE key = ?1",
    )?;
    let mut counters = Vec::with_capacity(keys.len());
    for key in keys {
        let counter = read
            .query_row(params![&key[..]], |r| {
                Ok(GuardCounter {
                    failures: r.get(0)?,
                    last_failure_at: r.get(1)?,
                    locked_until: r.get(2)?,
                    pending: r.get(3)?,
                    reserved_at: r.get(4)?,
                    succeeded_at: r.get(5)?,
                })
            })
            .optional()?;
        counters.push(counter.unwrap_or_default());
    }
    let events = update(&mut counters);
    for (key, n) in keys.iter().zip(&counters) {
        if n.is_empty() {
            c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?
                .execute(params![&key[..]])?;
            continue;
        }
        c.prepare_cached(
                "INSERT INTO login_failures
                    (key, failures, last_failure_at, locked_until, pending, reserved_at, succeeded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (key) DO UPDATE SET failures = ?2, last_failure_at = ?3,
                    locked_until = ?4, pending = ?5, reserved_at = ?6, succeeded_at = ?7",
            )?
            .execute(params![
                &key[..],
                n.failures,
                n.last_failure_at,
                n.locked_until,
                n.pending,
                n.reserved_at,
                n.succeeded_at
            ])?;
    }
    for event in &events {
        super::events::insert_event(c, Some(event))?;
    }
    Ok(())
}

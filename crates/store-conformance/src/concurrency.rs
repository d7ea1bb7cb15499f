//! Many writers at once: every write is answered, and one failing write does not take
//! down the others that happen to share its transaction (group commit).

use std::sync::Arc;

use anyhow::ensure;
use tokio::sync::Barrier;
use wirecash_core::StoreError;
use wirecash_core::store::Store;

use crate::fixtures::{add_session, add_user, load, user, user_id};

const WRITERS: usize = 200;

/// 200 tasks each create a user and a session at the same moment; all succeed and all
/// of it is readable afterwards.
pub async fn many_concurrent_writes_all_succeed(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let start = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let u = add_user(&*store, "a", &format!("user{i:03}")).await?;
            let id = i64::try_from(i)? + 1;
            add_session(&*store, id, &u, id, 7).await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let users = store.list_users("a").await?;
    ensure!(
        users.len() == WRITERS,
        "{} users listed, want {WRITERS}",
        users.len()
    );
    for i in 0..WRITERS {
        let id = i64::try_from(i)? + 1;
        let s = load(&*store, "a", id).await?;
        ensure!(
            s.username == format!("user{i:03}"),
            "session {id} belongs to {}",
            s.username
        );
    }
    Ok(())
}

/// Concurrent writes where every tenth one conflicts: exactly those fail with
/// `Conflict`, every other one is applied, and the failed ones leave no trace.
pub async fn failed_writes_among_concurrent_ones_fail_alone(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    add_user(&*store, "a", "taken").await?;
    let start = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let mut u = user("a", &format!("user{i:03}"));
            if i % 10 == 0 {
                u.username = "taken".into(); // id stays unique, the name does not
            }
            start.wait().await;
            (i, store.create_user(u, None).await)
        }));
    }
    for t in tasks {
        let (i, result) = t.await?;
        if i % 10 == 0 {
            ensure!(
                matches!(result, Err(StoreError::Conflict(_))),
                "write {i}: want Conflict, got {result:?}"
            );
        } else {
            ensure!(result.is_ok(), "write {i}: want Ok, got {result:?}");
        }
    }
    let users = store.list_users("a").await?;
    let want = 1 + WRITERS - WRITERS / 10;
    ensure!(
        users.len() == want,
        "{} users listed, want {want}",
        users.len()
    );
    for i in (0..WRITERS).step_by(10) {
        let id = user_id("a", &format!("user{i:03}"));
        ensure!(
            users.iter().all(|u| u.id != id),
            "the failed write {i} left user {id}"
        );
    }
    let taken = store.find_user("a", "taken").await?;
    ensure!(
        taken.is_some_and(|u| u.id == user_id("a", "taken")),
        "the first 'taken' was replaced"
    );
    Ok(())
}

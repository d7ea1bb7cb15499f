//! `wirecash-auth migrate-store`: copies users, signing keys and sessions from one
//! database to another (SQLite to PostgreSQL, or back), row for row, so that every token
//! issued on the old database keeps working on the new one (with the same master key).

use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use wirecash_core::Store;

/// Rows read per page.
const PAGE: u32 = 500;
/// Sessions written at once.
const IN_FLIGHT: usize = 32;

/// What was copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Users.
    pub users: u64,
    /// Signing keys.
    pub keys: u64,
    /// Sessions (revoked ones too: they keep reuse detection and the audit trail).
    pub sessions: u64,
    /// Introspection credentials of resource servers.
    pub introspectors: u64,
}

async fn is_empty(store: &dyn Store) -> anyhow::Result<bool> {
    Ok(store.users_after("", 1).await?.is_empty()
        && store.all_keys().await?.is_empty()
        && store.sessions_after(i64::MIN, 1).await?.is_empty()
        && store.all_introspectors().await?.is_empty())
}

async fn count(store: &dyn Store) -> anyhow::Result<Copied> {
    let mut n = Copied {
        keys: store.all_keys().await?.len() as u64,
        introspectors: store.all_introspectors().await?.len() as u64,
        ..Copied::default()
    };
    let mut cursor = String::new();
    loop {
        let page = store.users_after(&cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor.clone_from(&last.id);
        n.users += page.len() as u64;
    }
    let mut cursor = i64::MIN;
    loop {
        let page = store.sessions_after(cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        n.sessions += page.len() as u64;
    }
    Ok(n)
}

/// Copies everything from `from` into `to`, which must be empty. The service must not
/// run on `from` meanwhile (what it wrote after a page was read would not be copied).
pub async fn copy(from: Arc<dyn Store>, to: Arc<dyn Store>) -> anyhow::Result<Copied> {
    if !is_empty(&*to).await? {
        bail!(
            "the destination database is not empty; migrate-store only copies into a fresh database \
             (drop and recreate it, then run again)"
        );
    }
    let mut copied = Copied::default();
    let mut cursor = String::new();
    loop {
        let page = from.users_after(&cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor.clone_from(&last.id);
        for user in page {
            let id = user.id.clone();
            to.create_user(user)
                .await
                .with_context(|| format!("copying user {id}"))?;
            copied.users += 1;
        }
    }
    for key in from.all_keys().await? {
        let what = format!("copying signing key {} of {}", key.kid, key.env);
        to.insert_key(key).await.context(what)?;
        copied.keys += 1;
    }
    for introspector in from.all_introspectors().await? {
        let what = format!(
            "copying introspector {} of {}",
            introspector.name, introspector.env
        );
        to.add_introspector(introspector).await.context(what)?;
        copied.introspectors += 1;
    }
    let mut cursor = i64::MIN;
    loop {
        let page = from.sessions_after(cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        let mut writes = JoinSet::new();
        for session in page {
            if writes.len() >= IN_FLIGHT {
                copied.sessions += joined(writes.join_next().await)?;
            }
            let to = Arc::clone(&to);
            writes.spawn(async move {
                let id = session.id;
                to.import_session(session)
                    .await
                    .with_context(|| format!("copying session {id}"))
            });
        }
        while let Some(r) = writes.join_next().await {
            copied.sessions += joined(Some(r))?;
        }
    }
    let source = count(&*from).await?;
    let destination = count(&*to).await?;
    if source != copied || destination != copied {
        bail!(
            "counts differ after copying: source {source:?}, copied {copied:?}, destination {destination:?} \
             (was the service running on the source?)"
        );
    }
    Ok(copied)
}

fn joined(r: Option<Result<anyhow::Result<()>, tokio::task::JoinError>>) -> anyhow::Result<u64> {
    match r {
        Some(Ok(Ok(()))) => Ok(1),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => bail!("a copy task failed: {e}"),
        None => Ok(0),
    }
}

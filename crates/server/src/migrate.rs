//! `wirecash-auth migrate-store`: copies an installation from one database to another,
//! row for row.

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

/// The tables, in the order they are copied.
pub const TABLES: [&str; 4] = ["users", "signing keys", "introspectors", "sessions"];

impl Copied {
    /// The count of one of `TABLES`.
    pub fn get(&self, table: &str) -> u64 {
        match table {
            "users" => self.users,
            "signing keys" => self.keys,
            "introspectors" => self.introspectors,
            "sessions" => self.sessions,
            _ => 0,
        }
    }
}

/// Where the copy reports how far it is.
pub trait Progress {
    /// Copying `total` rows of `table` starts.
    fn start(&mut self, table: &'static str, total: u64);
    /// `n` more rows of it are copied.
    fn advance(&mut self, n: u64);
    /// The table is done.
    fn finish(&mut self);
}

/// The counts of the copy, checked against both databases afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Rows in the source when the copy ended.
    pub source: Copied,
    /// Rows copied.
    pub copied: Copied,
    /// Rows in the destination when the copy ended.
    pub destination: Copied,
}

async fn is_empty(store: &dyn Store) -> anyhow::Result<bool> {
    Ok(store.users_after("", 1).await?.is_empty()
        && store.all_keys().await?.is_empty()
        && store.sessions_after(i64::MIN, 1).await?.is_empty()
        && store.all_introspectors().await?.is_empty())
}

/// Counts the rows of every table (paging through users and sessions).
pub async fn count(store: &dyn Store) -> anyhow::Result<Copied> {
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

/// `wirecash-auth migrate-store`: copies users, signing keys and sessions from one
/// database to another (SQLite to PostgreSQL, or back), row for row, so that every token
/// issued on the old database keeps working on the new one (with the same master key).
/// The copy reports its progress table by table through `Progress`, and ends with the
/// counts of source, copy and destination, which must agree.
///
/// Copies everything from `from` into `to`, which must be empty. The service must not
/// run on `from` meanwhile (what it wrote after a page was read would not be copied).
pub async fn copy(
    from: Arc<dyn Store>,
    to: Arc<dyn Store>,
    progress: &mut dyn Progress,
) -> anyhow::Result<Verified> {
    if !is_empty(&*to).await? {
        bail!(
            "the destination database is not empty; migrate-store only copies into a fresh database \
             (drop and recreate it, then run again)"
        );
    }
    let total = count(&*from).await?;
    let mut copied = Copied::default();
    progress.start("users", total.users);
    let mut cursor = String::new();
    loop {
        let page = from.users_after(&cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor.clone_from(&last.id);
        let n = page.len() as u64;
        for user in page {
            let id = user.id.clone();
            to.create_user(user, None)
                .await
                .with_context(|| format!("copying user {id}"))?;
        }
        copied.users += n;
        progress.advance(n);
    }
    progress.finish();
    progress.start("signing keys", total.keys);
    for key in from.all_keys().await? {
        let what = format!("copying signing key {} of {}", key.kid, key.env);
        to.insert_key(key, None).await.context(what)?;
        copied.keys += 1;
        progress.advance(1);
    }
    progress.finish();
    progress.start("introspectors", total.introspectors);
    for introspector in from.all_introspectors().await? {
        let what = format!(
            "copying introspector {} of {}",
            introspector.name, introspector.env
        );
        to.add_introspector(introspector).await.context(what)?;
        copied.introspectors += 1;
        progress.advance(1);
    }
    progress.finish();
    progress.start("sessions", total.sessions);
    let mut cursor = i64::MIN;
    loop {
        let page = from.sessions_after(cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        let before = copied.sessions;
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
        progress.advance(copied.sessions - before);
    }
    progress.finish();
    let verified = Verified {
        source: count(&*from).await?,
        copied,
        destination: count(&*to).await?,
    };
    if verified.source != copied || verified.destination != copied {
        let lines: Vec<String> = TABLES
            .iter()
            .map(|t| {
                format!(
                    "{t}: source {}, copied {}, destination {}",
                    verified.source.get(t),
                    copied.get(t),
                    verified.destination.get(t)
                )
            })
            .collect();
        bail!(
            "counts differ after copying ({}); was the service running on the source?",
            lines.join("; ")
        );
    }
    Ok(verified)
}

fn joined(r: Option<Result<anyhow::Result<()>, tokio::task::JoinError>>) -> anyhow::Result<u64> {
    match r {
        Some(Ok(Ok(()))) => Ok(1),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => bail!("a copy task failed: {e}"),
        None => Ok(0),
    }
}

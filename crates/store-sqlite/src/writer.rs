//! The writer thread and its group commit.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use wirecash_core::StoreError;

/// Called after the transaction ended: `None` if it committed, else why not.
type Reply = Box<dyn FnOnce(Option<String>) + Send>;
/// A unit of work: runs inside the open transaction; says whether it succeeded (else
/// its changes are rolled back to its savepoint) and how to answer once committed.
pub type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, rx))?;
        Ok(Self { tx })
    }

    /// Whether the writer thread is still taking work (for readiness checks).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Runs `f` in the writer's next transaction and answers once it is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit_error| {
                let _ = done.send(match commit_error {
                    None => result,
                    Some(e) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
                });
            });
            (ok, reply)
        });
        let stopped =
            || StoreError::Unavailable("the SQLite writer could not run the write".into());
        self.tx.send(job).await.map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

fn serve(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch);
    }
}

/// Runs one transaction-control statement, prepared once per connection: parsing it
/// anew for every job and every commit showed up in the writer's profile.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "SQLite BEGIN failed");
        // Never run a job outside a transaction. Dropping a job drops its reply
        // channel, so its caller gets `Unavailable`.
        batch.clear();
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    let mut aborted = None;
    for job in batch.drain(..) {
        // Some errors (I/O, disk full) make SQLite roll the whole transaction back; a
        // job run after that would commit on its own. Drop the rest instead: their
        // callers get `Unavailable`.
        if aborted.is_some() || run(conn, "SAVEPOINT job").is_err() {
            continue;
        }
        // A panicking job (a bug: none of ours unwraps) must not take the writer, and
        // with it every future write, down: treat it like a lost transaction.
        let Ok((ok, reply)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)))
        else {
            tracing::error!("a write job panicked; rolling back its transaction");
            aborted = Some("a write job failed".to_string());
            continue;
        };
        let end = if ok {
            run(conn, "RELEASE job")
        } else {
            run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job"))
        };
        if conn.is_autocommit() {
            aborted = Some("the transaction was rolled back by SQLite".to_string());
        }
        replies.push((reply, end.err().map(|e| e.to_string())));
    }
    let commit_error = match aborted {
        Some(e) => Some(e),
        None => run(conn, "COMMIT").err().map(|e| e.to_string()),
    };
    if let Some(e) = &commit_error {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "SQLite transaction rolled back; its writes are refused");
    }
    for (reply, job_error) in replies {
        reply(commit_error.clone().or(job_error));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let writer = Writer::start(conn).unwrap();
        let mut tasks = Vec::new();
        for i in 0..50i64 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.write(move |c| {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [i])
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    if i % 5 == 0 {
                        // Wrote, then failed: the insert must not survive.
                        return Err(StoreError::Conflict("odd one out".into()));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(ok, 40);
        let rows: i64 = writer
            .write(|c| {
                c.query_row("SELECT count(*) FROM t WHERE v % 5 != 0", [], |r| r.get(0))
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .await
            .unwrap();
        let failed: i64 = writer
            .write(|c| {
                c.query_row("SELECT count(*) FROM t WHERE v % 5 = 0", [], |r| r.get(0))
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .await
            .unwrap();
        assert_eq!((rows, failed), (40, 0));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_batch_and_the_writer_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("p.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let writer = Writer::start(conn).unwrap();
        let bad = writer
            .write(|_c| -> Result<(), StoreError> { panic!("a bug in a job") })
            .await;
        assert!(matches!(bad, Err(StoreError::Unavailable(_))), "{bad:?}");
        assert!(writer.is_running());
        let n = writer
            .write(|c| {
                c.execute("INSERT INTO t (v) VALUES (1)", [])
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}

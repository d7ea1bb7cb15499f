//! The writer thread and its group commit.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use wirecash_core::StoreError;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

/// A unit of work for the writer: one allocation per write, run inside the open
/// transaction and answered once it has ended.
trait Work: Send {
    /// Whether the job makes at most one change statement. SQLite undoes a failed
    /// statement by itself, so such a job needs no savepoint of its own (two statements
    /// and a statement journal less per job).
    fn single_statement(&self) -> bool;
    /// Runs inside the transaction; whether it succeeded (if not, its changes are
    /// rolled back to its savepoint).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: `None` if the transaction committed, else why not.
    fn answer(self: Box<Self>, error: Option<String>);
}

/// A write waiting for its turn, then for its answer.
struct Pending<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    done: oneshot::Sender<Result<T, StoreError>>,
    single: bool,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn single_statement(&self) -> bool {
        self.single
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = f(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, error: Option<String>) {
        let answer = match (error, self.result) {
            (None, Some(result)) => result,
            (Some(e), _) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
            (None, None) => Err(StoreError::Unavailable(
                "the SQLite writer could not run the write".into(),
            )),
        };
        let _ = self.done.send(answer);
    }
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Work>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn Work>>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, rx))?;
        Ok(Self { tx })
    }

    /// Whether the writer thread is still taking work (for readiness checks).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Runs `f` in the writer's next transaction and answers once it is durable. If `f`
    /// fails, whatever it changed is rolled back and the rest of the batch commits.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// [`Writer::write`] for an `f` that makes at most one change statement and fails
    /// only if that statement does (SQLite rolls a failed statement back by itself), so
    /// that it runs without a savepoint of its own: the refresh hot path.
    pub async fn write_one_statement<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<T, F>(&self, f: F, single: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        let job: Box<dyn Work> = Box::new(Pending {
            f: Some(f),
            result: None,
            done,
            single,
        });
        let stopped =
            || StoreError::Unavailable("the SQLite writer could not run the write".into());
        self.tx.send(job).await.map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

fn serve(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Work>>) {
    let mut batch: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_BATCH);
    let mut ran: Vec<(Box<dyn Work>, Option<String>)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch, &mut ran);
    }
}

/// Runs one transaction-control statement, prepared once per connection: parsing it
/// anew for every job and every commit showed up in the writer's profile.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn commit_batch(
    conn: &Connection,
    batch: &mut Vec<Box<dyn Work>>,
    ran: &mut Vec<(Box<dyn Work>, Option<String>)>,
) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "SQLite BEGIN failed");
        // Never run a job outside a transaction. Dropping a job drops its reply
        // channel, so its caller gets `Unavailable`.
        batch.clear();
        return;
    }
    let mut aborted = None;
    for mut job in batch.drain(..) {
        // Some errors (I/O, disk full) make SQLite roll the whole transaction back; a
        // job run after that would commit on its own. Drop the rest instead: their
        // callers get `Unavailable`.
        if aborted.is_some() {
            continue;
        }
        let savepoint = !job.single_statement();
        if savepoint && run(conn, "SAVEPOINT job").is_err() {
            continue;
        }
        // A panicking job (a bug: none of ours unwraps) must not take the writer, and
        // with it every future write, down: treat it like a lost transaction.
        let Ok(ok) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)))
        else {
            tracing::error!("a write job panicked; rolling back its transaction");
            aborted = Some("a write job failed".to_string());
            continue;
        };
        let end = match (savepoint, ok) {
            (false, _) => Ok(()),
            (true, true) => run(conn, "RELEASE job"),
            (true, false) => run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job")),
        };
        if conn.is_autocommit() {
            aborted = Some("the transaction was rolled back by SQLite".to_string());
        }
        ran.push((job, end.err().map(|e| e.to_string())));
    }
    let commit_error = match aborted {
        Some(e) => Some(e),
        None => run(conn, "COMMIT").err().map(|e| e.to_string()),
    };
    if let Some(e) = &commit_error {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "SQLite transaction rolled back; its writes are refused");
    }
    for (job, job_error) in ran.drain(..) {
        job.answer(commit_error.clone().or(job_error));
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
    async fn a_failed_single_statement_leaves_nothing_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("s.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE); INSERT INTO t (v) VALUES (-1)")
            .unwrap();
        let writer = Writer::start(conn).unwrap();
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                w.write_one_statement(move |c| {
                    // Every fourth statement inserts three rows, the last of which
                    // collides with the row that was there first: SQLite must undo the
                    // other two by itself, with no savepoint around the job.
                    let sql = if i % 4 == 0 {
                        format!(
                            "INSERT INTO t (v) VALUES ({}), ({}), (-1)",
                            1000 + i,
                            2000 + i
                        )
                    } else {
                        format!("INSERT INTO t (v) VALUES ({i})")
                    };
                    c.execute(&sql, [])
                        .map_err(|e| StoreError::Conflict(e.to_string()))
                })
                .await
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let rows: Vec<i64> = writer
            .write(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v").unwrap();
                let v = s
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                Ok(v)
            })
            .await
            .unwrap();
        // Each multi-row insert failed whole: none of its rows survived, and every
        // other job of the batch committed.
        for (i, result) in results.iter().enumerate() {
            let i = i as i64;
            if i % 4 == 0 {
                assert!(
                    matches!(result, Err(StoreError::Conflict(_))),
                    "{i}: {result:?}"
                );
                assert!(
                    !rows.contains(&(1000 + i)) && !rows.contains(&(2000 + i)),
                    "{i}"
                );
            } else {
                assert_eq!(result.as_ref().ok(), Some(&1), "{i}");
                assert!(rows.contains(&i), "{i}");
            }
        }
        assert_eq!(rows.len(), 31);
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

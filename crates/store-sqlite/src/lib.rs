//! SQLite storage for wirecash-auth: [`SqliteStore`], one writer thread with group
//! commit and a pool of read-only connections.

mod file;
mod readers;
mod schema;
mod store;
mod writer;

/// One writer thread owns the only writing connection and commits in groups: every write
/// that arrives while a commit is in progress joins the next transaction, so many
/// concurrent refreshes share one fsync. A write is answered only after its transaction
/// is durably committed (WAL, `synchronous=FULL`). Reads run on a small pool of
/// read-only connections; WAL lets them proceed while the writer commits.
///
pub use store::SqliteStore;

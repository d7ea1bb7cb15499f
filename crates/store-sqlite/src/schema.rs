//! Connection settings and the schema migrations, applied in order on start under an
//! exclusive write lock (so a CLI and a server starting together cannot both migrate).

use rusqlite::Connection;

/// Every migration, in order; `PRAGMA user_version` counts how many were applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    env           TEXT NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    UNIQUE (env, username)
);
CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    env                 TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER NOT NULL,
    generation          INTEGER NOT NULL,
    current_hash        BLOB NOT NULL,
    current_access_hash BLOB NOT NULL,
    prev_hash           BLOB,
    prev_access_hash    BLOB,
    rotated_at          INTEGER NOT NULL,
    access_token_sealed BLOB NOT NULL,
    access_expires_at   INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoked_reason      TEXT
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE signing_keys (
    env                TEXT NOT NULL,
    kid                TEXT NOT NULL,
    alg                TEXT NOT NULL,
    private_key_sealed BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    activates_at       INTEGER NOT NULL,
    PRIMARY KEY (env, kid)
);
"#,
    r#"
CREATE TABLE login_failures (
    key             BLOB PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE introspectors (
    env         TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (env, name)
) WITHOUT ROWID;
"#,
    // Login-path races and limits (SPEC §2, §10): the epoch a session insert re-checks,
    // the kind of a session, and reserved attempts and known addresses in the counters.
    r#"
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'refresh';
DROP INDEX sessions_by_user;
CREATE INDEX sessions_by_user ON sessions(user_id, kind);
ALTER TABLE login_failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN reserved_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN succeeded_at INTEGER NOT NULL DEFAULT 0;
"#,
    // The operator plane (SPEC §11, §12): where a session's login came from, the event
    // log, admin keys and the admin API's idempotency records.
    r#"
ALTER TABLE sessions ADD COLUMN client_addr TEXT;
CREATE TABLE events (
    id       TEXT PRIMARY KEY NOT NULL,
    env      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    username TEXT,
    data     TEXT NOT NULL
);
CREATE INDEX events_newest ON events(env, at DESC, id DESC);
CREATE INDEX events_by_time ON events(at);
CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    key_hash   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE TABLE idempotency_keys (
    owner        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    status       INTEGER,
    body         BLOB,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_time ON idempotency_keys(created_at);
"#,
    // Planned credential rotation: the previous password and the end of its overlap.
    r#"
ALTER TABLE users ADD COLUMN prev_password_hash TEXT;
ALTER TABLE users ADD COLUMN prev_password_until INTEGER;
"#,
    // Webhooks (SPEC §12): subscriptions, and deliveries made from the event log. Events
    // from before are not sent (they are marked dispatched).
    r#"
ALTER TABLE events ADD COLUMN dispatched INTEGER NOT NULL DEFAULT 0;
UPDATE events SET dispatched = 1;
CREATE INDEX events_undispatched ON events(at) WHERE dispatched = 0;
CREATE TABLE webhooks (
    id                 TEXT PRIMARY KEY NOT NULL,
    url                TEXT NOT NULL,
    event_types        TEXT NOT NULL,
    secret_sealed      BLOB NOT NULL,
    prev_secret_sealed BLOB,
    prev_secret_until  INTEGER,
    paused             INTEGER NOT NULL DEFAULT 0,
    source             TEXT NOT NULL,
    created_at         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    PRIMARY KEY (webhook_id, event_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_event ON webhook_deliveries(event_id);
CREATE INDEX deliveries_newest ON webhook_deliveries(webhook_id, created_at DESC, event_id DESC);
"#,
];

/// Settings every connection gets. `synchronous=FULL` in WAL mode fsyncs the log on
/// every commit: a 200 means the token is on stable storage.
pub fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The bundled SQLite is built with STAT4, whose planner looks at bound values and
    // so re-prepares a cached statement on every new binding: that cost 28 % of the
    // server's CPU on the refresh path (docs/benchmarks.md). Our queries are primary-key
    // lookups whose plan never depends on the value: keep the plan stable.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(())
}

/// Applies the migrations that are missing.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {applied} is newer than this binary knows ({}); upgrade wirecash-auth",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tracing::info!(version = i + 1, "applied SQLite schema migration");
    }
    tx.commit()
}

//! Schema migrations, applied in order on start inside one transaction that holds a
//! transaction-scoped advisory lock: nodes starting together on an empty database queue
//! behind the first, which migrates, and then find nothing left to do.

use deadpool_postgres::Client;
use tokio_postgres::error::SqlState;

/// Key of the advisory lock that serialises migrations (`wirecash` in ASCII).
const MIGRATION_LOCK: i64 = 0x7769_7265_6361_7368;

/// Every migration, in order; `wirecash_schema.version` counts how many were applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    env           TEXT NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    UNIQUE (env, username)
);
CREATE TABLE sessions (
    id                  BIGINT PRIMARY KEY,
    env                 TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    generation          BIGINT NOT NULL,
    current_hash        BYTEA NOT NULL,
    current_access_hash BYTEA NOT NULL,
    prev_hash           BYTEA,
    prev_access_hash    BYTEA,
    rotated_at          BIGINT NOT NULL,
    access_token_sealed BYTEA NOT NULL,
    access_expires_at   BIGINT NOT NULL,
    revoked_at          BIGINT,
    revoked_reason      TEXT
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE signing_keys (
    env                TEXT NOT NULL,
    kid                TEXT NOT NULL,
    alg                TEXT NOT NULL,
    private_key_sealed BYTEA NOT NULL,
    created_at         BIGINT NOT NULL,
    activates_at       BIGINT NOT NULL,
    PRIMARY KEY (env, kid)
);
"#,
    r#"
CREATE TABLE login_failures (
    key             BYTEA PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0
);
"#,
    r#"
CREATE TABLE introspectors (
    env         TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (env, name)
);
"#,
    // Login-path races and limits (SPEC §2, §10): the epoch a session insert re-checks,
    // the kind of a session, and reserved attempts and known addresses in the counters.
    r#"
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'refresh';
DROP INDEX sessions_by_user;
CREATE INDEX sessions_by_user ON sessions(user_id, kind);
ALTER TABLE login_failures
    ADD COLUMN pending INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN reserved_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN succeeded_at BIGINT NOT NULL DEFAULT 0;
"#,
    // The operator plane (SPEC §11, §12): where a session's login came from, the event
    // log, admin keys and the admin API's idempotency records. Event ids are compared and
    // ordered byte-wise (COLLATE "C", as in SQLite), so the index orders them so too.
    r#"
ALTER TABLE sessions ADD COLUMN client_addr TEXT;
CREATE TABLE events (
    id       TEXT PRIMARY KEY,
    env      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    username TEXT,
    data     TEXT NOT NULL
);
CREATE INDEX events_newest ON events(env, at DESC, id COLLATE "C" DESC);
CREATE INDEX events_by_time ON events(at);
CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    key_hash   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE idempotency_keys (
    owner        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    status       INTEGER,
    body         BYTEA,
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_by_time ON idempotency_keys(created_at);
"#,
    // Planned credential rotation: the previous password and the end of its overlap.
    r#"
ALTER TABLE users ADD COLUMN prev_password_hash TEXT;
ALTER TABLE users ADD COLUMN prev_password_until BIGINT;
"#,
    // Webhooks (SPEC §12): subscriptions, and deliveries made from the event log. Events
    // from before are not sent (they are marked dispatched).
    r#"
ALTER TABLE events ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE events ALTER COLUMN dispatched SET DEFAULT false;
CREATE INDEX events_undispatched ON events(at) WHERE NOT dispatched;
CREATE TABLE webhooks (
    id                 TEXT PRIMARY KEY,
    url                TEXT NOT NULL,
    event_types        TEXT NOT NULL,
    secret_sealed      BYTEA NOT NULL,
    prev_secret_sealed BYTEA,
    prev_secret_until  BIGINT,
    paused             BOOLEAN NOT NULL DEFAULT false,
    source             TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_event ON webhook_deliveries(event_id);
CREATE INDEX deliveries_newest ON webhook_deliveries(webhook_id, created_at DESC, event_id COLLATE "C" DESC);
"#,
];

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database said no.
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// The schema is from a newer binary.
    #[error(
        "database schema version {found} is newer than this binary knows ({known}); upgrade wirecash-auth"
    )]
    TooNew {
        /// Applied version.
        found: i64,
        /// Versions this binary has.
        known: usize,
    },
}

/// Applies the migrations that are missing.
pub async fn migrate(client: &mut Client) -> Result<(), MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Not a NOTICE in every start's log when the table exists.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS wirecash_schema (version BIGINT NOT NULL)")
        .await?;
    let applied: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM wirecash_schema", &[])
        .await?
        .try_get(0)?;
    let known = MIGRATIONS.len();
    let start = usize::try_from(applied).unwrap_or(usize::MAX);
    if start > known {
        return Err(MigrateError::TooNew {
            found: applied,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.batch_execute(sql).await?;
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO wirecash_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, "applied PostgreSQL schema migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Whether an error says the database is (temporarily) out of reach rather than that the
/// statement was wrong.
pub fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection broke, timed out or was never made.
        return true;
    };
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57" | "58")
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
}

//! Rows into records, the column lists shared by several traits, and what can go wrong
//! inside one operation.

use tokio_postgres::Row;
use wirecash_core::store::{
    GuardCounter, IntrospectorRecord, KeyRecord, SessionKind, SessionRecord, UserRecord,
};

/// What can go wrong inside one operation.
#[derive(Debug)]
pub(super) enum Fail {
    Db(tokio_postgres::Error),
    /// A stored value that does not fit its record (a damaged row).
    Data(String),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

pub(super) fn to_hash(v: Vec<u8>, column: usize) -> Result<[u8; 32], Fail> {
    v.try_into()
        .map_err(|_| Fail::Data(format!("column {column}: hash is not 32 bytes")))
}

pub(super) fn hash32(row: &Row, idx: usize) -> Result<[u8; 32], Fail> {
    to_hash(row.try_get(idx)?, idx)
}

pub(super) fn opt_hash32(row: &Row, idx: usize) -> Result<Option<[u8; 32]>, Fail> {
    let v: Option<Vec<u8>> = row.try_get(idx)?;
    v.map(|v| to_hash(v, idx)).transpose()
}

pub(super) const USER_COLUMNS: &str =
    "id, env, username, password_hash, disabled, created_at, session_epoch, prev_password_hash,
    prev_password_until";

pub(super) fn user_from_row(r: &Row) -> Result<UserRecord, Fail> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        env: r.try_get(1)?,
        username: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
        session_epoch: r.try_get(6)?,
        previous_password: {
            let hash: Option<String> = r.try_get(7)?;
            let until: Option<i64> = r.try_get(8)?;
            hash.zip(until)
        },
    })
}

pub(super) fn kind_from_row(r: &Row, idx: usize) -> Result<SessionKind, Fail> {
    let name: String = r.try_get(idx)?;
    SessionKind::parse(&name)
        .ok_or_else(|| Fail::Data(format!("column {idx}: unknown session kind {name:?}")))
}

pub(super) fn session_from_row(r: &Row) -> Result<SessionRecord, Fail> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        env: r.try_get(1)?,
        user_id: r.try_get(2)?,
        username: r.try_get(3)?,
        user_disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
        generation: r.try_get(7)?,
        current_hash: hash32(r, 8)?,
        current_access_hash: hash32(r, 9)?,
        prev_hash: opt_hash32(r, 10)?,
        prev_access_hash: opt_hash32(r, 11)?,
        rotated_at: r.try_get(12)?,
        access_token_sealed: r.try_get(13)?,
        access_expires_at: r.try_get(14)?,
        revoked_at: r.try_get(15)?,
        revoked_reason: r.try_get(16)?,
        kind: kind_from_row(r, 17)?,
    })
}

pub(super) fn key_from_row(r: &Row) -> Result<KeyRecord, Fail> {
    Ok(KeyRecord {
        env: r.try_get(0)?,
        kid: r.try_get(1)?,
        alg: r.try_get(2)?,
        private_key_sealed: r.try_get(3)?,
        created_at: r.try_get(4)?,
        activates_at: r.try_get(5)?,
    })
}

pub(super) const SESSION_COLUMNS: &str =
    "s.id, s.env, s.user_id, u.username, u.disabled, s.created_at, s.last_used_at,
    s.generation, s.current_hash, s.current_access_hash, s.prev_hash, s.prev_access_hash,
    s.rotated_at, s.access_token_sealed, s.access_expires_at, s.revoked_at, s.revoked_reason,
    s.kind";

pub(super) fn guard_from_row(r: &Row) -> Result<GuardCounter, Fail> {
    let count = |idx: usize| -> Result<u32, Fail> {
        let v: i32 = r.try_get(idx)?;
        u32::try_from(v).map_err(|_| Fail::Data(format!("column {idx}: negative count")))
    };
    Ok(GuardCounter {
        failures: count(1)?,
        last_failure_at: r.try_get(2)?,
        locked_until: r.try_get(3)?,
        pending: count(4)?,
        reserved_at: r.try_get(5)?,
        succeeded_at: r.try_get(6)?,
    })
}

pub(super) fn introspector_from_row(r: &Row) -> Result<IntrospectorRecord, Fail> {
    Ok(IntrospectorRecord {
        env: r.try_get(0)?,
        name: r.try_get(1)?,
        secret_hash: hash32(r, 2)?,
        created_at: r.try_get(3)?,
    })
}

//! Rows into records, and the column lists the reads of several traits share.

use rusqlite::Row;
use wirecash_core::store::{IntrospectorRecord, KeyRecord, SessionKind, SessionRecord, UserRecord};

pub(super) fn hash32(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = row.get(idx)?;
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "hash is not 32 bytes".into(),
        )
    })
}

pub(super) fn opt_hash32(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<[u8; 32]>> {
    let v: Option<Vec<u8>> = row.get(idx)?;
    v.map(|v| {
        v.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Blob,
                "hash is not 32 bytes".into(),
            )
        })
    })
    .transpose()
}

pub(super) fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        env: r.get(1)?,
        username: r.get(2)?,
        password_hash: r.get(3)?,
        disabled: r.get(4)?,
        created_at: r.get(5)?,
        session_epoch: r.get(6)?,
        previous_password: {
            let hash: Option<String> = r.get(7)?;
            let until: Option<i64> = r.get(8)?;
            hash.zip(until)
        },
    })
}

pub(super) const USER_COLUMNS: &str =
    "id, env, username, password_hash, disabled, created_at, session_epoch, prev_password_hash,
    prev_password_until";

pub(super) fn kind_from_row(r: &Row<'_>, idx: usize) -> rusqlite::Result<SessionKind> {
    let name: String = r.get(idx)?;
    SessionKind::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown session kind {name:?}").into(),
        )
    })
}

pub(super) fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.get(0)?,
        env: r.get(1)?,
        user_id: r.get(2)?,
        username: r.get(3)?,
        user_disabled: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        generation: r.get(7)?,
        current_hash: hash32(r, 8)?,
        current_access_hash: hash32(r, 9)?,
        prev_hash: opt_hash32(r, 10)?,
        prev_access_hash: opt_hash32(r, 11)?,
        rotated_at: r.get(12)?,
        access_token_sealed: r.get(13)?,
        access_expires_at: r.get(14)?,
        revoked_at: r.get(15)?,
        revoked_reason: r.get(16)?,
        kind: kind_from_row(r, 17)?,
    })
}

pub(super) fn key_from_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        env: r.get(0)?,
        kid: r.get(1)?,
        alg: r.get(2)?,
        private_key_sealed: r.get(3)?,
        created_at: r.get(4)?,
        activates_at: r.get(5)?,
    })
}

pub(super) const SESSION_COLUMNS: &str =
    "s.id, s.env, s.user_id, u.username, u.disabled, s.created_at, s.last_used_at,
    s.generation, s.current_hash, s.current_access_hash, s.prev_hash, s.prev_access_hash,
    s.rotated_at, s.access_token_sealed, s.access_expires_at, s.revoked_at, s.revoked_reason,
    s.kind";

pub(super) fn introspector_from_row(row: &Row<'_>) -> rusqlite::Result<IntrospectorRecord> {
    Ok(IntrospectorRecord {
        env: row.get(0)?,
        name: row.get(1)?,
        secret_hash: hash32(row, 2)?,
        created_at: row.get(3)?,
    })
}

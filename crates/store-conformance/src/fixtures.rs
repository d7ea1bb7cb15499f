//! Record builders and small assertions shared by the checks. Every value is spelled out
//! (small integer timestamps, `[n; 32]` hashes) so a failure message is easy to read.

use anyhow::{Context, ensure};
use wirecash_core::StoreError;
use wirecash_core::crypto::HASH_LEN;
use wirecash_core::store::{NewSession, Rotation, SessionKind, SessionRecord, Store, UserRecord};

/// Large enough that no check trips the per-user session limit by accident.
pub const NO_LIMIT: u32 = 10_000;

/// A hash made of one repeated byte.
pub fn hash(n: u8) -> [u8; HASH_LEN] {
    [n; HASH_LEN]
}

/// A user whose id is derived from its environment and name.
pub fn user(env: &str, username: &str) -> UserRecord {
    UserRecord {
        id: user_id(env, username),
        env: env.to_string(),
        username: username.to_string(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${username}"),
        disabled: false,
        created_at: 1,
        session_epoch: 0,
        previous_password: None,
    }
}

/// The id `user(env, username)` gets.
pub fn user_id(env: &str, username: &str) -> String {
    format!("{env}-{username}-id")
}

/// Creates `user(env, username)` and returns it.
pub async fn add_user(store: &dyn Store, env: &str, username: &str) -> anyhow::Result<UserRecord> {
    let u = user(env, username);
    store
        .create_user(u.clone(), None)
        .await
        .with_context(|| format!("create_user({env}, {username})"))?;
    Ok(u)
}

/// A generation-0 session; its hashes are `[seed; 32]` and `[seed + 1; 32]`.
pub fn new_session(id: i64, user: &UserRecord, created_at: i64, seed: u8) -> NewSession {
    NewSession {
        id,
        env: user.env.clone(),
        kind: SessionKind::Refresh,
        user_id: user.id.clone(),
        user_epoch: user.session_epoch,
        created_at,
        current_hash: hash(seed),
        current_access_hash: hash(seed.wrapping_add(1)),
        access_token_sealed: vec![seed, 0xA5, seed.wrapping_add(2)],
        access_expires_at: created_at + 300,
        client_addr: None,
    }
}

/// Creates `new_session(id, user, created_at, seed)` with no practical session limit.
pub async fn add_session(
    store: &dyn Store,
    id: i64,
    user: &UserRecord,
    created_at: i64,
    seed: u8,
) -> anyhow::Result<NewSession> {
    let s = new_session(id, user, created_at, seed);
    store
        .create_session(s.clone(), NO_LIMIT, None)
        .await
        .with_context(|| format!("create_session({id})"))?;
    Ok(s)
}

/// The rotation a service would decide on after reading `current`: the next generation,
/// new hashes `[seed; 32]` / `[seed + 1; 32]`, issued at `at`.
pub fn rotation_after(current: &SessionRecord, seed: u8, at: i64) -> Rotation {
    Rotation {
        session_id: current.id,
        env: current.env.clone(),
        expected_generation: current.generation,
        expected_hash: current.current_hash,
        generation: current.generation + 1,
        current_hash: hash(seed),
        current_access_hash: hash(seed.wrapping_add(1)),
        prev_hash: current.current_hash,
        prev_access_hash: current.current_access_hash,
        rotated_at: at,
        access_token_sealed: vec![seed, 0x5A, seed.wrapping_add(2)],
        access_expires_at: at + 300,
    }
}

/// Loads a session that must exist.
pub async fn load(store: &dyn Store, env: &str, id: i64) -> anyhow::Result<SessionRecord> {
    store
        .load_session(env, id)
        .await
        .with_context(|| format!("load_session({env}, {id})"))?
        .with_context(|| format!("session {id} in {env} should exist"))
}

/// Rotates a session once from its current state (so its `last_used_at` becomes `at`).
pub async fn touch(store: &dyn Store, env: &str, id: i64, seed: u8, at: i64) -> anyhow::Result<()> {
    let current = load(store, env, id).await?;
    let applied = store.rotate(rotation_after(&current, seed, at)).await?;
    ensure!(
        applied,
        "rotating session {id} from its current state should apply"
    );
    Ok(())
}

/// Checks that a session is gone.
pub async fn ensure_absent(store: &dyn Store, env: &str, id: i64) -> anyhow::Result<()> {
    let found = store.load_session(env, id).await?;
    ensure!(
        found.is_none(),
        "session {id} should be gone, found {found:?}"
    );
    Ok(())
}

/// Checks that a result is `Err(StoreError::Conflict(_))`.
pub fn ensure_conflict<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, StoreError>,
) -> anyhow::Result<()> {
    ensure!(
        matches!(r, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {r:?}"
    );
    Ok(())
}

/// Checks that a result is `Err(StoreError::NotFound)`.
pub fn ensure_not_found<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, StoreError>,
) -> anyhow::Result<()> {
    ensure!(
        matches!(r, Err(StoreError::NotFound)),
        "{what}: expected NotFound, got {r:?}"
    );
    Ok(())
}

//! `SessionStore` behaviour apart from rotation and purge: the stored record, id
//! uniqueness, environment scoping, revocation and the per-user limit of live sessions.

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::store::{SessionKind, SessionRecord, Store};

use crate::fixtures::{
    add_session, add_user, ensure_absent, ensure_conflict, load, new_session, touch,
};

/// A new session reads back field for field, joined with its user, at generation 0.
pub async fn create_then_load_session_round_trips_every_field(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let new = new_session(7, &alice, 1_000, 1);
    store.create_session(new.clone(), 5, None).await?;

    let want = SessionRecord {
        id: 7,
        env: "a".into(),
        kind: SessionKind::Refresh,
        user_id: alice.id.clone(),
        username: "alice".into(),
        user_disabled: false,
        created_at: 1_000,
        last_used_at: 1_000,
        generation: 0,
        current_hash: new.current_hash,
        current_access_hash: new.current_access_hash,
        prev_hash: None,
        prev_access_hash: None,
        rotated_at: 1_000,
        access_token_sealed: new.access_token_sealed.clone(),
        access_expires_at: new.access_expires_at,
        revoked_at: None,
        revoked_reason: None,
    };
    let got = load(&*store, "a", 7).await?;
    ensure!(got == want, "load_session = {got:?}\nwant {want:?}");
    Ok(())
}

/// A taken id is a `Conflict`, and the failed create changes nothing: in particular its
/// session-limit clean-up must not have run.
pub async fn create_session_with_taken_id_conflicts_and_changes_nothing(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    add_session(&*store, 2, &alice, 20, 3).await?;
    let before = load(&*store, "a", 1).await?;

    // Same id, another owner, and a limit that would end one of alice's sessions.
    let dup = new_session(1, &bob, 30, 9);
    ensure_conflict(
        "duplicate session id",
        store.create_session(dup, 1, None).await,
    )?;
    let after = load(&*store, "a", 1).await?;
    ensure!(
        after == before,
        "session 1 changed by a failed create: {after:?}"
    );
    load(&*store, "a", 2).await?;

    let dup = new_session(2, &alice, 30, 9);
    ensure_conflict(
        "duplicate session id, same owner",
        store.create_session(dup, 1, None).await,
    )?;
    load(&*store, "a", 1).await?;
    load(&*store, "a", 2).await?;
    Ok(())
}

/// Sessions are scoped to their environment; unknown ids are simply absent.
pub async fn load_session_in_another_env_finds_nothing(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    ensure_absent(&*store, "b", 1).await?;
    ensure_absent(&*store, "a", 2).await?;
    load(&*store, "a", 1).await?;
    Ok(())
}

/// `revoke_session` applies once; unknown ids and other environments report `false`.
pub async fn revoke_session_applies_once(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;

    let wrong_env = store.revoke_session("b", 1, 50, "admin", None).await?;
    ensure!(!wrong_env, "revoke_session in another env reported true");
    let unknown = store.revoke_session("a", 99, 50, "admin", None).await?;
    ensure!(!unknown, "revoke_session of an unknown id reported true");
    ensure!(
        load(&*store, "a", 1).await?.revoked_at.is_none(),
        "revoked from the wrong env"
    );

    ensure!(
        store.revoke_session("a", 1, 100, "admin", None).await?,
        "first revoke reported false"
    );
    let s = load(&*store, "a", 1).await?;
    ensure!(
        s.revoked_at == Some(100) && s.revoked_reason.as_deref() == Some("admin"),
        "after revoke: {s:?}"
    );
    ensure!(
        !store.revoke_session("a", 1, 200, "again", None).await?,
        "second revoke reported true"
    );
    let s = load(&*store, "a", 1).await?;
    ensure!(
        s.revoked_at == Some(100) && s.revoked_reason.as_deref() == Some("admin"),
        "a second revoke must not overwrite the first: {s:?}"
    );
    Ok(())
}

/// `revoke_user_sessions` counts the live sessions it ended and leaves others alone.
pub async fn revoke_user_sessions_counts_only_live_sessions(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    let alice_b = add_user(&*store, "b", "alice").await?;
    for (id, seed) in [(1, 1), (2, 3), (3, 5)] {
        add_session(&*store, id, &alice, id * 10, seed).await?;
    }
    add_session(&*store, 4, &bob, 40, 7).await?;
    add_session(&*store, 5, &alice_b, 50, 9).await?;
    ensure!(
        store.revoke_session("a", 3, 60, "earlier", None).await?,
        "revoke 3"
    );

    let n = store
        .revoke_user_sessions("a", "alice", 100, "admin", None)
        .await?;
    ensure!(
        n == 2,
        "revoke_user_sessions = {n}, want 2 (one was revoked already)"
    );
    for id in [1, 2] {
        let s = load(&*store, "a", id).await?;
        ensure!(
            s.revoked_at == Some(100) && s.revoked_reason.as_deref() == Some("admin"),
            "{s:?}"
        );
    }
    let s = load(&*store, "a", 3).await?;
    ensure!(
        s.revoked_at == Some(60) && s.revoked_reason.as_deref() == Some("earlier"),
        "{s:?}"
    );
    ensure!(
        load(&*store, "a", 4).await?.revoked_at.is_none(),
        "bob's session was revoked"
    );
    ensure!(
        load(&*store, "b", 5).await?.revoked_at.is_none(),
        "env b's alice was revoked"
    );

    let n = store
        .revoke_user_sessions("a", "alice", 200, "admin", None)
        .await?;
    ensure!(n == 0, "second revoke_user_sessions = {n}, want 0");
    let n = store
        .revoke_user_sessions("a", "nobody", 200, "admin", None)
        .await?;
    ensure!(
        n == 0,
        "revoke_user_sessions of an unknown user = {n}, want 0"
    );
    Ok(())
}

/// Beyond `max_live`, the user's least recently used live sessions (by `last_used_at`,
/// not by creation) are deleted; revoked sessions do not count and other users are
/// unaffected.
pub async fn create_session_beyond_max_live_deletes_least_recently_used(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    const MAX: u32 = 3;
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    add_session(&*store, 100, &bob, 5, 90).await?;
    for (id, at) in [(1, 10), (2, 20), (3, 30)] {
        store
            .create_session(new_session(id, &alice, at, 10 * id as u8), MAX, None)
            .await?;
    }
    // Session 1 is the oldest but was used last: it must outlive 2 and 3.
    touch(&*store, "a", 1, 11, 40).await?;
    store
        .create_session(new_session(4, &alice, 50, 40), MAX, None)
        .await?;
    ensure_absent(&*store, "a", 2).await?;
    store
        .create_session(new_session(5, &alice, 60, 50), MAX, None)
        .await?;
    ensure_absent(&*store, "a", 3).await?;
    for id in [1, 4, 5, 100] {
        load(&*store, "a", id).await?;
    }

    // A revoked session is not live: it neither counts nor gets deleted.
    ensure!(
        store.revoke_session("a", 4, 70, "admin", None).await?,
        "revoke 4"
    );
    store
        .create_session(new_session(6, &alice, 80, 60), MAX, None)
        .await?;
    for id in [1, 4, 5, 6, 100] {
        load(&*store, "a", id).await?;
    }
    let mut ids: Vec<i64> = store
        .list_sessions("a", Some("alice"), None, 100)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort_unstable();
    ensure!(ids == [1, 4, 5, 6], "alice's sessions = {ids:?}");

    // Bob at his own limit does not touch alice.
    store
        .create_session(new_session(101, &bob, 90, 91), 1, None)
        .await?;
    ensure_absent(&*store, "a", 100).await?;
    load(&*store, "a", 101).await?;
    ensure!(
        store
            .list_sessions("a", Some("alice"), None, 100)
            .await?
            .len()
            == 4,
        "alice lost a session"
    );
    Ok(())
}

/// `list_sessions` is newest first, per environment, optionally per user, capped by `limit`,
/// and shows revoked sessions with their revocation.
pub async fn list_sessions_filters_by_username_and_limit_newest_first(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    let carol = add_user(&*store, "b", "carol").await?;
    // Ids grow with creation time, as the service chooses them.
    for (id, owner) in [
        (10, &alice),
        (20, &bob),
        (30, &alice),
        (40, &bob),
        (50, &alice),
    ] {
        add_session(&*store, id, owner, id, id as u8).await?;
    }
    add_session(&*store, 60, &carol, 60, 60).await?;
    touch(&*store, "a", 30, 31, 70).await?;
    ensure!(
        store.revoke_session("a", 40, 80, "admin", None).await?,
        "revoke 40"
    );

    let ids =
        |v: &[wirecash_core::store::SessionSummary]| v.iter().map(|s| s.id).collect::<Vec<_>>();
    let all = store.list_sessions("a", None, None, 100).await?;
    ensure!(
        ids(&all) == [50, 40, 30, 20, 10],
        "list_sessions(a) = {all:?}"
    );
    let mine = store.list_sessions("a", Some("alice"), None, 100).await?;
    ensure!(
        ids(&mine) == [50, 30, 10],
        "list_sessions(a, alice) = {mine:?}"
    );
    let two = store.list_sessions("a", Some("alice"), None, 2).await?;
    ensure!(
        ids(&two) == [50, 30],
        "list_sessions(a, alice, 2) = {two:?}"
    );
    let three = store.list_sessions("a", None, None, 3).await?;
    ensure!(
        ids(&three) == [50, 40, 30],
        "list_sessions(a, None, 3) = {three:?}"
    );
    let none = store.list_sessions("a", Some("nobody"), None, 10).await?;
    ensure!(none.is_empty(), "list_sessions(a, nobody) = {none:?}");
    let none = store.list_sessions("a", Some("carol"), None, 10).await?;
    ensure!(
        none.is_empty(),
        "list_sessions looks across environments: {none:?}"
    );
    let b = store.list_sessions("b", None, None, 10).await?;
    ensure!(ids(&b) == [60], "list_sessions(b) = {b:?}");

    let rotated = all.iter().find(|s| s.id == 30);
    ensure!(
        rotated.is_some_and(|s| s.username == "alice"
            && s.created_at == 30
            && s.last_used_at == 70
            && s.generation == 1
            && s.revoked_at.is_none()),
        "summary of the rotated session: {rotated:?}"
    );
    let revoked = all.iter().find(|s| s.id == 40);
    ensure!(
        revoked.is_some_and(|s| s.username == "bob"
            && s.revoked_at == Some(80)
            && s.revoked_reason.as_deref() == Some("admin")),
        "summary of the revoked session: {revoked:?}"
    );
    Ok(())
}

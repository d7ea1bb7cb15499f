//! `UserStore` behaviour: uniqueness per environment, and which user changes end the
//! user's sessions (disable, password change, delete) and which do not (rehash).

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::StoreError;
use wirecash_core::store::Store;

use crate::fixtures::{
    add_session, add_user, ensure_absent, ensure_conflict, ensure_not_found, load, user,
};

/// Created users are found by (env, name) with every field intact and listed by name,
/// one environment at a time.
pub async fn create_user_then_find_and_list_by_name(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let mut carol = user("a", "carol");
    carol.disabled = true;
    carol.created_at = 42;
    store.create_user(carol.clone(), None).await?;
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    let other = add_user(&*store, "b", "dave").await?;

    let found = store.find_user("a", "carol").await?;
    ensure!(
        found.as_ref() == Some(&carol),
        "find_user(a, carol) = {found:?}, want {carol:?}"
    );
    let found = store.find_user("b", "dave").await?;
    ensure!(
        found.as_ref() == Some(&other),
        "find_user(b, dave) = {found:?}"
    );
    let found = store.find_user("a", "nobody").await?;
    ensure!(found.is_none(), "find_user of an unknown name = {found:?}");
    let found = store.find_user("b", "alice").await?;
    ensure!(
        found.is_none(),
        "find_user looks across environments: {found:?}"
    );

    let listed = store.list_users("a").await?;
    ensure!(
        listed == vec![alice, bob, carol],
        "list_users(a) = {listed:?}"
    );
    let listed = store.list_users("b").await?;
    ensure!(listed == vec![other], "list_users(b) = {listed:?}");
    let listed = store.list_users("c").await?;
    ensure!(
        listed.is_empty(),
        "list_users of an empty environment = {listed:?}"
    );
    Ok(())
}

/// A username is unique within its environment only.
pub async fn duplicate_username_conflicts_within_env_but_not_across_envs(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let first = add_user(&*store, "a", "alice").await?;
    let mut again = user("a", "alice");
    again.id = "another-id".into();
    again.password_hash = "other".into();
    ensure_conflict(
        "same username, same env",
        store.create_user(again, None).await,
    )?;
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found.as_ref() == Some(&first),
        "the first user must be untouched: {found:?}"
    );

    let elsewhere = add_user(&*store, "b", "alice").await?;
    let found = store.find_user("b", "alice").await?;
    ensure!(
        found.as_ref() == Some(&elsewhere),
        "find_user(b, alice) = {found:?}"
    );
    Ok(())
}

/// Disabling revokes exactly that user's live sessions; enabling does not bring them back.
pub async fn disabling_user_revokes_its_sessions_and_unknown_user_is_not_found(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    add_session(&*store, 2, &alice, 20, 3).await?;
    add_session(&*store, 3, &bob, 30, 5).await?;

    store
        .set_user_disabled("a", "alice", true, 100, None)
        .await?;
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found.is_some_and(|u| u.disabled),
        "alice should be disabled"
    );
    for id in [1, 2] {
        let s = load(&*store, "a", id).await?;
        ensure!(
            s.user_disabled,
            "session {id} should show its user disabled: {s:?}"
        );
        ensure!(
            s.revoked_at == Some(100),
            "session {id} revoked_at = {:?}",
            s.revoked_at
        );
        ensure!(
            s.revoked_reason.is_some(),
            "session {id} should carry a revocation reason"
        );
    }
    let b = load(&*store, "a", 3).await?;
    ensure!(
        b.revoked_at.is_none() && !b.user_disabled,
        "bob's session must be untouched: {b:?}"
    );

    store
        .set_user_disabled("a", "alice", false, 200, None)
        .await?;
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found.is_some_and(|u| !u.disabled),
        "alice should be enabled again"
    );
    let s = load(&*store, "a", 1).await?;
    ensure!(
        !s.user_disabled && s.revoked_at == Some(100),
        "revocation is for good: {s:?}"
    );

    ensure_not_found(
        "disable unknown user",
        store.set_user_disabled("a", "nobody", true, 1, None).await,
    )?;
    ensure_not_found(
        "disable in wrong env",
        store.set_user_disabled("b", "alice", true, 1, None).await,
    )?;
    Ok(())
}

/// A password change replaces the hash and ends every session of the user (ASVS 7.4.3).
pub async fn change_password_replaces_hash_and_revokes_sessions(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    add_session(&*store, 2, &bob, 20, 3).await?;

    store
        .change_password("a", "alice", "new-hash", 100, None)
        .await?;
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found
            .as_ref()
            .is_some_and(|u| u.password_hash == "new-hash" && !u.disabled),
        "alice after change_password = {found:?}"
    );
    let s = load(&*store, "a", 1).await?;
    ensure!(
        s.revoked_at == Some(100) && s.revoked_reason.is_some(),
        "alice's session: {s:?}"
    );
    let b = load(&*store, "a", 2).await?;
    ensure!(
        b.revoked_at.is_none(),
        "bob's session must be untouched: {b:?}"
    );
    let bob_now = store.find_user("a", "bob").await?;
    ensure!(
        bob_now.as_ref() == Some(&bob),
        "bob must be untouched: {bob_now:?}"
    );

    ensure_not_found(
        "change_password of unknown user",
        store.change_password("a", "nobody", "h", 1, None).await,
    )?;
    Ok(())
}

/// A rehash is a compare-and-set on the old hash and leaves sessions alone.
pub async fn rehash_password_applies_only_over_old_hash_and_keeps_sessions(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;

    // Someone changed the password meanwhile: the stale rehash must not overwrite it.
    // Reporting that as `Ok` or as a lost compare-and-set (`Conflict`) are both fine.
    let stale = store
        .rehash_password(&alice.id, "not-the-current-hash", "rehashed")
        .await;
    ensure!(
        matches!(stale, Ok(()) | Err(StoreError::Conflict(_))),
        "stale rehash: expected Ok or Conflict, got {stale:?}"
    );
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found.as_ref() == Some(&alice),
        "a stale rehash must change nothing: {found:?}"
    );

    store
        .rehash_password(&alice.id, &alice.password_hash, "rehashed")
        .await?;
    let found = store.find_user("a", "alice").await?;
    ensure!(
        found
            .as_ref()
            .is_some_and(|u| u.password_hash == "rehashed"),
        "after rehash: {found:?}"
    );
    let s = load(&*store, "a", 1).await?;
    ensure!(
        s.revoked_at.is_none(),
        "a rehash must not revoke sessions: {s:?}"
    );
    Ok(())
}

/// Deleting a user takes their sessions along and nobody else's.
pub async fn delete_user_removes_user_and_sessions_and_unknown_is_not_found(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "a", "bob").await?;
    let alice_b = add_user(&*store, "b", "alice").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    add_session(&*store, 2, &alice, 20, 3).await?;
    add_session(&*store, 3, &bob, 30, 5).await?;
    add_session(&*store, 4, &alice_b, 40, 7).await?;

    store.delete_user("a", "alice", None).await?;
    let found = store.find_user("a", "alice").await?;
    ensure!(found.is_none(), "deleted user still found: {found:?}");
    ensure_absent(&*store, "a", 1).await?;
    ensure_absent(&*store, "a", 2).await?;
    load(&*store, "a", 3).await?;
    load(&*store, "b", 4).await?;
    let found = store.find_user("b", "alice").await?;
    ensure!(
        found.as_ref() == Some(&alice_b),
        "same name in env b must stay: {found:?}"
    );
    let listed = store.list_sessions("a", None, None, 100).await?;
    let ids: Vec<i64> = listed.iter().map(|s| s.id).collect();
    ensure!(ids == [3], "list_sessions(a) after delete = {listed:?}");

    ensure_not_found(
        "delete unknown user",
        store.delete_user("a", "nobody", None).await,
    )?;
    ensure_not_found(
        "delete deleted user",
        store.delete_user("a", "alice", None).await,
    )?;
    Ok(())
}

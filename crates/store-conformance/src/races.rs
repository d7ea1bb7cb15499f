//! The session insert re-checks its user (SPEC §2): a login that read the user before a
//! change that ends the user's sessions makes no session after it, and one whose insert
//! committed first is ended by the change — also when both run at the same moment.

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::StoreError;
use wirecash_core::store::{SessionKind, Store};

use crate::fixtures::{add_user, ensure_not_found, new_session};

/// A login's view of a user, then each change that ends its sessions: the insert with
/// that view is refused (`NotFound`); with the user read again it is made (unless the
/// user is disabled or gone). The changes move `session_epoch` on; enabling does not.
pub async fn create_session_is_refused_for_a_user_changed_since_it_was_read(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let mut id = 100;
    let mut next = || {
        id += 1;
        id
    };
    // Password change.
    store
        .change_password("a", "alice", "new-hash", 10, None)
        .await?;
    ensure_not_found(
        "insert after a password change",
        store
            .create_session(new_session(next(), &alice, 20, 1), 100, None)
            .await,
    )?;
    let read = store
        .find_user("a", "alice")
        .await?
        .unwrap_or_else(|| alice.clone());
    ensure!(
        read.session_epoch > alice.session_epoch,
        "the epoch did not move on a password change"
    );
    store
        .create_session(new_session(next(), &read, 20, 1), 100, None)
        .await?;
    // Revoke of every session.
    store
        .revoke_user_sessions("a", "alice", 30, "admin", None)
        .await?;
    ensure_not_found(
        "insert after a revoke of every session",
        store
            .create_session(new_session(next(), &read, 40, 1), 100, None)
            .await,
    )?;
    let read = store
        .find_user("a", "alice")
        .await?
        .unwrap_or_else(|| alice.clone());
    store
        .create_session(new_session(next(), &read, 40, 1), 100, None)
        .await?;
    // Disable, and enable again: the view from before the disable stays refused.
    store
        .set_user_disabled("a", "alice", true, 50, None)
        .await?;
    let disabled = store
        .find_user("a", "alice")
        .await?
        .unwrap_or_else(|| alice.clone());
    ensure_not_found(
        "insert for a disabled user",
        store
            .create_session(new_session(next(), &disabled, 60, 1), 100, None)
            .await,
    )?;
    store
        .set_user_disabled("a", "alice", false, 70, None)
        .await?;
    let enabled = store
        .find_user("a", "alice")
        .await?
        .unwrap_or_else(|| alice.clone());
    ensure!(
        enabled.session_epoch == disabled.session_epoch,
        "enabling moved the epoch"
    );
    ensure_not_found(
        "insert with the view from before the disable",
        store
            .create_session(new_session(next(), &read, 80, 1), 100, None)
            .await,
    )?;
    store
        .create_session(new_session(next(), &enabled, 80, 1), 100, None)
        .await?;
    // Delete: a foreign-key failure must not pass for an id collision.
    store.delete_user("a", "alice", None).await?;
    ensure_not_found(
        "insert for a deleted user",
        store
            .create_session(new_session(next(), &enabled, 90, 1), 100, None)
            .await,
    )?;
    // No live session of before a change was left behind by any of this.
    let live = store
        .list_sessions("a", Some("alice"), None, 100)
        .await?
        .into_iter()
        .filter(|s| s.revoked_at.is_none())
        .count();
    ensure!(live == 0, "{live} live sessions of a deleted user");
    Ok(())
}

/// Inserts from one view of the user race a password change: afterwards none of them is
/// live, whichever committed first. Rounds of 20 concurrent inserts.
pub async fn inserts_racing_a_password_change_all_end(store: Arc<dyn Store>) -> anyhow::Result<()> {
    for round in 0..10_i64 {
        let name = format!("racer{round}");
        let user = add_user(&*store, "a", &name).await?;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..20 {
            let (store, user) = (Arc::clone(&store), user.clone());
            set.spawn(async move {
                let id = round * 1_000 + i + 1;
                match store
                    .create_session(new_session(id, &user, 10, 1), 100, None)
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => Ok(()),
                    Err(e) => Err(anyhow::anyhow!("insert {id}: {e}")),
                }
            });
        }
        tokio::task::yield_now().await;
        store
            .change_password("a", &name, "changed", 20, None)
            .await?;
        while let Some(r) = set.join_next().await {
            r??;
        }
        let live = store
            .list_sessions("a", Some(&name), None, 1_000)
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none())
            .count();
        ensure!(
            live == 0,
            "round {round}: {live} live sessions after the change"
        );
    }
    Ok(())
}

/// Each kind of session has its own limit of live sessions (a client_credentials grant
/// never evicts a refreshable session), revoked sessions beyond the newest few go when
/// a new one is made, sessions list with their kind, and only refresh sessions rotate.
pub async fn session_kinds_have_their_own_limits_and_revoked_ones_are_pruned(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    use wirecash_core::store::REVOKED_SESSIONS_KEPT;
    let alice = add_user(&*store, "a", "alice").await?;
    for id in 1..=3 {
        store
            .create_session(new_session(id, &alice, id, 1), 3, None)
            .await?;
    }
    for id in 10..40 {
        let mut s = new_session(id, &alice, id, 1);
        s.kind = SessionKind::ClientCredentials;
        store.create_session(s, 3, None).await?;
    }
    let list = store.list_sessions("a", Some("alice"), None, 1_000).await?;
    let of = |k| {
        list.iter()
            .filter(move |s| s.kind == k && s.revoked_at.is_none())
    };
    ensure!(
        of(SessionKind::Refresh).count() == 3,
        "refresh sessions evicted: {list:?}"
    );
    ensure!(
        of(SessionKind::ClientCredentials).count() == 3,
        "cc sessions: {list:?}"
    );
    // A client_credentials session does not rotate.
    let cc = store.load_session("a", 39).await?;
    ensure!(
        cc.as_ref().map(|s| s.kind) == Some(SessionKind::ClientCredentials),
        "{cc:?}"
    );
    if let Some(cc) = cc {
        let r = crate::fixtures::rotation_after(&cc, 7, 50);
        ensure!(
            !store.rotate(r).await?,
            "a client_credentials session rotated"
        );
    }
    // A login + revoke loop: rows stay bounded.
    for id in 100..160 {
        store
            .create_session(new_session(id, &alice, id, 1), 3, None)
            .await?;
        store.revoke_session("a", id, id, "revoked", None).await?;
    }
    let rows = store
        .list_sessions("a", Some("alice"), None, 10_000)
        .await?
        .into_iter()
        .filter(|s| s.kind == SessionKind::Refresh)
        .count();
    let bound = 3 + REVOKED_SESSIONS_KEPT as usize;
    ensure!(rows <= bound, "{rows} refresh session rows, bound {bound}");
    Ok(())
}

/// The parameter parts of the stored Argon2id hashes, each once.
pub async fn password_hash_params_lists_each_parameter_set_once(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    ensure!(
        store.password_hash_params().await?.is_empty(),
        "params of no user"
    );
    for (name, params) in [
        ("a1", "m=19456,t=2,p=1"),
        ("a2", "m=19456,t=2,p=1"),
        ("a3", "m=47104,t=3,p=1"),
    ] {
        let mut u = crate::fixtures::user("a", name);
        u.password_hash = format!("$argon2id$v=19${params}$c2FsdHNhbHQ$aGFzaA");
        store.create_user(u, None).await?;
    }
    let mut other = crate::fixtures::user("b", "legacy");
    other.password_hash = "$2b$10$notargon".into();
    store.create_user(other, None).await?;
    let mut got = store.password_hash_params().await?;
    got.sort();
    ensure!(
        got == vec!["m=19456,t=2,p=1".to_string(), "m=47104,t=3,p=1".into()],
        "params {got:?}"
    );
    Ok(())
}

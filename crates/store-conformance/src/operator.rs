//! The operator plane's storage (SPEC §11, §12): events written with their causes and
//! only with them, the event log's pages and purge, admin keys, idempotency records,
//! user and session pages, and the environment-wide revocation.

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::StoreError;
use wirecash_core::store::{
    AdminKeyRecord, AdminRole, EventKind, EventQuery, EventRecord, GuardCounter, IdempotencyRecord,
    KeyRecord, Store,
};

use crate::fixtures::{NO_LIMIT, add_session, add_user, hash, new_session, user};

/// An event with a predictable id (`e-<at>-<n>`).
fn event(env: &str, kind: EventKind, at: i64, n: u32, username: Option<&str>) -> EventRecord {
    EventRecord {
        id: format!("e-{at:04}-{n}"),
        env: env.into(),
        kind,
        at,
        actor: "admin_key:ops".into(),
        username: username.map(str::to_string),
        data: format!("{{\"n\":{n}}}"),
    }
}

async fn all_events(store: &dyn Store, env: &str) -> anyhow::Result<Vec<EventRecord>> {
    Ok(store
        .list_events(EventQuery {
            env: env.into(),
            limit: 1000,
            ..EventQuery::default()
        })
        .await?)
}

async fn kinds(store: &dyn Store, env: &str) -> anyhow::Result<Vec<EventKind>> {
    Ok(all_events(store, env)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect())
}

/// Every change that takes an event stores it, field for field; a change that fails
/// (unknown user, taken name) stores none; revoking a dead session stores none.
pub async fn events_are_written_with_their_cause_and_only_then(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    use EventKind::*;
    let first = event("a", UserCreated, 10, 1, Some("alice"));
    store
        .create_user(user("a", "alice"), Some(first.clone()))
        .await?;
    ensure!(
        all_events(&*store, "a").await? == [first.clone()],
        "the event must be stored field for field"
    );
    let dup = store
        .create_user(
            user("a", "alice"),
            Some(event("a", UserCreated, 11, 2, None)),
        )
        .await;
    ensure!(matches!(dup, Err(StoreError::Conflict(_))), "got {dup:?}");
    let alice = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    add_session(&*store, 1, &alice, 20, 1).await?;
    add_session(&*store, 2, &alice, 20, 3).await?;

    store
        .set_user_disabled(
            "a",
            "alice",
            true,
            30,
            Some(event("a", UserDisabled, 30, 1, Some("alice"))),
        )
        .await?;
    store
        .set_user_disabled(
            "a",
            "alice",
            false,
            31,
            Some(event("a", UserEnabled, 31, 1, Some("alice"))),
        )
        .await?;
    let missing = store
        .set_user_disabled(
            "a",
            "nobody",
            true,
            32,
            Some(event("a", UserDisabled, 32, 1, None)),
        )
        .await;
    ensure!(
        matches!(missing, Err(StoreError::NotFound)),
        "got {missing:?}"
    );
    store
        .change_password(
            "a",
            "alice",
            "$argon2id$new",
            40,
            Some(event("a", CredentialsRotated, 40, 1, Some("alice"))),
        )
        .await?;
    let missing = store
        .change_password(
            "a",
            "nobody",
            "$argon2id$new",
            41,
            Some(event("a", CredentialsRotated, 41, 1, None)),
        )
        .await;
    ensure!(
        matches!(missing, Err(StoreError::NotFound)),
        "got {missing:?}"
    );

    let alice = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    add_session(&*store, 3, &alice, 50, 5).await?;
    ensure!(
        store
            .revoke_session(
                "a",
                3,
                51,
                "admin",
                Some(event("a", SessionsRevoked, 51, 1, None))
            )
            .await?,
        "a live session is revoked"
    );
    ensure!(
        !store
            .revoke_session(
                "a",
                3,
                52,
                "admin",
                Some(event("a", SessionsRevoked, 52, 1, None))
            )
            .await?,
        "a dead one is not"
    );
    store
        .revoke_user_sessions(
            "a",
            "alice",
            53,
            "admin",
            Some(event("a", SessionsRevoked, 53, 1, Some("alice"))),
        )
        .await?;
    let key = KeyRecord {
        env: "a".into(),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        private_key_sealed: vec![1],
        created_at: 60,
        activates_at: 61,
    };
    store
        .insert_key(
            key.clone(),
            Some(event("a", SigningKeyRotated, 60, 1, None)),
        )
        .await?;
    let dup = store
        .insert_key(key, Some(event("a", SigningKeyRotated, 61, 1, None)))
        .await;
    ensure!(matches!(dup, Err(StoreError::Conflict(_))), "got {dup:?}");
    store
        .delete_user(
            "a",
            "alice",
            Some(event("a", UserDeleted, 70, 1, Some("alice"))),
        )
        .await?;
    let missing = store
        .delete_user("a", "alice", Some(event("a", UserDeleted, 71, 1, None)))
        .await;
    ensure!(
        matches!(missing, Err(StoreError::NotFound)),
        "got {missing:?}"
    );

    let got = kinds(&*store, "a").await?;
    ensure!(
        got == [
            UserDeleted,
            SigningKeyRotated,
            SessionsRevoked,
            SessionsRevoked,
            CredentialsRotated,
            UserEnabled,
            UserDisabled,
            UserCreated
        ],
        "newest first, one per successful change; got {got:?}"
    );
    ensure!(
        kinds(&*store, "b").await?.is_empty(),
        "other environments see none"
    );
    Ok(())
}

/// The events a failed-login counter update returns are stored with it.
pub async fn login_guard_updates_store_the_events_they_return(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let lock = event("a", EventKind::UserLockedOut, 5, 1, None);
    let returned = lock.clone();
    store
        .update_login_guards(
            &[hash(9)],
            Box::new(move |c: &mut [GuardCounter]| {
                c[0].failures = 10;
                c[0].locked_until = 100;
                vec![returned]
            }),
        )
        .await?;
    ensure!(
        all_events(&*store, "a").await? == [lock],
        "the lockout event is stored"
    );
    // And the same through a login's session commit.
    let alice = add_user(&*store, "a", "alice").await?;
    let settle = wirecash_core::store::GuardChange {
        keys: vec![hash(9)],
        update: Box::new(|c: &mut [GuardCounter]| {
            c[0] = GuardCounter::default();
            vec![event("a", EventKind::UserLockedOut, 6, 2, None)]
        }),
    };
    store
        .create_session(new_session(1, &alice, 6, 1), NO_LIMIT, Some(settle))
        .await?;
    ensure!(
        all_events(&*store, "a").await?.len() == 2,
        "both events stored"
    );
    Ok(())
}

/// Pages of events: newest first by time then id, with filters by kind, user and time,
/// a `(time, id)` cursor that neither skips nor repeats, and a purge by age in batches.
pub async fn events_page_filter_and_purge(store: Arc<dyn Store>) -> anyhow::Result<()> {
    use EventKind::*;
    // Seven events over four times; two share time 20.
    for (at, n, kind, who) in [
        (10, 1, UserCreated, Some("alice")),
        (20, 1, UserCreated, Some("bob")),
        (20, 2, UserDisabled, Some("alice")),
        (30, 1, SessionsRevoked, Some("bob")),
        (40, 1, UserLockedOut, None),
        (40, 2, UserEnabled, Some("alice")),
        (50, 1, UserCreated, Some("carol")),
    ] {
        let e = event("a", kind, at, n, who);
        let u = user("a", &format!("u{at}{n}"));
        store.create_user(u, Some(e)).await?;
    }
    store
        .create_user(user("b", "x"), Some(event("b", UserCreated, 25, 1, None)))
        .await?;
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_events(EventQuery {
                env: "a".into(),
                before: before.clone(),
                limit: 3,
                ..EventQuery::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some((last.at, last.id.clone()));
        seen.extend(page.iter().map(|e| e.id.clone()));
    }
    ensure!(
        seen == [
            "e-0050-1", "e-0040-2", "e-0040-1", "e-0030-1", "e-0020-2", "e-0020-1", "e-0010-1"
        ],
        "pages must walk every event once, newest first; got {seen:?}"
    );
    let by = |kind, username: Option<&str>, since| EventQuery {
        env: "a".into(),
        kind,
        username: username.map(str::to_string),
        since,
        limit: 100,
        ..EventQuery::default()
    };
    let ids = |v: Vec<EventRecord>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    ensure!(
        ids(store.list_events(by(Some(UserCreated), None, None)).await?)
            == ["e-0050-1", "e-0020-1", "e-0010-1"],
        "filter by kind"
    );
    ensure!(
        ids(store.list_events(by(None, Some("alice"), None)).await?)
            == ["e-0040-2", "e-0020-2", "e-0010-1"],
        "filter by user"
    );
    ensure!(
        ids(store
            .list_events(by(Some(UserCreated), None, Some(20)))
            .await?)
            == ["e-0050-1", "e-0020-1"],
        "since is inclusive, filters combine"
    );
    ensure!(store.purge_events(40, 2).await? == 2, "a batch is a batch");
    ensure!(
        store.purge_events(40, 100).await? == 3,
        "then the rest older than 40 (b's too)"
    );
    ensure!(
        store.purge_events(40, 100).await? == 0,
        "nothing left to purge"
    );
    ensure!(
        ids(all_events(&*store, "a").await?) == ["e-0050-1", "e-0040-2", "e-0040-1"],
        "newer ones stay"
    );
    Ok(())
}

fn admin_key(id: &str, name: &str, role: AdminRole, h: u8) -> AdminKeyRecord {
    AdminKeyRecord {
        id: id.into(),
        name: name.into(),
        role,
        key_hash: hash(h),
        created_at: 7,
        revoked_at: None,
    }
}

/// Admin keys: unique by name and id, found by id field for field, listed by name,
/// revoked once; a revoked key keeps its name.
pub async fn admin_keys_create_find_list_and_revoke(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let ops = admin_key("00000000000000aa", "ops", AdminRole::Operator, 1);
    store.create_admin_key(ops.clone()).await?;
    store
        .create_admin_key(admin_key("00000000000000bb", "audit", AdminRole::Viewer, 2))
        .await?;
    for dup in [
        admin_key("00000000000000cc", "ops", AdminRole::Owner, 3),
        admin_key("00000000000000aa", "other", AdminRole::Owner, 3),
    ] {
        let r = store.create_admin_key(dup).await;
        ensure!(matches!(r, Err(StoreError::Conflict(_))), "got {r:?}");
    }
    ensure!(
        store.find_admin_key("00000000000000aa").await? == Some(ops),
        "round trip"
    );
    ensure!(
        store.find_admin_key("00000000000000ff").await?.is_none(),
        "unknown id"
    );
    let names: Vec<String> = store
        .list_admin_keys()
        .await?
        .into_iter()
        .map(|k| k.name)
        .collect();
    ensure!(names == ["audit", "ops"], "by name, got {names:?}");
    ensure!(store.revoke_admin_key("ops", 9).await?, "revoked");
    ensure!(!store.revoke_admin_key("ops", 10).await?, "only once");
    ensure!(!store.revoke_admin_key("nobody", 10).await?, "unknown");
    let revoked = store.find_admin_key("00000000000000aa").await?;
    ensure!(
        revoked.and_then(|k| k.revoked_at) == Some(9),
        "revocation time kept"
    );
    let r = store
        .create_admin_key(admin_key("00000000000000dd", "ops", AdminRole::Owner, 4))
        .await;
    ensure!(
        matches!(r, Err(StoreError::Conflict(_))),
        "a revoked key keeps its name, got {r:?}"
    );
    Ok(())
}

/// Idempotency records: the first claim wins, later ones see it (with its answer once
/// complete), owners do not share keys, a released key can be claimed again, and old
/// records are purged.
pub async fn idempotency_keys_claim_complete_release_and_purge(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let rec = |owner: &str, key: &str, h: u8, at: i64| IdempotencyRecord {
        owner: owner.into(),
        key: key.into(),
        request_hash: hash(h),
        created_at: at,
        response: None,
    };
    ensure!(
        store
            .claim_idempotency_key(rec("ops", "k1", 1, 10))
            .await?
            .is_none(),
        "first claim"
    );
    let again = store.claim_idempotency_key(rec("ops", "k1", 2, 11)).await?;
    ensure!(
        again == Some(rec("ops", "k1", 1, 10)),
        "a second claim sees the first, pending: {again:?}"
    );
    ensure!(
        store
            .claim_idempotency_key(rec("ci", "k1", 3, 12))
            .await?
            .is_none(),
        "owners apart"
    );
    store
        .complete_idempotency_key("ops", "k1", 201, vec![7, 8, 9])
        .await?;
    let done = store.claim_idempotency_key(rec("ops", "k1", 1, 13)).await?;
    ensure!(
        done.and_then(|r| r.response) == Some((201, vec![7, 8, 9])),
        "the answer is kept"
    );
    store.release_idempotency_key("ci", "k1").await?;
    ensure!(
        store
            .claim_idempotency_key(rec("ci", "k1", 4, 14))
            .await?
            .is_none(),
        "released"
    );
    ensure!(
        store.purge_idempotency_keys(14).await? == 1,
        "only the older one"
    );
    ensure!(
        store
            .claim_idempotency_key(rec("ops", "k1", 5, 15))
            .await?
            .is_none(),
        "purged"
    );
    Ok(())
}

/// User pages: by name, a prefix search that takes `%` and `_` literally, a cursor,
/// and counts of users and live sessions per environment.
pub async fn users_page_by_prefix_and_env_stats(store: Arc<dyn Store>) -> anyhow::Result<()> {
    for name in ["bob", "alice", "al_x", "alfred", "al%y", "zed", "alz"] {
        add_user(&*store, "a", name).await?;
    }
    add_user(&*store, "b", "alan").await?;
    let names = |v: Vec<wirecash_core::store::UserRecord>| {
        v.into_iter().map(|u| u.username).collect::<Vec<_>>()
    };
    ensure!(
        names(store.users_page("a", "", None, 100).await?)
            == ["al%y", "al_x", "alfred", "alice", "alz", "bob", "zed"],
        "all, by name (bytewise)"
    );
    ensure!(
        names(store.users_page("a", "al", None, 2).await?) == ["al%y", "al_x"],
        "prefix, first page"
    );
    ensure!(
        names(store.users_page("a", "al", Some("al_x"), 10).await?) == ["alfred", "alice", "alz"],
        "prefix, next page"
    );
    ensure!(
        names(store.users_page("a", "al_", None, 10).await?) == ["al_x"],
        "_ is literal"
    );
    ensure!(
        names(store.users_page("a", "al%", None, 10).await?) == ["al%y"],
        "% is literal"
    );
    ensure!(
        names(store.users_page("a", "q", None, 10).await?).is_empty(),
        "no match"
    );

    let alice = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    let bob = store
        .find_user("a", "bob")
        .await?
        .ok_or_else(|| anyhow::anyhow!("bob"))?;
    add_session(&*store, 1, &alice, 100, 1).await?; // live
    add_session(&*store, 2, &bob, 100, 3).await?; // revoked below
    add_session(&*store, 3, &bob, 10, 5).await?; // too old
    store.revoke_session("a", 2, 150, "x", None).await?;
    let stats = store.env_stats("a", 50, 50).await?;
    ensure!(
        stats.users == 7 && stats.live_sessions == 1,
        "got {stats:?}"
    );
    let stats = store.env_stats("b", 50, 50).await?;
    ensure!(
        stats.users == 1 && stats.live_sessions == 0,
        "got {stats:?}"
    );
    Ok(())
}

/// Session pages walk newest first with an id cursor and carry the login's address.
pub async fn sessions_page_with_cursor_and_client_address(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    for id in 1..=5 {
        let mut s = new_session(id, &alice, 10 * id, u8::try_from(id * 2).unwrap_or(0));
        s.client_addr = (id % 2 == 1).then(|| format!("192.0.2.{id}"));
        store.create_session(s, NO_LIMIT, None).await?;
    }
    let page = store.list_sessions("a", Some("alice"), None, 2).await?;
    let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
    ensure!(ids == [5, 4], "first page, got {ids:?}");
    ensure!(
        page[0].client_addr.as_deref() == Some("192.0.2.5"),
        "address kept"
    );
    ensure!(
        page[1].client_addr.is_none(),
        "unknown address kept as none"
    );
    let ids: Vec<i64> = store
        .list_sessions("a", Some("alice"), Some(4), 10)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    ensure!(ids == [3, 2, 1], "next page, got {ids:?}");
    Ok(())
}

/// Revoking every session of an environment ends exactly that environment's live
/// sessions, moves every one of its users' epochs on (a login read before makes no
/// session) and stores the event with it.
pub async fn revoke_env_sessions_is_scoped_to_its_environment(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let a1 = add_user(&*store, "a", "alice").await?;
    let a2 = add_user(&*store, "a", "bob").await?;
    let b1 = add_user(&*store, "b", "alice").await?;
    add_session(&*store, 1, &a1, 10, 1).await?;
    add_session(&*store, 2, &a2, 10, 3).await?;
    add_session(&*store, 3, &b1, 10, 5).await?;
    store.revoke_session("a", 2, 11, "earlier", None).await?;
    let n = store
        .revoke_env_sessions(
            "a",
            20,
            "incident",
            Some(event("a", EventKind::SessionsRevoked, 20, 1, None)),
        )
        .await?;
    ensure!(n == 1, "one live session in a, got {n}");
    let s1 = store
        .load_session("a", 1)
        .await?
        .ok_or_else(|| anyhow::anyhow!("s1"))?;
    ensure!(s1.revoked_at == Some(20), "a's session revoked now");
    let s2 = store
        .load_session("a", 2)
        .await?
        .ok_or_else(|| anyhow::anyhow!("s2"))?;
    ensure!(
        s2.revoked_reason.as_deref() == Some("earlier"),
        "revoked ones keep their reason"
    );
    let s3 = store
        .load_session("b", 3)
        .await?
        .ok_or_else(|| anyhow::anyhow!("s3"))?;
    ensure!(s3.revoked_at.is_none(), "b untouched");
    // A login that read alice before the revocation makes no session.
    let stale = store
        .create_session(new_session(4, &a1, 21, 7), NO_LIMIT, None)
        .await;
    ensure!(matches!(stale, Err(StoreError::NotFound)), "got {stale:?}");
    ensure!(
        kinds(&*store, "a").await? == [EventKind::SessionsRevoked],
        "event stored"
    );
    Ok(())
}

/// A planned rotation keeps the old hash as the previous one until the overlap ends,
/// applies only over the hash it was decided on, keeps sessions, stores its event, and a
/// reset (`change_password`) drops the previous hash.
pub async fn rotate_password_keeps_the_previous_hash_until_the_overlap_ends(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    add_session(&*store, 1, &alice, 10, 1).await?;
    let event = || {
        Some(event(
            "a",
            EventKind::CredentialsRotated,
            20,
            1,
            Some("alice"),
        ))
    };
    ensure!(
        !store
            .rotate_password("a", "alice", "$stale", "$new", 500, event())
            .await?,
        "a rotation decided on another hash is not applied"
    );
    ensure!(
        !store
            .rotate_password("a", "nobody", &alice.password_hash, "$new", 500, event())
            .await?,
        "no such user"
    );
    ensure!(
        all_events(&*store, "a").await?.is_empty(),
        "no event without the change"
    );
    ensure!(
        store
            .rotate_password("a", "alice", &alice.password_hash, "$new", 500, event())
            .await?,
        "applied"
    );
    let now = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    ensure!(now.password_hash == "$new", "{now:?}");
    ensure!(
        now.previous_password == Some((alice.password_hash.clone(), 500)),
        "{now:?}"
    );
    ensure!(now.session_epoch == alice.session_epoch, "sessions stay");
    let s = store
        .load_session("a", 1)
        .await?
        .ok_or_else(|| anyhow::anyhow!("s1"))?;
    ensure!(s.revoked_at.is_none(), "sessions stay");
    ensure!(
        kinds(&*store, "a").await? == [EventKind::CredentialsRotated],
        "event stored"
    );
    // A second rotation replaces the previous hash.
    store
        .rotate_password("a", "alice", "$new", "$newer", 900, None)
        .await?;
    let now = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    ensure!(
        now.previous_password == Some(("$new".to_string(), 900)),
        "{now:?}"
    );
    // A reset drops it.
    store
        .change_password("a", "alice", "$reset", 950, None)
        .await?;
    let now = store
        .find_user("a", "alice")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice"))?;
    ensure!(
        now.previous_password.is_none() && now.password_hash == "$reset",
        "{now:?}"
    );
    Ok(())
}

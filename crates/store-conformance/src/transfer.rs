//! Whole-row reads and writes used to copy a database to another backend.

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::store::{KeyRecord, SessionRecord, Store};

use crate::fixtures::{add_session, add_user, ensure_conflict, load, touch, user};

/// `users_after` walks every user of every environment in id order, `batch` at a time.
pub async fn users_after_pages_through_every_user_in_id_order(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    ensure!(
        store.users_after("", 10).await?.is_empty(),
        "fresh store has users"
    );
    let mut want = Vec::new();
    for (env, name) in [
        ("b", "zoe"),
        ("a", "alice"),
        ("b", "bob"),
        ("a", "carol"),
        ("c", "dan"),
    ] {
        want.push(add_user(&*store, env, name).await?);
    }
    want.sort_by(|x, y| x.id.cmp(&y.id));
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = store.users_after(&cursor, 2).await?;
        ensure!(page.len() <= 2, "page of {} rows, batch 2", page.len());
        let Some(last) = page.last() else { break };
        cursor = last.id.clone();
        got.extend(page);
    }
    ensure!(got == want, "paged users {got:?}\nwant {want:?}");
    Ok(())
}

/// `sessions_after` returns every session with every field as `load_session` does,
/// revoked ones included; `import_session` writes such a row back exactly, and refuses
/// a taken id or an unknown user.
pub async fn sessions_export_and_import_round_trip_every_field(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let alice = add_user(&*store, "a", "alice").await?;
    let bob = add_user(&*store, "b", "bob").await?;
    for (id, u) in [
        (10, &alice),
        (20, &bob),
        (30, &alice),
        (40, &bob),
        (50, &alice),
    ] {
        add_session(&*store, id, u, 100 + id, 7).await?;
    }
    touch(&*store, "a", 30, 40, 900).await?;
    touch(&*store, "a", 30, 50, 950).await?;
    ensure!(
        store.revoke_session("b", 40, 990, "admin", None).await?,
        "revoke lost"
    );
    store
        .set_user_disabled("a", "alice", true, 995, None)
        .await?;
    let mut want: Vec<SessionRecord> = Vec::new();
    for (env, id) in [("a", 10), ("b", 20), ("a", 30), ("b", 40), ("a", 50)] {
        want.push(load(&*store, env, id).await?);
    }
    let mut got = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.sessions_after(cursor, 2).await?;
        ensure!(page.len() <= 2, "page of {} rows, batch 2", page.len());
        let Some(last) = page.last() else { break };
        cursor = last.id;
        got.extend(page);
    }
    ensure!(got == want, "exported {got:?}\nwant {want:?}");

    // Import the rotated, prev-hash-carrying session under a new id: identical but the id.
    let mut copy = want[2].clone();
    copy.id = 31;
    store.import_session(copy.clone()).await?;
    let back = load(&*store, "a", 31).await?;
    ensure!(back == copy, "imported {copy:?}\nread back {back:?}");
    // And a revoked one.
    let mut revoked = want[3].clone();
    revoked.id = 41;
    store.import_session(revoked.clone()).await?;
    ensure!(
        load(&*store, "b", 41).await? == revoked,
        "revoked session changed on import"
    );

    ensure_conflict(
        "import with a taken id",
        store.import_session(want[0].clone()).await,
    )?;
    let mut orphan = want[0].clone();
    orphan.id = 60;
    orphan.user_id = user("a", "nobody").id;
    ensure_conflict(
        "import for an unknown user",
        store.import_session(orphan).await,
    )?;
    ensure!(
        store.load_session("a", 60).await?.is_none(),
        "orphan session was stored"
    );
    Ok(())
}

/// `all_keys` returns the keys of every environment.
pub async fn all_keys_returns_every_environment(store: Arc<dyn Store>) -> anyhow::Result<()> {
    ensure!(store.all_keys().await?.is_empty(), "fresh store has keys");
    let key = |env: &str, kid: &str, at: i64| KeyRecord {
        env: env.into(),
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_key_sealed: vec![1, 2, at as u8],
        created_at: at,
        activates_at: at,
    };
    let keys = [key("b", "k3", 3), key("a", "k2", 2), key("a", "k1", 1)];
    for k in &keys {
        store.insert_key(k.clone(), None).await?;
    }
    let got = store.all_keys().await?;
    let want = vec![keys[2].clone(), keys[1].clone(), keys[0].clone()];
    ensure!(got == want, "all_keys {got:?}\nwant {want:?}");
    Ok(())
}

//! Resource-server credentials for token introspection.

use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::StoreError;
use wirecash_core::store::{IntrospectorRecord, Store};

use crate::fixtures::hash;

fn record(env: &str, name: &str, h: u8, at: i64) -> IntrospectorRecord {
    IntrospectorRecord {
        env: env.into(),
        name: name.into(),
        secret_hash: hash(h),
        created_at: at,
    }
}

/// Introspectors are added once per name and environment, found, listed by name,
/// and removed once; environments do not see each other's.
pub async fn introspectors_add_find_list_and_remove_per_environment(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    ensure!(
        store.find_introspector("sandbox", "api").await?.is_none(),
        "fresh store has an introspector"
    );
    store
        .add_introspector(record("sandbox", "orders", 1, 10))
        .await?;
    store
        .add_introspector(record("sandbox", "api", 2, 20))
        .await?;
    store
        .add_introspector(record("production", "api", 3, 30))
        .await?;
    let dup = store
        .add_introspector(record("sandbox", "api", 4, 40))
        .await;
    ensure!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a taken name must conflict, got {dup:?}"
    );
    ensure!(
        store.find_introspector("sandbox", "api").await? == Some(record("sandbox", "api", 2, 20)),
        "the first record must stay, field for field"
    );
    let all: Vec<(String, String)> = store
        .all_introspectors()
        .await?
        .into_iter()
        .map(|r| (r.env, r.name))
        .collect();
    ensure!(
        all == [
            ("production".to_string(), "api".to_string()),
            ("sandbox".to_string(), "api".to_string()),
            ("sandbox".to_string(), "orders".to_string())
        ],
        "all_introspectors listed {all:?}"
    );
    let names: Vec<String> = store
        .list_introspectors("sandbox")
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    ensure!(names == ["api", "orders"], "listed {names:?}");
    ensure!(
        store.remove_introspector("sandbox", "api").await?,
        "remove found nothing"
    );
    ensure!(
        !store.remove_introspector("sandbox", "api").await?,
        "removed twice"
    );
    ensure!(
        store.find_introspector("sandbox", "api").await?.is_none(),
        "still there after remove"
    );
    ensure!(
        store.find_introspector("production", "api").await?
            == Some(record("production", "api", 3, 30)),
        "another environment's introspector was touched"
    );
    Ok(())
}

//! Webhook subscriptions and deliveries (SPEC §12): events become one delivery per
//! subscribed webhook exactly once, deliveries are leased to one caller at a time, and
//! their outcomes, pages, re-sends and purge.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::ensure;
use wirecash_core::StoreError;
use wirecash_core::store::{
    DeliveryOutcome, DeliveryStatus, EventKind, EventRecord, Store, WebhookRecord, WebhookSource,
};

use crate::fixtures::user;

fn webhook(id: &str, types: &[&str], source: WebhookSource, at: i64) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        url: format!("https://hooks.example/{id}"),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        secret_sealed: vec![1, 2, 3],
        previous_secret: None,
        paused: false,
        source,
        created_at: at,
    }
}

/// Stores an event of `kind` at `at` (with a user made for it, its cause).
async fn add_event(store: &dyn Store, kind: EventKind, at: i64, n: u32) -> anyhow::Result<String> {
    let id = format!("ev-{at:05}-{n}");
    let e = EventRecord {
        id: id.clone(),
        env: "a".into(),
        kind,
        at,
        actor: "cli".into(),
        username: None,
        data: "{}".into(),
    };
    store
        .create_user(user("a", &format!("u-{at}-{n}")), Some(e))
        .await?;
    Ok(id)
}

async fn pending_pairs(
    store: &dyn Store,
    ids: &[&str],
) -> anyhow::Result<BTreeSet<(String, String)>> {
    let mut out = BTreeSet::new();
    for id in ids {
        for d in store.list_deliveries(id, None, 1000).await? {
            out.insert((d.webhook_id, d.event_id));
        }
    }
    Ok(out)
}

/// Subscriptions are made, listed, paused, rotated and deleted; the configuration's are
/// kept in step with it and the API's left alone.
pub async fn webhooks_create_list_pause_rotate_delete_and_sync(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    store
        .create_webhook(webhook("wh_a", &["user_created"], WebhookSource::Api, 1))
        .await?;
    let dup = store
        .create_webhook(webhook("wh_a", &[], WebhookSource::Api, 2))
        .await;
    ensure!(matches!(dup, Err(StoreError::Conflict(_))), "got {dup:?}");
    store
        .sync_config_webhooks(vec![
            webhook("cfg_1", &[], WebhookSource::Config, 3),
            webhook(
                "cfg_2",
                &["user_deleted", "user_created"],
                WebhookSource::Config,
                4,
            ),
        ])
        .await?;
    let all = store.list_webhooks().await?;
    ensure!(
        all == [
            webhook("wh_a", &["user_created"], WebhookSource::Api, 1),
            webhook("cfg_1", &[], WebhookSource::Config, 3),
            webhook(
                "cfg_2",
                &["user_deleted", "user_created"],
                WebhookSource::Config,
                4
            )
        ],
        "round trip, by creation: {all:?}"
    );
    // The configuration changes: cfg_1 goes, cfg_2 gets another URL.
    let mut moved = webhook("cfg_2", &["user_deleted"], WebhookSource::Config, 4);
    moved.url = "https://hooks.example/moved".into();
    store.sync_config_webhooks(vec![moved.clone()]).await?;
    let ids: Vec<String> = store
        .list_webhooks()
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    ensure!(ids == ["wh_a", "cfg_2"], "{ids:?}");
    ensure!(store.list_webhooks().await?[1] == moved, "updated in place");
    ensure!(store.set_webhook_paused("wh_a", true).await?, "paused");
    ensure!(!store.set_webhook_paused("nope", true).await?, "unknown");
    ensure!(
        store.rotate_webhook_secret("wh_a", vec![9], 50).await?,
        "rotated"
    );
    let a = store.list_webhooks().await?.remove(0);
    ensure!(a.paused && a.secret_sealed == [9], "{a:?}");
    ensure!(a.previous_secret == Some((vec![1, 2, 3], 50)), "{a:?}");
    ensure!(store.delete_webhook("wh_a").await?, "deleted");
    ensure!(!store.delete_webhook("wh_a").await?, "once");
    Ok(())
}

/// Each event becomes one pending delivery per unpaused subscription that takes its
/// type, once; events of before a subscription existed are not sent to it.
pub async fn dispatch_queues_each_event_once_per_subscribed_webhook(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let before = add_event(&*store, EventKind::UserCreated, 5, 0).await?;
    ensure!(
        store.dispatch_events(100, 6).await? == 1,
        "the early event is dispatched to nobody"
    );
    store
        .create_webhook(webhook("all", &[], WebhookSource::Api, 7))
        .await?;
    store
        .create_webhook(webhook("created", &["user_created"], WebhookSource::Api, 7))
        .await?;
    store
        .create_webhook(webhook("paused", &[], WebhookSource::Api, 7))
        .await?;
    store.set_webhook_paused("paused", true).await?;
    let created = add_event(&*store, EventKind::UserCreated, 10, 1).await?;
    let locked = add_event(&*store, EventKind::UserLockedOut, 11, 1).await?;
    ensure!(
        store.dispatch_events(1, 20).await? == 1,
        "a batch is a batch"
    );
    ensure!(store.dispatch_events(100, 20).await? == 1, "then the rest");
    ensure!(
        store.dispatch_events(100, 20).await? == 0,
        "each event once"
    );
    let got = pending_pairs(&*store, &["all", "created", "paused"]).await?;
    let want: BTreeSet<(String, String)> = [
        ("all", created.as_str()),
        ("all", locked.as_str()),
        ("created", created.as_str()),
    ]
    .into_iter()
    .map(|(w, e)| (w.to_string(), e.to_string()))
    .collect();
    ensure!(got == want, "got {got:?}");
    ensure!(!got.iter().any(|(_, e)| *e == before), "no backfill");
    let d = store.list_deliveries("all", None, 10).await?;
    ensure!(
        d.iter().all(|d| d.status == DeliveryStatus::Pending
            && d.attempts == 0
            && d.next_attempt_at == 20),
        "{d:?}"
    );
    Ok(())
}

/// A delivery is leased to one caller until its lease ends; outcomes move it on: a
/// retry comes back when due, a delivered or failed one never.
pub async fn deliveries_are_leased_once_and_finish_as_told(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    store
        .create_webhook(webhook("w", &[], WebhookSource::Api, 1))
        .await?;
    let e1 = add_event(&*store, EventKind::UserCreated, 10, 1).await?;
    let e2 = add_event(&*store, EventKind::UserCreated, 10, 2).await?;
    let e3 = add_event(&*store, EventKind::UserCreated, 10, 3).await?;
    store.dispatch_events(100, 10).await?;
    let jobs = store.claim_deliveries(None, 10, 40, 10).await?;
    let ids: BTreeSet<String> = jobs.iter().map(|j| j.event.id.clone()).collect();
    ensure!(ids.len() == 3, "{ids:?}");
    ensure!(
        jobs.iter()
            .all(|j| j.webhook.id == "w" && j.attempts == 0 && j.event.env == "a"),
        "{jobs:?}"
    );
    ensure!(
        store.claim_deliveries(None, 20, 50, 10).await?.is_empty(),
        "leased until 40"
    );
    store
        .finish_delivery(
            "w",
            &e1,
            40,
            DeliveryOutcome::Delivered {
                at: 21,
                status: 204,
            },
        )
        .await?;
    store
        .finish_delivery(
            "w",
            &e2,
            40,
            DeliveryOutcome::Retry {
                next_attempt_at: 100,
                status: Some(500),
                error: "500".into(),
            },
        )
        .await?;
    store
        .finish_delivery(
            "w",
            &e3,
            40,
            DeliveryOutcome::Failed {
                status: None,
                error: "refused".into(),
            },
        )
        .await?;
    ensure!(
        store.claim_deliveries(None, 99, 200, 10).await?.is_empty(),
        "the retry is not due yet"
    );
    let again = store.claim_deliveries(None, 100, 200, 10).await?;
    ensure!(
        again.len() == 1 && again[0].event.id == e2 && again[0].attempts == 1,
        "{again:?}"
    );
    // A lease that ran out (its node died) is claimed again.
    ensure!(
        store.claim_deliveries(None, 150, 300, 10).await?.is_empty(),
        "still leased"
    );
    ensure!(
        store.claim_deliveries(None, 200, 300, 10).await?.len() == 1,
        "lease over: claimed again"
    );
    // The attempt of the first claim (lease 200) ends late: it changes nothing.
    let late = DeliveryOutcome::Delivered {
        at: 250,
        status: 200,
    };
    ensure!(
        !store.finish_delivery("w", &e2, 200, late.clone()).await?,
        "a lost lease records nothing"
    );
    let e2_now = store.list_deliveries("w", None, 10).await?;
    ensure!(
        e2_now
            .iter()
            .any(|d| d.event_id == e2 && d.status == DeliveryStatus::Pending),
        "{e2_now:?}"
    );
    let retry = DeliveryOutcome::Retry {
        next_attempt_at: 300,
        status: None,
        error: "x".into(),
    };
    ensure!(
        store.finish_delivery("w", &e2, 300, retry).await?,
        "the holder records"
    );
    let listed = store.list_deliveries("w", None, 10).await?;
    let by = |e: &str| listed.iter().find(|d| d.event_id == e).cloned();
    let d1 = by(&e1).ok_or_else(|| anyhow::anyhow!("d1"))?;
    ensure!(
        d1.status == DeliveryStatus::Delivered && d1.delivered_at == Some(21) && d1.attempts == 1,
        "{d1:?}"
    );
    let d3 = by(&e3).ok_or_else(|| anyhow::anyhow!("d3"))?;
    ensure!(
        d3.status == DeliveryStatus::Failed && d3.last_error.as_deref() == Some("refused"),
        "{d3:?}"
    );
    ensure!(d3.event_kind == "user_created", "{d3:?}");
    // Re-sending the failed one makes it pending and due again, counted from zero.
    ensure!(store.resend_delivery("w", &e3, 300).await?, "resent");
    ensure!(!store.resend_delivery("w", "nope", 300).await?, "unknown");
    let r = store.claim_deliveries(None, 300, 400, 10).await?;
    ensure!(
        r.len() == 2 && r.iter().any(|j| j.event.id == e3 && j.attempts == 0),
        "{r:?}"
    );
    // Finished ones older than the cut-off are purged; pending ones stay.
    store
        .finish_delivery(
            "w",
            &e3,
            400,
            DeliveryOutcome::Delivered {
                at: 301,
                status: 200,
            },
        )
        .await?;
    ensure!(
        store.purge_deliveries(300).await? == 1,
        "d1 (created 10, delivered) only; e3 was queued again at 300"
    );
    ensure!(
        store.list_deliveries("w", None, 10).await?.len() == 2,
        "pending e2 and resent e3 stay"
    );
    Ok(())
}

/// Pages of deliveries walk newest first without skipping or repeating; a test event
/// goes to its one subscription; deleting a subscription deletes its deliveries.
pub async fn deliveries_page_test_events_and_cascade(store: Arc<dyn Store>) -> anyhow::Result<()> {
    store
        .create_webhook(webhook("w", &[], WebhookSource::Api, 1))
        .await?;
    store
        .create_webhook(webhook("other", &[], WebhookSource::Api, 1))
        .await?;
    for n in 0..5 {
        add_event(&*store, EventKind::UserCreated, 10 + i64::from(n / 2), n).await?;
        store.dispatch_events(100, 10 + i64::from(n / 2)).await?;
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_deliveries("w", before.clone(), 2).await?;
        let Some(last) = page.last() else { break };
        before = Some((last.created_at, last.event_id.clone()));
        seen.extend(page.into_iter().map(|d| d.event_id));
    }
    ensure!(
        seen == [
            "ev-00012-4",
            "ev-00011-3",
            "ev-00011-2",
            "ev-00010-1",
            "ev-00010-0"
        ],
        "{seen:?}"
    );
    let test = EventRecord {
        id: "test-1".into(),
        env: "a".into(),
        kind: EventKind::WebhookTest,
        at: 50,
        actor: "admin_key:root".into(),
        username: None,
        data: "{}".into(),
    };
    ensure!(store.enqueue_test_event("w", test.clone()).await?, "queued");
    let mut missing = test.clone();
    missing.id = "test-2".into();
    ensure!(
        !store.enqueue_test_event("nope", missing).await?,
        "no such webhook"
    );
    ensure!(
        store.dispatch_events(100, 60).await? == 0,
        "a test event is not dispatched to others"
    );
    ensure!(
        store.list_deliveries("other", None, 10).await?.len() == 5,
        "other got no test"
    );
    let jobs = store.claim_deliveries(None, 60, 70, 100).await?;
    ensure!(
        jobs.iter().any(|j| j.event == test && j.webhook.id == "w"),
        "{jobs:?}"
    );
    store.delete_webhook("w").await?;
    ensure!(
        store.list_deliveries("w", None, 10).await?.is_empty(),
        "deleted with it"
    );
    Ok(())
}

/// Many dispatchers and claimers at once (several nodes): every event is queued once
/// per subscription and every delivery is handed to exactly one claimer.
pub async fn concurrent_dispatch_and_claims_hand_out_each_delivery_once(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    store
        .create_webhook(webhook("w1", &[], WebhookSource::Api, 1))
        .await?;
    store
        .create_webhook(webhook("w2", &[], WebhookSource::Api, 1))
        .await?;
    for n in 0..40 {
        add_event(&*store, EventKind::UserCreated, 10, n).await?;
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for round in 0..20 {
                store.dispatch_events(3, 10).await?;
                for j in store
                    .claim_deliveries(None, 10 + round, 1_000_000, 3)
                    .await?
                {
                    got.push((j.webhook.id, j.event.id, t));
                }
                tokio::task::yield_now().await;
            }
            anyhow::Ok(got)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    while store.dispatch_events(100, 10).await? > 0 {}
    all.extend(
        store
            .claim_deliveries(None, 1_000, 1_000_000, 1000)
            .await?
            .into_iter()
            .map(|j| (j.webhook.id, j.event.id, 99)),
    );
    let pairs: BTreeSet<(String, String)> =
        all.iter().map(|(w, e, _)| (w.clone(), e.clone())).collect();
    ensure!(pairs.len() == all.len(), "a delivery was handed out twice");
    ensure!(
        pairs.len() == 80,
        "40 events × 2 subscriptions, got {}",
        pairs.len()
    );
    Ok(())
}

/// A claim for one subscription takes only its deliveries.
pub async fn a_claim_for_one_webhook_takes_only_its_deliveries(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    store
        .create_webhook(webhook("slow", &[], WebhookSource::Api, 1))
        .await?;
    store
        .create_webhook(webhook("fast", &[], WebhookSource::Api, 1))
        .await?;
    for n in 0..3 {
        add_event(&*store, EventKind::UserCreated, 10, n).await?;
    }
    store.dispatch_events(100, 10).await?;
    let fast = store.claim_deliveries(Some("fast"), 10, 50, 100).await?;
    ensure!(
        fast.len() == 3 && fast.iter().all(|j| j.webhook.id == "fast"),
        "{fast:?}"
    );
    ensure!(
        store
            .claim_deliveries(Some("fast"), 10, 50, 100)
            .await?
            .is_empty(),
        "leased"
    );
    let rest = store.claim_deliveries(None, 10, 50, 100).await?;
    ensure!(
        rest.len() == 3 && rest.iter().all(|j| j.webhook.id == "slow"),
        "{rest:?}"
    );
    Ok(())
}

/// Nodes starting together keep the same configured subscription in step: every one of
/// them succeeds, and there is one row.
pub async fn concurrent_config_syncs_all_succeed(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .sync_config_webhooks(vec![webhook("cfg_x", &[], WebhookSource::Config, 5)])
                .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ids: Vec<String> = store
        .list_webhooks()
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    ensure!(ids == ["cfg_x"], "{ids:?}");
    // A configured id that an API subscription holds is a conflict, not a takeover.
    store
        .create_webhook(webhook("wh_taken", &[], WebhookSource::Api, 6))
        .await?;
    let r = store
        .sync_config_webhooks(vec![webhook(
            "wh_taken",
            &["user_created"],
            WebhookSource::Config,
            7,
        )])
        .await;
    ensure!(matches!(r, Err(StoreError::Conflict(_))), "got {r:?}");
    Ok(())
}

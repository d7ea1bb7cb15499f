//! Webhook delivery (SPEC §12): the event log is the outbox. Every node dispatches
//! committed events into deliveries and sends the ones it leases, signed the Standard
//! Webhooks way, at least once, with retries and back-off for a day.

pub mod egress;
pub mod sign;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wirecash_core::AuthService;
use wirecash_core::store::{EventRecord, WebhookRecord, WebhookSource};

pub use worker::run;

/// How deliveries are made (`[webhook]` in the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Networks deliveries may go to besides public addresses.
    pub allowed_networks: Vec<egress::Network>,
    /// The first retry's delay; each next one doubles, up to `MAX_BACKOFF`.
    pub retry_base: Duration,
    /// Deliveries in flight at once per subscription, per node.
    pub max_in_flight: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allowed_networks: Vec::new(),
            retry_base: Duration::from_secs(5),
            max_in_flight: 4,
        }
    }
}

/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long a delivery is retried before it is marked failed.
pub const RETRY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// An attempt's deadline: a 2xx must come within it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most response body bytes read (then the connection is dropped).
pub const MAX_RESPONSE: usize = 4096;

/// `[[webhooks]]` of the configuration: a subscription kept in the database as the
/// configuration says (its id derives from the URL).
#[derive(Debug, Clone)]
pub struct Configured {
    /// Where deliveries go.
    pub url: String,
    /// Event types; empty for all.
    pub events: Vec<String>,
    /// The secret read from `secret_file`.
    pub secret: sign::Secret,
}

impl Configured {
    /// The subscription's id: `cfg_` and a hash of the URL (stable across restarts and
    /// nodes).
    pub fn id(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.url.as_bytes());
        let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("cfg_{hex}")
    }
}

/// Seals a secret for storage (bound to the subscription id).
pub fn seal(
    service: &AuthService,
    id: &str,
    secret: &sign::Secret,
) -> Result<Vec<u8>, wirecash_core::Error> {
    service
        .admin_secrets()
        .sealer
        .seal(format!("webhook\0{id}").as_bytes(), secret.bytes())
}

/// Opens a stored secret.
pub fn open(service: &AuthService, id: &str, sealed: &[u8]) -> Option<sign::Secret> {
    service
        .admin_secrets()
        .sealer
        .open(format!("webhook\0{id}").as_bytes(), sealed)
        .map(|b| sign::Secret::from_bytes(&b))
}

/// Puts the configuration's subscriptions into the database (at start).
pub async fn sync_configured(
    service: &AuthService,
    configured: &[Configured],
) -> anyhow::Result<()> {
    let now = service.admin().clock.now();
    let mut records = Vec::with_capacity(configured.len());
    for c in configured {
        let id = c.id();
        records.push(WebhookRecord {
            secret_sealed: seal(service, &id, &c.secret)?,
            id,
            url: c.url.clone(),
            event_types: c.events.clone(),
            previous_secret: None,
            paused: false,
            source: WebhookSource::Config,
            created_at: now,
        });
    }
    service.admin().store.sync_config_webhooks(records).await?;
    Ok(())
}

/// The body of a delivery: `{"type", "timestamp", "data"}`; `data` holds the event's
/// fields, its environment, actor and user — ids and names, never a secret.
pub fn body(event: &EventRecord) -> Vec<u8> {
    let mut data = match serde_json::from_str::<Value>(&event.data) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    data.insert("event_id".into(), json!(event.id));
    data.insert("environment".into(), json!(event.env));
    data.insert("actor".into(), json!(event.actor));
    data.entry("username").or_insert(json!(event.username));
    json!({
        "type": event.kind.as_str(),
        "timestamp": crate::admin::api::time(event.at),
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// The delay before attempt `attempts + 1`: `base · 2^attempts`, at most `MAX_BACKOFF`,
/// with ±20 % jitter (`jitter` in 0..1) so that retries of many events spread out.
pub fn backoff(base: Duration, attempts: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.min(20));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// Starts the node's delivery work: the dispatcher and a sender per subscription.
pub fn spawn(service: Arc<AuthService>, settings: Settings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(service, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_a_fifth() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 0, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(base, 3, 0.5), Duration::from_secs(40));
        assert_eq!(backoff(base, 30, 0.5), MAX_BACKOFF);
        assert_eq!(backoff(base, 0, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(base, 0, 1.0), Duration::from_secs(6));
    }

    #[test]
    fn the_body_has_type_timestamp_and_data_with_names_only() {
        let e = EventRecord {
            id: "e1".into(),
            env: "sandbox".into(),
            kind: wirecash_core::store::EventKind::UserCreated,
            at: 1_700_000_000_000,
            actor: "admin_key:ops".into(),
            username: Some("alice".into()),
            data: r#"{"user_id":"u1","username":"alice"}"#.into(),
        };
        let v: Value = serde_json::from_slice(&body(&e)).unwrap_or_default();
        assert_eq!(v["type"], "user_created");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["data"]["user_id"], "u1");
        assert_eq!(v["data"]["environment"], "sandbox");
        assert_eq!(v["data"]["event_id"], "e1");
        assert_eq!(v.as_object().map(|o| o.len()), Some(3));
    }
}

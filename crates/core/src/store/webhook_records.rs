//! The records of webhook delivery (SPEC §12): subscriptions, and one delivery per event
//! and subscription, made from the event log (the outbox) and leased to one node at a
//! time.

use crate::clock::UnixMillis;

use super::EventRecord;

/// Where a subscription comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookSource {
    /// `[[webhooks]]` in the configuration (kept in step with it at start).
    Config,
    /// Made by an owner through the admin API.
    Api,
}

impl WebhookSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookSource::Config => "config",
            WebhookSource::Api => "api",
        }
    }

    /// The source of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "config" => Some(WebhookSource::Config),
            "api" => Some(WebhookSource::Api),
            _ => None,
        }
    }
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// `wh_…` (API) or `cfg_…` (configuration, derived from the URL).
    pub id: String,
    /// Where deliveries go (http or https).
    pub url: String,
    /// The event types it gets (wire names); empty means every type.
    pub event_types: Vec<String>,
    /// Its `whsec_` secret, sealed with the master key.
    pub secret_sealed: Vec<u8>,
    /// During a secret rotation: the previous secret, sealed, and until when deliveries
    /// are signed with it too.
    pub previous_secret: Option<(Vec<u8>, UnixMillis)>,
    /// A paused subscription gets no deliveries (events are not queued for it meanwhile).
    pub paused: bool,
    /// Where it comes from.
    pub source: WebhookSource,
    /// Creation time.
    pub created_at: UnixMillis,
}

/// The state of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Retried for the whole retry window without a 2xx.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One delivery as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The subscription.
    pub webhook_id: String,
    /// The event (also the `webhook-id` header).
    pub event_id: String,
    /// Its type.
    pub event_kind: String,
    /// State.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: UnixMillis,
    /// The next attempt (pending ones).
    pub next_attempt_at: UnixMillis,
    /// The last attempt's HTTP status, if one came back.
    pub last_status: Option<u16>,
    /// The last attempt's error, short.
    pub last_error: Option<String>,
    /// When a 2xx came back.
    pub delivered_at: Option<UnixMillis>,
}

/// A delivery leased to this node: what it needs to send it.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// The subscription, as it is now.
    pub webhook: WebhookRecord,
    /// The event.
    pub event: EventRecord,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When it was queued (the retry window counts from here).
    pub created_at: UnixMillis,
    /// The lease this claim holds (its outcome is recorded only while it still does).
    pub lease_until: UnixMillis,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx.
    Delivered {
        /// When.
        at: UnixMillis,
        /// The status.
        status: u16,
    },
    /// Not delivered; try again at `next_attempt_at`.
    Retry {
        /// When.
        next_attempt_at: UnixMillis,
        /// The status, if one came back.
        status: Option<u16>,
        /// Why, short.
        error: String,
    },
    /// Not delivered, and the retry window is over.
    Failed {
        /// The status, if one came back.
        status: Option<u16>,
        /// Why, short.
        error: String,
    },
}

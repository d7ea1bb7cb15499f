//! `Timed`: a `Store` around another that records every call's latency and failures
//! under the call's name (`wirecash_store_operation_duration_seconds{operation}`).

use std::sync::Arc;

use super::*;

/// A store whose every call is timed (see `crate::metrics::store`). The service wraps
/// the backend in one, so that no call can be left untimed.
pub struct Timed {
    inner: Arc<dyn Store>,
}

impl Timed {
    /// Times every call of `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

/// One `#[async_trait] impl $trait for Timed` forwarding each listed method to `inner`
/// through `crate::metrics::store`, named after the method.
macro_rules! timed {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Timed {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    static METRIC: crate::metrics::StoreMetric =
                        crate::metrics::StoreMetric::new(stringify!($name));
                    crate::metrics::store(&METRIC, self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

timed!(UserStore {
    fn create_user(&self, user: UserRecord, event: Option<EventRecord>) -> ();
    fn find_user(&self, env: &str, username: &str) -> Option<UserRecord>;
    fn list_users(&self, env: &str) -> Vec<UserRecord>;
    fn users_page(&self, env: &str, prefix: &str, after: Option<&str>, limit: u32) -> Vec<UserRecord>;
    fn env_stats(&self, env: &str, used_after: UnixMillis, created_after: UnixMillis) -> EnvStats;
    fn set_user_disabled(&self, env: &str, username: &str, disabled: bool, now: UnixMillis, event: Option<EventRecord>) -> ();
    fn change_password(&self, env: &str, username: &str, password_hash: &str, now: UnixMillis, event: Option<EventRecord>) -> ();
    fn rotate_password(&self, env: &str, username: &str, expected_hash: &str, password_hash: &str, overlap_until: UnixMillis, event: Option<EventRecord>) -> bool;
    fn rehash_password(&self, user_id: &str, old_hash: &str, new_hash: &str) -> ();
    fn delete_user(&self, env: &str, username: &str, event: Option<EventRecord>) -> ();
    fn password_hash_params(&self) -> Vec<String>;
});

timed!(SessionStore {
    fn create_session(&self, session: NewSession, max_live: u32, guards: Option<GuardChange>) -> ();
    fn load_session(&self, env: &str, id: i64) -> Option<SessionRecord>;
    fn rotate(&self, rotation: Rotation) -> bool;
    fn rotate_guarded(&self, rotation: Rotation, guard: RotationGuard) -> bool;
    fn revoke_session(&self, env: &str, id: i64, now: UnixMillis, reason: &str, event: Option<EventRecord>) -> bool;
    fn revoke_user_sessions(&self, env: &str, username: &str, now: UnixMillis, reason: &str, event: Option<EventRecord>) -> u64;
    fn revoke_env_sessions(&self, env: &str, now: UnixMillis, reason: &str, event: Option<EventRecord>) -> u64;
    fn list_sessions(&self, env: &str, username: Option<&str>, before: Option<i64>, limit: u32) -> Vec<SessionSummary>;
    fn purge_sessions(&self, after_id: i64, batch: u32, cutoffs: PurgeCutoffs) -> (u64, i64);
});

timed!(KeyStore {
    fn list_keys(&self, env: &str) -> Vec<KeyRecord>;
    fn insert_key(&self, key: KeyRecord, event: Option<EventRecord>) -> ();
    fn delete_key(&self, env: &str, kid: &str) -> ();
});

timed!(TransferStore {
    fn users_after(&self, after_id: &str, batch: u32) -> Vec<UserRecord>;
    fn sessions_after(&self, after_id: i64, batch: u32) -> Vec<SessionRecord>;
    fn import_session(&self, session: SessionRecord) -> ();
    fn all_keys(&self) -> Vec<KeyRecord>;
    fn all_introspectors(&self) -> Vec<IntrospectorRecord>;
});

timed!(LoginGuardStore {
    fn update_login_guards(&self, keys: &[[u8; HASH_LEN]], update: GuardUpdate) -> ();
    fn purge_login_failures(&self, before: UnixMillis, succeeded_before: UnixMillis) -> u64;
});

timed!(IntrospectorStore {
    fn add_introspector(&self, record: IntrospectorRecord) -> ();
    fn find_introspector(&self, env: &str, name: &str) -> Option<IntrospectorRecord>;
    fn list_introspectors(&self, env: &str) -> Vec<IntrospectorRecord>;
    fn remove_introspector(&self, env: &str, name: &str) -> bool;
});

timed!(EventStore {
    fn list_events(&self, query: EventQuery) -> Vec<EventRecord>;
    fn purge_events(&self, before: UnixMillis, batch: u32) -> u64;
});

timed!(AdminStore {
    fn create_admin_key(&self, key: AdminKeyRecord) -> ();
    fn find_admin_key(&self, id: &str) -> Option<AdminKeyRecord>;
    fn list_admin_keys(&self) -> Vec<AdminKeyRecord>;
    fn revoke_admin_key(&self, name: &str, now: UnixMillis) -> bool;
    fn claim_idempotency_key(&self, record: IdempotencyRecord) -> Option<IdempotencyRecord>;
    fn complete_idempotency_key(&self, owner: &str, key: &str, status: u16, body_sealed: Vec<u8>) -> ();
    fn release_idempotency_key(&self, owner: &str, key: &str) -> ();
    fn purge_idempotency_keys(&self, before: UnixMillis) -> u64;
});

timed!(WebhookStore {
    fn create_webhook(&self, webhook: WebhookRecord) -> ();
    fn sync_config_webhooks(&self, webhooks: Vec<WebhookRecord>) -> ();
    fn list_webhooks(&self) -> Vec<WebhookRecord>;
    fn set_webhook_paused(&self, id: &str, paused: bool) -> bool;
    fn rotate_webhook_secret(&self, id: &str, secret_sealed: Vec<u8>, previous_until: UnixMillis) -> bool;
    fn delete_webhook(&self, id: &str) -> bool;
    fn dispatch_events(&self, batch: u32, now: UnixMillis) -> u64;
    fn claim_deliveries(&self, webhook_id: Option<&str>, now: UnixMillis, lease_until: UnixMillis, limit: u32) -> Vec<DeliveryJob>;
    fn finish_delivery(&self, webhook_id: &str, event_id: &str, lease_until: UnixMillis, outcome: DeliveryOutcome) -> bool;
    fn list_deliveries(&self, webhook_id: &str, before: Option<(UnixMillis, String)>, limit: u32) -> Vec<DeliveryRecord>;
    fn resend_delivery(&self, webhook_id: &str, event_id: &str, now: UnixMillis) -> bool;
    fn enqueue_test_event(&self, webhook_id: &str, event: EventRecord) -> bool;
    fn purge_deliveries(&self, before: UnixMillis) -> u64;
});

timed!(Store {
    fn ping(&self) -> ();
});

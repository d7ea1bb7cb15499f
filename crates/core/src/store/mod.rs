//! The storage contract, split by capability. Each backend (SQLite, PostgreSQL) owns its
//! SQL and implements these traits; the lifecycle only ever talks to them, through
//! `Timed`, which records every call's latency.

use async_trait::async_trait;

use crate::clock::UnixMillis;
use crate::crypto::HASH_LEN;
use crate::error::StoreError;

mod admin_records;
mod records;
mod timed;
mod webhook_records;

pub use admin_records::*;
pub use records::*;
pub use timed::Timed;
pub use webhook_records::*;

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict` if the username is taken in that environment.
    /// `event` (like every `event` below) is written in the same transaction as the change.
    async fn create_user(
        &self,
        user: UserRecord,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError>;
    /// Looks a user up by name.
    async fn find_user(&self, env: &str, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users of an environment, by name.
    async fn list_users(&self, env: &str) -> Result<Vec<UserRecord>, StoreError>;
    /// Up to `limit` users of an environment whose name starts with `prefix`, by name,
    /// after the name `after` (the previous page's last).
    async fn users_page(
        &self,
        env: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError>;
    /// How many users an environment has, and how many sessions that are not revoked,
    /// were last used after `used_after` and created after `created_after`.
    async fn env_stats(
        &self,
        env: &str,
        used_after: UnixMillis,
        created_after: UnixMillis,
    ) -> Result<EnvStats, StoreError>;
    /// Enables or disables; disabling revokes every session of the user and moves its
    /// `session_epoch` on, in the same transaction. `NotFound` if there is no such user.
    async fn set_user_disabled(
        &self,
        env: &str,
        username: &str,
        disabled: bool,
        now: UnixMillis,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError>;
    /// Replaces the password hash (and drops a previous one), revokes every session of
    /// the user and moves its `session_epoch` on, in one transaction (a password change
    /// ends sessions, ASVS 7.4.3).
    async fn change_password(
        &self,
        env: &str,
        username: &str,
        password_hash: &str,
        now: UnixMillis,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError>;
    /// A planned credential rotation: the current hash becomes the previous one, working
    /// for logins until `overlap_until`, and `password_hash` (made with the current hash's
    /// salt and parameters) the current one; sessions stay. Replaces any earlier previous
    /// hash. Applied only if the current hash is still `expected_hash`: `Ok(false)` when
    /// it is not, or there is no such user.
    async fn rotate_password(
        &self,
        env: &str,
        username: &str,
        expected_hash: &str,
        password_hash: &str,
        overlap_until: UnixMillis,
        event: Option<EventRecord>,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash after a successful login with outdated parameters;
    /// sessions stay. Only applies if the hash is still `old_hash`.
    async fn rehash_password(
        &self,
        user_id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError>;
    /// Deletes a user and all their sessions.
    async fn delete_user(
        &self,
        env: &str,
        username: &str,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError>;
    /// The distinct parameter parts (`m=…,t=…,p=…`) of the stored Argon2id (v=19)
    /// password hashes: what a password check can cost (the timing defence).
    async fn password_hash_params(&self) -> Result<Vec<String>, StoreError>;
}

/// Sessions and their refresh tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a session if its owner still exists, is enabled and still has
    /// `session.user_epoch` — checked in the same transaction as the insert, so that a
    /// login checked against the user as it was before a password change, a disable, a
    /// revoke of every session or a delete makes no session (`NotFound` then). In the
    /// same transaction, ends the owner's least recently used live sessions of the same
    /// kind beyond `max_live` and deletes its revoked sessions of that kind beyond the
    /// newest `REVOKED_SESSIONS_KEPT`; and applies `guards` (the settling of the login's
    /// failed-login counters) as `update_login_guards` would. All of it or none of it.
    /// `Conflict` if the id is taken.
    async fn create_session(
        &self,
        session: NewSession,
        max_live: u32,
        guards: Option<GuardChange>,
    ) -> Result<(), StoreError>;
    /// Reads a session with its user's state.
    async fn load_session(&self, env: &str, id: i64) -> Result<Option<SessionRecord>, StoreError>;
    /// Applies a rotation if nothing changed since it was decided; `Ok(false)` if the
    /// compare-and-set lost (another rotation or a revocation came first). Only
    /// `Refresh` sessions rotate.
    async fn rotate(&self, rotation: Rotation) -> Result<bool, StoreError>;
    /// `rotate`, applied only if `guard` holds as well: one statement, no prior read.
    /// `Ok(false)` when anything differs; the caller then reads and decides.
    async fn rotate_guarded(
        &self,
        rotation: Rotation,
        guard: RotationGuard,
    ) -> Result<bool, StoreError>;
    /// Revokes one session; `Ok(false)` if there was no such session or it was revoked
    /// already. `event` is written only when the session was revoked by this call (so
    /// that replaying a dead token cannot grow the event log).
    async fn revoke_session(
        &self,
        env: &str,
        id: i64,
        now: UnixMillis,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<bool, StoreError>;
    /// Revokes every live session of a user and moves its `session_epoch` on, in one
    /// transaction; returns how many sessions.
    async fn revoke_user_sessions(
        &self,
        env: &str,
        username: &str,
        now: UnixMillis,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError>;
    /// Revokes every live session of an environment and moves every user's
    /// `session_epoch` on, in one transaction (the incident button); returns how many.
    async fn revoke_env_sessions(
        &self,
        env: &str,
        now: UnixMillis,
        reason: &str,
        event: Option<EventRecord>,
    ) -> Result<u64, StoreError>;
    /// Sessions of an environment, optionally of one user, newest first, with an id
    /// below `before` (the previous page's last) when given.
    async fn list_sessions(
        &self,
        env: &str,
        username: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError>;
    /// Deletes dead sessions among the next `batch` ids after `after_id`. Returns how many
    /// were deleted and the cursor to continue from (0 when the table was walked through).
    async fn purge_sessions(
        &self,
        after_id: i64,
        batch: u32,
        cutoffs: PurgeCutoffs,
    ) -> Result<(u64, i64), StoreError>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key of an environment, oldest first.
    async fn list_keys(&self, env: &str) -> Result<Vec<KeyRecord>, StoreError>;
    /// Adds a key.
    async fn insert_key(
        &self,
        key: KeyRecord,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError>;
    /// Removes keys that no token can need any more.
    async fn delete_key(&self, env: &str, kid: &str) -> Result<(), StoreError>;
}

/// Bulk reads and writes of whole rows, for copying a database to another backend
/// (`wirecash-auth migrate-store`). Not used while serving.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Up to `batch` users of every environment with an id greater than `after_id`
    /// (`""` to start), in id order.
    async fn users_after(&self, after_id: &str, batch: u32) -> Result<Vec<UserRecord>, StoreError>;
    /// Up to `batch` sessions of every environment with an id greater than `after_id`,
    /// in id order, every field as stored (revoked ones too).
    async fn sessions_after(
        &self,
        after_id: i64,
        batch: u32,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Inserts a session row exactly as given (its `username` and `user_disabled`
    /// belong to the user row and are ignored); `Conflict` if the id is taken or the user
    /// does not exist.
    async fn import_session(&self, session: SessionRecord) -> Result<(), StoreError>;
    /// Every signing key of every environment.
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Every introspector of every environment.
    async fn all_introspectors(&self) -> Result<Vec<IntrospectorRecord>, StoreError>;
}

/// Failed-login counters for brute-force protection (SPEC §10), shared by every node.
/// A key is a keyed hash of what is counted (a username from an address, an address, a
/// username), never the name itself: mistyped passwords in the username field are not
/// stored. The rules live in `crate::lockout`; a store only makes each change atomic.
#[async_trait]
pub trait LoginGuardStore: Send + Sync {
    /// Reads the counters of `keys` (a missing one as all zero), lets `update` change
    /// them and writes them back, as one atomic step with respect to every other call on
    /// any of these keys, on every node. Counters left empty are deleted.
    async fn update_login_guards(
        &self,
        keys: &[[u8; HASH_LEN]],
        update: GuardUpdate,
    ) -> Result<(), StoreError>;
    /// Deletes counters whose last failure, lock and admission all ended before `before`
    /// and whose last success was before `succeeded_before`; returns how many.
    async fn purge_login_failures(
        &self,
        before: UnixMillis,
        succeeded_before: UnixMillis,
    ) -> Result<u64, StoreError>;
}

/// Resource-server credentials for token introspection, managed with the CLI.
#[async_trait]
pub trait IntrospectorStore: Send + Sync {
    /// Adds one; `Conflict` if the name is taken in that environment.
    async fn add_introspector(&self, record: IntrospectorRecord) -> Result<(), StoreError>;
    /// The introspector called `name`, if any.
    async fn find_introspector(
        &self,
        env: &str,
        name: &str,
    ) -> Result<Option<IntrospectorRecord>, StoreError>;
    /// Every introspector of an environment, by name.
    async fn list_introspectors(&self, env: &str) -> Result<Vec<IntrospectorRecord>, StoreError>;
    /// Removes one; `Ok(false)` if there was none.
    async fn remove_introspector(&self, env: &str, name: &str) -> Result<bool, StoreError>;
}

/// The event log (SPEC §12). Events are written by the changes that cause them (the
/// `event` arguments above, and the failed-login counters' updates); here they are read
/// and purged.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// A page of events, newest first (by time, then id).
    async fn list_events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError>;
    /// Deletes up to `batch` events older than `before`; returns how many.
    async fn purge_events(&self, before: UnixMillis, batch: u32) -> Result<u64, StoreError>;
}

/// Admin keys and the `Idempotency-Key` records of the admin API (SPEC §11).
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Adds a key; `Conflict` if the name (or id) is taken, revoked keys included.
    async fn create_admin_key(&self, key: AdminKeyRecord) -> Result<(), StoreError>;
    /// The key with this id, revoked or not.
    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError>;
    /// Every key, by name.
    async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError>;
    /// Revokes the key called `name`; `Ok(false)` if there is no live one.
    async fn revoke_admin_key(&self, name: &str, now: UnixMillis) -> Result<bool, StoreError>;
    /// Stores `record` (without a response) unless its `(owner, key)` is known; returns
    /// the stored record when it is (then nothing is written).
    async fn claim_idempotency_key(
        &self,
        record: IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Stores the answer of a claimed key.
    async fn complete_idempotency_key(
        &self,
        owner: &str,
        key: &str,
        status: u16,
        body_sealed: Vec<u8>,
    ) -> Result<(), StoreError>;
    /// Forgets a claimed key whose request failed without an answer worth keeping.
    async fn release_idempotency_key(&self, owner: &str, key: &str) -> Result<(), StoreError>;
    /// Deletes idempotency records created before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: UnixMillis) -> Result<u64, StoreError>;
}

/// Webhook subscriptions and their deliveries (SPEC §12). The event log is the outbox:
/// `dispatch_events` turns committed events into deliveries, one per subscribed webhook,
/// and marks them dispatched in the same transaction, so that no event is lost or queued
/// twice across crashes and nodes; `claim_deliveries` leases due ones to one node.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds a subscription; `Conflict` if the id is taken.
    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<(), StoreError>;
    /// Makes the `Config` subscriptions exactly `webhooks` (added, updated — URL, types,
    /// secret — or removed with their deliveries); `Api` ones are left alone.
    async fn sync_config_webhooks(&self, webhooks: Vec<WebhookRecord>) -> Result<(), StoreError>;
    /// Every subscription, by creation.
    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Pauses or resumes one; `Ok(false)` if there is none.
    async fn set_webhook_paused(&self, id: &str, paused: bool) -> Result<bool, StoreError>;
    /// Replaces the secret; the old one signs too until `previous_until`. `Ok(false)` if
    /// there is no such subscription.
    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret_sealed: Vec<u8>,
        previous_until: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Deletes one with its deliveries; `Ok(false)` if there is none.
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    /// Queues up to `batch` undispatched events: a pending delivery (due `now`) for
    /// every subscription that is not paused and takes the event's type, and the event
    /// marked dispatched, in one transaction; concurrent calls (other nodes) take other
    /// events. Returns how many events.
    async fn dispatch_events(&self, batch: u32, now: UnixMillis) -> Result<u64, StoreError>;
    /// Leases up to `limit` pending deliveries due at `now` (and not leased to anyone
    /// until after `now`), of one subscription when `webhook_id` is given, to the caller
    /// until `lease_until`, oldest first.
    async fn claim_deliveries(
        &self,
        webhook_id: Option<&str>,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<DeliveryJob>, StoreError>;
    /// Records an attempt's outcome and ends the lease — if the caller still holds it
    /// (`lease_until` as claimed): an attempt that outlived its lease, whose delivery
    /// another node claimed meanwhile, changes nothing (`Ok(false)`).
    async fn finish_delivery(
        &self,
        webhook_id: &str,
        event_id: &str,
        lease_until: UnixMillis,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StoreError>;
    /// The deliveries of a subscription, newest first, created before `before` (the
    /// previous page's last `(created_at, event_id)`).
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        before: Option<(UnixMillis, String)>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Makes a delivery pending again, due `now`, with its attempts counted from zero
    /// (re-sending a failed one); `Ok(false)` if there is no such delivery.
    async fn resend_delivery(
        &self,
        webhook_id: &str,
        event_id: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Queues `event` for one subscription only (a test delivery), in one transaction
    /// with the event itself (stored already dispatched).
    async fn enqueue_test_event(
        &self,
        webhook_id: &str,
        event: EventRecord,
    ) -> Result<bool, StoreError>;
    /// Deletes delivered and failed deliveries created before `before`; returns how many.
    async fn purge_deliveries(&self, before: UnixMillis) -> Result<u64, StoreError>;
}

/// Everything a backend provides.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + KeyStore
    + TransferStore
    + LoginGuardStore
    + IntrospectorStore
    + EventStore
    + AdminStore
    + WebhookStore
{
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

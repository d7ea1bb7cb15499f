//! The storage contract, split by capability. Each backend (SQLite, PostgreSQL) owns its
//! SQL and implements these traits; the lifecycle only ever talks to them.

use async_trait::async_trait;

use crate::clock::UnixMillis;
use crate::crypto::HASH_LEN;
use crate::error::StoreError;

/// A stored API user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id (the `sub` claim).
    pub id: String,
    /// Environment the user belongs to.
    pub env: String,
    /// Unique within the environment.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// A disabled user cannot authenticate or refresh.
    pub disabled: bool,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Moves on with every change that ends all of the user's sessions (a password
    /// change, a disable, a revoke of every session): a login checked against the user
    /// as it was before such a change makes no session (`create_session`).
    pub session_epoch: i64,
}

/// What made a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// A login (`/authenticate`, the `password` grant): a refresh-token family.
    Refresh,
    /// A `client_credentials` grant: an access token alone, never refreshed (RFC 6749
    /// §4.4.3). Counted apart, so machine-to-machine token fetches never end a
    /// refreshable session.
    ClientCredentials,
}

impl SessionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Refresh => "refresh",
            SessionKind::ClientCredentials => "client_credentials",
        }
    }

    /// The kind of a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refresh" => Some(SessionKind::Refresh),
            "client_credentials" => Some(SessionKind::ClientCredentials),
            _ => None,
        }
    }
}

/// Revoked sessions kept per user and kind (for audits and for telling a revoked token
/// from an unknown one); older revoked ones go when a new session is made, so that no
/// login/revoke loop grows the table (SPEC §2).
pub const REVOKED_SESSIONS_KEPT: u32 = 16;

/// A session (token family) as the refresh path needs it, with its user's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Primary key; also inside every refresh token of the session.
    pub id: i64,
    /// Environment.
    pub env: String,
    /// What made it (only `Refresh` sessions rotate).
    pub kind: SessionKind,
    /// Owner.
    pub user_id: String,
    /// Owner's username (joined, for the binding check).
    pub username: String,
    /// Owner is disabled (joined).
    pub user_disabled: bool,
    /// Authenticate time (absolute lifetime counts from here).
    pub created_at: UnixMillis,
    /// Last authenticate or rotation (idle lifetime counts from here).
    pub last_used_at: UnixMillis,
    /// Generation of the live refresh token.
    pub generation: i64,
    /// Keyed hash of the live refresh token.
    pub current_hash: [u8; HASH_LEN],
    /// Keyed hash of the access token issued with the live refresh token.
    pub current_access_hash: [u8; HASH_LEN],
    /// Keyed hash of the immediately previous refresh token (grace replays).
    pub prev_hash: Option<[u8; HASH_LEN]>,
    /// Keyed hash of the access token issued with the previous refresh token.
    pub prev_access_hash: Option<[u8; HASH_LEN]>,
    /// When the live refresh token was issued.
    pub rotated_at: UnixMillis,
    /// The access token issued with the live refresh token, encrypted (replays return it).
    pub access_token_sealed: Vec<u8>,
    /// Expiry of that access token.
    pub access_expires_at: UnixMillis,
    /// Set once the session is revoked.
    pub revoked_at: Option<UnixMillis>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// What an authenticate writes.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Chosen by the service (time-ordered, random low bits).
    pub id: i64,
    /// Environment.
    pub env: String,
    /// What makes it.
    pub kind: SessionKind,
    /// Owner.
    pub user_id: String,
    /// The owner's `session_epoch` as the login read it: the session is made only if
    /// the owner still has it (and still exists and is enabled).
    pub user_epoch: i64,
    /// Now.
    pub created_at: UnixMillis,
    /// Hash of refresh token generation 0.
    pub current_hash: [u8; HASH_LEN],
    /// Hash of the access token issued with it.
    pub current_access_hash: [u8; HASH_LEN],
    /// That access token, encrypted.
    pub access_token_sealed: Vec<u8>,
    /// Its expiry.
    pub access_expires_at: UnixMillis,
}

/// What a rotation writes, applied only if the session still is at `expected_generation`,
/// unrevoked (compare-and-set, so two racing rotations can never both win).
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Session.
    pub session_id: i64,
    /// Environment.
    pub env: String,
    /// The generation the decision was made on.
    pub expected_generation: i64,
    /// Hash of the token being spent (must still be current).
    pub expected_hash: [u8; HASH_LEN],
    /// New live generation.
    pub generation: i64,
    /// Hash of the new refresh token.
    pub current_hash: [u8; HASH_LEN],
    /// Hash of the new access token.
    pub current_access_hash: [u8; HASH_LEN],
    /// The spent token's hash becomes the previous one.
    pub prev_hash: [u8; HASH_LEN],
    /// And its access token's hash.
    pub prev_access_hash: [u8; HASH_LEN],
    /// Now.
    pub rotated_at: UnixMillis,
    /// New access token, encrypted.
    pub access_token_sealed: Vec<u8>,
    /// Its expiry.
    pub access_expires_at: UnixMillis,
}

/// The conditions under which the refresh path may rotate without reading the session
/// first: exactly the lifecycle's conditions for `Decision::Rotate`, checked by the
/// database in the same statement as the compare-and-set.
#[derive(Debug, Clone)]
pub struct RotationGuard {
    /// The live access token's hash must be this (the presented access token's).
    pub current_access_hash: [u8; HASH_LEN],
    /// The session's owner.
    pub user_id: String,
    /// Its username (must match) — and it must not be disabled.
    pub username: String,
    /// `last_used_at` must be later than this (idle lifetime).
    pub used_after: UnixMillis,
    /// `created_at` must be later than this (absolute lifetime).
    pub created_after: UnixMillis,
}

/// One row of `session list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Id.
    pub id: i64,
    /// What made it.
    pub kind: SessionKind,
    /// Owner's username.
    pub username: String,
    /// Authenticate time.
    pub created_at: UnixMillis,
    /// Last use.
    pub last_used_at: UnixMillis,
    /// Rotations so far.
    pub generation: i64,
    /// Revocation time.
    pub revoked_at: Option<UnixMillis>,
    /// Revocation reason.
    pub revoked_reason: Option<String>,
}

/// Cut-off times for the background purge: a session is deleted when it was last used
/// before `idle_before`, created before `absolute_before`, or revoked before `revoked_before`.
#[derive(Debug, Clone, Copy)]
pub struct PurgeCutoffs {
    /// Idle lifetime cut-off.
    pub idle_before: UnixMillis,
    /// Absolute lifetime cut-off.
    pub absolute_before: UnixMillis,
    /// Revoked-retention cut-off.
    pub revoked_before: UnixMillis,
}

/// A signing key at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Environment.
    pub env: String,
    /// Key id (`kid`).
    pub kid: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// PKCS#8 private key, encrypted with the master key.
    pub private_key_sealed: Vec<u8>,
    /// Creation time.
    pub created_at: UnixMillis,
    /// From when it signs.
    pub activates_at: UnixMillis,
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict` if the username is taken in that environment.
    async fn create_user(&self, user: UserRecord) -> Result<(), StoreError>;
    /// Looks a user up by name.
    async fn find_user(&self, env: &str, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users of an environment, by name.
    async fn list_users(&self, env: &str) -> Result<Vec<UserRecord>, StoreError>;
    /// Enables or disables; disabling revokes every session of the user and moves its
    /// `session_epoch` on, in the same transaction. `NotFound` if there is no such user.
    async fn set_user_disabled(
        &self,
        env: &str,
        username: &str,
        disabled: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Replaces the password hash, revokes every session of the user and moves its
    /// `session_epoch` on, in one transaction (a password change ends sessions, ASVS
    /// 7.4.3).
    async fn change_password(
        &self,
        env: &str,
        username: &str,
        password_hash: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Replaces the password hash after a successful login with outdated parameters;
    /// sessions stay. Only applies if the hash is still `old_hash`.
    async fn rehash_password(
        &self,
        user_id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError>;
    /// Deletes a user and all their sessions.
    async fn delete_user(&self, env: &str, username: &str) -> Result<(), StoreError>;
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
    /// newest `REVOKED_SESSIONS_KEPT`. `Conflict` if the id is taken.
    async fn create_session(&self, session: NewSession, max_live: u32) -> Result<(), StoreError>;
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
    /// Revokes one session; `Ok(false)` if there was no such session or it was revoked already.
    async fn revoke_session(
        &self,
        env: &str,
        id: i64,
        now: UnixMillis,
        reason: &str,
    ) -> Result<bool, StoreError>;
    /// Revokes every live session of a user and moves its `session_epoch` on, in one
    /// transaction; returns how many sessions.
    async fn revoke_user_sessions(
        &self,
        env: &str,
        username: &str,
        now: UnixMillis,
        reason: &str,
    ) -> Result<u64, StoreError>;
    /// Sessions of an environment, optionally of one user, newest first.
    async fn list_sessions(
        &self,
        env: &str,
        username: Option<&str>,
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
    async fn insert_key(&self, key: KeyRecord) -> Result<(), StoreError>;
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

/// One failed-login counter as stored; all zero when it has no row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardCounter {
    /// Failed logins counted so far.
    pub failures: u32,
    /// When the last one was counted.
    pub last_failure_at: UnixMillis,
    /// No login is checked before this.
    pub locked_until: UnixMillis,
    /// Logins admitted and not yet decided (their password check is running).
    pub pending: u32,
    /// When the last of them was admitted.
    pub reserved_at: UnixMillis,
    /// Last successful login (on the counter of one username from one address).
    pub succeeded_at: UnixMillis,
}

impl GuardCounter {
    /// Whether the counter holds nothing worth a row.
    pub fn is_empty(&self) -> bool {
        *self == GuardCounter::default()
    }
}

/// A change of failed-login counters, decided by the lockout rules (`crate::lockout`)
/// and applied by a store in one atomic step.
pub type GuardUpdate = Box<dyn FnOnce(&mut [GuardCounter]) + Send>;

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

/// A resource server allowed to call `POST /{env}/introspect` (RFC 7662 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrospectorRecord {
    /// Environment.
    pub env: String,
    /// Its client id.
    pub name: String,
    /// Keyed hash of its secret (a 256-bit random secret, so no slow hash is needed).
    pub secret_hash: [u8; HASH_LEN],
    /// When it was added.
    pub created_at: UnixMillis,
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

/// Everything a backend provides.
#[async_trait]
pub trait Store:
    UserStore + SessionStore + KeyStore + TransferStore + LoginGuardStore + IntrospectorStore
{
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

//! The records the store traits read and write, and the constants of their contract.

use crate::clock::UnixMillis;
use crate::crypto::HASH_LEN;

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
    /// During a planned credential rotation: the previous password's hash (same salt and
    /// parameters as the current one) and until when it still works for logins.
    pub previous_password: Option<(String, UnixMillis)>,
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
    /// The address the login came from, if known.
    pub client_addr: Option<String>,
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
    /// The address the login came from, if known.
    pub client_addr: Option<String>,
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
/// and applied by a store in one atomic step; the events it returns (lockouts) are
/// written in the same transaction.
pub type GuardUpdate = Box<dyn FnOnce(&mut [GuardCounter]) -> Vec<super::EventRecord> + Send>;

/// A change of the counters of `keys`, made together with another write.
pub struct GuardChange {
    /// The counters, in the order `update` expects them.
    pub keys: Vec<[u8; HASH_LEN]>,
    /// What to do with them.
    pub update: GuardUpdate,
}

impl std::fmt::Debug for GuardChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardChange")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
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

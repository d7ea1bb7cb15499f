//! The records of the operator plane (SPEC §11, §12): events, admin keys, idempotency
//! records, and the pages and counts the admin API reads.

use crate::clock::UnixMillis;
use crate::crypto::HASH_LEN;

/// The security and audit events of SPEC §12, by their stable wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A spent refresh token came back outside the grace window; its session was revoked.
    RefreshTokenReuseDetected,
    /// Too many failed logins locked a username or an address.
    UserLockedOut,
    /// A user was created.
    UserCreated,
    /// A user was disabled (every session ended).
    UserDisabled,
    /// A user was enabled again.
    UserEnabled,
    /// A user and their sessions were deleted.
    UserDeleted,
    /// A user's password was replaced (with or without an overlap).
    CredentialsRotated,
    /// One session, every session of a user, or every session of an environment ended.
    SessionsRevoked,
    /// A new signing key was made.
    SigningKeyRotated,
    /// A test delivery an owner asked for (sent to one subscription only).
    WebhookTest,
}

impl EventKind {
    /// Every kind, in the order SPEC §12 lists them, and the test event last.
    pub const ALL: [EventKind; 10] = [
        EventKind::RefreshTokenReuseDetected,
        EventKind::UserLockedOut,
        EventKind::UserCreated,
        EventKind::UserDisabled,
        EventKind::UserEnabled,
        EventKind::UserDeleted,
        EventKind::CredentialsRotated,
        EventKind::SessionsRevoked,
        EventKind::SigningKeyRotated,
        EventKind::WebhookTest,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RefreshTokenReuseDetected => "refresh_token_reuse_detected",
            EventKind::UserLockedOut => "user_locked_out",
            EventKind::UserCreated => "user_created",
            EventKind::UserDisabled => "user_disabled",
            EventKind::UserEnabled => "user_enabled",
            EventKind::UserDeleted => "user_deleted",
            EventKind::CredentialsRotated => "credentials_rotated",
            EventKind::SessionsRevoked => "sessions_revoked",
            EventKind::SigningKeyRotated => "signing_key_rotated",
            EventKind::WebhookTest => "webhook_test",
        }
    }

    /// The kind of a name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One stored event: ids and names, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// A UUIDv7: unique, and the `webhook-id` of its deliveries.
    pub id: String,
    /// Environment.
    pub env: String,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: UnixMillis,
    /// Who did it: `admin_key:NAME`, `cli`, `user:USERNAME` or `service`.
    pub actor: String,
    /// The user it concerns, if one.
    pub username: Option<String>,
    /// The event's fields, a JSON object (`crate::events` builds them).
    pub data: String,
}

/// A page of the event log, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Environment.
    pub env: String,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only events about this user.
    pub username: Option<String>,
    /// Only events at or after this time.
    pub since: Option<UnixMillis>,
    /// Only events older than this `(at, id)` (the cursor of the previous page).
    pub before: Option<(UnixMillis, String)>,
    /// At most this many.
    pub limit: u32,
}

/// What an admin key may do (SPEC §11); each role can do all the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminRole {
    /// Reads.
    Viewer,
    /// Also writes users and sessions.
    Operator,
    /// Also keys, introspectors, webhooks and admin keys.
    Owner,
}

impl AdminRole {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Viewer => "viewer",
            AdminRole::Operator => "operator",
            AdminRole::Owner => "owner",
        }
    }

    /// The role of a name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(AdminRole::Viewer),
            "operator" => Some(AdminRole::Operator),
            "owner" => Some(AdminRole::Owner),
            _ => None,
        }
    }
}

/// An admin key at rest: its secret only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyRecord {
    /// The public part of the key (`wcak_<id>_…`), used to find the row.
    pub id: String,
    /// Unique name; the actor of every event the key causes.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// Keyed hash of the whole key.
    pub key_hash: [u8; HASH_LEN],
    /// Creation time.
    pub created_at: UnixMillis,
    /// Set once revoked; a revoked key is refused.
    pub revoked_at: Option<UnixMillis>,
}

/// An `Idempotency-Key` of an admin POST, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The admin key that sent it (keys of different callers never meet).
    pub owner: String,
    /// The header's value.
    pub key: String,
    /// Hash of method, path and body: a reuse with another request is refused.
    pub request_hash: [u8; HASH_LEN],
    /// When the first request came.
    pub created_at: UnixMillis,
    /// The answer once there is one: status and body, sealed (a body can hold a
    /// generated password).
    pub response: Option<(u16, Vec<u8>)>,
}

/// Counts for the environments overview.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvStats {
    /// Users.
    pub users: u64,
    /// Sessions neither revoked nor past their lifetimes.
    pub live_sessions: u64,
}

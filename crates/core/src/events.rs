//! The security and audit events of SPEC §12 as stored records: one constructor per
//! event, so that every record of a kind has the same fields. Ids and names only.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::clock::UnixMillis;
use crate::store::{EventKind, EventRecord};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An admin key, by name.
    AdminKey(String),
    /// The command line on the database.
    Cli,
    /// The user the event concerns (a client revoking its own token).
    User(String),
    /// The service itself (reuse detection, lockouts).
    Service,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::AdminKey(name) => write!(f, "admin_key:{name}"),
            Actor::Cli => f.write_str("cli"),
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::Service => f.write_str("service"),
        }
    }
}

fn record(
    env: &str,
    kind: EventKind,
    at: UnixMillis,
    actor: &Actor,
    username: Option<&str>,
    data: Value,
) -> EventRecord {
    EventRecord {
        id: uuid::Uuid::now_v7().to_string(),
        env: env.to_string(),
        kind,
        at,
        actor: actor.to_string(),
        username: username.map(str::to_string),
        data: data.to_string(),
    }
}

/// `user_created`.
pub fn user_created(
    env: &str,
    at: UnixMillis,
    actor: &Actor,
    username: &str,
    user_id: &str,
) -> EventRecord {
    let data = json!({ "user_id": user_id, "username": username });
    record(env, EventKind::UserCreated, at, actor, Some(username), data)
}

/// `user_disabled` or `user_enabled`.
pub fn user_disabled(
    env: &str,
    at: UnixMillis,
    actor: &Actor,
    username: &str,
    disabled: bool,
) -> EventRecord {
    let kind = if disabled {
        EventKind::UserDisabled
    } else {
        EventKind::UserEnabled
    };
    record(
        env,
        kind,
        at,
        actor,
        Some(username),
        json!({ "username": username }),
    )
}

/// `user_deleted`.
pub fn user_deleted(env: &str, at: UnixMillis, actor: &Actor, username: &str) -> EventRecord {
    let data = json!({ "username": username });
    record(env, EventKind::UserDeleted, at, actor, Some(username), data)
}

/// `credentials_rotated`: `overlap_until` is when the old password stops working
/// (`None`: at once, and every session ended).
pub fn credentials_rotated(
    env: &str,
    at: UnixMillis,
    actor: &Actor,
    username: &str,
    overlap_until: Option<UnixMillis>,
) -> EventRecord {
    let data = json!({
        "username": username,
        "overlap_until": overlap_until,
        "sessions_ended": overlap_until.is_none(),
    });
    record(
        env,
        EventKind::CredentialsRotated,
        at,
        actor,
        Some(username),
        data,
    )
}

/// What a `sessions_revoked` event ended.
#[derive(Debug, Clone, Copy)]
pub enum Revoked<'a> {
    /// One session, and its user when known.
    Session(i64, Option<&'a str>),
    /// Every session of a user.
    User(&'a str),
    /// Every session of the environment.
    Environment,
}

/// `sessions_revoked` (how many sessions it ended is in the answer and the log line).
pub fn sessions_revoked(
    env: &str,
    at: UnixMillis,
    actor: &Actor,
    what: Revoked<'_>,
    reason: &str,
) -> EventRecord {
    let (username, data) = match what {
        Revoked::Session(id, username) => (
            username,
            json!({ "scope": "session", "session_id": id, "reason": reason }),
        ),
        Revoked::User(name) => (
            Some(name),
            json!({ "scope": "user", "username": name, "reason": reason }),
        ),
        Revoked::Environment => (None, json!({ "scope": "environment", "reason": reason })),
    };
    record(env, EventKind::SessionsRevoked, at, actor, username, data)
}

/// `refresh_token_reuse_detected`: the session was revoked by the detection.
pub fn reuse_detected(
    env: &str,
    at: UnixMillis,
    session_id: i64,
    generation: i64,
    user_id: &str,
) -> EventRecord {
    let data = json!({
        "session_id": session_id,
        "presented_generation": generation,
        "user_id": user_id,
    });
    record(
        env,
        EventKind::RefreshTokenReuseDetected,
        at,
        &Actor::Service,
        None,
        data,
    )
}

/// `user_locked_out`. The username is not part of it: a counter is kept under a keyed
/// hash of what was typed, and people type passwords into the username field.
pub fn locked_out(
    env: &str,
    at: UnixMillis,
    scope: &str,
    failures: u32,
    locked_s: u64,
    client: Option<IpAddr>,
) -> EventRecord {
    let data = json!({
        "scope": scope,
        "failures": failures,
        "locked_seconds": locked_s,
        "client_ip": client.map(|ip| ip.to_string()),
    });
    record(
        env,
        EventKind::UserLockedOut,
        at,
        &Actor::Service,
        None,
        data,
    )
}

/// `signing_key_rotated`.
pub fn key_rotated(
    env: &str,
    at: UnixMillis,
    actor: &Actor,
    kid: &str,
    alg: &str,
    activates_at: UnixMillis,
) -> EventRecord {
    let data = json!({ "kid": kid, "alg": alg, "activates_at": activates_at });
    record(env, EventKind::SigningKeyRotated, at, actor, None, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("user_created "), None);
    }

    #[test]
    fn records_carry_names_and_a_json_object() {
        let e = user_created("sandbox", 5, &Actor::AdminKey("ops".into()), "alice", "u1");
        assert_eq!(e.actor, "admin_key:ops");
        assert_eq!(e.username.as_deref(), Some("alice"));
        let data: Value = serde_json::from_str(&e.data).unwrap_or_default();
        assert_eq!(data["user_id"], "u1");
        let e = sessions_revoked("sandbox", 5, &Actor::Cli, Revoked::Environment, "incident");
        assert_eq!(e.actor, "cli");
        assert_eq!(e.username, None);
        assert!(uuid::Uuid::parse_str(&e.id).is_ok());
    }
}

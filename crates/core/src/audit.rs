//! Audit events: one function per event, so that every record of an event has the same
//! shape — target `audit`, an `event` field with a stable name, `env`, and the event's
//! fixed fields.

// The fixed fields: docs/audit.md lists them; a test checks the emitted records against
// that list. Never a password, token or token hash: sessions by id, users by id (or by
// the name an admin typed), failed logins without the username (people type passwords
// into it).

use std::net::IpAddr;

use tracing::{debug, info, warn};

use crate::events::Actor;

/// `Display` of a client address that may be unknown (in-process tests have no peer).
struct Client(Option<IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// A successful authenticate: a new session.
/// `via` names the endpoint: `authenticate`, `oauth2_password`, `oauth2_client_credentials`.
pub fn login_ok(env: &str, user_id: &str, sid: i64, client: Option<IpAddr>, via: &str) {
    info!(target: "audit", event = "login_ok", env, user_id, sid, client_ip = %Client(client), via, "authenticated");
}

/// A failed authenticate: unknown user, wrong password or disabled user (one event for
/// all three, as the answer is one for all three).
/// `via` also names the endpoints that check client credentials without a login
/// (`oauth2_refresh_token`, `revoke`).
pub fn login_failed(env: &str, client: Option<IpAddr>, via: &str) {
    info!(target: "audit", event = "login_failed", env, client_ip = %Client(client), via, "credentials refused");
}

/// An authenticate refused because the username or the address is locked.
pub fn login_locked(env: &str, retry_after_s: u64, client: Option<IpAddr>, via: &str) {
    info!(target: "audit", event = "login_locked", env, retry_after_s, client_ip = %Client(client), via, "credentials refused: locked out");
}

/// A username or client address was locked after too many failures.
pub fn lockout(env: &str, kind: &str, failures: u32, locked_s: u64, client: Option<IpAddr>) {
    warn!(target: "audit", event = "lockout", env, kind, failures, locked_s, client_ip = %Client(client),
          "too many failed logins; locked");
}

/// A refresh token was rotated. At `debug`: this is the hot path (thousands per second),
/// so it is off at the default level; `RUST_LOG=info,audit=debug` turns it on
/// (docs/audit.md has the measured cost).
pub fn refresh(env: &str, sid: i64, generation: i64, user_id: &str) {
    debug!(target: "audit", event = "refresh", env, sid, generation, user_id, "refresh token rotated");
}

/// The immediately previous refresh token again within the grace window: the same
/// successor was returned.
pub fn refresh_replayed(env: &str, sid: i64, generation: i64) {
    info!(target: "audit", event = "refresh_replayed", env, sid, generation, "grace-window replay");
}

/// A spent refresh token outside the grace window: the whole session was revoked.
pub fn reuse_detected(env: &str, sid: i64, generation: i64, user_id: &str, revoked: bool) {
    warn!(target: "audit", event = "reuse_detected", env, sid, generation, user_id, revoked,
          "spent refresh token presented; session revoked");
}

/// A refresh of a known session refused by the lifecycle (`reason`: `unknown_session`,
/// `revoked`, `user_disabled`, `expired`, `mismatch`).
pub fn refresh_refused(env: &str, sid: i64, reason: &str) {
    info!(target: "audit", event = "refresh_refused", env, sid, reason, "refresh refused");
}

/// A session was revoked on request: `actor` is `cli`, `admin_key:NAME` (the admin API)
/// or `client` (token revocation, RFC 7009).
pub fn session_revoked(env: &str, sid: i64, actor: &str) {
    info!(target: "audit", event = "session_revoked", env, sid, actor, "session revoked");
}

/// An admin revoked every session of an environment (the incident button).
pub fn env_sessions_revoked(env: &str, count: u64, actor: &Actor) {
    warn!(target: "audit", event = "env_sessions_revoked", env, count, actor = %actor,
          "every session of the environment revoked");
}

/// An admin key was created (`admin-key create`).
pub fn admin_key_created(name: &str, role: &str, actor: &Actor) {
    info!(target: "audit", event = "admin_key_created", admin_key = name, role, actor = %actor, "admin key created");
}

/// An admin key was revoked (`admin-key revoke`).
pub fn admin_key_revoked(name: &str, actor: &Actor) {
    info!(target: "audit", event = "admin_key_revoked", admin_key = name, actor = %actor, "admin key revoked");
}

/// A request to the admin listener with a missing, unknown, revoked or wrong admin key.
pub fn admin_key_refused(client: Option<IpAddr>, reason: &str) {
    info!(target: "audit", event = "admin_key_refused", client_ip = %Client(client), reason, "admin key refused");
}

/// An admin revoked every session of a user.
pub fn user_sessions_revoked(env: &str, username: &str, count: u64, actor: &Actor) {
    info!(target: "audit", event = "user_sessions_revoked", env, username, count, actor = %actor,
          "sessions of a user revoked");
}

/// The service created an environment's first signing key on start.
pub fn key_created(env: &str, kid: &str, alg: &str) {
    info!(target: "audit", event = "key_created", env, kid, alg, "first signing key created");
}

/// An admin rotated an environment's signing key; it signs after `activates_in_s`.
pub fn key_rotated(env: &str, kid: &str, alg: &str, activates_in_s: u64, actor: &Actor) {
    info!(target: "audit", event = "key_rotated", env, kid, alg, activates_in_s, actor = %actor,
          "signing key rotated");
}

/// An admin created a user.
pub fn user_added(env: &str, username: &str, user_id: &str, actor: &Actor) {
    info!(target: "audit", event = "user_added", env, username, user_id, actor = %actor, "user added");
}

/// An admin disabled (`true`) or enabled (`false`) a user; disabling ends the user's
/// sessions.
pub fn user_disabled(env: &str, username: &str, disabled: bool, actor: &Actor) {
    if disabled {
        info!(target: "audit", event = "user_disabled", env, username, actor = %actor, "user disabled; sessions revoked");
    } else {
        info!(target: "audit", event = "user_enabled", env, username, actor = %actor, "user enabled");
    }
}

/// An admin deleted a user with their sessions.
pub fn user_deleted(env: &str, username: &str, actor: &Actor) {
    info!(target: "audit", event = "user_deleted", env, username, actor = %actor, "user deleted");
}

/// An admin rotated a user's password with an overlap: the old one works for logins for
/// `overlap_s` more seconds; sessions stay.
pub fn credentials_rotated(env: &str, username: &str, overlap_s: u64, actor: &Actor) {
    info!(target: "audit", event = "credentials_rotated", env, username, overlap_s, actor = %actor,
          "password rotated; the previous one works until the overlap ends");
}

/// An admin set a user's password; the user's sessions ended.
pub fn password_changed(env: &str, username: &str, actor: &Actor) {
    info!(target: "audit", event = "password_changed", env, username, actor = %actor,
          "password changed; sessions revoked");
}

/// A token revocation (RFC 7009) that changed nothing: the token was not one of the
/// environment's (`reason` = `unknown_token`), or another user's (`not_owner`).
pub fn revoke_ignored(env: &str, user_id: &str, reason: &str) {
    info!(target: "audit", event = "revoke_ignored", env, user_id, reason, "token revocation changed nothing");
}

/// An introspection request with unknown or wrong introspector credentials.
pub fn introspector_refused(env: &str) {
    info!(target: "audit", event = "introspector_refused", env, "introspection refused: bad credentials");
}

/// An admin added an introspector (resource-server credentials).
pub fn introspector_added(env: &str, name: &str, actor: &Actor) {
    info!(target: "audit", event = "introspector_added", env, introspector = name, actor = %actor, "introspector added");
}

/// An admin removed an introspector.
pub fn introspector_removed(env: &str, name: &str, actor: &Actor) {
    info!(target: "audit", event = "introspector_removed", env, introspector = name, actor = %actor, "introspector removed");
}

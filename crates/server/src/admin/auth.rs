//! Who is calling the admin API: `Authorization: Bearer <admin key>`, checked against the
//! store on every request (a revoked key stops at once on every node), with failed keys
//! counted per client address and locked out like failed logins.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use wirecash_core::admin::AdminPrincipal;
use wirecash_core::store::AdminRole;

use super::AdminState;
use super::error::AdminError;

/// Bad admin keys from one address before it is locked (1 min, then doubling to 1 h).
pub const MAX_FAILURES: u32 = 10;
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most addresses tracked at once (bounded memory); beyond it the oldest are dropped.
const MAX_TRACKED: usize = 4096;
/// Longest `Authorization` value looked at.
const MAX_AUTHORIZATION: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed admin-key attempts per client address, on this node. An admin key is 256
/// random bits, so guessing one is hopeless; the lock keeps a scanner from using the
/// store as its oracle and from filling the log.
#[derive(Debug, Default)]
pub struct KeyGuard {
    by_addr: Mutex<HashMap<Option<IpAddr>, Failures>>,
}

impl KeyGuard {
    fn locked(&self, addr: Option<IpAddr>, now: Instant) -> Option<u64> {
        let map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(&addr)?.locked_until?;
        let left = until.checked_duration_since(now)?;
        let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        Some(millis.div_ceil(1000).max(1))
    }

    /// A live key from `addr`: its failures are forgotten (as a right password clears a
    /// login's), unless it is locked — a lock runs its course.
    fn succeeded(&self, addr: Option<IpAddr>) {
        let mut map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&addr).is_some_and(|f| f.locked_until.is_none()) {
            map.remove(&addr);
        }
    }

    fn failed(&self, addr: Option<IpAddr>, now: Instant) {
        let mut map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            map.retain(|_, f| {
                now.duration_since(f.last) < FORGET_AFTER || f.locked_until.is_some_and(|u| u > now)
            });
            if map.len() >= MAX_TRACKED {
                // Still full: drop the entry seen longest ago.
                if let Some(oldest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(addr).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if let Some(lock) = wirecash_core::lockout::lock_for(entry.count, MAX_FAILURES) {
            entry.locked_until = Some(now + lock);
        }
    }
}

/// An authenticated admin request: the key's name and role, and where it came from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The admin key.
    pub principal: AdminPrincipal,
    /// The client address.
    pub client: Option<IpAddr>,
}

impl Caller {
    /// Refuses with 403 unless the key's role is at least `role`.
    pub fn require(&self, role: AdminRole) -> Result<(), AdminError> {
        if self.principal.role >= role {
            Ok(())
        } else {
            Err(AdminError::Forbidden(role.as_str()))
        }
    }
}

/// The bearer token of an `Authorization` header, if it has that form.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if value.len() > MAX_AUTHORIZATION {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks `presented` as an admin key for a request from `client`: 429 while the
/// address is locked, 401 for anything but a live key (counted).
pub async fn authenticate(
    state: &AdminState,
    presented: Option<&str>,
    client: Option<IpAddr>,
) -> Result<AdminPrincipal, AdminError> {
    let now = Instant::now();
    if let Some(secs) = state.guard.locked(client, now) {
        return Err(AdminError::Locked(secs));
    }
    let secrets = state.service.admin_secrets();
    let found = match presented {
        Some(key) => state
            .service
            .admin()
            .check_admin_key(&secrets.key_mac, key)
            .await
            .map_err(AdminError::from)?,
        None => None,
    };
    match found {
        Some(principal) => {
            state.guard.succeeded(client);
            Ok(principal)
        }
        None => {
            let reason = if presented.is_some() {
                "bad_key"
            } else {
                "no_key"
            };
            wirecash_core::audit::admin_key_refused(client, reason);
            state.guard.failed(client, now);
            Err(AdminError::Unauthorized)
        }
    }
}

/// The client address of an admin request (behind trusted proxies too).
pub fn client_addr(parts: &Parts, state: &AdminState) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| {
            crate::http::address::client_ip(a.ip(), &parts.headers, &state.trusted_proxies)
        })
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, AdminError> {
        let client = client_addr(parts, state);
        let principal = authenticate(state, bearer(parts), client).await?;
        Ok(Caller { principal, client })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_at_the_limit_and_others_are_not() {
        let guard = KeyGuard::default();
        let (a, b) = (
            Some(IpAddr::from([192, 0, 2, 1])),
            Some(IpAddr::from([192, 0, 2, 2])),
        );
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            guard.failed(a, now);
        }
        assert_eq!(guard.locked(a, now), None);
        guard.failed(a, now);
        assert_eq!(guard.locked(a, now), Some(60));
        assert_eq!(guard.locked(b, now), None);
        assert_eq!(guard.locked(a, now + Duration::from_secs(61)), None);
    }

    #[test]
    fn tracking_is_bounded() {
        let guard = KeyGuard::default();
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            guard.failed(Some(IpAddr::from(i.to_be_bytes())), now);
        }
        let n = guard.by_addr.lock().map(|m| m.len()).unwrap_or(0);
        assert!(n <= MAX_TRACKED, "{n}");
    }
}

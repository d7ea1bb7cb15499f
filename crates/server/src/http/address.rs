//! Who is asking: the client address that failed-login counting and rate limits use,
//! behind trusted proxies too.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::ApiError;

/// Most `X-Forwarded-For` hops looked at (bounded work per request).
const MAX_HOPS: usize = 32;

/// The client's address (`None` when the server was not given peer addresses, as in
/// some in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        Ok(ClientAddr(peer.map(|p| {
            client_ip(p, &parts.headers, &state.trusted_proxies)
        })))
    }
}

/// Parses one hop: an IP address, or an IP address with a port (`1.2.3.4:5`, `[::1]:5`).
fn hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// `hop` of raw header bytes: a hop that is not even text is garbage like any other.
fn hop_bytes(b: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(b).ok().and_then(hop)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Who is asking: the client address that failed-login counting (and rate limits) use.
/// The TCP peer, unless the peer is a trusted proxy (`rate_limit.trusted_proxies`): then
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy. A
/// client cannot forge its way past a proxy this way — everything left of the first
/// untrusted hop is ignored.
///
/// The client address for a request from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| canonical(*t) == canonical(ip));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    // All X-Forwarded-For fields in order, as one list; walk it from the right. Hops are
    // split as bytes: a field is not refused as a whole for a byte that is not visible
    // ASCII, because its left part is the client's to write (a proxy appends to it), and
    // refusing the field would make the proxy the client.
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','));
    let hops: Vec<&[u8]> = hops.collect();
    let mut client = peer;
    for h in hops.iter().rev().take(MAX_HOPS) {
        match hop_bytes(h) {
            Some(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    return client;
                }
            }
            // Garbage from here on was not written by a trusted proxy: stop at the last
            // address a trusted one vouched for.
            None => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append("x-forwarded-for", v);
            }
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = xff(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &[ip("10.0.0.1")]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The client forged a first entry; the proxies appended the real ones.
        let h = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // With a port, and IPv4-mapped IPv6 peers.
        let h = xff(&["203.0.113.9:4711"]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &trusted),
            ip("203.0.113.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        // Garbage left of a trusted hop: the last vouched-for address.
        let h = xff(&["not-an-ip, 10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
    }

    /// Found by the `client_addr` fuzz target: one byte that is not visible ASCII,
    /// anywhere in the header, made the whole header void and the proxy the client — so
    /// a client behind the proxy escaped its own rate limit and failed-login count, and
    /// charged them to the proxy's address, shared by everyone behind it.
    #[test]
    fn a_non_ascii_byte_from_the_client_does_not_make_the_proxy_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let raw = |b: &[u8]| HeaderValue::from_bytes(b).unwrap_or(HeaderValue::from_static(""));
        // The client's own value with an obs-text byte; the proxy appended the real address.
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", raw(b"1.2.3.4\x8f, 203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // The same in a field of its own, before the proxy's.
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", raw(b"\xff\xfe"));
        h.append("x-forwarded-for", raw(b"203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Right of a trusted hop it is garbage: the last address a proxy vouched for.
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", raw(b"203.0.113.9, \x8f, 10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
    }

    proptest! {
        #[test]
        fn any_header_gives_the_peer_or_an_address_from_the_header(
            values in proptest::collection::vec("[0-9a-f.:, \\[\\]]{0,60}", 0..4),
        ) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let h = xff(&refs);
            let peer = ip("10.0.0.1");
            let got = client_ip(peer, &h, &[peer]);
            let listed = values.iter().flat_map(|v| v.split(',')).filter_map(hop).map(canonical);
            prop_assert!(got == peer || listed.clone().any(|a| a == got));
        }
    }
}

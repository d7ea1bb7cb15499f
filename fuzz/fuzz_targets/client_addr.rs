//! Fuzzes the client address behind trusted proxies (`X-Forwarded-For`, which any client
//! can send). The input is split at newlines into header values. No input may panic,
//! and:
//! - an untrusted peer is the client, whatever the header says;
//! - the answer is the peer or an address listed in the header, always in canonical
//!   form (an IPv4-mapped IPv6 address as IPv4);
//! - a client cannot forge its way past the proxies: when the answer is not a trusted
//!   proxy, anything a client adds at the left of the header (a value of its own, first)
//!   does not change it.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use wirecash_auth::http::address::client_ip;

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(ip) => ip,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Every address a header value lists, parsed leniently (with or without a port).
fn listed(headers: &HeaderMap) -> Vec<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .filter_map(|h| std::str::from_utf8(h).ok())
        .filter_map(|h| {
            let h = h.trim();
            h.parse::<IpAddr>()
                .ok()
                .or_else(|| h.parse::<SocketAddr>().ok().map(|a| a.ip()))
        })
        .map(canonical)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let trusted = [
        ip("10.0.0.1"),
        ip("::ffff:10.0.0.2"),
        ip("2001:db8::1"),
        ip("192.0.2.7"),
    ];
    let peer = match head % 5 {
        0 => ip("10.0.0.1"),
        1 => ip("::ffff:10.0.0.1"),
        2 => ip("10.0.0.2"),
        3 => ip("2001:db8::1"),
        _ => ip("198.51.100.3"),
    };
    let is_trusted = |a: IpAddr| trusted.iter().any(|t| canonical(*t) == canonical(a));
    // The first value may be the client's own (split off at the first 0xff byte).
    let (own, rest) = match rest.iter().position(|b| *b == 0xff) {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let mut headers = HeaderMap::new();
    for line in rest.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", v);
        }
    }
    let got = client_ip(peer, &headers, &trusted);
    assert_eq!(got, canonical(got), "not canonical: {got}");
    if !is_trusted(peer) {
        assert_eq!(
            got,
            canonical(peer),
            "an untrusted peer's header was believed"
        );
    }
    assert!(
        got == canonical(peer) || listed(&headers).contains(&got),
        "{got} is neither the peer nor listed"
    );
    if is_trusted(got) {
        return;
    }
    // Prepend what a client could send first; the answer must not move.
    let own = own.unwrap_or(b"203.0.113.66");
    let Ok(own) = HeaderValue::from_bytes(own) else {
        return;
    };
    let mut forged = HeaderMap::new();
    forged.append("x-forwarded-for", own);
    for v in headers.get_all("x-forwarded-for") {
        forged.append("x-forwarded-for", v.clone());
    }
    assert_eq!(
        client_ip(peer, &forged, &trusted),
        got,
        "a value added at the left changed the client address"
    );
});

//! Safe egress for webhook deliveries: http(s) only, and every address a destination
//! resolves to checked against the allowed networks (loopback, private, link-local and
//! other special ranges are refused unless allowed), then connected to as checked.

use std::net::{IpAddr, SocketAddr};

/// An IP network (`192.168.0.0/16`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDR/PREFIX` or a bare address (a network of one).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Addresses no delivery goes to unless an allowed network names them: loopback,
/// private, link-local (cloud metadata), shared, documentation, multicast, unspecified.
const SPECIAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Whether a delivery may connect to `ip`: a public address, or one in `allowed`.
pub fn permitted(ip: IpAddr, allowed: &[Network]) -> bool {
    if allowed.iter().any(|n| n.contains(ip)) {
        return true;
    }
    !SPECIAL
        .iter()
        .filter_map(|s| Network::parse(s))
        .any(|n| n.contains(ip))
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not an http(s) URL with a host.
    BadUrl(&'static str),
    /// The name did not resolve.
    Unresolved,
    /// It resolves to an address outside the allowed networks.
    Forbidden(IpAddr),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::BadUrl(why) => write!(f, "not a usable URL: {why}"),
            Refused::Unresolved => f.write_str("the host does not resolve"),
            Refused::Forbidden(ip) => write!(
                f,
                "the host resolves to {ip}, which is not allowed (add its network to webhook.allowed_networks)"
            ),
        }
    }
}

/// Checks the form of a destination URL: http or https, a host, no user information.
pub fn check_url(url: &reqwest::Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::BadUrl("only http and https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Refused::BadUrl("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::BadUrl("no user information in the URL"));
    }
    Ok(())
}

/// Resolves the URL's host and checks every address; returns the ones to connect to.
pub async fn resolve(url: &reqwest::Url, allowed: &[Network]) -> Result<Vec<SocketAddr>, Refused> {
    check_url(url)?;
    let host = url.host_str().ok_or(Refused::BadUrl("no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or(Refused::BadUrl("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refused::Unresolved)?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved);
    }
    // Every address must be allowed: a name that also resolves inside is refused whole
    // (no picking, so rebinding between checks gains nothing: we connect to these).
    if let Some(bad) = addrs.iter().find(|a| !permitted(a.ip(), allowed)) {
        return Err(Refused::Forbidden(bad.ip()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn special_ranges_are_refused_unless_allowed() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!permitted(ip(refused), &[]), "{refused}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(permitted(ip(public), &[]), "{public}");
        }
        let loopback = [Network::parse("127.0.0.0/8").unwrap_or(Network {
            addr: ip("0.0.0.0"),
            prefix: 32,
        })];
        assert!(permitted(ip("127.0.0.1"), &loopback));
        assert!(!permitted(ip("10.0.0.1"), &loopback));
    }

    #[test]
    fn networks_parse_and_contain() {
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("::/129").is_none());
        assert!(Network::parse("nope").is_none());
        let n = Network::parse("10.0.0.0/8");
        assert!(n.is_some_and(|n| n.contains(ip("10.255.0.1")) && !n.contains(ip("11.0.0.1"))));
        let all = Network::parse("0.0.0.0/0");
        assert!(all.is_some_and(|n| n.contains(ip("1.2.3.4")) && !n.contains(ip("::2"))));
        assert_eq!(
            Network::parse("::1").map(|n| n.to_string()).as_deref(),
            Some("::1/128")
        );
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        for bad in [
            "ftp://x.example/",
            "file:///etc/passwd",
            "https://user:pw@x.example/",
        ] {
            let url = reqwest::Url::parse(bad);
            assert!(url.map(|u| check_url(&u).is_err()).unwrap_or(true), "{bad}");
        }
        let good = reqwest::Url::parse("https://hooks.example/x");
        assert!(good.map(|u| check_url(&u).is_ok()).unwrap_or(false));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,60}") {
            let _ = Network::parse(&s);
        }

        #[test]
        fn a_network_contains_its_own_address(a in any::<u32>(), p in 0u8..=32) {
            let n = Network::parse(&format!("{}/{p}", std::net::Ipv4Addr::from(a)));
            prop_assert!(n.is_some_and(|n| n.contains(IpAddr::from(std::net::Ipv4Addr::from(a)))));
        }
    }
}

//! Client addresses as the rate and failed-login limits count them: IPv4 and
//! IPv4-mapped IPv6 alike, any other IPv6 address by its /64.

use std::net::{IpAddr, Ipv6Addr};

/// The address `ip` is counted as. One host usually holds a whole IPv6 /64, so counting
/// single IPv6 addresses would let it walk around every limit.
pub fn counted(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The bytes of `counted(ip)`: 4 for IPv4, the 8 of the /64 for IPv6.
pub fn counted_bytes(ip: IpAddr) -> Vec<u8> {
    match counted(ip) {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_mapped_alike_ipv6_by_its_64() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap_or(v4);
        assert_eq!(counted(mapped), v4);
        assert_eq!(counted_bytes(mapped), vec![203, 0, 113, 7]);
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap_or(v4);
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap_or(v4);
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(v4);
        assert_eq!(counted(a), counted(b));
        assert_ne!(counted(a), counted(other));
        assert_eq!(counted_bytes(a).len(), 8);
    }
}

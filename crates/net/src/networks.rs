//! Client addresses as the limits see them: lists of networks (trusted relays, trusted
//! proxies) and the grouping of addresses into clients (each IPv4 address on its own,
//! IPv6 by a prefix, /64 by default, since one customer holds a whole /64 and may pick
//! any address in it).

use std::net::{IpAddr, Ipv6Addr};

/// A list of networks in CIDR form, as the configuration gives them.
#[derive(Clone, Debug, Default)]
pub struct Networks(Vec<(IpAddr, u8)>);

impl Networks {
    /// Entries that do not parse are left out (the configuration was validated already).
    pub fn parse(list: &[String]) -> Networks {
        Networks(
            list.iter()
                .filter_map(|n| estafeta_config::parse_network(n))
                .collect(),
        )
    }

    /// True when `ip` is in one of the networks; IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) match the IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }
}

/// The client an address counts as: an IPv4 address (IPv4-mapped IPv6 included) on its
/// own, an IPv6 address as its network of `ipv6_prefix` bits.
pub fn client_group(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(a) => IpAddr::V4(a),
        IpAddr::V6(a) => {
            let bits = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn networks_match_by_prefix() {
        let n = Networks::parse(&["127.0.0.0/8".into(), "10.1.0.0/16".into(), "::1/128".into()]);
        assert!(n.contains(ip("127.0.0.1")));
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::1")));
        assert!(n.contains(ip("::ffff:127.0.0.1")));
        assert!(!n.contains(ip("::2")));
        assert!(Networks::parse(&["0.0.0.0/0".into()]).contains(ip("8.8.8.8")));
        assert!(!Networks::parse(&[]).contains(ip("127.0.0.1")));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_prefix() {
        let a = client_group(ip("2001:db8:1:2:aaaa::1"), 64);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(a, client_group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64));
        assert_ne!(a, client_group(ip("2001:db8:1:3::1"), 64));
        assert_eq!(client_group(ip("2001:db8:1:3::1"), 48), ip("2001:db8:1::"));
        assert_eq!(client_group(ip("::1"), 128), ip("::1"));
        assert_eq!(client_group(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(client_group(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
    }
}

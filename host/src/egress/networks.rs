//! Networks: which IP addresses a connection may connect to.
//!
//! Everything public, plus the blocked networks (loopback, private,
//! link-local and cloud metadata, CGNAT, multicast, reserved, and the IPv6
//! forms that embed them) an administrator granted explicitly. The one place
//! that decides; the egress policy and the guarded resolver ask it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Names that point at the machine itself or at cloud metadata, refused
/// before any lookup. They are refused even when a network is granted:
/// granting `127.0.0.0/8` lets a connector use `127.0.0.1`, not `localhost`.
pub fn blocked_name(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        Some("loopback name")
    } else if host == "metadata.google.internal" || host == "metadata" {
        Some("cloud metadata name")
    } else {
        None
    }
}

/// Which IP addresses a connection may connect to: everything public, plus
/// the blocked networks an administrator granted explicitly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    granted: Vec<IpNet>,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {addr} is in a blocked network ({network}: {why}) and no grant allows it")]
pub struct BlockedAddress {
    /// The refused address.
    pub addr: IpAddr,
    /// The blocked network it falls in.
    pub network: IpNet,
    /// What that network is.
    pub why: &'static str,
}

const BLOCKED_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local and cloud metadata"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved and broadcast"),
];

const BLOCKED_V6: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "discard"),
    ("100:0:0:1::/64", "dummy prefix"),
    (
        "2001::/23",
        "IETF protocol assignments (Teredo, ORCHID, benchmarking)",
    ),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
];

impl NetworkPolicy {
    /// A policy that additionally allows the given networks.
    pub fn new(granted: Vec<IpNet>) -> Self {
        Self { granted }
    }

    /// The networks granted on top of the public internet.
    pub fn granted(&self) -> &[IpNet] {
        &self.granted
    }

    /// Allow or refuse one address.
    pub fn check(&self, addr: IpAddr) -> Result<(), BlockedAddress> {
        if self.granted.iter().any(|n| n.contains(&addr)) {
            return Ok(());
        }
        // Addresses that carry an IPv4 address inside an IPv6 one are judged
        // by the IPv4 address they reach.
        if let IpAddr::V6(v6) = addr
            && let Some(v4) = embedded_v4(v6)
        {
            return self.check(IpAddr::V4(v4));
        }
        match blocked_network(addr) {
            Some((network, why)) => Err(BlockedAddress { addr, network, why }),
            None => Ok(()),
        }
    }
}

fn blocked_network(addr: IpAddr) -> Option<(IpNet, &'static str)> {
    let table = match addr {
        IpAddr::V4(_) => BLOCKED_V4,
        IpAddr::V6(_) => BLOCKED_V6,
    };
    table.iter().find_map(|(net, why)| {
        let net: IpNet = net.parse().expect("static network table");
        net.contains(&addr).then_some((net, *why))
    })
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or 6to4
/// (`2002::/16`) address. Teredo (`2001::/32`) is blocked as a whole.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return Some(low(s[6], s[7]));
    }
    // IPv4-compatible, but not :: or ::1 (judged as themselves).
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_networks_are_refused_unless_granted() {
        let none = NetworkPolicy::default();
        for addr in [
            "127.0.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:0.0.0.0",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:a00:1",
            "64:ff9b:1::7f00:1",
            "2001::1",
            "2001:20::1",
            "3fff::1",
            "::7f00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::2",
        ] {
            let ip: IpAddr = addr.parse().unwrap();
            assert!(none.check(ip).is_err(), "{addr} must be blocked");
        }
        for addr in [
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(
                none.check(addr.parse().unwrap()).is_ok(),
                "{addr} is public"
            );
        }
        let loopback = NetworkPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(loopback.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(loopback.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(loopback.check("10.0.0.1".parse().unwrap()).is_err());
        assert!(loopback.check("::1".parse().unwrap()).is_err());
    }

    #[test]
    fn loopback_and_metadata_names_are_blocked() {
        for name in [
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "metadata.google.internal",
        ] {
            assert!(blocked_name(name).is_some(), "{name}");
        }
        assert!(blocked_name("example.com").is_none());
    }
}

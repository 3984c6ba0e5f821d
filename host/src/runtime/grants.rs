//! What a connection may reach: host patterns and network grants.
//!
//! This is the one place that decides whether an origin or an IP address is
//! allowed. Everything else (the HTTP capability, secret binding, outgoing
//! webhooks) asks these types; none re-implements the rules.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use url::{Host, Url};

/// A granted origin: `scheme://host[:port]`, where host may start with `*.`
/// to match any subdomain (but not the domain itself).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    scheme: Scheme,
    host: HostMatch,
    port: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum HostMatch {
    /// A domain name (lowercase, no trailing dot) or an IP literal in its
    /// canonical text form (`[v6]` for IPv6).
    Exact(String),
    /// `*.suffix`: any name with at least one more label before `suffix`.
    Subdomains(String),
}

/// Why a host pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl HostPattern {
    /// Parse `scheme://host[:port]` (a trailing `/` is tolerated).
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let err = |reason: &str| PatternError {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| err("expected scheme://host[:port]"))?;
        let scheme = Scheme::parse(&scheme.to_ascii_lowercase())
            .ok_or_else(|| err("scheme must be http or https"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(err("host is missing"));
        }
        if rest.contains(['/', '?', '#', '@', '\\']) {
            return Err(err(
                "only scheme, host and port are allowed (no path, query or user info)",
            ));
        }
        let (wildcard, authority) = match rest.strip_prefix("*.") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        if authority.contains('*') {
            return Err(err("`*.` is allowed only as a subdomain prefix"));
        }
        // Let the URL parser normalise the host (case, IDNA, IPv4 forms) and
        // the port, exactly as it will for the URLs we later match.
        let url = Url::parse(&format!("{}://{authority}/", scheme.as_str()))
            .map_err(|e| err(&format!("not a valid host: {e}")))?;
        let host = url.host().ok_or_else(|| err("host is missing"))?;
        let port = url.port_or_known_default().ok_or_else(|| err("no port"))?;
        let host = match (wildcard, host) {
            (false, host) => HostMatch::Exact(host_text(&host)),
            (true, Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.').to_string();
                if !domain.contains('.') {
                    return Err(err(
                        "a wildcard must leave at least two labels (`*.example.com`)",
                    ));
                }
                HostMatch::Subdomains(domain)
            }
            (true, _) => return Err(err("a wildcard cannot apply to an IP address")),
        };
        Ok(Self { scheme, host, port })
    }

    /// The pattern for exactly the origin of `url`.
    pub fn origin_of(url: &Url) -> Result<Self, PatternError> {
        let err = |reason: &str| PatternError {
            pattern: url.to_string(),
            reason: reason.to_string(),
        };
        let scheme =
            Scheme::parse(url.scheme()).ok_or_else(|| err("scheme must be http or https"))?;
        let host = url.host().ok_or_else(|| err("host is missing"))?;
        let port = url.port_or_known_default().ok_or_else(|| err("no port"))?;
        Ok(Self {
            scheme,
            host: HostMatch::Exact(host_text(&host)),
            port,
        })
    }

    /// Whether `url` (scheme, host and port) falls under this pattern.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(scheme) = Scheme::parse(url.scheme()) else {
            return false;
        };
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return false;
        };
        if scheme != self.scheme || port != self.port {
            return false;
        }
        let host = host_text(&host);
        match &self.host {
            HostMatch::Exact(h) => *h == host,
            HostMatch::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|prefix| prefix.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        }
    }

    /// Whether everything this pattern matches is also matched by `other`.
    pub fn is_within(&self, other: &HostPattern) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match (&self.host, &other.host) {
            (a, b) if a == b => true,
            (HostMatch::Exact(h), HostMatch::Subdomains(_)) => {
                let url = Url::parse(&format!("{}://{h}:{}/", self.scheme.as_str(), self.port));
                url.is_ok_and(|u| other.matches(&u))
            }
            (HostMatch::Subdomains(inner), HostMatch::Subdomains(outer)) => inner
                .strip_suffix(outer.as_str())
                .is_some_and(|p| p.ends_with('.')),
            _ => false,
        }
    }
}

/// Canonical text of a host: lowercase domain without trailing dot, dotted
/// IPv4, bracketed IPv6.
fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostMatch::Exact(h) => h.clone(),
            HostMatch::Subdomains(s) => format!("*.{s}"),
        };
        let default = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        if self.port == default {
            write!(f, "{}://{host}", self.scheme.as_str())
        } else {
            write!(f, "{}://{host}:{}", self.scheme.as_str(), self.port)
        }
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({self})")
    }
}

impl FromStr for HostPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

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
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "file:///etc",
            "https://",
            "https://*",
            "https://*.com",
            "https://a.*.example.com",
            "https://ex*ample.com",
            "https://example.com/path",
            "https://example.com?x=1",
            "https://user@example.com",
            "https://*.127.0.0.1",
            "https://[::1",
            "https://example.com:99999",
            "https://exa mple.com",
        ] {
            assert!(
                HostPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn pattern_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            (
                "https://api.example.com",
                "https://api.example.com/v1",
                true,
            ),
            (
                "https://api.example.com",
                "https://API.Example.COM./x",
                true,
            ),
            ("https://api.example.com", "http://api.example.com/", false),
            (
                "https://api.example.com",
                "https://api.example.com:8443/",
                false,
            ),
            (
                "https://api.example.com:443",
                "https://api.example.com/",
                true,
            ),
            ("https://api.example.com/", "https://api.example.com/", true),
            (
                "http://api.example.com:8080",
                "http://api.example.com:8080/",
                true,
            ),
            (
                "http://api.example.com:8080",
                "http://api.example.com/",
                false,
            ),
            ("https://*.example.com", "https://a.example.com/", true),
            ("https://*.example.com", "https://a.b.example.com/", true),
            ("https://*.example.com", "https://example.com/", false),
            ("https://*.example.com", "https://badexample.com/", false),
            (
                "https://*.example.com",
                "https://example.com.evil.net/",
                false,
            ),
            ("https://*.example.com", "http://a.example.com/", false),
            ("http://127.0.0.1:8080", "http://127.1:8080/", true),
            ("http://127.0.0.1:8080", "http://0x7f000001:8080/", true),
            ("http://[::1]:8080", "http://[0:0::1]:8080/", true),
            ("https://example.com", "https://user@example.com/", true),
        ];
        for (pattern, target, expected) in cases {
            let p = HostPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(&url(target)), *expected, "{pattern} vs {target}");
        }
    }

    #[test]
    fn within_compares_patterns() {
        let p = |s| HostPattern::parse(s).unwrap();
        assert!(p("https://a.example.com").is_within(&p("https://*.example.com")));
        assert!(p("https://*.a.example.com").is_within(&p("https://*.example.com")));
        assert!(!p("https://*.example.com").is_within(&p("https://a.example.com")));
        assert!(!p("https://example.com").is_within(&p("https://*.example.com")));
        assert!(!p("http://a.example.com").is_within(&p("https://*.example.com")));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "https://*.example.com",
            "http://127.0.0.1:8080",
            "https://[::1]:8443",
        ] {
            assert_eq!(HostPattern::parse(s).unwrap().to_string(), s);
        }
    }

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

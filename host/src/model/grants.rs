//! Host patterns: the origins a connection is granted and a secret is bound
//! to (`https://api.example.com`, `https://*.example.com`).
//!
//! The one place that decides whether a URL's origin falls under a pattern;
//! the egress policy, secret binding and the API's checks all ask it.

use std::fmt;
use std::str::FromStr;

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

/// An IPv4 address in dotted decimal, as a regular expression.
macro_rules! ipv4 {
    () => {
        r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}

/// An IPv6 address in any of its standard text forms (no zone, no
/// embedded IPv4), as a regular expression.
macro_rules! ipv6 {
    () => {
        r"([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)"
    };
}

/// The shape of a pattern for the API's schema: exactly the domain names,
/// IPv4 and IPv6 literals and ports [`HostPattern::parse`] accepts (a last
/// label that starts with a letter, so the URL parser never reads a name
/// as a malformed IPv4 address).
const PATTERN_SHAPE: &str = concat!(
    r"^[hH][tT][tT][pP][sS]?://(",
    r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|",
    ipv4!(),
    r"|\[(",
    ipv6!(),
    r")\]",
    r")(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$"
);

impl schemars::JsonSchema for HostPattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostPattern".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": PATTERN_SHAPE,
            "description": "An origin `scheme://host[:port]` (http or https); `*.` before a domain of two or more labels matches its subdomains.",
            "examples": ["https://api.example.com", "https://*.example.com", "http://127.0.0.1:8080"]
        })
    }
}

/// A network grant as the API's schema shows it: a CIDR block
/// (`10.0.0.0/8`, `fd00::/8`).
pub struct NetworkText;

impl schemars::JsonSchema for NetworkText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Network".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": concat!(
                "^(", ipv4!(), r"/(3[0-2]|[12]?[0-9])",
                "|(", ipv6!(), r")/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
            ),
            "description": "A CIDR block of an otherwise blocked network.",
            "examples": ["10.0.0.0/8", "127.0.0.0/8", "fd00::/8"]
        })
    }
}

#[cfg(test)]
mod fuzz;

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
}

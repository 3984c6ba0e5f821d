//! The egress policy: what one caller may reach, and the typed reason when
//! it may not.
//!
//! Every outbound request of the host goes through [`EgressPolicy::check_url`]
//! before it is sent (and again for each redirect hop): the scheme, user
//! info, a granted origin, and the address when the host is an IP literal
//! (names are checked when resolved, by [`super::resolver`]). Each caller
//! states which allow-list applies:
//!
//! | caller | origins allowed | networks allowed |
//! | --- | --- | --- |
//! | a connector's `http.send` | the connection's host grants | the connection's network grants |
//! | an outgoing webhook | the endpoint's own origin | the endpoint's `networks` |
//! | the OAuth2 token endpoint | the origin of the spec's `token_url`, expanded with the template guard | the connection's network grants |

use std::net::IpAddr;

use url::{Host as UrlHost, Url};

use super::networks::{BlockedAddress, NetworkPolicy, blocked_name};
use crate::model::grants::HostPattern;

/// What one caller may reach.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    /// Granted origins.
    pub hosts: Vec<HostPattern>,
    /// Blocked networks this caller may nevertheless reach.
    pub networks: NetworkPolicy,
    /// Certificates (PEM) trusted besides the public roots.
    pub tls_ca: Option<String>,
}

/// Why a destination was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// Not `http` or `https`.
    #[error("scheme `{0}` is not allowed; only http and https")]
    Scheme(String),
    /// `user:password@host`.
    #[error("URLs with user info (user:password@host) are refused")]
    UserInfo,
    /// No host at all.
    #[error("the URL has no host")]
    NoHost,
    /// The origin is not among the granted ones.
    #[error("host {origin} is not granted to this connection (granted: {granted})")]
    NotGranted {
        /// The URL's origin.
        origin: String,
        /// What is granted.
        granted: String,
    },
    /// The address is in a blocked network.
    #[error(transparent)]
    Blocked(#[from] BlockedAddress),
    /// A name refused before any lookup (`localhost`, metadata names).
    #[error("host `{name}` is refused ({why})")]
    BlockedName {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
}

impl EgressPolicy {
    /// A policy for exactly the origin of `url`.
    pub fn origin_of(url: &Url, networks: NetworkPolicy) -> Result<Self, Denied> {
        let origin = HostPattern::origin_of(url).map_err(|_| Denied::NoHost)?;
        Ok(Self {
            hosts: vec![origin],
            networks,
            tls_ca: None,
        })
    }

    /// Check a URL before connecting.
    pub fn check_url(&self, url: &Url) -> Result<(), Denied> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Denied::Scheme(url.scheme().to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Denied::UserInfo);
        }
        let host = url.host().ok_or(Denied::NoHost)?;
        if !self.hosts.iter().any(|p| p.matches(url)) {
            let origin = HostPattern::origin_of(url)
                .map(|p| p.to_string())
                .unwrap_or_else(|_| url.to_string());
            let granted = if self.hosts.is_empty() {
                "none".to_string()
            } else {
                self.hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Denied::NotGranted { origin, granted });
        }
        match host {
            UrlHost::Ipv4(ip) => Ok(self.networks.check(IpAddr::V4(ip))?),
            UrlHost::Ipv6(ip) => Ok(self.networks.check(IpAddr::V6(ip))?),
            UrlHost::Domain(name) => match blocked_name(name) {
                Some(why) => Err(Denied::BlockedName {
                    name: name.to_string(),
                    why,
                }),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], networks: &[&str]) -> EgressPolicy {
        EgressPolicy {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            networks: NetworkPolicy::new(networks.iter().map(|n| n.parse().unwrap()).collect()),
            tls_ca: None,
        }
    }

    #[test]
    fn url_checks() {
        let p = policy(&["https://api.example.com", "http://127.0.0.1:8080"], &[]);
        let check = |u: &str| p.check_url(&Url::parse(u).unwrap());
        assert!(check("https://api.example.com/x").is_ok());
        assert!(matches!(
            check("https://other.example.com/"),
            Err(Denied::NotGranted { .. })
        ));
        assert_eq!(check("https://u:p@api.example.com/"), Err(Denied::UserInfo));
        assert_eq!(
            check("ftp://api.example.com/"),
            Err(Denied::Scheme("ftp".into()))
        );
        assert!(matches!(
            check("http://127.0.0.1:8080/"),
            Err(Denied::Blocked(_))
        ));
        let p = policy(&["http://127.0.0.1:8080"], &["127.0.0.0/8"]);
        assert!(
            p.check_url(&Url::parse("http://127.0.0.1:8080/").unwrap())
                .is_ok()
        );
        let p = policy(&["http://localhost:8080"], &["127.0.0.0/8"]);
        assert!(matches!(
            p.check_url(&Url::parse("http://localhost:8080/").unwrap()),
            Err(Denied::BlockedName { .. })
        ));
    }
}

//! Name resolution that keeps only allowed addresses.
//!
//! reqwest resolves names through [`GuardedResolver`], which drops every
//! address in a blocked network the caller was not granted; the connection
//! then goes to exactly an address that passed. A name whose every address
//! was refused fails with [`ResolvedToBlocked`], which callers recognise.

use std::net::SocketAddr;

use super::networks::{BlockedAddress, NetworkPolicy};

/// A name whose every address was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{name}` resolves only to refused addresses: {first}")]
pub struct ResolvedToBlocked {
    name: String,
    first: BlockedAddress,
}

/// Resolves names for reqwest and keeps only allowed addresses.
#[derive(Clone)]
pub struct GuardedResolver {
    networks: NetworkPolicy,
}

impl GuardedResolver {
    /// A resolver for one caller's network policy.
    pub fn new(networks: NetworkPolicy) -> Self {
        Self { networks }
    }

    /// Look `name` up and drop every address the policy refuses.
    pub async fn resolve_checked(
        networks: &NetworkPolicy,
        name: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = tokio::net::lookup_host((name, 0)).await?;
        let mut allowed = Vec::new();
        let mut first = None;
        for addr in addrs {
            match networks.check(addr.ip()) {
                Ok(()) => allowed.push(addr),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        match (allowed.is_empty(), first) {
            (true, Some(first)) => Err(Box::new(ResolvedToBlocked {
                name: name.to_string(),
                first,
            })),
            _ => Ok(allowed),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let networks = self.networks.clone();
        Box::pin(async move {
            let addrs = Self::resolve_checked(&networks, name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal inside a reqwest error, if its name resolved only to
/// blocked addresses.
pub fn blocked_in(e: &reqwest::Error) -> Option<&ResolvedToBlocked> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<ResolvedToBlocked>() {
            return Some(blocked);
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolver_drops_blocked_addresses() {
        let none = NetworkPolicy::default();
        let err = GuardedResolver::resolve_checked(&none, "localhost")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        let loopback = NetworkPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let addrs = GuardedResolver::resolve_checked(&loopback, "localhost")
            .await
            .unwrap();
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()),
            "{addrs:?}"
        );
    }
}

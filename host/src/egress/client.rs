//! The one guarded HTTP client builder of the host.
//!
//! No automatic redirects (each hop is checked by its caller against the
//! policy again), no proxy (a proxy would connect to addresses the resolver
//! never saw), names resolved by [`GuardedResolver`], and no automatic
//! decompression (the host decodes content codings itself, before
//! redaction: [`super::coding`]).

use std::sync::Arc;
use std::time::Duration;

use super::networks::NetworkPolicy;
use super::resolver::GuardedResolver;

/// Timeouts of a client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To connect.
    pub connect: Duration,
    /// For a whole request (none: the caller bounds it).
    pub total: Option<Duration>,
}

impl Timeouts {
    /// A request the host makes for a connection (a login, a token
    /// request): 10 s to connect, 20 s in all.
    pub const HOST_CALL: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        total: Some(Duration::from_secs(20)),
    };
}

/// A client that connects only to addresses `networks` allows, trusting
/// the public roots and, for a connection whose administrator set one,
/// the certificates of `tls_ca` (PEM: an on-premises system's own CA).
pub fn guarded_client(
    networks: &NetworkPolicy,
    timeouts: Timeouts,
    tls_ca: Option<&str>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(networks.clone())))
        .connect_timeout(timeouts.connect)
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")));
    if let Some(total) = timeouts.total {
        builder = builder.timeout(total);
    }
    if let Some(pem) = tls_ca {
        for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

//! HTTPS as an on-premises Service Layer serves it: a certificate from a
//! CA of its own (made by `openssl` for the test, as in `tls_trust.rs`),
//! which a client trusts only when told to. Handshakes a client breaks off
//! (it does not trust the CA) are counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A CA and a certificate for 127.0.0.1 it signed, as `tls_trust.rs` makes them.
pub(crate) use crate::tls_trust::certificates;

/// Accepts TCP connections and completes their TLS handshake; axum serves
/// HTTP over what it returns.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    refused: Arc<AtomicU32>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, addr),
                // The client broke the handshake off: it does not trust
                // the certificate.
                _ => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serve `app` over HTTPS on 127.0.0.1 with the certificate `leaf`;
/// broken-off handshakes counted in `refused`.
pub async fn serve(
    app: axum::Router,
    leaf: &[u8],
    key: &[u8],
    refused: Arc<AtomicU32>,
) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(leaf)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor,
        refused,
    };
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

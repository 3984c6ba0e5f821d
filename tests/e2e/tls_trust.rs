//! Per-connection TLS trust: an on-premises system (SAP Business One,
//! self-hosted ERPNext or Nextcloud) whose certificate comes from its own
//! CA is refused until an administrator adds that CA to the connection's
//! grants; a key without admin scope cannot, and what is not PEM is a 422.
//! The CA and the server's certificate are made by `openssl` for the test.

use std::path::Path;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api_support::{App, Db};
use crate::support::guest;

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, leaf, key).
pub(crate) fn certificates(dir: &Path) -> (String, Vec<u8>, Vec<u8>) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Wharf Test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ],
    );
    (
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        std::fs::read(dir.join("leaf.pem")).unwrap(),
        std::fs::read(dir.join("leaf.key")).unwrap(),
    )
}

/// An HTTPS server on loopback answering every request with a small JSON.
async fn https_server(leaf: &[u8], key: &[u8]) -> u16 {
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"on_premises":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_trusts_an_on_premises_ca_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf, key) = certificates(dir.path());
    let port = https_server(&leaf, &key).await;
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let url = format!("https://127.0.0.1:{port}/b1s/v1/Items");
    let id = app
        .connection(
            "on-prem",
            "hostile@0.1.0",
            json!({"attack": "request", "url": url}),
            json!({}),
        )
        .await;
    let fetch = || async {
        let row = app.state.app.store.connection(&id).await.unwrap().unwrap();
        let (_, session) = wharf::connections::open(&app.state.app, &row)
            .await
            .unwrap();
        session.fetch("out", None).await
    };
    // Not trusted yet: the handshake fails, nothing is sent.
    let err = fetch().await.unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("connect"),
        "{err}"
    );

    // A key without admin scope cannot add a CA.
    let writer =
        wharf::server::create_api_key(&app.state.app.store, "writer", wharf::api::Scope::Write)
            .await
            .unwrap();
    let patch = |key: String, tls_ca: &str| {
        let body = json!({"grants": {"networks": ["127.0.0.0/8"], "tls_ca": tls_ca}});
        let path = format!("/api/v1/connections/{id}");
        let app = &app;
        async move { app.call(Method::PATCH, &path, Some(&key), Some(body)).await }
    };
    let a = patch(writer, &ca).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(a.text.contains("tls_ca"), "{}", a.text);
    let a = patch(app.admin.clone(), "not a certificate").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);

    // The administrator adds it: the same request goes through.
    let a = patch(app.admin.clone(), &ca).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let page = fetch().await.unwrap();
    let r = page.records[0].fields();
    assert_eq!(r["status"], 200, "{r:?}");
    assert!(r["body"].as_str().unwrap().contains("on_premises"));
}

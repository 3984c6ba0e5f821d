//! Shared pieces of the end-to-end tests: the guest components built by
//! `host/build.rs`, a runtime, sessions, and fake upstreams on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use wharf::model::grants::HostPattern;
use wharf::model::secret::SecretValue;
use wharf::runtime::{Connector, Limits, Runtime, RuntimeOptions, Session, SessionOptions};

/// Path of a guest component by crate name.
pub fn guest_path(name: &str) -> PathBuf {
    let file = if name == "plain-command" {
        name.to_string()
    } else {
        name.replace('-', "_")
    };
    PathBuf::from(env!("WHARF_GUESTS_DIR")).join(format!("{file}.wasm"))
}

/// The bytes of a guest component.
pub fn guest(name: &str) -> Vec<u8> {
    std::fs::read(guest_path(name)).unwrap_or_else(|e| panic!("read guest {name}: {e}"))
}

/// A runtime shared by tests that use the default limits.
pub fn runtime() -> Runtime {
    static RUNTIME: OnceLock<(Runtime, tempfile::TempDir)> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let rt = Runtime::new(RuntimeOptions {
                cache_dir: Some(dir.path().to_path_buf()),
                ..RuntimeOptions::default()
            })
            .expect("runtime");
            (rt, dir)
        })
        .0
        .clone()
}

/// A runtime with its own limits (and no pooling, so many can coexist).
pub fn runtime_with(limits: Limits) -> Runtime {
    Runtime::new(RuntimeOptions {
        limits,
        cache_dir: None,
        no_pooling: true,
    })
    .expect("runtime")
}

/// Load a guest into `rt`.
pub async fn load(rt: &Runtime, name: &str) -> Arc<Connector> {
    rt.load(&guest(name))
        .await
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// A session with explicit grants and secrets.
pub fn session(
    rt: &Runtime,
    connector: &Arc<Connector>,
    config: Value,
    hosts: &[&str],
    networks: &[&str],
    secrets: &[(&str, &str)],
) -> Session {
    let options = SessionOptions {
        config,
        hosts: hosts
            .iter()
            .map(|h| HostPattern::parse(h).expect("host pattern"))
            .collect(),
        networks: networks.iter().map(|n| n.parse().expect("cidr")).collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
            .collect::<BTreeMap<_, _>>(),
        // The administrator lets the connector read every secret it is
        // given; whether it may is then up to the spec (0.1 `reveal`).
        reveal: secrets.iter().map(|(k, _)| k.to_string()).collect(),
        ..SessionOptions::default()
    };
    Session::new(rt, connector, options, |log| log).expect("session")
}

/// An axum app served on 127.0.0.1, port 0.
pub struct Upstream {
    pub addr: SocketAddr,
}

impl Upstream {
    pub async fn start(app: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { addr }
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/path`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

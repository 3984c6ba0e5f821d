//! Helpers for API tests: an app on a fresh SQLite file or a fresh
//! PostgreSQL database, requests through `oneshot`, and the real
//! `wharf serve` process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use tokio::sync::OnceCell;
use tower::ServiceExt;
use wharf::api::{AppState, RateLimiter, Scope};
use wharf::app::{App as WharfApp, AppOptions};
use wharf::model::signature::TrustPolicy;
use wharf::registry::Registry;
use wharf::store::Store;
use wharf::vault::Vault;

use crate::support::runtime;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty PostgreSQL database, named after this process. The first
/// time, databases left by test processes that are gone are dropped; those
/// of a test process still running (another `cargo test` beside this one)
/// are left alone.
pub async fn fresh_postgres() -> String {
    static CLEANED: OnceCell<()> = OnceCell::const_new();
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(PG_ADMIN)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    CLEANED
        .get_or_init(|| async {
            let all: Vec<(String,)> = sqlx::query_as(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'wharf_t_%'",
            )
            .fetch_all(&admin)
            .await
            .unwrap();
            let alive = |name: &str| {
                name.strip_prefix("wharf_t_")
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            };
            for (name,) in all.into_iter().filter(|(n,)| !alive(n)) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await;
            }
        })
        .await;
    let name = format!(
        "wharf_t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// Node settings for tests: short leases and polls.
pub fn engine_options() -> AppOptions {
    AppOptions {
        workers: 2,
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_secs(1),
        poll: Duration::from_millis(50),
        tick: Duration::from_millis(100),
        grace: Duration::from_secs(5),
        ..AppOptions::default()
    }
}

/// An app and what it was built from.
pub struct App {
    pub state: AppState,
    pub router: Router,
    pub admin: String,
    pub url: String,
    pub secret_key: String,
    pub _dir: tempfile::TempDir,
}

impl App {
    pub async fn new(db: Db) -> Self {
        Self::with_limiter(db, RateLimiter::new(1000.0, 1000.0)).await
    }

    pub async fn with_limiter(db: Db, limiter: RateLimiter) -> Self {
        Self::build(db, limiter, TrustPolicy::default()).await
    }

    /// An app that checks uploads' signatures against `trust`.
    pub async fn with_trust(db: Db, trust: TrustPolicy) -> Self {
        Self::build(db, RateLimiter::new(1000.0, 1000.0), trust).await
    }

    async fn build(db: Db, limiter: RateLimiter, trust: TrustPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match db {
            Db::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("wharf.db").display()
            ),
            Db::Postgres => fresh_postgres().await,
        };
        let store = Store::open(&url).await.expect("open store");
        let secret_key = fernet::Fernet::generate_key();
        let vault = Vault::from_keys(&secret_key).unwrap();
        let registry = Arc::new(Registry::with_trust(store.clone(), runtime(), trust));
        let vault = Arc::new(vault);
        let app = WharfApp::new(store.clone(), registry, vault, engine_options());
        let state = AppState {
            app,
            limiter: Arc::new(limiter),
            request_timeout: wharf::api::REQUEST_TIMEOUT,
            sso: None,
        };
        let admin = wharf::server::create_api_key(&store, "test admin", Scope::Admin)
            .await
            .unwrap();
        Self {
            router: wharf::api::router(state.clone()),
            state,
            admin,
            url,
            secret_key,
            _dir: dir,
        }
    }

    /// A request through the router; the body is JSON unless `raw` is given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let (content_type, bytes) = match body {
            Some(v) => ("application/json", v.to_string().into_bytes()),
            None => ("application/json", Vec::new()),
        };
        self.raw(method, path, key, content_type, bytes).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        self.raw_headers(method, path, key, content_type, &[], body)
            .await
    }

    /// [`App::raw`] with extra request headers.
    pub async fn raw_headers(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type);
        for (k, v) in extra {
            req = req.header(*k, v);
        }
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// A request with exactly these headers and no body.
    pub async fn raw_with(&self, method: Method, path: &str, headers: &[(&str, String)]) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&self.admin.clone()), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&self.admin.clone()), Some(body))
            .await
    }

    /// Upload with a signature file's text in `Wharf-Signature` (base64).
    pub async fn upload_signed(&self, bytes: Vec<u8>, signature: &str) -> Answer {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        self.raw_headers(
            Method::POST,
            "/api/v1/connectors",
            Some(&self.admin.clone()),
            "application/wasm",
            &[("wharf-signature", b64)],
            bytes,
        )
        .await
    }

    pub async fn upload(&self, bytes: Vec<u8>) -> Answer {
        self.raw(
            Method::POST,
            "/api/v1/connectors",
            Some(&self.admin.clone()),
            "application/wasm",
            bytes,
        )
        .await
    }
}

/// A response, with its body as text and (if it is JSON) as a value.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn is_problem(&self) -> bool {
        self.headers
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json")
    }
}

impl App {
    /// Start this app's workers; they stop when the returned sender is dropped
    /// or sends `true`.
    pub fn start_workers(&self) -> tokio::sync::watch::Sender<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(wharf::sync::worker::run(self.state.app.clone(), rx));
        tx
    }

    /// Start this app's outgoing-webhook sender.
    pub fn start_sender(&self) -> tokio::sync::watch::Sender<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(wharf::webhooks::sender::run(self.state.app.clone(), rx));
        tx
    }

    /// Wait until a run ends; its final state.
    pub async fn wait_run(&self, run_id: &str) -> Value {
        for _ in 0..600 {
            let a = self.get(&format!("/api/v1/runs/{run_id}")).await;
            if matches!(
                a.json["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return a.json;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run_id} did not end in 30 s");
    }

    /// Create a sync from `body`; its id.
    pub async fn sync(&self, body: Value) -> String {
        let a = self.post("/api/v1/syncs", body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        a.json["id"].as_str().unwrap().to_string()
    }

    /// Start a run of `sync` now and wait until it ends; its final state.
    pub async fn run(&self, sync: &str) -> Value {
        let a = self
            .post(
                &format!("/api/v1/syncs/{sync}/runs"),
                serde_json::json!(null),
            )
            .await;
        assert!(a.status.is_success(), "{}", a.text);
        self.wait_run(a.json["id"].as_str().unwrap()).await
    }

    /// Create a connection; its id.
    pub async fn connection(
        &self,
        name: &str,
        connector: &str,
        config: Value,
        secrets: Value,
    ) -> String {
        let a = self
            .post(
                "/api/v1/connections",
                serde_json::json!({"name": name, "connector": connector, "config": config, "secrets": secrets,
                    "grants": {"networks": ["127.0.0.0/8"]}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        a.json["id"].as_str().unwrap().to_string()
    }
}

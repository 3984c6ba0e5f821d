//! The real `wharf serve` process, driven by the real CLI and by the curl
//! examples of `docs/api.md`, on SQLite and PostgreSQL.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::api_support::{Db, fresh_postgres};
use crate::support::Upstream;

pub const SECRET: &str = "quickstart-secret-4711";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running `wharf serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub key: Option<String>,
    pub output: Arc<Mutex<String>>,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Self::start_with(data_dir, database_url, &[]).await
    }

    pub async fn start_with(
        data_dir: PathBuf,
        database_url: Option<String>,
        extra: &[&str],
    ) -> Self {
        Self::start_with_keys(data_dir, database_url, extra, None).await
    }

    /// Start with `WHARF_SECRET_KEYS` set to `keys` (none: the key file).
    pub async fn start_with_keys(
        data_dir: PathBuf,
        database_url: Option<String>,
        extra: &[&str],
        keys: Option<&str>,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(extra)
            .env("WHARF_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match keys {
            Some(k) => cmd.env("WHARF_SECRET_KEYS", k),
            None => cmd.env_remove("WHARF_SECRET_KEYS"),
        };
        match &database_url {
            Some(url) => cmd.env("WHARF_DATABASE_URL", url),
            None => cmd.env_remove("WHARF_DATABASE_URL"),
        };
        let mut child = cmd.spawn().expect("start wharf serve");
        let output = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut key = None;
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("wharf serve starts within a minute")
                .unwrap()
                .expect("wharf serve exited before listening");
            output.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(k) = line.trim().strip_prefix("wharf_") {
                key = Some(format!("wharf_{k}"));
            }
            if let Some(rest) = line.strip_prefix("Wharf is listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let out = output.clone();
        let stdout_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                out.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let out = output.clone();
        let mut stderr = child.stderr.take().unwrap();
        let stderr_reader = tokio::spawn(async move {
            let mut buf = String::new();
            let _ = stderr.read_to_string(&mut buf).await;
            out.lock().unwrap().push_str(&buf);
        });
        Self {
            child,
            url,
            key,
            output,
            data_dir,
            database_url,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// SIGKILL: the process dies without any chance to clean up.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, and the exit status.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        // Polled with `try_wait` (waitpid): tokio's SIGCHLD-driven `wait`
        // was seen to miss an exit that came seconds after the signal.
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "wharf serve stops within 20 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        // Everything the process wrote is in `output` once this returns.
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        status
    }
}

/// Run the CLI against the server; (exit code, stdout, stderr).
pub async fn cli(server: &Server, key: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .env("WHARF_SERVER", &server.url)
        .env("WHARF_API_KEY", key)
        .current_dir(root())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn quick_start(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let database_url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(fresh_postgres().await),
    };
    let server = Server::start(data.path().to_path_buf(), database_url).await;
    let key = server
        .key
        .clone()
        .expect("the first start prints an admin key");
    let mut seen = String::new();

    let upstream = Upstream::start(Router::new().route(
        "/v1/products",
        get(|h: HeaderMap| async move {
            if h.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {SECRET}"))
            {
                (StatusCode::OK, axum::Json(json!([{"id": 1}])))
            } else {
                (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "no"})))
            }
        }),
    ))
    .await;

    let (code, out, err) = cli(
        &server,
        &key,
        &["connector", "upload", "target/connectors/http-json.wasm"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("uploaded http-json@0.1.0"), "{out}");
    seen.push_str(&out);

    let config = json!({
        "base_url": upstream.url("/v1"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"products": {"path": "/products", "key": "id"}}
    })
    .to_string();
    let secret_arg = format!("api_token={SECRET}");
    let (code, out, err) = cli(
        &server,
        &key,
        &[
            "connection",
            "create",
            "shop",
            "--connector",
            "http-json@0.1.0",
            "--config",
            &config,
            "--secret",
            &secret_arg,
            "--allow-network",
            "127.0.0.0/8",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    seen.push_str(&out);
    let (_, out, _) = cli(&server, &key, &["connection", "list", "--json"]).await;
    seen.push_str(&out);
    let list: Value = serde_json::from_str(&out).unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let (code, out, err) = cli(&server, &key, &["connection", "check", &id]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("check ok"), "{out}");
    let (_, out, _) = cli(&server, &key, &["connection", "list"]).await;
    assert!(
        out.contains("shop") && out.contains("active") && out.contains("api_token"),
        "{out}"
    );
    seen.push_str(&out);

    let (code, _, err) = cli(&server, "wharf_00000000_wrong", &["connection", "list"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown or revoked"), "{err}");

    for (path, expected) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let body = reqwest::get(format!("{}{path}", server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, expected);
    }

    let output = server.output.clone();
    let (data_dir, database_url) = (server.data_dir.clone(), server.database_url.clone());
    let status = server.stop().await;
    assert!(status.success(), "graceful shutdown on SIGTERM: {status}");
    let log = output.lock().unwrap().clone();
    assert!(log.contains("shutting down"), "{log}");
    if db == Db::Sqlite {
        assert!(
            log.contains("production should set WHARF_SECRET_KEYS"),
            "{log}"
        );
        let key_file = data_dir.join("secret.key");
        assert!(key_file.exists());
    }
    assert!(
        !log.contains(SECRET) && !seen.contains(SECRET),
        "a secret leaked into output"
    );

    // A restart keeps the data and creates no new admin key.
    let again = Server::start(data_dir, database_url).await;
    assert!(again.key.is_none(), "no second admin key");
    let (code, out, _) = cli(&again, &key, &["connection", "list"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("shop"));
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_on_sqlite() {
    quick_start(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_on_postgres() {
    quick_start(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_examples_of_docs_api_md_work() {
    let guide = std::fs::read_to_string(root().join("docs/api.md")).unwrap();
    let blocks: Vec<&str> = guide
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 6, "docs/api.md has its examples");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path().to_path_buf(), None).await;
    let script = format!("set -euo pipefail\n{}\n", blocks.join("\n"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("WHARF", &server.url)
        .env("KEY", server.key.clone().unwrap())
        .current_dir(root())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docs/api.md examples failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("\"name\":\"http-json\""), "{stdout}");
    assert!(stdout.contains("created "), "{stdout}");
    server.stop().await;
}

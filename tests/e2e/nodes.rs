//! How a node runs, as docs/operations.md describes it, with real `wharf
//! serve` processes: SIGTERM lets in-flight runs finish within the grace
//! period and puts the rest back in the queue; `--role api` and `--role
//! worker` split one deployment in two; `--per-connection` caps the runs
//! that use one connection at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};

use crate::api_support::fresh_postgres;
use crate::serve::Server;
use crate::support::{Upstream, guest};

/// A JSON call; status and answer.
async fn call(
    server: &Server,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(key);
    if !body.is_null() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(server: &Server, key: &str, path: &str, body: Value) -> Value {
    let (status, v) = call(server, key, reqwest::Method::POST, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

async fn upload(server: &Server, key: &str, name: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/connectors", server.url))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(guest(name))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// A hostile `sleep` source of `ms` per page and its sync; the sync id.
async fn sleeper(server: &Server, key: &str, name: &str, ms: u64) -> String {
    let c = post(
        server,
        key,
        "/api/v1/connections",
        json!({"name": name, "connector": "hostile@0.1.0",
            "config": {"attack": "sleep", "url": "http://unused.example", "n": ms}}),
    )
    .await;
    let s = post(
        server,
        key,
        "/api/v1/syncs",
        json!({"name": name, "source": c["id"], "streams": ["out"]}),
    )
    .await;
    s["id"].as_str().unwrap().to_string()
}

async fn run_state(server: &Server, key: &str, run: &str) -> Value {
    call(
        server,
        key,
        reqwest::Method::GET,
        &format!("/api/v1/runs/{run}"),
        Value::Null,
    )
    .await
    .1
}

async fn wait_status(server: &Server, key: &str, run: &str, wanted: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let r = run_state(server, key, run).await;
        if wanted.iter().any(|w| r["status"] == *w) {
            return r;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{run}: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_runs_finish_within_the_grace_and_requeues_the_rest() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path().to_path_buf(), None, &["--grace-secs", "2"]).await;
    let key = server.key.clone().unwrap();
    upload(&server, &key, "hostile").await;
    let quick = sleeper(&server, &key, "quick", 800).await;
    let slow = sleeper(&server, &key, "slow", 20_000).await;
    let quick_run = post(
        &server,
        &key,
        &format!("/api/v1/syncs/{quick}/runs"),
        Value::Null,
    )
    .await;
    let slow_run = post(
        &server,
        &key,
        &format!("/api/v1/syncs/{slow}/runs"),
        Value::Null,
    )
    .await;
    let (quick_run, slow_run) = (
        quick_run["id"].as_str().unwrap().to_string(),
        slow_run["id"].as_str().unwrap().to_string(),
    );
    for r in [&quick_run, &slow_run] {
        wait_status(&server, &key, r, &["running"]).await;
    }
    let stopping = Instant::now();
    let status = server.stop().await;
    assert!(status.success(), "{status}");
    // Within the grace, and long before the slow run would have ended.
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );

    // Back up: the quick run finished in the grace period; the slow one was
    // released to the queue, resumes, and finishes (given time).
    let again = Server::start_with(data.path().to_path_buf(), None, &["--grace-secs", "1"]).await;
    let quick_state = run_state(&again, &key, &quick_run).await;
    assert_eq!(quick_state["status"], "succeeded", "{quick_state}");
    let slow_state = run_state(&again, &key, &slow_run).await;
    assert!(
        matches!(slow_state["status"].as_str(), Some("queued" | "running")),
        "released, not failed: {slow_state}"
    );
    let logs = call(
        &again,
        &key,
        reqwest::Method::GET,
        &format!("/api/v1/runs/{slow_run}/logs"),
        Value::Null,
    )
    .await
    .1;
    assert!(logs.to_string().contains("run released"), "{logs}");
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_and_a_worker_node_split_the_work() {
    let database = fresh_postgres().await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let api = Server::start_with(
        d1.path().to_path_buf(),
        Some(database.clone()),
        &["--role", "api"],
    )
    .await;
    let key = api.key.clone().unwrap();
    upload(&api, &key, "hostile").await;
    let c = post(
        &api,
        &key,
        "/api/v1/connections",
        json!({"name": "echo", "connector": "hostile@0.1.0",
            "config": {"attack": "echo", "url": "http://unused.example", "n": 2}}),
    )
    .await;
    let sync = post(
        &api,
        &key,
        "/api/v1/syncs",
        json!({"name": "echo", "source": c["id"], "streams": ["out"]}),
    )
    .await;
    let run = post(
        &api,
        &key,
        &format!("/api/v1/syncs/{}/runs", sync["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    let run = run["id"].as_str().unwrap().to_string();
    // An API node runs nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_state(&api, &key, &run).await["status"], "queued");

    // A worker node (same secret key: the API node wrote it to its data
    // directory) serves health and metrics only, and runs the run.
    std::fs::copy(d1.path().join("secret.key"), d2.path().join("secret.key")).unwrap();
    let worker = Server::start_with(
        d2.path().to_path_buf(),
        Some(database),
        &["--role", "worker"],
    )
    .await;
    let (status, _) = call(
        &worker,
        &key,
        reqwest::Method::GET,
        "/api/v1/connections",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "the worker serves no API");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let resp = reqwest::get(format!("{}{path}", worker.url)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let ended = wait_status(&api, &key, &run, &["succeeded", "failed"]).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["counters"]["fetched"], 2);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_connection_caps_the_runs_that_use_one_connection_at_once() {
    // Each request takes 300 ms; the upstream counts how many of each path
    // are in flight at once.
    let in_flight: Arc<Mutex<std::collections::HashMap<String, (usize, usize)>>> = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let (track, count) = (in_flight.clone(), total.clone());
    let app = Router::new().route(
        "/{conn}/items",
        get(move |Path(conn): Path<String>| {
            let (track, count) = (track.clone(), count.clone());
            async move {
                {
                    let mut t = track.lock().unwrap();
                    let e = t.entry(conn.clone()).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(e.0);
                }
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                track.lock().unwrap().get_mut(&conn).unwrap().0 -= 1;
                axum::Json(json!({"data": [{"id": 1}]}))
            }
        }),
    );
    let up = Upstream::start(app).await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path().to_path_buf(),
        None,
        &["--workers", "4", "--per-connection", "1"],
    )
    .await;
    let key = server.key.clone().unwrap();
    upload(&server, &key, "http-json").await;
    let mut runs = Vec::new();
    for (conn, syncs) in [("a", 3), ("b", 1)] {
        let c = post(
            &server,
            &key,
            "/api/v1/connections",
            json!({"name": conn, "connector": "http-json@0.1.0",
                "config": {"base_url": up.url(&format!("/{conn}")),
                    "streams": {"items": {"path": "/items", "records": "/data", "key": "id"}}},
                "grants": {"networks": ["127.0.0.0/8"]}}),
        )
        .await;
        for i in 0..syncs {
            let s = post(
                &server,
                &key,
                "/api/v1/syncs",
                json!({"name": format!("{conn}{i}"), "source": c["id"], "streams": ["items"]}),
            )
            .await;
            let r = post(
                &server,
                &key,
                &format!("/api/v1/syncs/{}/runs", s["id"].as_str().unwrap()),
                Value::Null,
            )
            .await;
            runs.push(r["id"].as_str().unwrap().to_string());
        }
    }
    for r in &runs {
        let ended = wait_status(&server, &key, r, &["succeeded", "failed"]).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
    }
    let seen = in_flight.lock().unwrap().clone();
    assert_eq!(
        seen["a"].1, 1,
        "one run of connection a at a time: {seen:?}"
    );
    assert_eq!(total.load(Ordering::SeqCst), 4);
    server.stop().await;
}

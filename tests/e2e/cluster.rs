//! Real `wharf serve` processes: a run survives `kill -9` of its node and
//! resumes from its last committed page; three nodes on one PostgreSQL run
//! every due time of fifty schedules once, never two runs of a sync at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_support::{Db, fresh_postgres};
use crate::fakes;
use crate::serve::Server;
use crate::support::{Upstream, guest_path};

/// A JSON API call to a server.
async fn call(
    server: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn upload(server: &Server, key: &str, name: &str) {
    let bytes = std::fs::read(guest_path(name)).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/connectors", server.url))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "upload {name}: {}",
        resp.status()
    );
}

#[derive(serde::Deserialize)]
struct PageQuery {
    page: usize,
}

/// 20 pages of 10 items, each page served slowly, every request logged.
async fn slow_source(requests: Arc<Mutex<Vec<usize>>>) -> Upstream {
    Upstream::start(Router::new().route(
        "/api/items",
        get(move |Query(q): Query<PageQuery>| {
            requests.lock().unwrap().push(q.page);
            async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let items: Vec<Value> = if q.page <= 20 {
                    ((q.page - 1) * 10 + 1..=q.page * 10)
                        .map(|i| json!({"id": i, "name": format!("item {i}")}))
                        .collect()
                } else {
                    Vec::new()
                };
                axum::Json(json!({ "data": items }))
            }
        }),
    ))
    .await
}

async fn crash_and_resume(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(fresh_postgres().await),
    };
    let args = ["--lease-secs", "3", "--grace-secs", "1"];
    let server = Server::start_with(data.path().to_path_buf(), url.clone(), &args).await;
    let key = server.key.clone().unwrap();
    upload(&server, &key, "http-json").await;
    upload(&server, &key, "http-push").await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let src = slow_source(requests.clone()).await;
    let (dst, dst_state) = fakes::destination(None).await;
    let source = call(&server, &key, Method::POST, "/api/v1/connections", Some(json!({
        "name": "slow", "connector": "http-json@0.1.0", "grants": {"networks": ["127.0.0.0/8"]},
        "config": {"base_url": src.url("/api"), "streams": {"items": {"path": "/items", "records": "/data", "key": "id",
            "pagination": {"type": "page_number", "size": 10}}}}
    }))).await["id"].as_str().unwrap().to_string();
    let dest = call(
        &server,
        &key,
        Method::POST,
        "/api/v1/connections",
        Some(json!({
            "name": "dest", "connector": "http-push@0.1.0", "grants": {"networks": ["127.0.0.0/8"]},
            "config": {"url": dst.url("/records/{key}")}
        })),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sync = call(
        &server,
        &key,
        Method::POST,
        "/api/v1/syncs",
        Some(json!({
            "name": "crash", "source": source, "streams": ["items"], "destination": dest
        })),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = call(
        &server,
        &key,
        Method::POST,
        &format!("/api/v1/syncs/{sync}/runs"),
        None,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Let a few pages commit, then kill the node mid-run.
    let mut committed = 0;
    for _ in 0..200 {
        committed = call(
            &server,
            &key,
            Method::GET,
            &format!("/api/v1/runs/{run}"),
            None,
        )
        .await["counters"]["pages"]
            .as_i64()
            .unwrap();
        if committed >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(committed >= 5, "the run made progress before the crash");
    server.kill().await;
    let served_before = requests.lock().unwrap().len();

    let delivered_before: Vec<String> = dst_state.lock().unwrap().records.keys().cloned().collect();

    // A new process takes the run over once its lease expires.
    let again = Server::start_with(data.path().to_path_buf(), url, &args).await;
    let mut last = Value::Null;
    for _ in 0..300 {
        last = call(
            &again,
            &key,
            Method::GET,
            &format!("/api/v1/runs/{run}"),
            None,
        )
        .await;
        if last["status"] == "succeeded" || last["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "succeeded", "{last}");
    {
        let d = dst_state.lock().unwrap();
        assert_eq!(d.records.len(), 200, "every record arrived");
        let twice: Vec<&String> = d
            .writes
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        assert!(
            twice.len() <= 10,
            "at most the page in flight at the crash was delivered again: {twice:?}"
        );
        let pages = requests.lock().unwrap().clone();
        let after_restart = &pages[served_before..];
        assert!(
            after_restart
                .first()
                .is_some_and(|p| *p as i64 >= committed),
            "resumed from the last committed page ({committed}), not from the start: {after_restart:?}"
        );
        assert_eq!(
            pages.iter().filter(|p| **p == 1).count(),
            1,
            "page 1 was fetched once"
        );
        // The run reads a page ahead while it commits one. The page it
        // resumed at had been asked for before the crash (in flight), and
        // every record before it had been delivered: no cursor was stored
        // ahead of its records.
        let resumed_at = after_restart[0];
        assert!(
            pages[..served_before].contains(&resumed_at),
            "the page resumed at was in flight at the crash: {pages:?}"
        );
        for id in 1..=(resumed_at - 1) * 10 {
            assert!(
                delivered_before.iter().any(|k| k == &id.to_string()),
                "record {id}, before the committed cursor (page {resumed_at}), was delivered before the crash"
            );
        }
    }
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_kill_9_on_sqlite() {
    crash_and_resume(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_kill_9_on_postgres() {
    crash_and_resume(Db::Postgres).await;
}

/// A scheduled run: sync, status, due, started, finished.
type RunTimes = (String, String, Option<i64>, Option<i64>, Option<i64>);
/// Status, due, started, finished.
type Times = (String, Option<i64>, Option<i64>, Option<i64>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_run_every_due_time_once() {
    const SYNCS: usize = 50;
    const EVERY_MS: i64 = 2_000;
    let url = fresh_postgres().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--lease-secs", "5", "--grace-secs", "2", "--workers", "4"];
    let first = Server::start_with(dirs[0].path().to_path_buf(), Some(url.clone()), &args).await;
    let key = first.key.clone().unwrap();
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(Server::start_with(d.path().to_path_buf(), Some(url.clone()), &args).await);
    }
    upload(&nodes[0], &key, "hostile").await;
    let source = call(
        &nodes[1],
        &key,
        Method::POST,
        "/api/v1/connections",
        Some(json!({
            "name": "echo", "connector": "hostile@0.1.0",
            "config": {"attack": "echo", "url": "http://unused.example", "n": 3}
        })),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..SYNCS {
        call(&nodes[i % 3], &key, Method::POST, "/api/v1/syncs", Some(json!({
            "name": format!("echo-{i:02}"), "source": source, "streams": ["out"], "schedule": {"every": EVERY_MS / 1000}
        }))).await;
    }
    // Until every sync has four finished scheduled runs (about 8 s of a 2 s
    // schedule): a condition on the database, not a fixed wait.
    sqlx::any::install_default_drivers();
    let watch = sqlx::AnyPool::connect(&url).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let (ready,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT sync_id FROM runs WHERE trigger_kind = 'schedule' AND status = 'succeeded' \
             GROUP BY sync_id HAVING COUNT(*) >= 4) AS done",
        )
        .fetch_one(&watch)
        .await
        .unwrap();
        if ready as usize == SYNCS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{ready} of {SYNCS} syncs had four runs after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watch.close().await;
    let stopping = wharf::store::now_ms();
    for n in nodes {
        assert!(n.stop().await.success());
    }

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows: Vec<RunTimes> = sqlx::query_as(
        "SELECT sync_id, status, due_at, started_at, finished_at FROM runs WHERE trigger_kind = 'schedule' ORDER BY sync_id, due_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut by_sync: BTreeMap<String, Vec<Times>> = BTreeMap::new();
    for (sync, status, due, started, finished) in rows {
        by_sync
            .entry(sync)
            .or_default()
            .push((status, due, started, finished));
    }
    assert_eq!(by_sync.len(), SYNCS, "every sync ran");
    let mut total = 0;
    for (sync, runs) in &by_sync {
        assert!(runs.len() >= 4, "{sync}: {} runs", runs.len());
        total += runs.len();
        for pair in runs.windows(2) {
            let (a, b) = (pair[0].1.unwrap(), pair[1].1.unwrap());
            assert_eq!(
                b - a,
                EVERY_MS,
                "{sync}: due times {a} and {b}: each due time once, none missed"
            );
        }
        let mut spans: Vec<(i64, i64)> = runs
            .iter()
            .filter_map(|(_, _, s, f)| Some(((*s)?, (*f)?)))
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[1].0 >= w[0].1, "{sync}: two runs at once: {w:?}");
        }
        // Runs due shortly before the nodes stopped may still be queued (the
        // test machine is busy with other tests); every older one ran.
        for (status, due, _, _) in runs {
            if due.unwrap() < stopping - 8_000 {
                assert_eq!(status, "succeeded", "{sync}: {runs:?}");
            }
        }
    }
    let failures: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT DISTINCT error FROM runs WHERE status = 'failed'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(failures.is_empty(), "no run failed: {failures:?}");
    eprintln!("{total} scheduled runs across 3 nodes");
}

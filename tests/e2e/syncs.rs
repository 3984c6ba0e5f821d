//! The sync engine end to end: `http-json` from a paginated loopback fake
//! into the records store and into `http-push`; incremental runs; errors
//! doing what they say; import; the scheduler.
//!
//! It is kept as one file because its tests are one walk through the sync
//! engine on shared fixtures: the paginated fake source,
//! `source_connection`, `setup` and `run_now` serve nearly every test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::put;
use serde_json::{Value, json};

use crate::api_support::{App, Db};
use crate::fakes::{self, Item};
use crate::support::{Upstream, guest};

const TOKEN: &str = "sync-source-token-77";

async fn source_connection(app: &App, up: &Upstream) -> String {
    let config = json!({
        "base_url": up.url("/api"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"items": {
            "path": "/page-items", "records": "/data", "key": "id",
            "cursor_field": "updated_at", "cursor_param": "updated_since",
            "pagination": {"type": "page_number", "size_param": "per_page", "size": 10}
        }}
    });
    app.connection(
        "source",
        "http-json@0.1.0",
        config,
        json!({"api_token": TOKEN}),
    )
    .await
}

async fn setup(db: Db) -> App {
    let app = App::new(db).await;
    for g in ["http-json", "field-map", "http-push"] {
        assert_eq!(app.upload(guest(g)).await.status, StatusCode::CREATED);
    }
    app
}

async fn run_now(app: &App, sync: &str) -> Value {
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    app.wait_run(a.json["id"].as_str().unwrap()).await
}

async fn into_records_store(db: Db) {
    let app = setup(db).await;
    let _workers = app.start_workers();
    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, src_state) = fakes::source(items, Some(TOKEN)).await;
    let source = source_connection(&app, &src).await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "items", "source": source, "streams": ["items"], "mode": "incremental"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["destination"], "records");
    let sync = a.json["id"].as_str().unwrap().to_string();

    let run = run_now(&app, &sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["fetched"], 25);
    assert_eq!(run["counters"]["created"], 25);
    assert_eq!(run["counters"]["pages"], 3);
    assert!(run["counters"]["http_requests"].as_i64().unwrap() >= 3);

    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records?stream=items&limit=10"
        ))
        .await;
    assert_eq!(a.json["items"].as_array().unwrap().len(), 10);
    assert!(a.json["next"].is_string());
    let a = app
        .get(&format!("/api/v1/syncs/{sync}/records/export?format=csv"))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = a.text.lines().collect();
    assert_eq!(lines.len(), 26, "header + 25 rows");
    assert!(
        lines[0].starts_with("key,id,name,price,status,updated_at"),
        "{}",
        lines[0]
    );
    let a = app
        .get(&format!("/api/v1/syncs/{sync}/records/export?format=json"))
        .await;
    assert_eq!(a.json.as_array().unwrap().len(), 25);

    // Incremental: only what changed since the committed cursor.
    {
        let mut s = src_state.lock().unwrap();
        s.items[4] = Item::new(5, 59);
        s.items.push(Item::new(26, 58));
        s.requests.clear();
    }
    let run = run_now(&app, &sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["fetched"], 2);
    assert_eq!(
        (
            run["counters"]["created"].as_i64(),
            run["counters"]["updated"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        src_state
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.contains("10:25:00Z"))
    );

    // Full mode reads everything again; the store counts what did not change.
    let a = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/syncs/{sync}"),
            Some(&app.admin),
            Some(json!({"mode": "full"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let run = run_now(&app, &sync).await;
    assert_eq!(run["counters"]["fetched"], 26);
    assert_eq!(run["counters"]["unchanged"], 26);
    assert_eq!(run["counters"]["created"], 0);

    let a = app
        .get(&format!(
            "/api/v1/runs/{}/logs",
            run["id"].as_str().unwrap()
        ))
        .await;
    let messages: Vec<&str> = a.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("run started"), "{messages:?}");
    assert!(
        messages.last().unwrap().starts_with("run succeeded"),
        "{messages:?}"
    );

    let metrics = app
        .call(axum::http::Method::GET, "/metrics", None, None)
        .await;
    assert!(
        metrics
            .text
            .contains("wharf_runs_finished_total{status=\"succeeded\"} 3"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("wharf_http_requests_total{connector=\"http-json\",status=\"2xx\"}"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("wharf_queue_depth 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_the_records_store_on_sqlite() {
    into_records_store(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_the_records_store_on_postgres() {
    into_records_store(Db::Postgres).await;
}

/// The records store's page write counts each kind of write the same on
/// both backends (PostgreSQL writes and counts in one statement, SQLite
/// reads the stored hashes first): new, changed, unchanged, deleted, a
/// delete of a key never stored, and two versions of a key in one page.
async fn records_store_counts(db: Db) {
    use wharf::model::record::{Op, Record};
    use wharf::store::pages::{PageCommit, StoreOutcome};
    let app = setup(db).await;
    let (src, _) = fakes::source(Vec::new(), Some(TOKEN)).await;
    let source = source_connection(&app, &src).await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "counts", "source": source, "streams": ["items"]}),
        )
        .await;
    let sync = a.json["id"].as_str().unwrap().to_string();
    let store = &app.state.app.store;
    store
        .enqueue_run(&sync, wharf::store::runs::Trigger::Manual, None, 0, 1)
        .await
        .unwrap()
        .unwrap();
    let run = store.claim_run("test-node", 60_000).await.unwrap().unwrap();
    let lease = run.lease().unwrap();
    let record = |key: &str, op: Op, v: i64| {
        Record::new(
            "items",
            Some(key.into()),
            op,
            json!({"id": key, "v": v}).to_string(),
        )
        .unwrap()
    };
    let commit = |records: Vec<Record>| PageCommit {
        lease: &lease,
        sync_id: &sync,
        stream: "items",
        cursor: None,
        done: false,
        checkpoint: false,
        counters: Default::default(),
        rejections: Vec::new(),
        logs: Vec::new(),
        logs_dropped: 0,
        records,
        quota: 1_000,
    };
    let first = store
        .commit_page(commit(vec![
            record("a", Op::Upsert, 1),
            record("b", Op::Upsert, 1),
            record("c", Op::Upsert, 1),
        ]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        StoreOutcome {
            created: 3,
            ..Default::default()
        }
    );
    let second = store
        .commit_page(commit(vec![
            record("a", Op::Upsert, 1),
            record("b", Op::Upsert, 2),
            record("c", Op::Delete, 0),
            record("d", Op::Delete, 0),
            record("e", Op::Upsert, 1),
            record("e", Op::Upsert, 2),
        ]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second,
        StoreOutcome {
            created: 1,
            updated: 1,
            unchanged: 2,
            deleted: 1
        },
        "{db:?}"
    );
    let stored: Vec<(String, Value)> = store
        .records(&sync, "items", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.data["v"].clone()))
        .collect();
    assert_eq!(
        stored,
        vec![
            ("a".into(), json!(1)),
            ("b".into(), json!(2)),
            ("e".into(), json!(2))
        ]
    );
    assert_eq!(store.sync(&sync).await.unwrap().unwrap().record_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_store_counts_on_sqlite() {
    records_store_counts(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_store_counts_on_postgres() {
    records_store_counts(Db::Postgres).await;
}

async fn into_http_push(db: Db) {
    let app = setup(db).await;
    let _workers = app.start_workers();
    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, _) = fakes::source(items, Some(TOKEN)).await;
    let (dst, dst_state) = fakes::destination(None).await;
    let source = source_connection(&app, &src).await;
    let mapper = app
        .connection(
            "mapper",
            "field-map@0.1.0",
            json!({"rules": [{"stream": "items", "key": "/id", "fields": [
                {"to": "title", "from": "/name"}, {"to": "price", "from": "/price/amount", "cast": "number"}]}]}),
            json!({}),
        )
        .await;
    let dest = app
        .connection(
            "dest",
            "http-push@0.1.0",
            json!({"url": dst.url("/records/{key}")}),
            json!({}),
        )
        .await;
    let a = app
        .post("/api/v1/syncs", json!({"name": "push", "source": source, "streams": ["items"], "mapper": mapper, "destination": dest}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let run = run_now(&app, a.json["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 25);
    let d = dst_state.lock().unwrap();
    assert_eq!(d.records.len(), 25);
    assert!(
        d.writes.values().all(|&n| n == 1),
        "every record exactly once"
    );
    assert_eq!(d.records["7"], json!({"title": "Item 7", "price": 21.5}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_http_push_on_sqlite() {
    into_http_push(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_http_push_on_postgres() {
    into_http_push(Db::Postgres).await;
}

/// A destination whose first answers are `status`, then 201s.
async fn flaky_destination(
    status: u16,
    times: usize,
    retry_after: Option<&'static str>,
) -> (Upstream, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/records/{key}",
        put(move |Path(_key): Path<String>| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < times {
                    let mut r = (StatusCode::from_u16(status).unwrap(), "not now").into_response();
                    if let Some(ra) = retry_after {
                        r.headers_mut().insert("retry-after", ra.parse().unwrap());
                    }
                    r
                } else {
                    (StatusCode::CREATED, "ok").into_response()
                }
            }
        }),
    );
    (Upstream::start(app).await, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_errors_do_what_they_say() {
    let app = setup(Db::Sqlite).await;
    let _workers = app.start_workers();
    let items: Vec<Item> = (1..=3).map(|i| Item::new(i, i)).collect();
    let (src, _) = fakes::source(items, Some(TOKEN)).await;
    let source = source_connection(&app, &src).await;
    let fast_retry =
        json!({"attempts": 4, "backoff_ms": 20, "max_backoff_ms": 100, "run_retries": 0});

    let mut n = 0;
    let mut sync_to = |dest: String| {
        n += 1;
        let app = &app;
        let source = source.clone();
        let retry = fast_retry.clone();
        async move {
            let a = app
                .post("/api/v1/syncs", json!({"name": format!("s{n}"), "source": source, "streams": ["items"], "destination": dest, "retry": retry}))
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
            a.json["id"].as_str().unwrap().to_string()
        }
    };

    // 5xx, then 2xx: retried and completed.
    let (dst, calls) = flaky_destination(503, 2, None).await;
    let dest = app
        .connection(
            "d503",
            "http-push@0.1.0",
            json!({"url": dst.url("/records/{key}")}),
            json!({}),
        )
        .await;
    let run = run_now(&app, &sync_to(dest).await).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 3);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "two refused attempts, then three records"
    );

    // 429 with Retry-After: waited, then completed.
    let (dst, _) = flaky_destination(429, 1, Some("1")).await;
    let dest = app
        .connection(
            "d429",
            "http-push@0.1.0",
            json!({"url": dst.url("/records/{key}")}),
            json!({}),
        )
        .await;
    let run = run_now(&app, &sync_to(dest).await).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(
        run["duration_ms"].as_i64().unwrap() >= 1000,
        "the run waited: {run}"
    );

    // 401: the run fails and the connection is marked broken.
    let (dst, _) = flaky_destination(401, 1000, None).await;
    let dest = app
        .connection(
            "d401",
            "http-push@0.1.0",
            json!({"url": dst.url("/records/{key}")}),
            json!({}),
        )
        .await;
    let run = run_now(&app, &sync_to(dest.clone()).await).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error_kind"], "auth");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("destination `d401`"),
        "{run}"
    );
    let c = app.get(&format!("/api/v1/connections/{dest}")).await;
    assert_eq!(c.json["status"], "error");
    assert!(
        c.json["status_reason"]
            .as_str()
            .unwrap()
            .contains("authentication failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_lands_good_rows_and_reports_each_bad_one() {
    let app = setup(Db::Sqlite).await;
    let (src, _) = fakes::source(Vec::new(), None).await;
    let source = source_connection(&app, &src).await;
    let mapper = app
        .connection(
            "casts",
            "field-map@0.1.0",
            json!({"rules": [{"stream": "items", "key": "/sku", "on_cast_error": "null", "fields": [
                {"to": "sku", "from": "/sku"},
                {"to": "name", "from": "/name"},
                {"to": "price", "from": "/price", "cast": "number"}]}]}),
            json!({}),
        )
        .await;
    let schema = json!({"type": "object", "required": ["sku", "name", "price"], "properties": {
        "sku": {"type": "string", "minLength": 1}, "name": {"type": "string"}, "price": {"type": "number", "minimum": 0}}});
    let a = app
        .post("/api/v1/syncs", json!({"name": "catalog", "source": source, "streams": ["items"], "mapper": mapper, "schemas": {"items": schema}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap().to_string();
    let csv =
        "sku,name,price\nA1,Anchor,49.00\nA2,Bollard,abc\nA3,,8.75\nA4,Davit,-3\nA5,Eyelet,1.5\n";
    let a = app
        .raw(
            axum::http::Method::POST,
            &format!("/api/v1/syncs/{sync}/import?stream=items"),
            Some(&app.admin.clone()),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["rows"], 5);
    assert_eq!(a.json["created"], 2, "{}", a.text);
    let rejected = a.json["rejected"].as_array().unwrap();
    let by_row: Vec<(i64, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r["row"].as_i64().unwrap(),
                r["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        by_row,
        [(2, "/price"), (3, "/name"), (4, "/price")],
        "{}",
        a.text
    );
    assert!(
        rejected
            .iter()
            .all(|r| !r["message"].as_str().unwrap().is_empty())
    );
    let stored = app
        .get(&format!("/api/v1/syncs/{sync}/records?stream=items"))
        .await;
    let keys: Vec<&str> = stored.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["A1", "A5"]);
    let run = app
        .get(&format!(
            "/api/v1/runs/{}/errors",
            a.json["run"].as_str().unwrap()
        ))
        .await;
    assert_eq!(run.json["items"].as_array().unwrap().len(), 3);

    let json_rows = json!([{"sku": "B1", "name": "Buoy", "price": "2"}, "not an object"]);
    let a = app
        .raw(
            axum::http::Method::POST,
            &format!("/api/v1/syncs/{sync}/import?stream=items"),
            Some(&app.admin.clone()),
            "application/json",
            json_rows.to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.json["created"], 1, "{}", a.text);
    assert_eq!(a.json["rejected"][0]["row"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_run() {
    let app = setup(Db::Sqlite).await;
    let _workers = app.start_workers();
    let slow = Router::new().route(
        "/api/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            axum::Json(json!({"data": [{"id": 1}], "next": "more"}))
        }),
    );
    let up = Upstream::start(slow).await;
    let config = json!({"base_url": up.url("/api"), "streams": {"items": {"path": "/slow", "records": "/data", "key": "id",
        "pagination": {"type": "cursor", "next": "/next", "param": "after"}}}});
    let source = app
        .connection("endless", "http-json@0.1.0", config, json!({}))
        .await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "endless", "source": source, "streams": ["items"]}),
        )
        .await;
    let sync = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), json!(null))
        .await;
    let run_id = a.json["id"].as_str().unwrap().to_string();
    // Wait until two pages are committed: the run is well under way.
    let mut pages = 0;
    for _ in 0..600 {
        pages = app.get(&format!("/api/v1/runs/{run_id}")).await.json["counters"]["pages"]
            .as_i64()
            .unwrap_or(0);
        if pages >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(pages >= 2, "the run never got going");
    let a = app
        .post(&format!("/api/v1/runs/{run_id}/cancel"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let run = app.wait_run(&run_id).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["error"], "cancelled by request");
    // The source never ends: only the cancel could end the run.
    assert!(run["counters"]["pages"].as_i64().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_due_time_is_enqueued_once_and_downtime_gives_one_catch_up_run() {
    let app = setup(Db::Sqlite).await;
    let (src, _) = fakes::source(Vec::new(), None).await;
    let source = source_connection(&app, &src).await;
    let a = app
        .post("/api/v1/syncs", json!({"name": "minutely", "source": source, "streams": ["items"], "schedule": {"every": 60}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap().to_string();
    let due = a.json["next_due_at"].as_i64().unwrap();
    let engine = &app.state.app;
    let scheduled = || async {
        app.state
            .app
            .store
            .runs_of_sync(&sync, 100)
            .await
            .unwrap()
            .len()
    };

    // Before it is due: nothing. At the due time, two schedulers (two
    // nodes) ticking at once enqueue it once.
    assert_eq!(
        wharf::sync::scheduler::tick(engine, due - 1).await.unwrap(),
        0
    );
    let (a, b) = tokio::join!(
        wharf::sync::scheduler::tick(engine, due),
        wharf::sync::scheduler::tick(engine, due + 5)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(scheduled().await, 1);
    // The next minute, once more.
    assert_eq!(
        wharf::sync::scheduler::tick(engine, due + 60_000)
            .await
            .unwrap(),
        1
    );
    // An hour of downtime: one catch-up run, not sixty.
    assert_eq!(
        wharf::sync::scheduler::tick(engine, due + 3_660_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(scheduled().await, 3);
    let next = app
        .state
        .app
        .store
        .sync(&sync)
        .await
        .unwrap()
        .unwrap()
        .next_due_at
        .unwrap();
    assert_eq!(next, due + 3_720_000, "the next future minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_loop_enqueues_each_due_time_once() {
    // The real scheduler loop (`scheduler::run`: its interval, its clock,
    // the real enqueue) on a 1 s schedule, ticking every 100 ms, until five
    // runs were enqueued: each due time once, consecutive, none skipped.
    let app = setup(Db::Sqlite).await;
    let (src, _) = fakes::source(Vec::new(), None).await;
    let source = source_connection(&app, &src).await;
    let a = app
        .post("/api/v1/syncs", json!({"name": "every-second", "source": source, "streams": ["items"], "schedule": {"every": 1}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap().to_string();
    let first_due = a.json["next_due_at"].as_i64().unwrap();
    let mut engine = app.state.app.clone();
    engine.options.tick = Duration::from_millis(100);
    let store = app.state.app.store.clone();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let clock = wharf::sync::scheduler::Clock::system();
    let scheduler = tokio::spawn(wharf::sync::scheduler::run(engine, clock, rx));
    let started = std::time::Instant::now();
    loop {
        let n = store.runs_of_sync(&sync, 1_000).await.unwrap().len();
        if n >= 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the scheduler loop enqueued {n} runs in a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    scheduler.await.unwrap();
    let runs = store.runs_of_sync(&sync, 1_000).await.unwrap();
    let mut dues: Vec<i64> = runs.iter().map(|r| r.due_at.unwrap()).collect();
    dues.sort_unstable();
    assert_eq!(dues[0], first_due);
    assert!(
        dues.windows(2).all(|w| w[1] - w[0] == 1_000),
        "each due time once, in order: {dues:?}"
    );
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
}

/// A source whose data comes from a job it polls (Meta insights reports,
/// Salesforce Bulk API): pending pages are waited on, not failed, up to
/// the sync's `limits.max_pending_secs`; rows the source could not read
/// are stored with the run's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pages_are_waited_on_and_source_row_errors_are_kept() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let conn = app
        .connection(
            "jobs",
            "hostile@0.1.0",
            json!({"attack": "pending", "n": 2, "url": "https://api.example.com"}),
            json!({}),
        )
        .await;
    let run = |name: &'static str, limits: Value| {
        let app = &app;
        let conn = conn.clone();
        async move {
            let a = app
                .post(
                    "/api/v1/syncs",
                    json!({"name": name, "source": conn, "streams": ["out"], "limits": limits}),
                )
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
            let sync = a.json["id"].as_str().unwrap().to_string();
            let run = app
                .post(&format!("/api/v1/syncs/{sync}/runs"), json!(null))
                .await;
            let id = run.json["id"].as_str().unwrap().to_string();
            (app.wait_run(&id).await, id)
        }
    };
    let (done, id) = run("polled", json!({})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["counters"]["pushed"], 1, "{done}");
    assert_eq!(done["counters"]["rejected"], 1, "{done}");
    let logs = app.get(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(
        logs.text.matches("the source is not ready yet").count(),
        2,
        "{}",
        logs.text
    );
    let errors = app.get(&format!("/api/v1/runs/{id}/errors")).await;
    let e = &errors.json["items"][0];
    assert_eq!(e["index"], 7, "{}", errors.text);
    assert_eq!(e["field"], "amount");
    assert!(e["message"].as_str().unwrap().contains("12,5O"));

    // Past the sync's limit on waiting: failed, with the limit named.
    let (done, _) = run("impatient", json!({"max_pending_secs": 1})).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error_kind"], "limit", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_pending_secs"),
        "{done}"
    );
}

/// A run with a file: uploaded with the request that starts the run, read
/// by the source as a blob, kept with the run; a file past the limit is a
/// 413 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_the_file_it_was_started_with() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let conn = app
        .connection(
            "files",
            "hostile@0.1.0",
            json!({"attack": "inputs", "url": "https://api.example.com"}),
            json!({}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "import", "source": conn, "streams": ["out"]}))
        .await;
    let file = "sku,qty\nA-1,3\nB-2,5\n";
    let upload = |name: &str, body: Vec<u8>| {
        let path = format!("/api/v1/syncs/{sync}/runs/file?name={name}");
        let admin = app.admin.clone();
        let app = &app;
        async move {
            app.raw(
                axum::http::Method::POST,
                &path,
                Some(&admin),
                "text/csv",
                body,
            )
            .await
        }
    };
    let a = upload("orders.csv", file.as_bytes().to_vec()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let done = app.wait_run(a.json["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["counters"]["pushed"], 3, "{done}");
    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records/export?stream=out&format=json"
        ))
        .await;
    assert!(a.text.contains("B-2,5"), "{}", a.text);
    assert!(a.text.contains("orders.csv"), "{}", a.text);
    assert!(a.text.contains("text/csv"), "{}", a.text);

    // Names that are paths, and files past the limit, are refused.
    let a = upload("..%2Fetc%2Fpasswd", b"x".to_vec()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let a = upload("big.csv", vec![b'x'; (64 << 20) + 1]).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    assert!(a.text.contains("64 MiB"), "{}", a.text);
}

/// A file a source keeps as a blob travels with its record: the
/// destination (`http-push` with `body: blob`) sends it on as is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_records_file_reaches_the_destination_whole() {
    use std::sync::Mutex;
    const SIZE: usize = 3 << 20;
    let file: Vec<u8> = (0..SIZE).map(|i| (i % 253) as u8).collect();
    let served = file.clone();
    let received = Arc::new(Mutex::new(Vec::<(String, Vec<u8>)>::new()));
    let sink = received.clone();
    let up = Upstream::start(
        Router::new()
            .route(
                "/download",
                axum::routing::get(move || {
                    let b = served.clone();
                    async move { b }
                }),
            )
            .route(
                "/upload/{key}",
                put(move |Path(key): Path<String>, body: axum::body::Bytes| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().unwrap().push((key, body.to_vec()));
                        StatusCode::CREATED
                    }
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(16 << 20)),
    )
    .await;
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    for g in ["hostile", "http-push"] {
        assert_eq!(app.upload(guest(g)).await.status, StatusCode::CREATED);
    }
    let source = app
        .connection(
            "files",
            "hostile@0.1.0",
            json!({"attack": "keep-body", "url": up.url("/download")}),
            json!({}),
        )
        .await;
    let dest = app
        .connection(
            "uploads",
            "http-push@0.1.0",
            json!({"url": up.url("/upload/{key}"), "body": "blob",
                   "headers": {"Content-Type": "application/octet-stream"}}),
            json!({}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "files", "source": source, "streams": ["out"], "destination": dest}))
        .await;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let got = received.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "download");
    assert!(got[0].1 == file, "{} bytes arrived", got[0].1.len());
}

/// A failed run keeps its failed calls as a cassette: an administrator
/// downloads it (no secret of the connection in it, checked against the
/// Fernet-decrypted values in the database) and replays it offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_downloads_as_a_cassette_that_replays() {
    let app = setup(Db::Sqlite).await;
    let _workers = app.start_workers();
    let items: Vec<Item> = (1..=5).map(|i| Item::new(i, i)).collect();
    // The upstream wants another token than the connection holds: it
    // answers 401 and echoes the token it was shown.
    let (src, _) = fakes::source(items, Some("the-right-one")).await;
    let source = source_connection(&app, &src).await;
    let sync = app
        .sync(json!({"name": "broken", "source": source, "streams": ["items"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    let id = run["id"].as_str().unwrap();

    let a = app.get(&format!("/api/v1/runs/{id}/cassette")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(
        a.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("run-{id}-source.cassette.json"))
    );
    let sealed = app.state.app.store.sealed_values().await.unwrap();
    assert!(!sealed.is_empty());
    for s in &sealed {
        let value = app.state.app.vault.decrypt(&s.token).unwrap();
        assert!(
            !a.text.contains(value.expose()),
            "the cassette holds a secret of the connection"
        );
    }
    let calls = a.json["calls"].as_array().unwrap();
    let last = calls.last().expect("the failed call");
    assert_eq!(last["op"], "fetch");
    assert_eq!(last["args"], json!({"stream": "items", "cursor": null}));
    assert_eq!(last["result"]["error"]["kind"], "auth");
    let exchange = &last["exchanges"][0];
    assert!(
        exchange["request"]["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["Authorization", "Bearer {{secret:api_token}}"])),
        "{exchange}"
    );
    assert_eq!(exchange["outcome"]["response"]["status"], 401);

    // Administrators only, and each download is audited.
    let reader = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "reader", "scope": "read"}),
        )
        .await;
    let key = reader.json["key"].as_str().unwrap();
    let refused = app
        .call(
            axum::http::Method::GET,
            &format!("/api/v1/runs/{id}/cassette"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let audit = app.get("/api/v1/audit?action=run.cassette").await;
    assert_eq!(audit.json["items"][0]["target"], id, "{}", audit.text);
    let missing = app
        .get(&format!("/api/v1/runs/{id}/cassette?side=destination"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text.contains("it has: source"), "{}", missing.text);

    // Replayed offline by `wharf dev replay`: the same failure, matched.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.cassette.json");
    std::fs::write(&file, &a.text).unwrap();
    let out = crate::dev_cli::wharf(
        &[
            "dev",
            "replay",
            &crate::support::guest_path("http-json")
                .display()
                .to_string(),
            &file.display().to_string(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("call 1 `fetch`: error[auth]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "replay matches the cassette ({} calls)",
            calls.len()
        )),
        "{}",
        out.stderr
    );
}

/// The records store knows a stored record again by its key, whatever the
/// key holds (on SQLite a page's stored hashes come back as one JSON row):
/// the same page again is unchanged, and a changed one updated.
async fn keys_known_again(db: Db) {
    use wharf::model::record::Record;
    use wharf::store::pages::{PageCommit, StoreOutcome};
    use wharf::store::runs::Counters;
    let app = App::new(db).await;
    let (sync, run) = crate::hardening::claimed_run(&app, "keys", "node-a").await;
    let store = &app.state.app.store;
    let lease = run.lease().unwrap();
    let keys: Vec<String> = [
        "plain",
        "a \" quote and a \\ backslash",
        "tab\t, newline\n, \u{1} and \u{7f}",
        "ünïcödé ✓ 😀 \u{2028}",
        "",
        "[\"json\", 1]",
        "{\"a\": null}",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        "k".repeat(300),
        "same".into(),
        "SAME".into(),
        " same".into(),
    ])
    .collect();
    let n = keys.len() as i64;
    let page = |version: u32| PageCommit {
        lease: &lease,
        sync_id: &sync,
        stream: "out",
        cursor: None,
        done: false,
        checkpoint: false,
        counters: Counters::default(),
        rejections: Vec::new(),
        logs: Vec::new(),
        logs_dropped: 0,
        records: keys
            .iter()
            .map(|k| {
                let data = json!({ "key": k, "version": version }).to_string();
                Record::new("out", Some(k.clone()), Default::default(), data).unwrap()
            })
            .collect(),
        quota: 1_000,
    };
    let outcome = |created, updated, unchanged| StoreOutcome {
        created,
        updated,
        unchanged,
        deleted: 0,
    };
    let commit = |version| async move { store.commit_page(page(version)).await.unwrap().unwrap() };
    assert_eq!(commit(1).await, outcome(n, 0, 0));
    assert_eq!(commit(1).await, outcome(0, 0, n));
    assert_eq!(commit(2).await, outcome(0, n, 0));
    let stored = store.records(&sync, "out", None, 100).await.unwrap();
    // The first page starts before every key, the empty one too.
    let mut expected = keys.clone();
    expected.sort();
    let mut got: Vec<String> = stored.iter().map(|r| r.key.clone()).collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(stored.iter().all(|r| r.data["version"] == 2));
    // Paging one by one visits each key once, in the listing's order (the
    // database's collation), from "".
    let listed: Vec<String> = stored.iter().map(|r| r.key.clone()).collect();
    let mut after: Option<String> = None;
    let mut paged = Vec::new();
    for _ in 0..=keys.len() {
        let Some(r) = store
            .records(&sync, "out", after.as_deref(), 1)
            .await
            .unwrap()
            .pop()
        else {
            break;
        };
        after = Some(r.key.clone());
        paged.push(r.key);
    }
    assert_eq!(paged, listed);
    assert_eq!(paged.first().map(String::as_str), Some(""));
    // At a quota of what is stored: a page that only changes records
    // lands, one that adds a record is refused with nothing of it written.
    let at_quota = |version: u32, extra: Option<&str>| {
        let mut p = page(version);
        p.quota = n;
        if let Some(k) = extra {
            let data = json!({ "key": k }).to_string();
            p.records
                .push(Record::new("out", Some(k.into()), Default::default(), data).unwrap());
        }
        p
    };
    assert_eq!(
        store.commit_page(at_quota(3, None)).await.unwrap().unwrap(),
        outcome(0, n, 0)
    );
    assert_eq!(
        store
            .commit_page(at_quota(4, Some("one more")))
            .await
            .unwrap(),
        Err(wharf::store::pages::PageRefused::Quota { limit: n })
    );
    let stored = store.records(&sync, "out", None, 100).await.unwrap();
    assert_eq!(stored.len() as i64, n);
    assert!(stored.iter().all(|r| r.data["version"] == 3));
    // One under the quota, the record that reaches it lands.
    let mut last = at_quota(3, Some("one more"));
    last.quota = n + 1;
    assert_eq!(
        store.commit_page(last).await.unwrap().unwrap(),
        outcome(1, 0, n)
    );
    if db == Db::Postgres {
        // A page's transaction does not wait for its WAL flush, and only
        // that transaction: every connection of the pool keeps the
        // server's `synchronous_commit` for the rest.
        let server: String = sqlx::query_scalar(
            "SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_ne!(
            server, "off",
            "the test needs a server that waits for the flush"
        );
        let mut page_tx = store.begin_page_write().await.unwrap();
        assert_eq!(synchronous_commit(&mut page_tx).await, "off");
        page_tx.commit().await.unwrap();
        let pool = store.pool();
        let mut all = Vec::new();
        for _ in 0..pool.size() {
            all.push(pool.acquire().await.unwrap());
        }
        for c in &mut all {
            assert_eq!(synchronous_commit(c).await, server);
        }
    }
}

/// PostgreSQL's `synchronous_commit` on the connection `c`.
async fn synchronous_commit(c: &mut sqlx::AnyConnection) -> String {
    sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_known_again_on_sqlite() {
    keys_known_again(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_known_again_on_postgres() {
    keys_known_again(Db::Postgres).await;
}

/// A sync deleted while its run commits a page (its runs go with it): the
/// page is refused as a lost lease on both databases, not as a failure of
/// the store (SQLite checks the lease last, after the records' writes).
async fn page_of_a_deleted_sync(db: Db) {
    use wharf::model::record::Record;
    use wharf::store::pages::{PageCommit, PageRefused};
    use wharf::store::runs::Counters;
    let app = App::new(db).await;
    let (sync, run) = crate::hardening::claimed_run(&app, "deleted", "node-a").await;
    let store = &app.state.app.store;
    let lease = run.lease().unwrap();
    assert!(store.delete_sync(&sync).await.unwrap());
    let records = (0..3)
        .map(|i| {
            let data = json!({ "n": i }).to_string();
            Record::new("out", Some(i.to_string()), Default::default(), data).unwrap()
        })
        .collect();
    let refused = store
        .commit_page(PageCommit {
            lease: &lease,
            sync_id: &sync,
            stream: "out",
            cursor: Some("next".into()),
            done: false,
            checkpoint: true,
            counters: Counters::default(),
            rejections: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
            records,
            quota: 1_000,
        })
        .await
        .expect("a deleted sync is not a failure of the store");
    assert_eq!(refused, Err(PageRefused::LeaseLost));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_deleted_sync_is_a_lost_lease_on_sqlite() {
    page_of_a_deleted_sync(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_deleted_sync_is_a_lost_lease_on_postgres() {
    page_of_a_deleted_sync(Db::Postgres).await;
}

//! What a run cost, checked against what the other side counted: a sync
//! from `http-json` into `http-push` between two loopback fakes that count
//! every request and body byte they see, and a `hostile` source that holds
//! a known amount of memory. The run's `resources` (API, console) and the
//! node's metrics must agree with them. And the quotas an administrator
//! sets on a connection: refused requests with a clear error, and only an
//! administrator may change them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde_json::{Value, json};

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

/// Requests and body bytes a fake saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Seen {
    fn count(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes as u64, Ordering::SeqCst);
    }
    fn get(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

const ITEMS: u64 = 23;
const PAGE: u64 = 10;

/// `GET /api/items?page=N&per_page=10`: `{"data": [...]}`, counted.
async fn source() -> (Upstream, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/api/items",
            get(
                |State(seen): State<Arc<Seen>>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let data: Vec<Value> = ((page - 1) * PAGE + 1..=(page * PAGE).min(ITEMS))
                        .map(|i| json!({"id": i, "name": format!("Item {i} — ünïcode")}))
                        .collect();
                    let body = json!({ "data": data }).to_string();
                    seen.count(body.len());
                    ([("content-type", "application/json")], body)
                },
            ),
        )
        .with_state(seen.clone());
    (Upstream::start(app).await, seen)
}

/// `PUT /records/{key}`, counted.
async fn destination() -> (Upstream, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/records/{key}",
            put(|State(seen): State<Arc<Seen>>, body: Bytes| async move {
                seen.count(body.len());
                StatusCode::CREATED
            }),
        )
        .with_state(seen.clone());
    (Upstream::start(app).await, seen)
}

fn side<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["resources"]["sides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["side"] == name)
        .unwrap_or_else(|| panic!("no {name} side in {run}"))
}

async fn a_runs_figures_match_what_the_upstreams_counted(db: Db) {
    let app = App::new(db).await;
    for g in ["http-json", "http-push", "hostile"] {
        assert_eq!(app.upload(guest(g)).await.status, StatusCode::CREATED);
    }
    let _workers = app.start_workers();
    let (src, src_seen) = source().await;
    let (dst, dst_seen) = destination().await;
    let source = app
        .connection(
            "shop",
            "http-json@0.1.0",
            json!({"base_url": src.url("/api"), "streams": {"items": {
                "path": "/items", "records": "/data", "key": "id",
                "pagination": {"type": "page_number", "size_param": "per_page", "size": PAGE}}}}),
            json!({}),
        )
        .await;
    let dest = app
        .connection(
            "ledger",
            "http-push@0.1.0",
            json!({"url": dst.url("/records/{key}")}),
            json!({}),
        )
        .await;
    let sync = app
        .sync(
            json!({"name": "costed", "source": source, "streams": ["items"], "destination": dest}),
        )
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["pushed"], ITEMS, "{run}");

    let (requests, served) = src_seen.get();
    let s = side(&run, "source");
    assert_eq!(s["connector"], "http-json@0.1.0");
    assert_eq!(s["connection"], "shop");
    assert_eq!(s["http_requests"], requests, "{s}");
    assert_eq!(s["bytes_in"], served, "{s}");
    assert_eq!(s["bytes_out"], 0, "GET requests have no body: {s}");
    assert_eq!(
        s["hosts"],
        json!([{"origin": src.origin(), "requests": requests, "bytes_out": 0, "bytes_in": served}])
    );
    assert!(
        s["calls"].as_u64().unwrap() >= requests,
        "a call per page: {s}"
    );
    assert!(
        s["call_ms"].as_u64().unwrap() >= s["wasm_ms"].as_u64().unwrap(),
        "{s}"
    );
    assert!(s["peak_memory_bytes"].as_u64().unwrap() > 0, "{s}");
    // Call by call: each fetch's requests and bytes add up to the side's.
    let calls = s["per_call"].as_array().unwrap();
    assert_eq!(calls.len() as u64, s["calls"].as_u64().unwrap(), "{s}");
    assert_eq!(s["calls_not_kept"], 0);
    let sum = |key: &str| calls.iter().map(|c| c[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("http_requests"), requests, "{s}");
    assert_eq!(sum("bytes_in"), served, "{s}");
    assert!(calls.iter().all(|c| c["function"] == "fetch"), "{s}");
    assert!(
        calls
            .iter()
            .all(|c| c["ms"].as_u64() >= c["wasm_ms"].as_u64()
                && c["peak_memory_bytes"].as_u64().unwrap() > 0),
        "{s}"
    );

    let (puts, received) = dst_seen.get();
    assert_eq!(puts, ITEMS);
    let d = side(&run, "destination");
    assert_eq!(d["connection"], "ledger");
    assert_eq!(d["http_requests"], puts, "{d}");
    assert_eq!(d["bytes_out"], received, "{d}");
    assert_eq!(d["hosts"][0]["origin"], dst.origin());
    assert_eq!(d["hosts"][0]["bytes_out"], received);

    let total = &run["resources"]["total"];
    assert_eq!(total["http_requests"], requests + puts);
    assert_eq!(total["bytes_in"], served + d["bytes_in"].as_u64().unwrap());
    assert!(run["resources"]["wall_ms"].as_u64().unwrap() > 0);

    // A guest that holds a known amount of memory: 24 MiB at once.
    let hoard = app
        .connection(
            "hoard",
            "hostile@0.1.0",
            json!({"attack": "allocate", "n": 24, "url": "http://127.0.0.1:9"}),
            json!({}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "hoarding", "source": hoard, "streams": ["out"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let peak = side(&run, "source")["peak_memory_bytes"].as_u64().unwrap();
    assert!(
        (24 << 20..40 << 20).contains(&peak),
        "24 MiB held, {peak} bytes reported"
    );
    let call = &side(&run, "source")["per_call"][0];
    assert_eq!(
        call["peak_memory_bytes"], peak,
        "the one call held it: {call}"
    );

    // The node's metrics, by connector and connection.
    let metrics = app.get("/metrics").await.text;
    for line in [
        "wharf_connector_runs_total{connector=\"http-json@0.1.0\",connection=\"shop\"} 1"
            .to_string(),
        format!(
            "wharf_connector_http_bytes_total{{connector=\"http-json@0.1.0\",connection=\"shop\",direction=\"in\"}} {served}"
        ),
        format!(
            "wharf_connector_http_bytes_total{{connector=\"http-push@0.1.0\",connection=\"ledger\",direction=\"out\"}} {received}"
        ),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains(&format!(
        "wharf_connector_peak_memory_bytes{{connector=\"hostile@0.1.0\",connection=\"hoard\"}} {peak}"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_figures_match_what_the_upstreams_counted_on_sqlite() {
    a_runs_figures_match_what_the_upstreams_counted(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_figures_match_what_the_upstreams_counted_on_postgres() {
    a_runs_figures_match_what_the_upstreams_counted(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_what_passes_them_and_are_an_administrators() {
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    let _workers = app.start_workers();
    let (src, src_seen) = source().await;
    let config = json!({"base_url": src.url("/api"), "streams": {"items": {
        "path": "/items", "records": "/data", "key": "id",
        "pagination": {"type": "page_number", "size_param": "per_page", "size": PAGE}}}});
    let create = |name: &str, quotas: Value| {
        json!({"name": name, "connector": "http-json@0.1.0", "config": config,
               "grants": {"networks": ["127.0.0.0/8"], "quotas": quotas}})
    };
    let a = app
        .post(
            "/api/v1/connections",
            create("zero", json!({"bytes_per_run": 0})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let a = app
        .post(
            "/api/v1/connections",
            create("typo", json!({"bytes_per_minute": 5})),
        )
        .await;
    assert!(a.status.is_client_error(), "{}", a.text);

    // Two requests a minute to one host: the third page is refused.
    let a = app
        .post(
            "/api/v1/connections",
            create("slow", json!({"requests_per_minute_per_host": 2})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.json["grants"]["quotas"],
        json!({"requests_per_minute_per_host": 2})
    );
    let slow = a.json["id"].as_str().unwrap().to_string();
    let sync = app
        .sync(json!({"name": "slow-sync", "source": slow, "streams": ["items"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("at most 2 requests a minute to") && error.contains(&src.origin()),
        "{error}"
    );
    assert_eq!(src_seen.get().0, 2, "nothing was sent past the quota");
    assert_eq!(run["error_kind"], "limit", "{run}");
    let conn = app.get(&format!("/api/v1/connections/{slow}")).await;
    assert_eq!(
        conn.json["status"], "active",
        "a quota is a limit, not a broken connection: {}",
        conn.text
    );
    assert!(
        side(&run, "source")["http_denied"].as_u64().unwrap() >= 1,
        "{run}"
    );

    // A body-byte budget smaller than the first page: the second request
    // is refused, the first page kept.
    let a = app
        .post(
            "/api/v1/connections",
            create("thin", json!({"bytes_per_run": 100})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let thin = a.json["id"].as_str().unwrap().to_string();
    let sync = app
        .sync(json!({"name": "thin-sync", "source": thin, "streams": ["items"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("at most 100 body bytes per run"),
        "{run}"
    );
    assert_eq!(
        run["counters"]["fetched"], PAGE,
        "the first page landed: {run}"
    );

    // A write key may edit the connection, not lift its quotas.
    let writer = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "editor", "scope": "write"}),
        )
        .await;
    let key = writer.json["key"].as_str().unwrap().to_string();
    let a = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/connections/{thin}"),
            Some(&key),
            Some(json!({"grants": {"networks": ["127.0.0.0/8"], "quotas": {}}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(a.text.contains("quotas needs an admin key"), "{}", a.text);
    let a = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/connections/{thin}"),
            Some(&key),
            Some(json!({"grants": {"networks": ["127.0.0.0/8"]}})),
        )
        .await;
    assert!(a.status.is_success(), "omitted quotas are kept: {}", a.text);
    assert_eq!(a.json["grants"]["quotas"], json!({"bytes_per_run": 100}));
}

//! The API at its edges, each test a defect found by hand or by
//! schemathesis: deleting what is in use, streams a source does not offer,
//! out-of-range settings, hostile stream names in downloads, imports that
//! are too large or name unknown streams, races on unique names, bodies of
//! the wrong shape, paging, errors in one shape, the `Authorization`
//! scheme, failed sign-ins, SQLite under concurrent writes, "run now"
//! clicked many times, and OAuth2 callbacks that fail.
//!
//! It is kept as one file because it is the record of one review (the
//! defects of issue 12), a test per defect, and nearly every test starts
//! from the same `app_with_http_json` and `source` helpers.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use wharf::api::RateLimiter;

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

/// A source with the streams `names`, each answering one item.
async fn source(app: &App, name: &str, streams: &[&str]) -> (String, Upstream) {
    let up = Upstream::start(Router::new().route(
        "/api/items",
        get(|| async { axum::Json(json!([{"id": 1, "name": "one"}])) }),
    ))
    .await;
    let streams: serde_json::Map<String, Value> = streams
        .iter()
        .map(|s| (s.to_string(), json!({"path": "/items", "key": "id"})))
        .collect();
    let id = app
        .connection(
            name,
            "http-json@0.1.0",
            json!({"base_url": up.url("/api"), "streams": streams}),
            json!({}),
        )
        .await;
    (id, up)
}

async fn app_with_http_json(db: Db) -> App {
    let app = App::new(db).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    app
}

#[tokio::test]
async fn deleting_a_connection_a_sync_uses_is_a_409_naming_the_syncs() {
    let app = app_with_http_json(Db::Sqlite).await;
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "nightly", "source": conn, "streams": ["items"]}),
        )
        .await;
    let sync = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{conn}"),
            Some(&app.admin.clone()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert!(a.is_problem());
    assert_eq!(a.json["syncs"], json!(["nightly"]));
    assert!(a.json["detail"].as_str().unwrap().contains("nightly"));
    let admin = app.admin.clone();
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/syncs/{sync}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{conn}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_source_does_not_offer_is_the_syncs_error_not_the_connections() {
    let app = app_with_http_json(Db::Sqlite).await;
    let _workers = app.start_workers();
    let (conn, _up) = source(&app, "shop", &["items", "orders"]).await;
    // Refused at creation, naming the stream and what is offered.
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "bad", "source": conn, "streams": ["items", "invoices"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["errors"][0]["field"], "/streams/1");
    assert!(
        a.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("items, orders"),
        "{}",
        a.text
    );
    // A sync made while the stream existed, then the connection dropped it:
    // the run fails with a config error, the connection stays active and
    // serves its other sync.
    let mk = |name: &str, stream: &str| json!({"name": name, "source": conn, "streams": [stream]});
    let orders = app.post("/api/v1/syncs", mk("orders", "orders")).await;
    let items = app.post("/api/v1/syncs", mk("items", "items")).await;
    let (orders, items) = (
        orders.json["id"].as_str().unwrap().to_string(),
        items.json["id"].as_str().unwrap().to_string(),
    );
    let up_config = app.get(&format!("/api/v1/connections/{conn}")).await.json["config"].clone();
    let mut config = up_config.clone();
    config["streams"].as_object_mut().unwrap().remove("orders");
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(&app.admin.clone()),
            Some(json!({"config": config})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let run = app
        .post(&format!("/api/v1/syncs/{orders}/runs"), json!(null))
        .await;
    let done = app.wait_run(run.json["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error_kind"], "config");
    assert!(
        done["error"].as_str().unwrap().contains("`orders`"),
        "{done}"
    );
    let c = app.get(&format!("/api/v1/connections/{conn}")).await;
    assert_eq!(c.json["status"], "active", "{}", c.text);
    let run = app
        .post(&format!("/api/v1/syncs/{items}/runs"), json!(null))
        .await;
    let done = app.wait_run(run.json["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
}

#[tokio::test]
async fn settings_out_of_range_are_refused_naming_the_field() {
    let app = app_with_http_json(Db::Sqlite).await;
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    for (body, field) in [
        (
            json!({"schedule": {"every": 18446744073709551615u64}}),
            "/schedule",
        ),
        (json!({"schedule": {"every": 0}}), "/schedule"),
        (json!({"retry": {"attempts": 0}}), "/retry/attempts"),
        (json!({"limits": {"max_records": 0}}), "/limits/max_records"),
        (json!({"error_threshold": -2}), "/error_threshold"),
        (json!({"name": "  "}), "/name"),
        (json!({"streams": []}), "/streams"),
    ] {
        let mut sync = json!({"name": "s", "source": conn, "streams": ["items"]});
        for (k, v) in body.as_object().unwrap() {
            sync[k] = v.clone();
        }
        let a = app.post("/api/v1/syncs", sync).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.text
        );
        let fields: Vec<&str> = a.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: {fields:?}"
        );
        assert!(
            !a.text.contains("u64") && !a.text.contains("struct "),
            "{}",
            a.text
        );
    }
    // The largest interval is accepted and scheduled, not wrapped around.
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "yearly", "source": conn, "streams": ["items"], "schedule": {"every": 31_622_400}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let due = a.json["next_due_at"].as_i64().unwrap();
    assert!(due > wharf::store::now_ms() + 1000 * 3600, "{due}");
    // A body of the wrong shape: 422, never 200.
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(&app.admin.clone()),
            Some(json!([null, null])),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["errors"][0]["field"], "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_and_imports_keep_to_the_syncs_streams() {
    let app = app_with_http_json(Db::Sqlite).await;
    let _workers = app.start_workers();
    let hostile = "a\"; filename=evil.exe; x=\"\r\nX-Injected: 1";
    let (conn, _up) = source(&app, "shop", &[hostile, "plain"]).await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "dl", "source": conn, "streams": [hostile, "plain"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap().to_string();
    let run = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), json!(null))
        .await;
    let done = app.wait_run(run.json["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
    for format in ["csv", "json"] {
        let a = app
            .get(&format!(
                "/api/v1/syncs/{sync}/records/export?stream={encoded}&format={format}"
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let disposition = a.headers["content-disposition"].to_str().unwrap();
        assert!(!a.headers.contains_key("x-injected"));
        let plain = disposition
            .split("filename=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(!plain.contains([';', '\\', '\r', '\n']), "{disposition}");
        assert!(
            disposition.contains("filename*=UTF-8''dl-a%22%3B"),
            "{disposition}"
        );
        assert!(a.text.contains("one"), "{}", a.text);
    }
    // A stream the sync does not have: refused, for export and import.
    let a = app
        .get(&format!("/api/v1/syncs/{sync}/records/export?stream=nope"))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let a = app
        .post(
            &format!("/api/v1/syncs/{sync}/import?stream=nope"),
            json!([{"id": 9}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(a.json["errors"][0]["field"], "stream");
    // Too large: a problem document that says the limit.
    let big = format!("id\n{}", "1\n".repeat(9 << 20));
    let a = app
        .raw(
            Method::POST,
            &format!("/api/v1/syncs/{sync}/import?stream=plain"),
            Some(&app.admin.clone()),
            "text/csv",
            big.into_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(a.is_problem(), "{}", a.text);
    assert!(
        a.json["detail"].as_str().unwrap().contains("16 MiB"),
        "{}",
        a.text
    );
    // Below the limit and above the old 1 MiB: imported.
    let rows: String = (0..60_000).map(|i| format!("{i},name {i}\n")).collect();
    let a = app
        .raw(
            Method::POST,
            &format!("/api/v1/syncs/{sync}/import?stream=plain"),
            Some(&app.admin.clone()),
            "text/csv",
            format!("id,name\n{rows}").into_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["imported"], 60_000);
}

async fn concurrent_creates(db: Db) {
    let app = Arc::new(app_with_http_json(db).await);
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.post(
                    "/api/v1/connections",
                    json!({"name": "twin", "connector": "http-json@0.1.0",
                           "config": {"base_url": "https://api.example.com", "streams": {"s": {"path": "/s"}}}}),
                )
                .await
            } else {
                app.post(
                    "/api/v1/syncs",
                    json!({"name": "twin", "source": conn, "streams": ["items"]}),
                )
                .await
            }
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses
            .entry(t.await.unwrap().status.as_u16())
            .or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(201, 2), (409, 198)].into_iter().collect(),
        "one of each created, every other one a conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates_of_one_name_are_one_201_and_409s_on_sqlite() {
    concurrent_creates(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates_of_one_name_are_one_201_and_409s_on_postgres() {
    concurrent_creates(Db::Postgres).await;
}

#[tokio::test]
async fn every_list_pages_the_same_way() {
    let app = app_with_http_json(Db::Sqlite).await;
    for i in 0..5 {
        app.post(
            "/api/v1/api-keys",
            json!({"name": format!("key {i}"), "scope": "read"}),
        )
        .await;
    }
    for path in [
        "/api/v1/connections",
        "/api/v1/connectors",
        "/api/v1/syncs",
        "/api/v1/api-keys",
        "/api/v1/webhooks",
        "/api/v1/audit",
    ] {
        for bad in ["limit=0", "limit=501", "limit=abc"] {
            let a = app.get(&format!("{path}?{bad}")).await;
            assert_eq!(
                a.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?{bad}: {}",
                a.text
            );
            assert!(a.is_problem());
            assert!(!a.text.contains("i64"), "{}", a.text);
        }
    }
    // The audit log pages (it used to return the first page forever), and
    // API keys too.
    for path in ["/api/v1/audit", "/api/v1/api-keys"] {
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let url = match &next {
                None => format!("{path}?limit=2"),
                Some(n) => format!(
                    "{path}?limit=2&after={}",
                    url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
                ),
            };
            let a = app.get(&url).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
            for item in a.json["items"].as_array().unwrap() {
                let id = item["id"].to_string();
                assert!(!seen.contains(&id), "{path}: {id} twice");
                seen.push(id);
            }
            next = a.json["next"].as_str().map(String::from);
            if next.is_none() {
                break;
            }
        }
        assert!(seen.len() >= 5, "{path}: {seen:?}");
    }
    let a = app.get("/api/v1/audit?after=x").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_error_is_a_problem_document() {
    let app = app_with_http_json(Db::Sqlite).await;
    let admin = app.admin.clone();
    for (method, path, status) in [
        (
            Method::PUT,
            "/api/v1/connections",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/api/v1/nothing", StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/api/v1/syncs?limit=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let a = app.call(method.clone(), path, Some(&admin), None).await;
        assert_eq!(a.status, status, "{method} {path}");
        assert!(a.is_problem(), "{method} {path}: {:?}", a.headers);
        assert_eq!(a.json["status"], status.as_u16());
    }
    let a = app
        .raw(
            Method::POST,
            "/api/v1/connections",
            Some(&admin),
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(a.is_problem());
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_failed_sign_ins_are_limited() {
    let app = App::with_limiter(
        Db::Sqlite,
        RateLimiter::with_failed_sign_ins(1000.0, 1000.0, 5),
    )
    .await;
    let key = app.admin.clone();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let a = app
            .raw_with(
                Method::GET,
                "/api/v1/connections",
                &[("authorization", format!("{scheme} {key}"))],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{scheme}: {}", a.text);
    }
    // No key at all is not a guess.
    for _ in 0..10 {
        let a = app
            .call(Method::GET, "/api/v1/connections", None, None)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // Wrong keys are: after five, this client waits, with the right key too.
    for _ in 0..5 {
        let a = app
            .call(
                Method::GET,
                "/api/v1/connections",
                Some("wharf_0000_guess"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = app
        .call(
            Method::GET,
            "/api/v1/connections",
            Some("wharf_0000_guess"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(a.json["reason"], "failed_sign_ins");
    let a = app
        .call(Method::GET, "/api/v1/connections", Some(&key), None)
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Captures everything written through `tracing` while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_a_burst_of_writes_and_run_now_queues_one_run() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = Arc::new(app_with_http_json(Db::Sqlite).await);
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    let mut syncs = Vec::new();
    for i in 0..10 {
        let a = app
            .post(
                "/api/v1/syncs",
                json!({"name": format!("s{i}"), "source": conn, "streams": ["items"]}),
            )
            .await;
        syncs.push(a.json["id"].as_str().unwrap().to_string());
    }
    // 400 writes at once, no workers: creates, changes, "run now" × 25 per
    // sync.
    let mut tasks = Vec::new();
    for i in 0..400 {
        let app = app.clone();
        let sync = syncs[i % 10].clone();
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => {
                    app.post(
                        "/api/v1/syncs",
                        json!({"name": format!("burst {i}"), "source": conn, "streams": ["items"]}),
                    )
                    .await
                    .status
                }
                1 => {
                    app.call(
                        Method::PATCH,
                        &format!("/api/v1/syncs/{sync}"),
                        Some(&app.admin.clone()),
                        Some(json!({"enabled": i % 8 == 1})),
                    )
                    .await
                    .status
                }
                _ => {
                    app.post(&format!("/api/v1/syncs/{sync}/runs"), json!(null))
                        .await
                        .status
                }
            }
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status.is_success(), "{status}");
    }
    for sync in &syncs {
        let runs = app.get(&format!("/api/v1/syncs/{sync}/runs")).await;
        let queued = runs.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "queued")
            .count();
        assert_eq!(queued, 1, "one queued manual run per sync: {}", runs.text);
    }
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(!log.contains("locked"), "{log}");
}

/// The real server on SQLite under a burst of writes while its workers run
/// syncs (each page a write transaction, leases renewed from a second
/// pool): nothing fails with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_on_sqlite_takes_writes_while_runs_commit_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::serve::Server::start_with(
        dir.path().join("data"),
        None,
        &["--rate-limit", "100000", "--workers", "4"],
    )
    .await;
    let key = server.key.clone().unwrap();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let req = http.request(method, url(&path)).bearer_auth(&key);
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(b.to_string()),
            None => req,
        };
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
        }
    };
    let resp = http
        .post(url("/api/v1/connectors"))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(guest("http-json"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let pages = Upstream::start(Router::new().route(
        "/api/items",
        get(|| async {
            let items: Vec<Value> = (0..50)
                .map(|i| json!({"id": i, "name": format!("n{i}")}))
                .collect();
            axum::Json(items)
        }),
    ))
    .await;
    let conn = send(
        reqwest::Method::POST,
        "/api/v1/connections".into(),
        Some(json!({"name": "shop", "connector": "http-json@0.1.0",
            "config": {"base_url": pages.url("/api"), "streams": {"items": {"path": "/items", "key": "id"}}},
            "grants": {"networks": ["127.0.0.0/8"]}})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut syncs = Vec::new();
    for i in 0..10 {
        let s = send(
            reqwest::Method::POST,
            "/api/v1/syncs".into(),
            Some(json!({"name": format!("s{i}"), "source": conn, "streams": ["items"]})),
        )
        .await;
        syncs.push(s["id"].as_str().unwrap().to_string());
    }
    let mut tasks = Vec::new();
    for i in 0..400 {
        let sync = syncs[i % 10].clone();
        let conn = conn.clone();
        let fut = match i % 4 {
            0 if i % 8 == 0 => send(
                reqwest::Method::PATCH,
                format!("/api/v1/connections/{conn}"),
                Some(json!({"secrets": {"api_token": format!("t{i}")}})),
            ),
            0 => send(
                reqwest::Method::PATCH,
                format!("/api/v1/syncs/{sync}"),
                Some(json!({"error_threshold": i})),
            ),
            1 => send(
                reqwest::Method::POST,
                "/api/v1/syncs".into(),
                Some(json!({"name": format!("burst {i}"), "source": conn, "streams": ["items"]})),
            ),
            _ => send(
                reqwest::Method::POST,
                format!("/api/v1/syncs/{sync}/runs"),
                None,
            ),
        };
        tasks.push(tokio::spawn(fut));
    }
    let mut runs = std::collections::BTreeSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let v = t.await.unwrap();
        if i % 4 >= 2 {
            runs.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    for run in &runs {
        let mut status = Value::Null;
        for _ in 0..600 {
            status = send(reqwest::Method::GET, format!("/api/v1/runs/{run}"), None).await;
            if matches!(
                status["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status["status"], "succeeded", "{status}");
        assert_eq!(status["attempt"], 1, "retried: {status}");
    }
    let log = server.output.lock().unwrap().clone();
    assert!(!log.contains("locked"), "{log}");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_oauth_callback_shows_a_page_and_tells_the_operator() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = App::new(Db::Sqlite).await;
    for (query, words) in [
        (
            "error=access_denied",
            "refused the authorization: access_denied",
        ),
        ("code=abc&state=forged", "state"),
        ("", "no `code` and `state`"),
    ] {
        let a = app
            .call(Method::GET, &format!("/oauth/callback?{query}"), None, None)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            a.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{query}"
        );
        assert!(a.text.contains("Authorization failed"), "{}", a.text);
        assert!(a.text.contains(words), "{query}: {}", a.text);
    }
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert_eq!(
        log.matches("OAuth2 authorization failed").count(),
        3,
        "{log}"
    );
    assert!(log.contains("access_denied"), "{log}");
}

#[tokio::test]
async fn a_config_cannot_smuggle_a_host_into_any_template() {
    let app = app_with_http_json(Db::Sqlite).await;
    let evil = "https://api.example.com@evil.example.net";
    let streams = json!({"items": {"path": "/items"}});
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "smuggler", "connector": "http-json@0.1.0",
                "config": {"base_url": evil, "streams": streams}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.text.contains("URL syntax"), "{}", a.text);
    // The same through a change of config.
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(&app.admin.clone()),
            Some(json!({"config": {"base_url": evil, "streams": streams}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.text.contains("URL syntax"), "{}", a.text);
}

/// Migration 0005 on a database that already queued a manual run twice:
/// the oldest stays queued, the others are cancelled with the reason.
async fn migration_keeps_the_oldest_queued_manual_run(db: Db) {
    let app = app_with_http_json(db).await;
    let (conn, _up) = source(&app, "shop", &["items"]).await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "twice", "source": conn, "streams": ["items"]}),
        )
        .await;
    let sync = a.json["id"].as_str().unwrap().to_string();
    let pool = app.state.app.store.pool();
    sqlx::query("DROP INDEX runs_one_queued_manual")
        .execute(pool)
        .await
        .unwrap();
    // Ids in the opposite order of creation: the oldest has the largest id.
    for (id, created) in [("run-c", 1000), ("run-b", 2000), ("run-a", 3000)] {
        sqlx::query(
            "INSERT INTO runs (id, sync_id, trigger_kind, status, attempt, run_after, created_at) \
             VALUES ($1, $2, 'manual', 'queued', 1, $3, $3)",
        )
        .bind(id)
        .bind(&sync)
        .bind(created as i64)
        .execute(pool)
        .await
        .unwrap();
    }
    let backend = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    let migration = std::fs::read_to_string(format!(
        "{}/migrations/{backend}/0005_one_queued_manual_run.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    sqlx::raw_sql(&migration).execute(pool).await.unwrap();
    let runs = app.get(&format!("/api/v1/syncs/{sync}/runs")).await;
    let status = |id: &str| {
        runs.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status("run-c"), "queued", "{}", runs.text);
    assert_eq!(status("run-b"), "cancelled");
    assert_eq!(status("run-a"), "cancelled");
}

#[tokio::test]
async fn migration_0005_keeps_the_oldest_queued_manual_run_on_sqlite() {
    migration_keeps_the_oldest_queued_manual_run(Db::Sqlite).await;
}

#[tokio::test]
async fn migration_0005_keeps_the_oldest_queued_manual_run_on_postgres() {
    migration_keeps_the_oldest_queued_manual_run(Db::Postgres).await;
}

/// An administrator gives a connector more memory at upload, within the
/// node's maximum: a call that holds 100 MiB fails at the default 64 MiB
/// and passes at 128; beyond the maximum the upload is refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connectors_memory_is_raised_at_upload_within_the_nodes_maximum() {
    let app = App::new(Db::Sqlite).await;
    let upload = |q: &'static str| {
        let app = &app;
        async move {
            app.raw(
                Method::POST,
                &format!("/api/v1/connectors{q}"),
                Some(&app.admin.clone()),
                "application/wasm",
                guest("hostile"),
            )
            .await
        }
    };
    let a = upload("?memory_mib=512").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(
        a.text
            .contains("memory_mib must be between 1 and 256 (this node's maximum)"),
        "{}",
        a.text
    );
    let a = upload("").await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["limits"], json!({}));
    let c = app
        .connection(
            "hoard",
            "hostile@0.1.0",
            json!({"attack": "allocate", "n": 100, "url": "http://127.0.0.1:9"}),
            json!({}),
        )
        .await;
    let check_path = format!("/api/v1/connections/{c}/check");
    let a = app.post(&check_path, json!(null)).await;
    assert_eq!(a.json["ok"], false, "{}", a.text);
    assert!(a.text.contains("memory limit exceeded"), "{}", a.text);

    // Limits are an administrator's: a write key may upload, not set them.
    let writer = app
        .post("/api/v1/api-keys", json!({"name": "ci", "scope": "write"}))
        .await;
    let refused = app
        .raw(
            Method::POST,
            "/api/v1/connectors?memory_mib=128",
            Some(writer.json["key"].as_str().unwrap()),
            "application/wasm",
            guest("hostile"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);

    // The same component again, with more memory: its limits change.
    let a = upload("?memory_mib=128&call_timeout_secs=60").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json["limits"],
        json!({"memory_mib": 128, "call_timeout_secs": 60})
    );
    let shown = app.get("/api/v1/connectors/hostile/0.1.0").await;
    assert_eq!(shown.json["limits"]["memory_mib"], 128, "{}", shown.text);
    let audit = app.get("/api/v1/audit?action=connector.limits").await;
    assert_eq!(
        audit.json["items"][0]["detail"],
        json!({"before": {}, "after": {"memory_mib": 128, "call_timeout_secs": 60}}),
        "{}",
        audit.text
    );
    let a = app.post(&check_path, json!(null)).await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
}

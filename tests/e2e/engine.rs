//! What the engine promises and the docs say, each shown by a run through
//! the real workers against a loopback upstream: source errors doing what
//! they say (transient retried in the call, then as retry runs until
//! `run_retries` runs out; a long `rate-limited` failing with a retry at
//! the time asked for), the error threshold, the events subscribers get,
//! the outgoing retry schedule following `Retry-After`, cancelling a queued
//! run, cron and disabled schedules, deleting a sync, readiness, internal
//! errors with an id, and the request time limit.
//!
//! It is kept as one file (just over 600 lines) because every test drives
//! the real workers through the same scripted upstream and helpers
//! (`scripted_source`, `app_with_http_json`, `sync_of`, `run`,
//! `events_receiver`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

/// An upstream whose `/{mode}/items` answers, request by request, with
/// the statuses of its mode, then 200 with three items.
async fn scripted_source() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let counters: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/{mode}/items",
        get(move |Path(mode): Path<String>| {
            let n = {
                let mut c = counters.lock().unwrap();
                let n = c.entry(mode.clone()).or_default();
                *n += 1;
                *n
            };
            log.lock().unwrap().push(mode.clone());
            async move {
                let script: &[(u16, Option<&str>)] = match mode.as_str() {
                    "flaky" => &[(503, None), (503, None)],
                    "down" => &[(503, None); 100],
                    "slow-down" => &[(429, Some("600")); 100],
                    "limited" => &[(429, Some("1"))],
                    "unauthorized" => &[(401, None); 100],
                    _ => &[],
                };
                match script.get(n - 1) {
                    Some((status, retry_after)) => {
                        let mut r = (
                            StatusCode::from_u16(*status).unwrap(),
                            axum::Json(json!({"error": "not now"})),
                        )
                            .into_response();
                        if let Some(ra) = retry_after {
                            r.headers_mut().insert("retry-after", ra.parse().unwrap());
                        }
                        r
                    }
                    None => axum::Json(json!({"data": [{"id": 1}, {"id": 2}, {"id": 3}]}))
                        .into_response(),
                }
            }
        }),
    );
    (Upstream::start(app).await, seen)
}

async fn app_with_http_json() -> App {
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    app
}

/// A source connection reading `{mode}/items` and a sync of it; the sync id.
async fn sync_of(app: &App, up: &Upstream, mode: &str, extra: Value) -> String {
    let config = json!({"base_url": up.url(&format!("/{mode}")),
        "streams": {"items": {"path": "/items", "records": "/data", "key": "id"}}});
    let source = app
        .connection(mode, "http-json@0.1.0", config, json!({}))
        .await;
    let mut body = json!({"name": mode, "source": source, "streams": ["items"],
        "retry": {"attempts": 4, "backoff_ms": 10, "max_backoff_ms": 50, "run_retries": 0}});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let a = app.post("/api/v1/syncs", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json["id"].as_str().unwrap().to_string()
}

async fn run(app: &App, sync: &str) -> Value {
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    app.wait_run(a.json["id"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_errors_do_what_they_say() {
    let app = app_with_http_json().await;
    let _workers = app.start_workers();
    let (up, seen) = scripted_source().await;
    let requests = |mode: &str| seen.lock().unwrap().iter().filter(|m| *m == mode).count();

    // Transient twice, then fine: retried inside the run, which succeeds.
    let sync = sync_of(&app, &up, "flaky", json!({})).await;
    let ended = run(&app, &sync).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["counters"]["fetched"], 3);
    assert_eq!(requests("flaky"), 3);
    let logs = app
        .get(&format!(
            "/api/v1/runs/{}/logs",
            ended["id"].as_str().unwrap()
        ))
        .await;
    assert!(logs.text.contains("trying again"), "{}", logs.text);

    // Always down: two attempts in the run, then the run fails and one retry
    // run follows (`run_retries: 1`); when that fails too, nothing more.
    let sync = sync_of(
        &app,
        &up,
        "down",
        json!({"retry": {"attempts": 2, "backoff_ms": 10, "max_backoff_ms": 50, "run_retries": 1}}),
    )
    .await;
    let first = run(&app, &sync).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["error_kind"], "transient");
    assert_eq!(requests("down"), 2);
    let store = &app.state.app.store;
    let runs = store.runs_of_sync(&sync, 10).await.unwrap();
    let retry = runs
        .iter()
        .find(|r| r.trigger == "retry")
        .expect("a retry run was enqueued");
    assert_eq!(retry.attempt, 2);
    assert!(retry.run_after > wharf::store::now_ms(), "after a backoff");
    // Its time has come.
    sqlx::query("UPDATE runs SET run_after = 0 WHERE id = $1")
        .bind(&retry.id)
        .execute(store.pool())
        .await
        .unwrap();
    app.state.app.wake.notify_waiters();
    let second = app.wait_run(&retry.id).await;
    assert_eq!(second["status"], "failed", "{second}");
    assert_eq!(requests("down"), 4);
    assert_eq!(
        store.runs_of_sync(&sync, 10).await.unwrap().len(),
        2,
        "the retries ran out"
    );

    // Asked to wait ten minutes: longer than the sync accepts, so the run
    // fails and its retry is due when the source said.
    let sync = sync_of(
        &app,
        &up,
        "slow-down",
        json!({"retry": {"attempts": 2, "run_retries": 1, "max_rate_limit_wait_secs": 60}}),
    )
    .await;
    let before = wharf::store::now_ms();
    let ended = run(&app, &sync).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error_kind"], "rate_limited");
    let retry = store
        .runs_of_sync(&sync, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.trigger == "retry")
        .expect("a retry run");
    assert!(
        retry.run_after >= before + 600_000,
        "the retry waits the 600 s asked for"
    );

    // A short wait the connector takes itself, then goes on.
    let sync = sync_of(&app, &up, "limited", json!({})).await;
    let ended = run(&app, &sync).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(requests("limited"), 2);

    // Rejected credentials fail the run and mark the connection.
    let sync = sync_of(&app, &up, "unauthorized", json!({})).await;
    let ended = run(&app, &sync).await;
    assert_eq!(ended["error_kind"], "auth", "{ended}");
    assert_eq!(requests("unauthorized"), 1, "auth errors are not retried");
    let sync_row = store.sync(&sync).await.unwrap().unwrap();
    let c = app
        .get(&format!("/api/v1/connections/{}", sync_row.source_id))
        .await;
    assert_eq!(c.json["status"], "error", "{}", c.text);

    // More rejections than the threshold fail the run.
    let sync = sync_of(
        &app,
        &up,
        "strict",
        json!({"error_threshold": 1, "schemas": {"items": {"type": "object", "required": ["sku"]}}}),
    )
    .await;
    let ended = run(&app, &sync).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error_kind"], "threshold");
    assert_eq!(ended["counters"]["rejected"], 3);
    let errors = app
        .get(&format!(
            "/api/v1/runs/{}/errors",
            ended["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(errors.json["items"][0]["field"], "/sku", "{}", errors.text);
}

/// A webhook receiver: the events it got, by type.
async fn events_receiver() -> (Upstream, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = Router::new().route(
        "/events",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    (Upstream::start(app).await, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_of_runs_and_broken_connections() {
    let app = app_with_http_json().await;
    let _workers = app.start_workers();
    let _sender = app.start_sender();
    let (receiver, got) = events_receiver().await;
    let a = app
        .post("/api/v1/webhooks", json!({"url": receiver.url("/events"),
            "events": ["run.succeeded", "run.failed", "connection.error"], "networks": ["127.0.0.0/8"]}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let (up, _) = scripted_source().await;
    let good = sync_of(&app, &up, "fine", json!({})).await;
    let bad = sync_of(&app, &up, "unauthorized", json!({})).await;
    let good_run = run(&app, &good).await;
    let bad_run = run(&app, &bad).await;
    let mut waited = 0;
    while got.lock().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(waited < 400, "events: {:?}", got.lock().unwrap());
    }
    let events = got.lock().unwrap().clone();
    let of = |t: &str| {
        events
            .iter()
            .find(|e| e["type"] == t)
            .unwrap_or_else(|| panic!("no {t} in {events:?}"))
            .clone()
    };
    let ok = of("run.succeeded");
    assert_eq!(ok["data"]["run"], good_run["id"]);
    assert_eq!(ok["data"]["sync"], good);
    assert_eq!(ok["data"]["counters"]["fetched"], 3);
    let failed = of("run.failed");
    assert_eq!(failed["data"]["run"], bad_run["id"]);
    assert_eq!(failed["data"]["error_kind"], "auth");
    let broken = of("connection.error");
    assert_eq!(broken["data"]["name"], "unauthorized");
    assert!(
        broken["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("authentication failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_retries_wait_what_the_endpoint_asks() {
    let app = App::new(Db::Sqlite).await;
    let _sender = app.start_sender();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let endpoint = Upstream::start(Router::new().route(
        "/hook",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")]).into_response()
                } else {
                    StatusCode::OK.into_response()
                }
            }
        }),
    ))
    .await;
    let a = app
        .post(
            "/api/v1/webhooks",
            json!({"url": endpoint.url("/hook"),
            "events": ["run.failed"], "networks": ["127.0.0.0/8"]}),
        )
        .await;
    let hook = a.json["id"].as_str().unwrap().to_string();
    let sent = wharf::store::now_ms();
    app.post(&format!("/api/v1/webhooks/{hook}/test"), Value::Null)
        .await;
    // After the first attempt, the next one is set by Retry-After (2 s), not
    // by the schedule's first step (5 s).
    let mut message = Value::Null;
    for _ in 0..200 {
        message = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await
            .json["items"][0]
            .clone();
        if message["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(message["last_status"], 503, "{message}");
    let next = message["next_attempt_at"].as_i64().unwrap();
    let after_first = next - sent;
    assert!(
        (1_500..4_500).contains(&after_first),
        "the retry is about 2 s after the first attempt, not 5 s: {after_first} ms"
    );
    for _ in 0..200 {
        message = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await
            .json["items"][0]
            .clone();
        if message["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(message["status"], "delivered", "{message}");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_cancel_schedules_follow_cron_and_enabled_and_syncs_delete_cleanly() {
    let app = app_with_http_json().await;
    let (up, _) = scripted_source().await;

    // No workers: the run stays queued, and cancelling it is immediate.
    let sync = sync_of(&app, &up, "queued", json!({})).await;
    let a = app
        .post(&format!("/api/v1/syncs/{sync}/runs"), Value::Null)
        .await;
    let id = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .post(&format!("/api/v1/runs/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(a.json["status"], "cancelled", "{}", a.text);
    assert_eq!(a.json["error"], "cancelled before it started");

    // Cron: due at the next five-minute boundary, and enqueued then.
    let cron = sync_of(
        &app,
        &up,
        "cron",
        json!({"schedule": {"cron": "*/5 * * * *"}}),
    )
    .await;
    let row = app.state.app.store.sync(&cron).await.unwrap().unwrap();
    let due = row.next_due_at.unwrap();
    let now = wharf::store::now_ms();
    assert_eq!(due % 300_000, 0, "on a five-minute boundary");
    assert!(due > now && due <= now + 300_000);
    let engine = &app.state.app;
    assert_eq!(
        wharf::sync::scheduler::tick(engine, due - 1).await.unwrap(),
        0
    );
    assert_eq!(wharf::sync::scheduler::tick(engine, due).await.unwrap(), 1);
    let next = app.state.app.store.sync(&cron).await.unwrap().unwrap();
    assert_eq!(next.next_due_at, Some(due + 300_000));

    // Disabled: a schedule that never fires, until enabled.
    let off = sync_of(
        &app,
        &up,
        "off",
        json!({"schedule": {"every": 60}, "enabled": false}),
    )
    .await;
    assert_eq!(
        app.state
            .app
            .store
            .sync(&off)
            .await
            .unwrap()
            .unwrap()
            .next_due_at,
        None
    );
    let far = wharf::store::now_ms() + 86_400_000;
    wharf::sync::scheduler::tick(engine, far).await.unwrap();
    assert!(
        app.state
            .app
            .store
            .runs_of_sync(&off, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/syncs/{off}"),
            Some(&app.admin),
            Some(json!({"enabled": true})),
        )
        .await;
    assert!(a.json["next_due_at"].is_i64(), "{}", a.text);

    // Deleting a sync takes its runs, cursors and records with it; its
    // source connection can then be deleted too.
    let _workers = app.start_workers();
    let kept = sync_of(&app, &up, "kept", json!({})).await;
    let ended = run(&app, &kept).await;
    assert_eq!(ended["status"], "succeeded");
    let records = app
        .get(&format!("/api/v1/syncs/{kept}/records?stream=items"))
        .await;
    assert_eq!(records.json["items"].as_array().unwrap().len(), 3);
    let source = app
        .state
        .app
        .store
        .sync(&kept)
        .await
        .unwrap()
        .unwrap()
        .source_id;
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/syncs/{kept}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    assert_eq!(
        app.get(&format!("/api/v1/syncs/{kept}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/runs/{}", ended["id"].as_str().unwrap()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM records WHERE sync_id = $1")
        .bind(&kept)
        .fetch_one(app.state.app.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{source}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_internal_errors_and_the_request_time_limit() {
    // A request past its time limit is answered 503 with a problem.
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("hostile")).await.status,
        StatusCode::CREATED
    );
    let slow = app
        .connection(
            "slow",
            "hostile@0.1.0",
            json!({"attack": "sleep", "url": "http://x.example", "n": 3_000}),
            json!({}),
        )
        .await;
    let mut state = app.state.clone();
    state.request_timeout = Duration::from_millis(300);
    let router = wharf::api::router(state);
    let started = std::time::Instant::now();
    let resp = router
        .clone()
        .oneshot(
            axum::http::Request::post(format!("/api/v1/connections/{slow}/check"))
                .header("authorization", format!("Bearer {}", app.admin))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(2_900),
        "stopped before the guest finished"
    );
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("took longer than 0.3 s"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // The database goes away: not ready, and requests that need it get a
    // 500 that names an error id, not the cause.
    app.state.app.store.pool().close().await;
    let a = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.is_problem());
    let a = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "the process is up");
    let a = app.get("/api/v1/connections").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.text);
    assert!(a.is_problem());
    let detail = a.json["detail"].as_str().unwrap();
    assert!(detail.contains("error id"), "{detail}");
    assert!(
        !detail.to_lowercase().contains("pool"),
        "internals stay in the log: {detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_are_checked_again_when_sent() {
    let app = App::new(Db::Sqlite).await;
    let _sender = app.start_sender();
    let (receiver, got) = events_receiver().await;
    let a = app
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url("/events"),
            "events": ["run.failed"], "networks": ["127.0.0.0/8"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let hook = a.json["id"].as_str().unwrap().to_string();
    // The grant that let the URL through at registration is gone by the
    // time a message is sent (changed behind the API's back, as a name that
    // now resolves elsewhere would be): the send is refused, nothing leaves.
    sqlx::query("UPDATE webhooks SET networks = '[]' WHERE id = $1")
        .bind(&hook)
        .execute(app.state.app.store.pool())
        .await
        .unwrap();
    app.post(&format!("/api/v1/webhooks/{hook}/test"), Value::Null)
        .await;
    let mut message = Value::Null;
    for _ in 0..200 {
        message = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await
            .json["items"][0]
            .clone();
        if message["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(message["attempts"], 1, "{message}");
    assert!(
        message["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("blocked network"),
        "{message}"
    );
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing reached the endpoint"
    );
}

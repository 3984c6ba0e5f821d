//! Webhooks in and out: forged, replayed, stale and oversized deliveries are
//! refused; verified ones land records or trigger syncs; outgoing events are
//! signed per Standard Webhooks, retried, and obey the SSRF rules.
//!
//! It is kept as one file because webhooks in and out are one feature whose
//! tests share the signing and delivery helpers (`signed`, `deliver`,
//! `hook_connection`, which openapi.rs uses too) and the receiving endpoint
//! (`receiver`, `wait_for`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};
use wharf::model::spec::WebhookScheme;

use crate::api_support::{App, Db};
use crate::support::{Upstream, guest};

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) fn signed(id: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let sig = wharf::webhooks::verify::sign_standard(HOOK_SECRET, id, ts, body.as_bytes()).unwrap();
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
        ("content-type", "application/json".to_string()),
    ]
}

pub(crate) async fn deliver(
    app: &App,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> crate::api_support::Answer {
    let mut req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = tower::ServiceExt::oneshot(
        app.router.clone(),
        req.body(axum::body::Body::from(body)).unwrap(),
    )
    .await
    .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    crate::api_support::Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub(crate) async fn hook_connection(app: &App, name: &str, mode: &str) -> (String, String) {
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": name, "connector": "hooks@0.1.0", "config": {"mode": mode}, "secrets": {"webhook_secret": HOOK_SECRET}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .post(&format!("/api/v1/connections/{id}/webhook"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["secret_set"], true);
    (id, a.json["path"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_deliveries_are_verified_once_and_become_records() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    assert_eq!(app.upload(guest("hooks")).await.status, StatusCode::CREATED);
    let (conn, path) = hook_connection(&app, "shop-hooks", "records").await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "hooked", "source": conn, "streams": ["items"]}),
        )
        .await;
    let sync = a.json["id"].as_str().unwrap().to_string();
    let now = wharf::store::now_ms() / 1000;

    let body = json!({"type": "item.updated", "data": {"id": "A1", "title": "Anchor"}}).to_string();
    let a = deliver(
        &app,
        &path,
        &signed("msg_1", now, &body),
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.json["result"]["records"], 1);
    let stored = app
        .get(&format!("/api/v1/syncs/{sync}/records?stream=items"))
        .await;
    assert_eq!(
        stored.json["items"][0]["data"],
        json!({"id": "A1", "title": "Anchor"})
    );

    // Replayed: answered 2xx, processed once.
    let a = deliver(
        &app,
        &path,
        &signed("msg_1", now, &body),
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["duplicate"], true);
    let runs = app.get(&format!("/api/v1/syncs/{sync}/runs")).await;
    assert_eq!(
        runs.json["items"].as_array().unwrap().len(),
        1,
        "one run for one delivery"
    );

    // Forged, stale, oversized, wrong token: refused, nothing processed.
    let mut forged = signed("msg_2", now, &body);
    forged[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let a = deliver(&app, &path, &forged, body.clone().into_bytes()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    let tampered = body.replace("Anchor", "Evil");
    let a = deliver(
        &app,
        &path,
        &signed("msg_3", now, &body),
        tampered.into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = deliver(
        &app,
        &path,
        &signed("msg_4", now - 600, &body),
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.text.contains("timestamp"), "{}", a.text);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let a = deliver(&app, &path, &signed("msg_5", now, &huge), huge.into_bytes()).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let wrong = path.rsplit_once('/').unwrap().0.to_string() + "/0000";
    let a = deliver(
        &app,
        &wrong,
        &signed("msg_6", now, &body),
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let d = app
        .get(&format!("/api/v1/connections/{conn}/deliveries"))
        .await;
    let ids: Vec<&str> = d.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["msg_1"], "only the verified delivery was processed");

    // A delivery the connector cannot read for now is answered so that the
    // sender tries again, and its id is not kept: the retry is processed.
    let busy = json!({"type": "item.unavailable", "data": {"id": "A2"}}).to_string();
    let a = deliver(
        &app,
        &path,
        &signed("msg_9", now, &busy),
        busy.clone().into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text);
    assert_eq!(a.headers["retry-after"], "30");
    let a = deliver(&app, &path, &signed("msg_9", now, &busy), busy.into_bytes()).await;
    assert_eq!(
        a.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "not taken for a duplicate"
    );
    // One it never can read stays a 422.
    let broken = json!({"type": "item.updated", "data": {}}).to_string();
    let a = deliver(
        &app,
        &path,
        &signed("msg_10", now, &broken),
        broken.into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);

    // A delete event removes the record.
    let body = json!({"type": "item.deleted", "data": {"id": "A1"}}).to_string();
    let a = deliver(&app, &path, &signed("msg_7", now, &body), body.into_bytes()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let stored = app
        .get(&format!("/api/v1/syncs/{sync}/records?stream=items"))
        .await;
    assert_eq!(stored.json["items"], json!([]));

    // A connector without `receive` output: the delivery triggers the syncs.
    let (conn2, path2) = hook_connection(&app, "ping-hooks", "trigger").await;
    let a = app
        .post(
            "/api/v1/syncs",
            json!({"name": "triggered", "source": conn2, "streams": ["items"]}),
        )
        .await;
    let sync2 = a.json["id"].as_str().unwrap().to_string();
    let body = json!({"type": "ping", "data": {"id": "x"}}).to_string();
    let a = deliver(
        &app,
        &path2,
        &signed("msg_8", now, &body),
        body.into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let run = a.json["result"]["triggered"][0]
        .as_str()
        .unwrap()
        .to_string();
    let run = app.wait_run(&run).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "webhook");
    assert_eq!(run["sync_id"], sync2);
}

/// A receiver that checks signatures like any Standard Webhooks consumer.
struct Receiver {
    upstream: Upstream,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn receiver(secret: Arc<Mutex<String>>, status: Arc<Mutex<u16>>) -> Receiver {
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let log = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (log, secret, status) = (log.clone(), secret.clone(), status.clone());
            async move {
                let pairs: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                    .collect();
                let now = wharf::store::now_ms() / 1000;
                let key = secret.lock().unwrap().clone();
                if wharf::webhooks::verify::verify(
                    &WebhookScheme::StandardWebhooks,
                    &key,
                    &pairs,
                    &body,
                    now,
                )
                .is_err()
                {
                    return StatusCode::UNAUTHORIZED;
                }
                let id = headers["webhook-id"].to_str().unwrap().to_string();
                log.lock()
                    .unwrap()
                    .push((id, serde_json::from_slice(&body).unwrap()));
                StatusCode::from_u16(*status.lock().unwrap()).unwrap()
            }
        }),
    );
    Receiver {
        upstream: Upstream::start(app).await,
        got,
    }
}

async fn wait_for(mut check: impl FnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_events_are_signed_retried_and_ssrf_checked() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    let _sender = app.start_sender();
    let secret = Arc::new(Mutex::new(String::new()));
    let status = Arc::new(Mutex::new(503u16));
    let r = receiver(secret.clone(), status.clone()).await;
    let url = r.upstream.url("/hook");

    // Registration follows the SSRF rules of connector HTTP.
    for (bad, networks) in [
        (url.clone(), json!([])),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            json!([]),
        ),
        ("file:///etc/passwd".to_string(), json!([])),
        (
            "http://localhost:9/hook".to_string(),
            json!(["127.0.0.0/8"]),
        ),
    ] {
        let a = app
            .post(
                "/api/v1/webhooks",
                json!({"url": bad, "events": ["run.succeeded"], "networks": networks}),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            a.text
        );
        assert_eq!(a.json["errors"][0]["field"], "/url");
    }
    let a = app
        .post("/api/v1/webhooks", json!({"url": url, "events": ["connector.uploaded", "run.succeeded"], "networks": ["127.0.0.0/8"]}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let hook = a.json["id"].as_str().unwrap().to_string();
    let whsec = a.json["secret"].as_str().unwrap().to_string();
    assert!(whsec.starts_with("whsec_"));
    *secret.lock().unwrap() = whsec.clone();
    let listed = app.get("/api/v1/webhooks").await;
    assert!(!listed.text.contains(&whsec), "the secret is shown once");

    // An event while the endpoint fails (503): retried with the same id
    // once it answers 200.
    assert_eq!(app.upload(guest("hooks")).await.status, StatusCode::CREATED);
    wait_for(|| !r.got.lock().unwrap().is_empty(), "a first attempt").await;
    *status.lock().unwrap() = 200;
    wait_for(|| r.got.lock().unwrap().len() >= 2, "the retry").await;
    let got = r.got.lock().unwrap().clone();
    assert_eq!(
        got[0].0, got[1].0,
        "the webhook-id stays the same across retries"
    );
    assert_eq!(got[1].1["type"], "connector.uploaded");
    assert_eq!(got[1].1["data"]["connector"], "hooks@0.1.0");
    // The sender records the outcome after the answer arrives: wait for it.
    let mut d = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .await;
    for _ in 0..200 {
        if d.json["items"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        d = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await;
    }
    assert_eq!(d.json["items"][0]["status"], "delivered", "{}", d.text);
    assert_eq!(d.json["items"][0]["attempts"], 2);

    // The test endpoint.
    let a = app
        .post(&format!("/api/v1/webhooks/{hook}/test"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    wait_for(
        || {
            r.got
                .lock()
                .unwrap()
                .iter()
                .any(|(_, v)| v["type"] == "webhook.test")
        },
        "the test event",
    )
    .await;

    // 410 Gone disables the endpoint.
    *status.lock().unwrap() = 410;
    let a = app
        .post(&format!("/api/v1/webhooks/{hook}/test"), json!(null))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let mut disabled = false;
    for _ in 0..200 {
        let w = app.get(&format!("/api/v1/webhooks/{hook}")).await;
        if w.json["enabled"] == false {
            assert!(w.json["disabled_reason"].as_str().unwrap().contains("410"));
            disabled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(disabled, "410 disabled the endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_from_a_webhook_endpoint_are_not_followed() {
    let app = App::new(Db::Sqlite).await;
    let _sender = app.start_sender();
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    let target = Upstream::start(Router::new().route(
        "/elsewhere",
        post(move || {
            *counter.lock().unwrap() += 1;
            async { StatusCode::OK }
        }),
    ))
    .await;
    let to = target.url("/elsewhere");
    let redirector = Upstream::start(Router::new().route(
        "/hook",
        post(move || {
            let to = to.clone();
            async move { axum::response::Redirect::temporary(&to) }
        }),
    ))
    .await;
    let a = app
        .post("/api/v1/webhooks", json!({"url": redirector.url("/hook"), "events": ["run.failed"], "networks": ["127.0.0.0/8"]}))
        .await;
    let hook = a.json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/webhooks/{hook}/test"), json!(null))
        .await;
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await
            .json;
        if last["items"][0]["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["items"][0]["last_status"], 307, "{last}");
    assert!(
        last["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("not followed")
    );
    assert_eq!(last["items"][0]["status"], "pending", "to be retried");
    assert_eq!(
        *hits.lock().unwrap(),
        0,
        "the redirect target was never called"
    );

    // An endpoint failing for days is disabled, and the audit log says so.
    sqlx::query("UPDATE webhooks SET failing_since = $1 WHERE id = $2")
        .bind(wharf::store::now_ms() - 6 * 24 * 3600 * 1000)
        .bind(&hook)
        .execute(app.state.app.store.pool())
        .await
        .unwrap();
    app.post(&format!("/api/v1/webhooks/{hook}/test"), json!(null))
        .await;
    let mut w = Value::Null;
    for _ in 0..100 {
        w = app.get(&format!("/api/v1/webhooks/{hook}")).await.json;
        if w["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w["enabled"], false, "{w}");
    assert!(w["disabled_reason"].as_str().unwrap().contains("five days"));
    let audit = app.get("/api/v1/audit").await;
    assert!(audit.text.contains("webhook.disabled"));
}

#[test]
fn pkce_matches_rfc_7636() {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/vectors/webhooks.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for case in v["pkce_s256"].as_array().unwrap() {
        assert_eq!(
            wharf::oauth::pkce_challenge(case["code_verifier"].as_str().unwrap()),
            case["code_challenge"].as_str().unwrap()
        );
    }
    // Secrets are generated fresh every time.
    let a = wharf::webhooks::new_secret();
    assert_ne!(a, wharf::webhooks::new_secret());
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&a[6..])
            .unwrap()
            .len(),
        32
    );
}

async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_down_endpoint_survives_a_restart() {
    use crate::serve::Server;
    // A port with nothing listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path().to_path_buf(), None).await;
    let key = server.key.clone().unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hook");
    let created = json_of(
        client
            .post(format!("{}/api/v1/webhooks", server.url))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(
                json!({"url": url, "events": ["connector.uploaded"], "networks": ["127.0.0.0/8"]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    let hook = created["id"].as_str().unwrap().to_string();
    let upload = client
        .post(format!("{}/api/v1/connectors", server.url))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(crate::support::guest_path("hooks")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), reqwest::StatusCode::CREATED);
    // Wait for the first (failed) attempt, then stop the server.
    let mut message = Value::Null;
    for _ in 0..100 {
        message = json_of(
            client
                .get(format!("{}/api/v1/webhooks/{hook}/deliveries", server.url))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if message["items"][0]["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(message["items"][0]["status"], "pending", "{message}");
    let id = message["items"][0]["id"].as_str().unwrap().to_string();
    assert!(server.stop().await.success());

    // The endpoint comes back; so does Wharf, which delivers the same message.
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = got.clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .push(headers["webhook-id"].to_str().unwrap().to_string());
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let again = Server::start(data.path().to_path_buf(), None).await;
    wait_for(
        || !got.lock().unwrap().is_empty(),
        "the delivery after the restart",
    )
    .await;
    assert_eq!(
        got.lock().unwrap()[0],
        id,
        "the same message, with the same webhook-id"
    );
    // The sender records the outcome after the answer arrives: wait for it.
    let mut delivered = Value::Null;
    for _ in 0..200 {
        delivered = json_of(
            client
                .get(format!("{}/api/v1/webhooks/{hook}/deliveries", again.url))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if delivered["items"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered["items"][0]["status"], "delivered", "{delivered}");
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_reaches_every_sync_of_its_connection_even_past_five_hundred() {
    // Trigger mode: each sync of the connection gets a run. There used to be
    // a cap of 500 syncs read, beyond which the rest were skipped silently.
    let app = App::new(Db::Sqlite).await;
    assert_eq!(app.upload(guest("hooks")).await.status, StatusCode::CREATED);
    let (conn, path) = hook_connection(&app, "many", "trigger").await;
    let template = app
        .state
        .app
        .store
        .sync(
            app.post(
                "/api/v1/syncs",
                json!({"name": "s000", "source": conn, "streams": ["items"]}),
            )
            .await
            .json["id"]
                .as_str()
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    for i in 1..600 {
        let mut s = template.clone();
        s.id = wharf::store::new_id();
        s.name = format!("s{i:03}");
        app.state.app.store.insert_sync(&s).await.unwrap();
    }
    let now = wharf::store::now_ms() / 1000;
    let body = json!({"type": "item.updated", "data": {"id": "1"}}).to_string();
    let a = deliver(
        &app,
        &path,
        &signed("msg_600", now, &body),
        body.into_bytes(),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(
        a.json["result"]["triggered"].as_array().unwrap().len(),
        600,
        "every sync was triggered"
    );
}

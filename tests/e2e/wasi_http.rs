//! `wasi:http/outgoing-handler` is the HTTP capability under another name:
//! a JavaScript guest's `fetch()` (`guests/js-hostile`) tries to get around
//! it, and meets the same grants, secret bindings, redaction and refusal
//! limit as `http.send` (`capabilities.rs`, `hardening.rs`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Value, json};
use wharf::runtime::Session;

use crate::languages::{JAVASCRIPT_HOSTILE, built};
use crate::support::{Upstream, runtime, session};

const SECRET: &str = "sk_live_wasi_http_51c0";
const LOOPBACK: &[&str] = &["127.0.0.0/8"];

type Seen = Arc<Mutex<Vec<String>>>;

/// Records what each request carried (`X-Token`, or the path's last part)
/// and echoes it back in the body and a header.
async fn echo() -> (Upstream, Seen) {
    let seen: Seen = Arc::default();
    let token = {
        let seen = seen.clone();
        move |headers: HeaderMap| async move {
            let token = headers
                .get("x-token")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            seen.lock().unwrap().push(token.clone());
            ([("x-echo", token.clone())], format!("you sent {token}"))
        }
    };
    let part = {
        let seen = seen.clone();
        move |Path(part): Path<String>| async move {
            seen.lock().unwrap().push(part.clone());
            ([("x-echo", part.clone())], format!("you sent {part}"))
        }
    };
    let app = Router::new()
        .route("/echo", get(token))
        .route("/echo/{part}", get(part));
    (Upstream::start(app).await, seen)
}

async fn hostile_session(config: Value, grants: &[String]) -> Session {
    let rt = runtime();
    let c = rt.load(&built(&JAVASCRIPT_HOSTILE).await).await.unwrap();
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    session(&rt, &c, config, &grants, LOOPBACK, &[("token", SECRET)])
}

/// What the guest saw, one JSON object per response.
async fn observations(s: &Session) -> Vec<Value> {
    let page = s.fetch("out", None).await.unwrap();
    page.records
        .iter()
        .map(|r| serde_json::from_str(r.data.get()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_substitutes_a_secret_for_its_host_and_the_guest_never_sees_it() {
    let (up, seen) = echo().await;
    let s = hostile_session(
        json!({"attack": "send-secret", "url": up.url("/echo")}),
        &[up.origin()],
    )
    .await;
    let seen_inside = observations(&s).await;
    assert_eq!(seen.lock().unwrap().as_slice(), [SECRET]);
    assert_eq!(seen_inside[0]["status"], 200);
    assert_eq!(seen_inside[0]["body"], "you sent [REDACTED]");
    assert_eq!(seen_inside[0]["echo"], "[REDACTED]");
    assert_eq!(s.http_counters().requests, 1);

    // In the path, percent-encoded by `new URL`: still the placeholder.
    let s = hostile_session(
        json!({"attack": "secret-in-path", "url": up.url("/echo")}),
        &[up.origin()],
    )
    .await;
    let seen_inside = observations(&s).await;
    assert_eq!(seen.lock().unwrap().last().unwrap(), SECRET);
    assert_eq!(seen_inside[0]["body"], "you sent [REDACTED]");
    assert!(
        !serde_json::to_string(&seen_inside)
            .unwrap()
            .contains(SECRET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_cannot_take_a_secret_to_another_granted_host() {
    let (bound, bound_seen) = echo().await;
    let (other, other_seen) = echo().await;
    let s = hostile_session(
        json!({"attack": "send-secret", "url": bound.url("/echo"), "target": other.url("/echo")}),
        &[bound.origin(), other.origin()],
    )
    .await;
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    // The guest saw only a NetworkError; the error names the host's rule.
    assert!(err.contains("may not be sent to"), "{err}");
    assert!(other_seen.lock().unwrap().is_empty(), "nothing was sent");
    assert!(bound_seen.lock().unwrap().is_empty());
    assert_eq!(s.http_counters().denied, 1);
    assert!(
        s.log()
            .drain()
            .iter()
            .any(|l| l.message.contains("http request refused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_probing_a_place_never_granted_ends_the_call() {
    let (up, seen) = echo().await;
    let s = hostile_session(
        json!({"attack": "probe", "url": up.url("/echo"), "target": "http://169.254.169.254/latest/meta-data/"}),
        &[up.origin()],
    )
    .await;
    let err = s.fetch("out", None).await.unwrap_err();
    assert_eq!(err.kind(), "limit", "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_together_are_answered_each_its_own() {
    let (up, seen) = echo().await;
    let s = hostile_session(
        json!({"attack": "concurrent", "url": up.url("/echo")}),
        &[up.origin()],
    )
    .await;
    let seen_inside = observations(&s).await;
    let bodies: Vec<&str> = seen_inside
        .iter()
        .map(|o| o["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["you sent 1", "you sent 2", "you sent 3", "you sent 4"]
    );
    assert_eq!(seen.lock().unwrap().len(), 4);
}

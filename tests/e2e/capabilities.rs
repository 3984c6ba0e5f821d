//! The HTTP and secrets capabilities against real loopback upstreams: a
//! secret reaches only the host it is bound to and never comes back to the
//! guest; redirects are re-checked and lose credentials across origins;
//! budgets and caps hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use serde_json::json;
use wharf::runtime::Limits;

use crate::support::{Upstream, load, runtime, runtime_with, session};

const SECRET: &str = "sk_live_4f9a8b7c6d5e";
const LOOPBACK: &[&str] = &["127.0.0.0/8"];

/// Echoes the `X-Token` header back in the body, a header and an error.
async fn echo_server(seen: Arc<std::sync::Mutex<Vec<String>>>) -> Upstream {
    let app = Router::new()
        .route(
            "/echo",
            get({
                let seen = seen.clone();
                move |headers: HeaderMap| async move {
                    let token = headers
                        .get("x-token")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    seen.lock().unwrap().push(token.clone());
                    ([("x-echo", token.clone())], format!("you sent {token}"))
                }
            }),
        )
        .route(
            "/reject",
            get(move |headers: HeaderMap| async move {
                let token = headers
                    .get("x-token")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                (StatusCode::BAD_REQUEST, format!("bad token {token}"))
            }),
        );
    Upstream::start(app).await
}

#[tokio::test]
async fn the_upstream_sees_the_secret_and_the_guest_never_does() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let up = echo_server(seen.clone()).await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let config = json!({"attack": "send-secret", "url": up.url("/echo")});
    let s = session(
        &rt,
        &hostile,
        config,
        &[&up.origin()],
        LOOPBACK,
        &[("token", SECRET)],
    );
    let page = s.fetch("out", None).await.expect("request goes through");

    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [SECRET],
        "the upstream got the value"
    );
    let returned = serde_json::to_string(&page).unwrap();
    assert!(
        !returned.contains(SECRET),
        "the guest got the secret back: {returned}"
    );
    assert!(returned.contains("you sent [REDACTED]"), "{returned}");
    let logs = format!("{:?}", s.log().drain());
    assert!(!logs.contains(SECRET), "logs hold the secret: {logs}");
    assert!(logs.contains("[REDACTED]"), "{logs}");

    // An error message built from an echoing upstream is redacted too.
    let config = json!({"attack": "send-secret", "url": up.url("/reject")});
    let s = session(
        &rt,
        &hostile,
        config,
        &[&up.origin()],
        LOOPBACK,
        &[("token", SECRET)],
    );
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    assert!(err.contains("bad token [REDACTED]"), "{err}");
    assert!(!err.contains(SECRET));
}

#[tokio::test]
async fn a_secret_aimed_at_a_host_it_is_not_bound_to_is_refused_and_nothing_is_sent() {
    let bound_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let other_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bound = echo_server(bound_seen.clone()).await;
    let other = echo_server(other_seen.clone()).await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    // Both hosts are granted; the secret is bound only to `bound`.
    let config =
        json!({"attack": "send-secret", "url": bound.url("/echo"), "target": other.url("/echo")});
    let grants = [bound.origin(), other.origin()];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let s = session(
        &rt,
        &hostile,
        config,
        &grants,
        LOOPBACK,
        &[("token", SECRET)],
    );
    let err = s.fetch("out", None).await.unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(err.to_string().contains("may not be sent to"), "{err}");
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "nothing reached the other host"
    );

    // Not granted to the connection at all: refused as well.
    let config = json!({"attack": "send-secret", "url": bound.url("/echo")});
    let s = session(&rt, &hostile, config, &[&bound.origin()], LOOPBACK, &[]);
    let err = s.fetch("out", None).await.unwrap_err();
    assert!(err.to_string().contains("not granted"), "{err}");
    assert!(bound_seen.lock().unwrap().is_empty());

    // A placeholder in the host part cannot exfiltrate through DNS.
    let config = json!({"attack": "secret-in-host", "url": bound.url("/echo")});
    let s = session(
        &rt,
        &hostile,
        config,
        &[&bound.origin()],
        LOOPBACK,
        &[("token", SECRET)],
    );
    assert!(s.fetch("out", None).await.is_err());
}

#[tokio::test]
async fn reveal_works_only_for_revealable_secrets_and_is_audited() {
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let config = json!({"attack": "reveal-signing-key", "url": "http://x.example"});
    let s = session(
        &rt,
        &hostile,
        config,
        &[],
        &[],
        &[("signing_key", SECRET), ("token", "tok-123456")],
    );
    let page = s.fetch("out", None).await.unwrap();
    assert_eq!(page.records[0].fields()["len"], json!(SECRET.len()));
    let logs = s.log().drain();
    assert!(logs.iter().any(|l| {
        l.message
            .contains("secrets.reveal(`signing_key`): revealed")
    }));
    assert!(
        logs.iter().any(|l| l.message == "signing with [REDACTED]"),
        "{logs:?}"
    );

    // A secret the administrator has not let it read stays in the host.
    let config = json!({"attack": "reveal-token", "url": "http://x.example"});
    let options = wharf::runtime::SessionOptions {
        config,
        secrets: [("token", "tok-123456"), ("signing_key", SECRET)]
            .into_iter()
            .map(|(k, v)| (k.into(), wharf::model::secret::SecretValue::new(v)))
            .collect(),
        reveal: vec!["signing_key".into()],
        ..Default::default()
    };
    let s = wharf::runtime::Session::new(&rt, &hostile, options, |l| l).unwrap();
    let err = s.fetch("out", None).await.unwrap_err();
    assert!(err.to_string().contains("may not be revealed"), "{err}");
    assert!(
        s.log()
            .drain()
            .iter()
            .any(|l| l.message.contains("secrets.reveal(`token`): denied"))
    );
}

#[tokio::test]
async fn redirects_are_checked_per_hop_and_lose_credentials_across_origins() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let target = echo_server(seen.clone()).await;
    let target_echo = target.url("/echo");
    let app = Router::new()
        .route("/same", get(|| async { Redirect::temporary("/echo") }))
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get("x-token")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/cross",
            get(move || async move { Redirect::temporary(&target_echo) }),
        )
        .route(
            "/meta",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }));
    let origin_server = Upstream::start(app).await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let grants = [origin_server.origin(), target.origin()];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let run = |path: &str| {
        let config = json!({"attack": "send-secret", "url": origin_server.url(path)});
        session(
            &rt,
            &hostile,
            config,
            &grants,
            LOOPBACK,
            &[("token", SECRET)],
        )
    };

    // Same origin: the header stays (and is redacted in what comes back).
    let page = run("/same").fetch("out", None).await.unwrap();
    assert_eq!(page.records[0].fields()["body"], json!("[REDACTED]"));

    // Another (granted) origin: the secret-bearing header is dropped.
    let page = run("/cross").fetch("out", None).await.unwrap();
    assert_eq!(page.records[0].fields()["body"], json!("you sent "));
    assert_eq!(seen.lock().unwrap().as_slice(), [""]);

    let err = run("/meta")
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("redirect refused"), "{err}");
    let err = run("/loop")
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("too many redirects"), "{err}");
}

#[tokio::test]
async fn response_cap_and_request_budget_hold() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new()
        .route("/big", get(|| async { "x".repeat(64 * 1024) }))
        .route(
            "/small",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "ok".into_response() }
            }),
        );
    let up = Upstream::start(app).await;
    let rt = runtime_with(Limits {
        http_response_bytes: 1024,
        http_requests_per_session: 2,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;

    let s = session(
        &rt,
        &hostile,
        json!({"attack": "request", "url": up.url("/big")}),
        &[&up.origin()],
        LOOPBACK,
        &[],
    );
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    assert!(
        err.contains("response larger than the host allows"),
        "{err}"
    );

    let s = session(
        &rt,
        &hostile,
        json!({"attack": "request", "url": up.url("/small")}),
        &[&up.origin()],
        LOOPBACK,
        &[],
    );
    s.fetch("out", None).await.unwrap();
    s.fetch("out", None).await.unwrap();
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    assert!(err.contains("request budget exhausted"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(s.http_counters().requests, 2);
}

/// Echoes the credentials a request carried.
async fn credentials_echo() -> Upstream {
    let app = Router::new().route(
        "/creds",
        get(|h: HeaderMap| async move {
            let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_string());
            axum::Json(json!({"authorization": get("authorization"), "cookie": get("cookie")}))
        }),
    );
    Upstream::start(app).await
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_or_a_blocked_address() {
    let target = credentials_echo().await;
    let to_target = target.url("/creds");
    let app = Router::new()
        .route("/creds", get(|h: HeaderMap| async move {
            axum::Json(json!({"authorization": h.get("authorization").map(|v| v.to_str().unwrap().to_string())}))
        }))
        .route("/same", get(|| async { Redirect::temporary("/creds") }))
        .route("/cross", get(move || async move { Redirect::temporary(&to_target) }))
        .route("/private", get(|| async { Redirect::temporary("http://10.255.0.1/") }))
        .route("/by-name", get(|| async { Redirect::temporary("http://localhost:9/") }));
    let origin = Upstream::start(app).await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let grants = [origin.origin(), target.origin()];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let fetch = |path: &str| {
        let s = session(
            &rt,
            &hostile,
            json!({"attack": "send-credentials", "url": origin.url(path)}),
            &grants,
            LOOPBACK,
            &[],
        );
        async move { s.fetch("out", None).await }
    };
    let body = |page: wharf::model::record::Page| -> serde_json::Value {
        serde_json::from_str(page.records[0].fields()["body"].as_str().unwrap()).unwrap()
    };
    // The same origin keeps what the guest wrote...
    let same = body(fetch("/same").await.unwrap());
    assert_eq!(same["authorization"], "Basic dXNlcjpwYXNzd29yZA==");
    // ...another origin gets neither Authorization nor Cookie.
    let cross = body(fetch("/cross").await.unwrap());
    assert_eq!(cross, json!({"authorization": null, "cookie": null}));
    // Each hop is checked like the first request: a private address (not
    // granted) and a loopback name are refused before any connection.
    for path in ["/private", "/by-name"] {
        let err = fetch(path).await.unwrap_err().to_string();
        assert!(err.contains("redirect refused"), "{path}: {err}");
    }
}

#[tokio::test]
async fn the_oauth_token_goes_only_to_the_hosts_the_spec_declares() {
    let api = credentials_echo().await;
    let elsewhere = credentials_echo().await;
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let token = "oauth-access-token-7f3a";
    let open = |target: String| {
        let options = wharf::runtime::SessionOptions {
            // The spec's hosts are `{config.url}`: the API.
            config: json!({"attack": "send-oauth", "url": api.url("/creds"), "target": target}),
            hosts: [api.origin(), elsewhere.origin()]
                .iter()
                .map(|h| wharf::model::grants::HostPattern::parse(h).unwrap())
                .collect(),
            networks: vec!["127.0.0.0/8".parse().unwrap()],
            secrets: Default::default(),
            oauth: Some(std::sync::Arc::new(wharf::runtime::FixedToken(
                wharf::model::secret::SecretValue::new(token),
            ))),
            ..Default::default()
        };
        wharf::runtime::Session::new(&rt, &hostile, options, |l| l).unwrap()
    };
    // To the API: substituted, and redacted in the echo.
    let page = open(api.url("/creds")).fetch("out", None).await.unwrap();
    let text = serde_json::to_string(&page.records).unwrap();
    assert!(text.contains("Bearer [REDACTED]"), "{text}");
    assert!(!text.contains(token));
    // To another granted host: refused, nothing sent.
    let err = open(elsewhere.url("/creds"))
        .fetch("out", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may not be sent to"), "{err}");
}

/// Blobs: a download larger than the response cap stays in the host and
/// is read in chunks; what a run may keep is bounded by `blob_bytes`, and
/// the call that would pass it fails naming the limit.
#[tokio::test]
async fn large_bodies_stay_in_the_host_as_blobs_within_the_run_quota() {
    const BIG: usize = 3 << 20;
    let body: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    let expected_sum = body
        .iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let served = body.clone();
    let up = Upstream::start(Router::new().route(
        "/download",
        get(move || {
            let b = served.clone();
            async move { b }
        }),
    ))
    .await;
    let rt = runtime_with(Limits {
        http_response_bytes: 1 << 20,
        blob_bytes: 8 << 20,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    let open =
        |config: serde_json::Value| session(&rt, &hostile, config, &[&up.origin()], LOOPBACK, &[]);

    // Three times the response cap, kept and read back whole.
    let s = open(json!({"attack": "keep-body", "url": up.url("/download")}));
    let page = s.fetch("out", None).await.unwrap();
    let r = page.records[0].fields();
    assert_eq!(r["len"], json!(BIG), "{r:?}");
    assert_eq!(r["size"], json!(BIG));
    assert_eq!(r["inline"], json!(0), "the body is not also copied in");
    assert_eq!(r["sum"], json!(expected_sum.to_string()));
    // The same download without keeping it: the response cap holds.
    let s = open(json!({"attack": "request", "url": up.url("/download")}));
    assert!(s.fetch("out", None).await.is_err());

    // Within the quota, then past it.
    let s = open(json!({"attack": "blob-flood", "n": 6, "url": up.url("/download")}));
    let page = s.fetch("out", None).await.unwrap();
    assert_eq!(page.records[0].fields()["size"], json!(6 << 20));
    let s = open(json!({"attack": "blob-flood", "n": 9, "url": up.url("/download")}));
    let err = s.fetch("out", None).await.unwrap_err().to_string();
    assert!(err.contains("blob_bytes"), "{err}");
    assert!(err.contains(&(8u64 << 20).to_string()), "{err}");
}

//! How credentials reach an upstream, through a real component (`hostile`
//! in `raw` mode sends exactly the request its config describes) to a
//! loopback echo server: placeholders encoded for where they stand and by
//! explicit encoders, HTTP Basic from two secrets, a URL kept whole as a
//! secret, WebDAV methods; and OAuth2 tokens fetched per request, renewed
//! when the provider refuses one mid-run.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::support::{Upstream, load, runtime, session};

/// What the echo server received: method, path and query, headers, body.
#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    target: String,
    headers: HeaderMap,
    body: String,
}

/// An upstream that records every request and echoes its body.
async fn echo() -> (Upstream, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let text = String::from_utf8_lossy(&body).into_owned();
            log.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                target: parts.uri.to_string(),
                headers: parts.headers.clone(),
                body: text.clone(),
            });
            (StatusCode::OK, text)
        }
    });
    (Upstream::start(app).await, seen)
}

/// Send one `raw` request through the hostile guest with `token` as the
/// connection's secret; the guest's record (status, body, headers) or the
/// call's error text.
async fn send(up: &Upstream, token: &str, request: Value) -> Result<Value, String> {
    send_granted(up, token, request, &[]).await
}

/// As [`send`], with more hosts granted (but no secret bound to them).
async fn send_granted(
    up: &Upstream,
    token: &str,
    request: Value,
    more_hosts: &[&str],
) -> Result<Value, String> {
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let mut config = json!({"attack": "raw", "url": up.url("/"), "method": "GET"});
    for (k, v) in request.as_object().unwrap() {
        config[k] = v.clone();
    }
    let s = session(
        &rt,
        &hostile,
        config,
        &[&[up.origin().as_str()], more_hosts].concat(),
        &["127.0.0.0/8"],
        &[("token", token)],
    );
    s.fetch("out", None)
        .await
        .map(|page| serde_json::from_str(page.records[0].data.get()).unwrap())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_are_encoded_for_where_they_stand() {
    let (up, seen) = echo().await;
    let token = "p\"w/d?#&=+ tok";
    // A JSON body: escaped as the inside of a string, so the password
    // cannot end the string or add a field.
    let r = send(
        &up,
        token,
        json!({"method": "POST", "headers": {"content-type": "application/json"},
               "body": r#"{"user": "me", "password": "{{secret:token}}"}"#}),
    )
    .await
    .unwrap();
    assert_eq!(r["status"], 200);
    let got = seen.lock().unwrap().last().unwrap().clone();
    let parsed: Value = serde_json::from_str(&got.body).expect("still one JSON object");
    assert_eq!(parsed, json!({"user": "me", "password": token}));
    // What came back to the guest is redacted.
    assert!(!r["body"].as_str().unwrap().contains("tok"), "{r}");

    // A form body: form-encoded.
    send(
        &up,
        token,
        json!({"method": "POST", "headers": {"content-type": "application/x-www-form-urlencoded"},
               "body": "username=me&password={{secret:token}}"}),
    )
    .await
    .unwrap();
    let got = seen.lock().unwrap().last().unwrap().clone();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(got.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [
            ("username".into(), "me".into()),
            ("password".into(), token.into())
        ]
    );

    // A query: percent-encoded, so `&` and `=` cannot add parameters.
    send(
        &up,
        token,
        json!({"url": up.url("/q?key={{secret:token}}&x=1")}),
    )
    .await
    .unwrap();
    let got = seen.lock().unwrap().last().unwrap().clone();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(got.target.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        query,
        [("key".into(), token.into()), ("x".into(), "1".into())]
    );

    // Explicit encoders override the place.
    send(
        &up,
        token,
        json!({"method": "POST", "headers": {"x-b64": "{{secret:token|base64}}", "content-type": "text/plain"},
               "body": "{{secret:token|json}}|{{secret:token|url}}|{{secret:token}}"}),
    )
    .await
    .unwrap();
    let got = seen.lock().unwrap().last().unwrap().clone();
    use base64::Engine as _;
    assert_eq!(
        got.headers["x-b64"],
        base64::engine::general_purpose::STANDARD.encode(token)
    );
    assert_eq!(
        got.body,
        format!(r#"p\"w/d?#&=+ tok|p%22w%2Fd%3F%23%26%3D%2B%20tok|{token}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_whole_url_secrets_and_webdav_methods() {
    let (up, seen) = echo().await;
    // `{{basic:USER:PASS}}` from two secrets (here the same one twice).
    let r = send(
        &up,
        "user-and-pass",
        json!({"headers": {"authorization": "Basic {{basic:token:token}}"}}),
    )
    .await
    .unwrap();
    assert_eq!(r["status"], 200);
    let got = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        got.headers["authorization"],
        "Basic dXNlci1hbmQtcGFzczp1c2VyLWFuZC1wYXNz"
    );
    // An upstream that echoes the derived form gives the guest nothing.
    let r = send(
        &up,
        "user-and-pass",
        json!({"method": "POST", "headers": {"content-type": "text/plain"},
               "body": "{{basic:token:token}} {{secret:token|base64}}"}),
    )
    .await
    .unwrap();
    let body = r["body"].as_str().unwrap();
    assert!(
        !body.contains("dXNlci1hbmQtcGFzcz") && !body.contains("user-and-pass"),
        "{body}"
    );

    // A Slack-style incoming webhook URL kept whole as one secret: its
    // slashes stay slashes.
    let hook = up.url("/services/T000/B000/XXXX");
    let r = send(
        &up,
        &hook,
        json!({"method": "POST", "target": "{{secret:token}}"}),
    )
    .await
    .unwrap();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().target,
        "/services/T000/B000/XXXX"
    );
    // …but only to a host the secret is bound to, even a granted one.
    let (other, other_seen) = echo().await;
    let e = send_granted(
        &up,
        &other.url("/services/T000"),
        json!({"method": "POST", "target": "{{secret:token}}"}),
        &[&other.origin()],
    )
    .await
    .unwrap_err();
    assert!(e.contains("may not be sent to"), "{e}");
    assert!(other_seen.lock().unwrap().is_empty());

    // `|path` keeps `/` but refuses what would leave the path.
    send(
        &up,
        "a/b/c",
        json!({"url": up.url("/files/{{secret:token|path}}")}),
    )
    .await
    .unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap().target, "/files/a/b/c");
    let e = send(
        &up,
        "a/../admin",
        json!({"url": up.url("/files/{{secret:token|path}}")}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("cannot be a URL path"), "{e}");

    // WebDAV methods go out; CONNECT and TRACE do not.
    for method in ["PROPFIND", "MKCOL", "MOVE", "REPORT"] {
        let r = send(&up, "t", json!({"method": method})).await.unwrap();
        assert_eq!(r["status"], 200);
        assert_eq!(seen.lock().unwrap().last().unwrap().method, method);
    }
    for method in ["CONNECT", "TRACE"] {
        let e = send(&up, "t", json!({"method": method})).await.unwrap_err();
        assert!(e.contains("not allowed"), "{method}: {e}");
    }
}

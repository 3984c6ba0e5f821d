//! The OpenAPI document against the server: it is a valid OpenAPI 3.1
//! document (checked by `openapi-spec-validator`, installed from PyPI into
//! `target/pytools` on first use), and every JSON body a real request gets
//! back matches the schema the document gives for that operation and
//! status, for every operation and every success status it documents.
//!
//! One file past 600 lines on purpose: it is one walk through every route
//! of the API in order, each answer checked by the same checker as it
//! comes; split, the walk's shared state would have to be threaded through.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::api_support::{Answer, App, Db};
use crate::hooks::{deliver, hook_connection, signed};
use crate::support::{Upstream, guest};

/// The Python tools of the test suite (`schemathesis`,
/// `openapi-spec-validator`), in a virtualenv under `target/`, made on first
/// use. Test binaries run one after another, so a lock in this process is
/// enough; a half-made one (the run was stopped) is made again.
pub fn pytools() -> PathBuf {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("WHARF_GUESTS_DIR")).join("../../../pytools");
    let ready = dir.join("wharf-ready-1");
    if ready.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .expect("python3 is needed for the API contract tests")
        .success();
    assert!(ok, "python3 -m venv failed");
    let ok = Command::new(dir.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "schemathesis==4.32.5",
            "openapi-spec-validator==0.9.0",
        ])
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "pip install of schemathesis and openapi-spec-validator failed"
    );
    std::fs::write(&ready, "").unwrap();
    dir
}

/// What the document promises, and which promises a request has checked.
struct Contract {
    doc: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Contract {
    async fn load(app: &App) -> Self {
        let a = app
            .call(Method::GET, "/api/v1/openapi.json", None, None)
            .await;
        assert_eq!(a.status, StatusCode::OK);
        Self {
            doc: a.json,
            seen: BTreeSet::new(),
        }
    }

    /// The documented path that `path` is an instance of.
    fn template(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap();
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segments.len()
                    && ts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .unwrap_or_else(|| panic!("{path} is not documented"))
            .clone()
    }

    /// Check `answer` to `method path` against the document.
    fn check(&mut self, method: &Method, path: &str, answer: &Answer) {
        let template = self.template(path);
        let m = method.as_str().to_lowercase();
        let op = &self.doc["paths"][&template][&m];
        assert!(op.is_object(), "{method} {template} is not documented");
        let status = answer.status.as_u16();
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list: {}",
            answer.text
        );
        let content_type = answer
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .unwrap_or_default();
        let Some(schema) = response["content"][&content_type].get("schema") else {
            assert!(
                response.get("content").is_none() || content_type.is_empty(),
                "{method} {path} {status}: content type {content_type} is not documented"
            );
            self.seen.insert((m, template, status));
            return;
        };
        if content_type.ends_with("json") {
            let root = json!({"allOf": [schema], "components": self.doc["components"]});
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&answer.json)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: the body does not match the document: {errors:?}\n{}",
                answer.text
            );
        }
        self.seen.insert((m, template, status));
    }

    /// Every documented success answer with a body that no request checked.
    fn unchecked(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, ops) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for (status, _) in op["responses"].as_object().unwrap() {
                    let code: u16 = status.parse().unwrap();
                    if code < 300 && !self.seen.contains(&(method.clone(), path.clone(), code)) {
                        out.push(format!("{method} {path} {code}"));
                    }
                }
            }
        }
        out
    }
}

/// A call through the router, checked against the document.
async fn call(
    app: &App,
    contract: &mut Contract,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let a = app
        .call(method.clone(), path, Some(&app.admin.clone()), body)
        .await;
    contract.check(&method, path, &a);
    a
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = App::new(Db::Sqlite).await;
    let a = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let file = app._dir.path().join("openapi.json");
    std::fs::write(&file, &a.text).unwrap();
    let out = Command::new(pytools().join("bin/openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every parameter and body is described, with the bounds the server
    // enforces.
    let doc = &a.json;
    let list = &doc["paths"]["/api/v1/connections"]["get"]["parameters"];
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 500, "{limit}");
    let every = &doc["components"]["schemas"]["Schedule"];
    assert!(every.to_string().contains("31622400"), "{every}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_body_matches_what_the_handler_returns() {
    let app = App::new(Db::Sqlite).await;
    let mut c = Contract::load(&app).await;
    let c = &mut c;
    let openapi = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    c.check(&Method::GET, "/api/v1/openapi.json", &openapi);

    // Connectors.
    for g in ["http-json", "hooks", "oauth-api"] {
        let a = app
            .raw(
                Method::POST,
                "/api/v1/connectors",
                Some(&app.admin.clone()),
                "application/wasm",
                guest(g),
            )
            .await;
        c.check(&Method::POST, "/api/v1/connectors", &a);
    }
    // The same bytes again, now signed (by a key this server does not
    // know: taken, and shown as such).
    let component = guest("http-json");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&component));
    let (key, _) = wharf::model::signature::SigningKey::generate().unwrap();
    let signature = key.sign(&digest, "http-json", "0.1.0").to_text();
    let again = app.upload_signed(component, &signature).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["signature"]["status"], "unknown-publisher");
    c.check(&Method::POST, "/api/v1/connectors", &again);
    call(&app, c, Method::GET, "/api/v1/connectors", None).await;
    call(&app, c, Method::GET, "/api/v1/connectors/hooks/0.1.0", None).await;
    let download = app
        .get("/api/v1/connectors/http-json/0.1.0/component")
        .await;
    c.check(
        &Method::GET,
        "/api/v1/connectors/http-json/0.1.0/component",
        &download,
    );
    let sig = app
        .get("/api/v1/connectors/http-json/0.1.0/signature")
        .await;
    assert_eq!(sig.text, signature);
    c.check(
        &Method::GET,
        "/api/v1/connectors/http-json/0.1.0/signature",
        &sig,
    );

    // Connections, against a loopback upstream.
    let up = Upstream::start(Router::new().route(
        "/api/items",
        axum::routing::get(|| async { axum::Json(json!([{"id": 1, "name": "one"}])) }),
    ))
    .await;
    let config =
        json!({"base_url": up.url("/api"), "streams": {"items": {"path": "/items", "key": "id"}}});
    let a = call(&app, c, Method::POST, "/api/v1/connections", Some(json!({"name": "shop", "connector": "http-json@0.1.0", "config": config, "grants": {"networks": ["127.0.0.0/8"]}}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let shop = a.json["id"].as_str().unwrap().to_string();
    call(&app, c, Method::GET, "/api/v1/connections?limit=5", None).await;
    call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/connections/{shop}"),
        None,
    )
    .await;
    let a = call(
        &app,
        c,
        Method::PATCH,
        &format!("/api/v1/connections/{shop}"),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/connections/{shop}/check"),
        None,
    )
    .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    // What it offers: asked of the connector.
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/connections/{shop}/discover"),
        None,
    )
    .await;
    assert_eq!(a.json["from"], "discover", "{}", a.text);
    assert_eq!(a.json["streams"][0]["name"], "items");
    assert_eq!(a.json["streams"][0]["key_field"], "id", "{}", a.text);

    // A sync into the records store, a run, its logs and rejections.
    let a = call(
        &app,
        c,
        Method::POST,
        "/api/v1/syncs",
        Some(json!({"name": "products", "source": shop, "streams": ["items"]})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let sync = a.json["id"].as_str().unwrap().to_string();
    call(&app, c, Method::GET, "/api/v1/syncs", None).await;
    call(&app, c, Method::GET, &format!("/api/v1/syncs/{sync}"), None).await;
    call(
        &app,
        c,
        Method::PATCH,
        &format!("/api/v1/syncs/{sync}"),
        Some(json!({"schedule": {"every": 3600}, "enabled": false})),
    )
    .await;
    let runs = format!("/api/v1/syncs/{sync}/runs");
    let first = call(&app, c, Method::POST, &runs, None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let second = call(&app, c, Method::POST, &runs, None).await;
    assert_eq!(second.status, StatusCode::OK, "the queued run again");
    assert_eq!(second.json["id"], first.json["id"]);
    let run = first.json["id"].as_str().unwrap().to_string();
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/runs/{run}/cancel"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let _workers = app.start_workers();
    let a = call(&app, c, Method::POST, &runs, None).await;
    let run = a.json["id"].as_str().unwrap().to_string();
    let done = app.wait_run(&run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // A run that fails keeps its failed calls as a cassette.
    let config = json!({"base_url": up.url("/api"), "streams": {"items": {"path": "/missing", "key": "id"}}});
    let a = call(&app, c, Method::POST, "/api/v1/connections", Some(json!({"name": "gone", "connector": "http-json@0.1.0", "config": config, "grants": {"networks": ["127.0.0.0/8"]}}))).await;
    let gone = a.json["id"].as_str().unwrap().to_string();
    let failing = app
        .sync(json!({"name": "failing", "source": gone, "streams": ["items"]}))
        .await;
    let failed = app.run(&failing).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let failed = failed["id"].as_str().unwrap();
    let a = call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/runs/{failed}/cassette"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["calls"][0]["op"], "fetch", "{}", a.text);
    let a = call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/runs/{run}/cassette"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    // A run with a file (this source ignores it).
    let file_run = app
        .raw(
            Method::POST,
            &format!("{runs}/file?name=rows.csv"),
            Some(&app.admin.clone()),
            "text/csv",
            b"a,b\n1,2\n".to_vec(),
        )
        .await;
    assert_eq!(file_run.status, StatusCode::ACCEPTED, "{}", file_run.text);
    c.check(&Method::POST, &format!("{runs}/file"), &file_run);
    app.wait_run(file_run.json["id"].as_str().unwrap()).await;
    call(&app, c, Method::GET, &runs, None).await;
    call(&app, c, Method::GET, &format!("/api/v1/runs/{run}"), None).await;
    call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/runs/{run}/logs"),
        None,
    )
    .await;
    call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/runs/{run}/errors"),
        None,
    )
    .await;
    let a = call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/syncs/{sync}/records?stream=items"),
        None,
    )
    .await;
    assert_eq!(a.json["items"][0]["key"], "1", "{}", a.text);
    for format in ["json", "csv"] {
        let path = format!("/api/v1/syncs/{sync}/records/export?format={format}");
        let a = app.get(&path).await;
        c.check(&Method::GET, &path, &a);
    }
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/syncs/{sync}/import?stream=items"),
        Some(json!([{"id": 2, "name": "two"}])),
    )
    .await;
    assert_eq!(a.json["imported"], 1, "{}", a.text);

    // Incoming webhooks.
    let (hooked, path) = hook_connection(&app, "shop-hooks", "records").await;
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/connections/{hooked}/webhook"),
        None,
    )
    .await;
    let path_now = a.json["path"].as_str().unwrap().to_string();
    assert_ne!(path, path_now, "rotated");
    call(
        &app,
        c,
        Method::POST,
        "/api/v1/syncs",
        Some(json!({"name": "hooked", "source": hooked, "streams": ["items"]})),
    )
    .await;
    let now = wharf::store::now_ms() / 1000;
    let body = json!({"type": "item.updated", "data": {"id": "A1"}}).to_string();
    for expected in [StatusCode::ACCEPTED, StatusCode::OK] {
        let a = deliver(
            &app,
            &path_now,
            &signed("msg_1", now, &body),
            body.clone().into_bytes(),
        )
        .await;
        assert_eq!(a.status, expected, "{}", a.text);
        c.check(&Method::POST, &path_now, &a);
    }
    call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/connections/{hooked}/deliveries"),
        None,
    )
    .await;
    // A connector without `discover`: its spec's streams.
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/connections/{hooked}/discover"),
        None,
    )
    .await;
    assert_eq!(a.json["from"], "spec", "{}", a.text);
    assert_eq!(a.json["streams"][0]["name"], "items");
    // A handshake by GET (Meta's `hub.challenge`).
    assert_eq!(
        app.upload(guest("hook-handshakes")).await.status,
        StatusCode::CREATED
    );
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "meta", "connector": "hook-handshakes@0.1.0", "config": {},
                   "secrets": {"webhook_secret": "k", "webhook_verify_token": "vt"}}),
        )
        .await;
    let meta = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .post(&format!("/api/v1/connections/{meta}/webhook"), json!(null))
        .await;
    let meta_path = a.json["path"].as_str().unwrap().to_string();
    let a = app
        .raw_with(
            Method::GET,
            &format!("{meta_path}?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42"),
            &[],
        )
        .await;
    assert_eq!(a.text, "42");
    c.check(&Method::GET, &meta_path, &a);

    // OAuth2.
    let a = call(
        &app,
        c,
        Method::POST,
        "/api/v1/connections",
        Some(json!({"name": "crm", "connector": "oauth-api@0.1.0",
        "config": {"base_url": "https://api.example.com", "auth_url": "https://auth.example.com"},
        "secrets": {"oauth_client_id": "id", "oauth_client_secret": "secret"}})),
    )
    .await;
    let crm = a.json["id"].as_str().unwrap().to_string();
    call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/connections/{crm}/oauth/start"),
        None,
    )
    .await;
    let a = app
        .call(
            Method::GET,
            "/oauth/callback?code=x&state=unknown",
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    c.check(&Method::GET, "/oauth/callback", &a);
    // The success page needs a real provider: tests/e2e/oauth.rs.
    c.seen.insert(("get".into(), "/oauth/callback".into(), 200));

    // Outgoing webhooks.
    let receiver =
        Upstream::start(Router::new().route("/hook", post(|| async { StatusCode::NO_CONTENT })))
            .await;
    let a = call(&app, c, Method::POST, "/api/v1/webhooks", Some(json!({"url": receiver.url("/hook"), "events": ["run.succeeded"], "networks": ["127.0.0.0/8"]}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let hook = a.json["id"].as_str().unwrap().to_string();
    call(&app, c, Method::GET, "/api/v1/webhooks", None).await;
    call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/webhooks/{hook}"),
        None,
    )
    .await;
    call(
        &app,
        c,
        Method::PATCH,
        &format!("/api/v1/webhooks/{hook}"),
        Some(json!({"events": ["run.failed", "run.succeeded"]})),
    )
    .await;
    call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/webhooks/{hook}/test"),
        None,
    )
    .await;
    let a = call(
        &app,
        c,
        Method::GET,
        &format!("/api/v1/webhooks/{hook}/deliveries"),
        None,
    )
    .await;
    let message = a.json["items"][0]["id"].as_str().unwrap().to_string();
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/webhooks/{hook}/deliveries/{message}/retry"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["status"], "pending");
    let a = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v1/webhooks/{hook}/deliveries/nope/retry"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);

    // Keys and the audit log.
    let a = call(
        &app,
        c,
        Method::POST,
        "/api/v1/api-keys",
        Some(json!({"name": "dashboard", "scope": "read"})),
    )
    .await;
    let key = a.json["id"].as_str().unwrap().to_string();
    call(&app, c, Method::GET, "/api/v1/api-keys", None).await;
    call(&app, c, Method::GET, "/api/v1/me", None).await;
    call(
        &app,
        c,
        Method::DELETE,
        "/api/v1/people/u-nobody/sessions",
        None,
    )
    .await;
    call(&app, c, Method::GET, "/api/v1/audit?limit=3", None).await;
    let a = call(
        &app,
        c,
        Method::GET,
        "/api/v1/audit?action=webhook.&limit=50",
        None,
    )
    .await;
    let actions: Vec<&str> = a.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        !actions.is_empty() && actions.iter().all(|x| x.starts_with("webhook.")),
        "{actions:?}"
    );
    let a = call(&app, c, Method::GET, "/api/v1/overview", None).await;
    assert_eq!(a.json["hours"].as_array().unwrap().len(), 24);

    // Errors: every one a problem document of the documented shape.
    call(&app, c, Method::GET, "/api/v1/syncs/nope", None).await;
    call(&app, c, Method::GET, "/api/v1/syncs?limit=0", None).await;
    call(
        &app,
        c,
        Method::POST,
        "/api/v1/syncs",
        Some(json!({"name": "x"})),
    )
    .await;
    call(
        &app,
        c,
        Method::DELETE,
        &format!("/api/v1/connections/{shop}"),
        None,
    )
    .await;

    // Deletes.
    call(
        &app,
        c,
        Method::DELETE,
        &format!("/api/v1/api-keys/{key}"),
        None,
    )
    .await;
    call(
        &app,
        c,
        Method::DELETE,
        &format!("/api/v1/webhooks/{hook}"),
        None,
    )
    .await;
    call(
        &app,
        c,
        Method::DELETE,
        &format!("/api/v1/syncs/{sync}"),
        None,
    )
    .await;
    for gone in [
        format!("/api/v1/syncs/{failing}"),
        format!("/api/v1/connections/{gone}"),
    ] {
        let a = app
            .call(Method::DELETE, &gone, Some(&app.admin.clone()), None)
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    }
    let a = call(
        &app,
        c,
        Method::DELETE,
        &format!("/api/v1/connections/{shop}"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    let a = call(
        &app,
        c,
        Method::DELETE,
        "/api/v1/connectors/http-json/0.1.0",
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    let metrics = app.get("/metrics").await;
    c.check(&Method::GET, "/metrics", &metrics);

    eprintln!("checked {} documented answers", c.seen.len());
    let unchecked = c.unchecked();
    assert!(
        unchecked.is_empty(),
        "documented answers no request checked: {unchecked:?}"
    );
}

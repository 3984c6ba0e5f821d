//! The REST admin API through the router (`oneshot`), on SQLite and on
//! PostgreSQL: registry, connections, secrets, keys, errors, OpenAPI.
//!
//! It is kept as one file because its tests share one setup and one source
//! of truth: the control-plane scenario runs on both databases, and the
//! docs, scope and OpenAPI tests all read the route table of docs/api.md
//! through `documented_routes`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use wharf::api::RateLimiter;

use crate::api_support::{Answer, App, Db};
use crate::support::{Upstream, guest};

const SECRET: &str = "tok_9f8e7d6c5b4a3210";
const NEW_SECRET: &str = "tok_rotated_0123456789";

/// A component with the same name@version as `bytes` but another digest:
/// a custom section appended at the end is still a valid component.
pub(crate) fn with_custom_section(mut bytes: Vec<u8>) -> Vec<u8> {
    let name = b"wharf-test";
    let payload = b"different bytes";
    let size = 1 + name.len() + payload.len();
    bytes.push(0);
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
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

async fn api_source(token: &'static str) -> Upstream {
    let app = Router::new().route(
        "/api/items",
        get(move |headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth == format!("Bearer {token}") {
                (StatusCode::OK, axum::Json(json!([{"id": 1}])))
            } else {
                // A careless upstream that echoes what it got.
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": format!("bad credentials: {auth}")})),
                )
            }
        }),
    );
    Upstream::start(app).await
}

async fn scenario(db: Db) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = App::new(db).await;
    let mut bodies: Vec<String> = Vec::new();
    let mut keep = |a: &Answer| bodies.push(a.text.clone());

    // Registry.
    let bytes = guest("http-json");
    let a = app.upload(bytes.clone()).await;
    keep(&a);
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["name"], "http-json");
    assert_eq!(a.json["digest"].as_str().unwrap().len(), 64);
    assert_eq!(a.json["spec"]["roles"], json!(["source"]));
    let a = app.upload(bytes.clone()).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "the same digest again: nothing new"
    );
    let a = app.upload(with_custom_section(bytes.clone())).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert!(a.json["detail"].as_str().unwrap().contains("immutable"));
    let a = app.get("/api/v1/connectors").await;
    assert_eq!(a.json["items"].as_array().unwrap().len(), 1);
    let a = app
        .get("/api/v1/connectors/http-json/0.1.0/component")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "application/wasm");

    // A connection with a secret, against a loopback upstream.
    let up = api_source(SECRET).await;
    let config = json!({
        "base_url": up.url("/api"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": {"items": {"path": "/items", "key": "id"}}
    });
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "shop", "connector": "http-json@0.1.0", "config": config,
                   "secrets": {"api_token": SECRET}, "grants": {"networks": ["127.0.0.0/8"]}}),
        )
        .await;
    keep(&a);
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].as_str().unwrap().to_string();
    assert_eq!(a.json["secrets"][0]["name"], "api_token");
    assert_eq!(
        a.json["grants"]["hosts"],
        json!([up.origin()]),
        "hosts default to the spec's"
    );

    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    keep(&a);
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(a.json["status"], "active");

    // Change the secret to a wrong one: the check fails, the connection is in
    // error, and the echoed credential is redacted.
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(&app.admin),
            Some(json!({"secrets": {"api_token": NEW_SECRET}})),
        )
        .await;
    keep(&a);
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = app
        .post(&format!("/api/v1/connections/{id}/check"), json!(null))
        .await;
    keep(&a);
    assert_eq!(a.json["ok"], false);
    assert_eq!(a.json["kind"], "auth");
    assert!(
        a.json["message"].as_str().unwrap().contains("[REDACTED]"),
        "{}",
        a.text
    );
    let a = app.get(&format!("/api/v1/connections/{id}")).await;
    keep(&a);
    assert_eq!(a.json["status"], "error");
    assert!(
        a.json["status_reason"]
            .as_str()
            .unwrap()
            .contains("authentication failed")
    );

    // Omitted secrets are kept; the spec's required secrets cannot go.
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(&app.admin),
            Some(json!({"name": "shop-2"})),
        )
        .await;
    keep(&a);
    assert_eq!(a.json["secrets"][0]["name"], "api_token");
    let a = app
        .call(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(&app.admin),
            Some(json!({"secrets": {"api_token": null}})),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "api_token is optional in http-json: {}",
        a.text
    );
    assert_eq!(a.json["secrets"], json!([]));

    // A connector in use cannot be deleted.
    let a = app
        .call(
            Method::DELETE,
            "/api/v1/connectors/http-json/0.1.0",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["connections"], json!(["shop-2"]));

    // The audit log has every change, by key.
    let a = app.get("/api/v1/audit").await;
    keep(&a);
    let actions: Vec<&str> = a.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "connector.upload",
        "connection.create",
        "connection.update",
        "connection.check",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }

    let a = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = app
        .call(
            Method::DELETE,
            "/api/v1/connectors/http-json/0.1.0",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);

    // No secret value anywhere: answers, logs, or the database.
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    // The capture works (the connector's requests are traced in it, down
    // to the connection), so the absence of the secret below means
    // something.
    assert!(logs.contains("Http::connect"), "logs were captured: {logs}");
    for secret in [SECRET, NEW_SECRET] {
        for b in &bodies {
            assert!(!b.contains(secret), "an answer holds a secret: {b}");
        }
        assert!(!logs.contains(secret), "the log holds a secret");
    }
    assert_database_has_no_clear_secrets(&app, &[SECRET, NEW_SECRET]).await;
}

/// Every text column of every table, plus (for SQLite) the raw file bytes.
async fn assert_database_has_no_clear_secrets(app: &App, secrets: &[&str]) {
    use sqlx::Row;
    let pool = app.state.app.store.pool();
    let mut dump = String::new();
    for table in [
        "connectors",
        "connections",
        "connection_secrets",
        "api_keys",
        "audit_log",
    ] {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(pool)
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                if let Ok(text) = row.try_get::<String, _>(i) {
                    dump.push_str(&text);
                    dump.push('\n');
                }
            }
        }
    }
    if let Some(path) = app
        .url
        .strip_prefix("sqlite://")
        .and_then(|p| p.split('?').next())
    {
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                dump.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    for s in secrets {
        assert!(!dump.contains(s), "the database holds `{s}` in clear");
    }
}

#[tokio::test]
async fn control_plane_on_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn control_plane_on_postgres() {
    scenario(Db::Postgres).await;
}

async fn bad_uploads(db: Db) {
    let app = App::new(db).await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "not wasm",
            b"MZ\x90\x00 an exe".to_vec(),
            StatusCode::BAD_REQUEST,
            "not_wasm",
            "not a WebAssembly file",
        ),
        (
            "core module",
            wat::parse_str("(module)").unwrap(),
            StatusCode::BAD_REQUEST,
            "core_module",
            "core WebAssembly module",
        ),
        (
            "wrong export",
            guest("plain-command"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_export",
            "wasi:cli/run",
        ),
        (
            "other contract",
            guest("future-contract"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_contract",
            "connector@9.0.0",
        ),
        (
            "foreign import",
            guest("foreign-import"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_import",
            "hostile:foreign/raw-socket",
        ),
        (
            "too large",
            vec![0u8; (64 << 20) + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "larger than the limit",
        ),
    ];
    for (what, bytes, status, reason, needle) in cases {
        let a = app.upload(bytes).await;
        assert_eq!(a.status, status, "{what}: {}", a.text);
        assert!(a.is_problem(), "{what}: problem+json");
        if !reason.is_empty() {
            assert_eq!(a.json["reason"], reason, "{what}");
        }
        assert!(a.text.contains(needle), "{what}: {}", a.text);
    }
    let a = app
        .raw(
            Method::POST,
            "/api/v1/connectors",
            Some(&app.admin.clone()),
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.get("/api/v1/connectors").await.json["items"], json!([]));
}

#[tokio::test]
async fn bad_uploads_on_sqlite() {
    bad_uploads(Db::Sqlite).await;
}

#[tokio::test]
async fn bad_uploads_on_postgres() {
    bad_uploads(Db::Postgres).await;
}

#[tokio::test]
async fn requests_are_validated_with_errors_that_name_the_field() {
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    let create = |body: Value| app.post("/api/v1/connections", body);

    let a = create(
        json!({"name": "x", "connector": "http-json@0.1.0", "grants": {"hosts": ["ftp://nope"]}}),
    )
    .await;
    // Against the published schema: each violation names its field.
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert_eq!(
        a.json["errors"][0]["field"], "/grants/hosts/0",
        "{}",
        a.text
    );

    let a = app
        .raw(
            Method::POST,
            "/api/v1/connections",
            Some(&app.admin.clone()),
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.json["detail"].as_str().unwrap().contains("EOF"),
        "{}",
        a.text
    );

    let a = create(json!({"name": "x", "connector": "http-json@0.1.0", "config": {"base_url": 5, "streams": {}}})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let fields: Vec<&str> = a.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"/config/base_url"), "{fields:?}");
    assert!(fields.contains(&"/config/streams"), "{fields:?}");

    let good = json!({"base_url": "https://api.example.com", "streams": {"s": {"path": "/s"}}});
    let a = create(json!({"name": "x", "connector": "http-json@0.1.0", "config": good, "secrets": {"password": "p"}})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json["errors"][0]["field"], "/secrets/password");
    assert!(
        a.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("declares: api_token, api_key")
    );

    let a = create(json!({"name": "x", "connector": "http-json@0.1.0", "config": good, "grants": {"hosts": ["https://evil.example.net"]}})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json["errors"][0]["field"], "/grants/hosts/0");

    // A connector that is not registered is not found, as any missing thing.
    let a = create(json!({"name": "x", "connector": "nope@1.0.0"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.json["detail"].as_str().unwrap().contains("nope@1.0.0"));

    let a = create(json!({"name": "x", "connector": "http-json@0.1.0", "config": good})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = create(json!({"name": "x", "connector": "http-json@0.1.0", "config": good})).await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    let huge = json!({"name": "y", "connector": "http-json@0.1.0", "config": {"pad": "x".repeat(2 << 20)}});
    assert_eq!(create(huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    let a = app.get("/api/v1/nothing-here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.is_problem());
    let a = app.get("/api/v1/connections/does-not-exist").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.is_problem());
}

#[tokio::test]
async fn keys_have_scopes_fail_at_once_when_revoked_and_are_rate_limited() {
    let app = App::new(Db::Sqlite).await;
    let mut keys = std::collections::BTreeMap::new();
    for scope in ["read", "run", "write"] {
        let a = app
            .post(
                "/api/v1/api-keys",
                json!({"name": format!("{scope} key"), "scope": scope}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        assert!(a.json["key"].as_str().unwrap().starts_with("wharf_"));
        keys.insert(
            scope,
            (
                a.json["key"].as_str().unwrap().to_string(),
                a.json["id"].as_str().unwrap().to_string(),
            ),
        );
    }
    let key = |s: &str| keys[s].0.clone();
    let list = app.get("/api/v1/api-keys").await;
    assert!(!list.text.contains(&key("read")), "keys are never listed");

    let a = app
        .call(Method::GET, "/api/v1/connections", Some(&key("read")), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = app
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(&key("read")),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("needs `operator`")
    );
    let a = app
        .call(
            Method::POST,
            "/api/v1/connections/x/check",
            Some(&key("run")),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "run may check");
    let a = app
        .call(Method::GET, "/api/v1/audit", Some(&key("write")), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = app
        .call(Method::GET, "/api/v1/connections", None, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    let a = app
        .call(
            Method::GET,
            "/api/v1/connections",
            Some("wharf_00000000_guess"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let revoke = format!("/api/v1/api-keys/{}", keys["read"].1);
    assert_eq!(
        app.call(Method::DELETE, &revoke, Some(&app.admin), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let a = app
        .call(Method::GET, "/api/v1/connections", Some(&key("read")), None)
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "revoked keys fail at once"
    );

    let limited = App::with_limiter(Db::Sqlite, RateLimiter::new(0.5, 3.0)).await;
    for _ in 0..3 {
        assert_eq!(
            limited.get("/api/v1/connections").await.status,
            StatusCode::OK
        );
    }
    let a = limited.get("/api/v1/connections").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers["retry-after"], "2");
    assert!(a.is_problem());
}

/// The route table of docs/api.md (between its `<!-- routes -->` markers):
/// (method, path, scope).
fn documented_routes() -> (String, Vec<(Method, String, String)>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let table = doc
        .split("<!-- routes -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /routes -->").next())
        .expect("docs/api.md has a <!-- routes --> table")
        .to_string();
    let rows = table
        .lines()
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            (
                cells[0].parse::<Method>().unwrap(),
                cells[1].trim_matches('`').to_string(),
                cells[2].to_string(),
            )
        })
        .collect();
    (table, rows)
}

#[tokio::test]
async fn docs_api_md_lists_every_route_with_its_scope() {
    let (table, _) = documented_routes();
    let expected = wharf::api::route_table_markdown(&wharf::api::routes());
    if table != expected && std::env::var_os("WHARF_UPDATE_DOCS").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (head, rest) = doc.split_once("<!-- routes -->\n").unwrap();
        let (_, tail) = rest.split_once("<!-- /routes -->").unwrap();
        std::fs::write(
            &path,
            format!("{head}<!-- routes -->\n{expected}<!-- /routes -->{tail}"),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        table, expected,
        "docs/api.md's route table differs from the router's; run this test with WHARF_UPDATE_DOCS=1 to rewrite it"
    );
}

/// Every route × every scope, from the documented table: a key whose scope
/// is below the route's gets 403, one at or above it gets past the check
/// (whatever the handler then says about the fake ids), and no key gets 401.
#[tokio::test]
async fn every_route_enforces_its_documented_scope() {
    let app = App::new(Db::Sqlite).await;
    let order = ["read", "run", "operator", "write", "admin"];
    let mut keys = std::collections::BTreeMap::new();
    for scope in order {
        let key = if scope == "admin" {
            app.admin.clone()
        } else {
            app.post("/api/v1/api-keys", json!({"name": scope, "scope": scope}))
                .await
                .json["key"]
                .as_str()
                .unwrap()
                .to_string()
        };
        keys.insert(scope, key);
    }
    let (_, routes) = documented_routes();
    let mut checked = 0;
    for (method, path, needed) in routes {
        let concrete = path
            .replace("{name}", "no-such")
            .replace("{version}", "0.0.0")
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{connection}", "00000000-0000-0000-0000-000000000000")
            .replace("{token}", "t")
            .replace("{subject}", "nobody");
        let body = (method == Method::POST || method == Method::PATCH).then(|| json!({}));
        if needed == "none" {
            // Public routes never ask for a key.
            let a = app
                .call(method.clone(), &concrete, None, body.clone())
                .await;
            assert!(
                a.status != StatusCode::UNAUTHORIZED && a.status != StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                a.status
            );
            continue;
        }
        let rank = |s: &str| order.iter().position(|o| *o == s).unwrap();
        let a = app
            .call(method.clone(), &concrete, None, body.clone())
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        for scope in order {
            let a = app
                .call(method.clone(), &concrete, Some(&keys[scope]), body.clone())
                .await;
            if rank(scope) < rank(&needed) {
                assert_eq!(
                    a.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} with a {scope} key: {}",
                    a.text
                );
                assert!(a.is_problem());
            } else {
                assert!(
                    a.status != StatusCode::FORBIDDEN && a.status != StatusCode::UNAUTHORIZED,
                    "{method} {path} with a {scope} key: {} {}",
                    a.status,
                    a.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 150, "{checked} route × scope pairs");
}

#[tokio::test]
async fn the_openapi_document_covers_every_documented_route() {
    let app = App::new(Db::Sqlite).await;
    let a = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["openapi"], "3.1.0");
    let (_, routes) = documented_routes();
    let mut operations = 0;
    for (method, path, scope) in &routes {
        let op = &a.json["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} is in the OpenAPI document");
        if scope != "none" {
            for status in ["401", "403", "429", "500"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
        }
        operations += 1;
    }
    // Nothing in the document that the docs do not list.
    let documented: usize = a.json["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented, operations,
        "the document has operations the docs do not list"
    );
}

#[tokio::test]
async fn rotate_secrets_reencrypts_everything_and_can_run_again() {
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    let config = json!({"base_url": "https://api.example.com", "streams": {"s": {"path": "/s"}}});
    for n in 0..3 {
        let a = app
            .post("/api/v1/connections", json!({"name": format!("c{n}"), "connector": "http-json@0.1.0", "config": config, "secrets": {"api_token": format!("value-{n}"), "api_key": "k-123456"}}))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    }
    let tokens = app.state.app.store.sealed_values().await.unwrap();
    assert_eq!(tokens.len(), 6);
    let values: Vec<String> = tokens
        .iter()
        .map(|t| {
            app.state
                .app
                .vault
                .decrypt(&t.token)
                .unwrap()
                .expose()
                .to_string()
        })
        .collect();
    let new_key = fernet::Fernet::generate_key();
    let both = wharf::vault::Vault::from_keys(&format!("{new_key},{}", app.secret_key)).unwrap();
    let (rotated, current) = wharf::server::rotate_secrets(&app.state.app.store, &both)
        .await
        .unwrap();
    assert_eq!((rotated, current), (6, 0));
    let (rotated, current) = wharf::server::rotate_secrets(&app.state.app.store, &both)
        .await
        .unwrap();
    assert_eq!((rotated, current), (0, 6), "a second run has nothing to do");

    let only_new = wharf::vault::Vault::from_keys(&new_key).unwrap();
    let after: Vec<String> = app
        .state
        .app
        .store
        .sealed_values()
        .await
        .unwrap()
        .iter()
        .map(|t| only_new.decrypt(&t.token).unwrap().expose().to_string())
        .collect();
    assert_eq!(after, values);
}

#[tokio::test]
async fn a_tampered_secret_fails_closed() {
    let app = App::new(Db::Sqlite).await;
    assert_eq!(
        app.upload(guest("http-json")).await.status,
        StatusCode::CREATED
    );
    let config = json!({"base_url": "https://api.example.com", "streams": {"s": {"path": "/s"}}});
    for name in ["intact", "tampered"] {
        let a = app
            .post("/api/v1/connections", json!({"name": name, "connector": "http-json@0.1.0", "config": config, "secrets": {"api_token": "value-123456"}}))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    }
    let list = app.get("/api/v1/connections").await;
    let id = |name: &str| {
        list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let t = app
        .state
        .app
        .store
        .sealed_values()
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.key[0] == id("tampered"))
        .unwrap();
    let mut bad = t.token.clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    assert!(
        app.state
            .app
            .store
            .replace_sealed(&t, &String::from_utf8(bad).unwrap())
            .await
            .unwrap()
    );

    let a = app
        .post(
            &format!("/api/v1/connections/{}/check", id("tampered")),
            json!(null),
        )
        .await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be decrypted"),
        "{}",
        a.text
    );
    // The intact one is unaffected (its check runs; example.com is not reachable here).
    let a = app
        .post(
            &format!("/api/v1/connections/{}/check", id("intact")),
            json!(null),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
}

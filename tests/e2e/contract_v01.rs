//! A component built against contract 0.1 keeps working unchanged on a host
//! that speaks 0.2: the `http-json` fixture in `tests/fixtures/`, built at
//! the last 0.1 commit and never rebuilt, is uploaded, checked and synced
//! through the API, with a secret placeholder substituted by the host.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::json;

use crate::api_support::{App, Db};
use crate::support::Upstream;

const FIXTURE: &[u8] = include_bytes!("../fixtures/http-json-0.1.0.wasm");
const TOKEN: &str = "tok-0.1-\"quoted\"/slash";

#[tokio::test]
async fn a_0_1_component_uploads_checks_and_syncs_unchanged() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let up = Upstream::start(Router::new().route(
        "/api/items",
        get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers["authorization"].to_str().unwrap().to_string();
                log.lock().unwrap().push(auth);
                axum::Json(json!([{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]))
            }
        }),
    ))
    .await;

    let a = app.upload(FIXTURE.to_vec()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["name"], "http-json");
    assert_eq!(a.json["spec"]["contract"], "0.1.0", "{}", a.text);

    let conn = app
        .connection(
            "legacy",
            "http-json@0.1.0",
            json!({
                "base_url": up.url("/api"),
                "headers": {"Authorization": "Bearer {{secret:api_token}}"},
                "streams": {"items": {"path": "/items", "key": "id"}}
            }),
            json!({"api_token": TOKEN}),
        )
        .await;
    let a = app
        .post(&format!("/api/v1/connections/{conn}/check"), json!(null))
        .await;
    assert_eq!(a.json["ok"], true, "{}", a.text);

    let sync = app
        .sync(json!({"name": "legacy", "source": conn, "streams": ["items"]}))
        .await;
    let done = app.run(&sync).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records/export?stream=items&format=json"
        ))
        .await;
    let names: Vec<&str> = a
        .text
        .matches("\"one\"")
        .chain(a.text.matches("\"two\""))
        .collect();
    assert_eq!(names.len(), 2, "{}", a.text);
    // The host put the secret in, as it stands in a header, on every call.
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(|a| a == &format!("Bearer {TOKEN}")),
        "{seen:?}"
    );
}

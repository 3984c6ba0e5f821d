//! `docs/connector-guide.md` stays true: its listing is `guests/todos`,
//! which builds (with the other guests) and works through `wharf dev`.

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use crate::support::{Upstream, guest_path};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_guide_listing_is_the_example_crate() {
    let guide = std::fs::read_to_string(root().join("docs/connector-guide.md")).unwrap();
    let after = guide
        .split("`src/lib.rs`:\n\n```rust\n")
        .nth(1)
        .expect("the lib.rs listing");
    let listing = after.split("\n```").next().unwrap();
    let source = std::fs::read_to_string(root().join("guests/todos/src/lib.rs")).unwrap();
    assert_eq!(
        listing.trim_end(),
        source.trim_end(),
        "docs/connector-guide.md and guests/todos/src/lib.rs differ"
    );
}

/// The Python and JavaScript listings are the connectors the suite builds
/// and runs (`languages.rs`).
#[test]
fn the_guide_listings_in_python_and_javascript_are_the_example_connectors() {
    let guide = std::fs::read_to_string(root().join("docs/connector-guide.md")).unwrap();
    for (file, fence) in [
        ("guests/python-json/app.py", "python"),
        ("guests/js-json/connector.js", "js"),
    ] {
        let marker = format!("`{file}`:\n\n```{fence}\n");
        let after = guide
            .split(marker.as_str())
            .nth(1)
            .unwrap_or_else(|| panic!("the listing of {file}"));
        let listing = after.split("\n```\n").next().unwrap();
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        assert_eq!(
            listing.trim_end(),
            source.trim_end(),
            "docs/connector-guide.md and {file} differ"
        );
    }
}

/// An excerpt in the guide is a part of its file, as it is.
#[test]
fn the_guide_excerpts_are_in_their_files() {
    let guide = std::fs::read_to_string(root().join("docs/connector-guide.md")).unwrap();
    let file = "guests/js-fetch/connector.js";
    let marker = format!("`{file}` (excerpt):\n\n```js\n");
    let after = guide
        .split(marker.as_str())
        .nth(1)
        .unwrap_or_else(|| panic!("the excerpt of {file}"));
    let excerpt = after.split("\n```\n").next().unwrap();
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    assert!(
        source.contains(excerpt),
        "the excerpt of {file} in docs/connector-guide.md is not in the file"
    );
}

#[derive(serde::Deserialize)]
struct Page {
    page: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_example_fetches_through_wharf_dev() {
    let app = Router::new().route(
        "/todos",
        get(|headers: HeaderMap, Query(p): Query<Page>| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok())
                != Some("Bearer todo-secret-1")
            {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "no"})));
            }
            let todos: Vec<Value> = (1..=5)
                .filter(|i| (i - 1) / 2 + 1 == p.page)
                .map(|i| json!({"id": i, "title": format!("todo {i}"), "done": i % 2 == 0}))
                .collect();
            (StatusCode::OK, axum::Json(Value::Array(todos)))
        }),
    );
    let up = Upstream::start(app).await;
    let config = json!({"base_url": up.origin()}).to_string();
    let wasm = guest_path("todos").display().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args([
            "dev", "fetch", &wasm, "--config", &config, "--stream", "todos",
        ])
        .args([
            "--secret",
            "api_token=todo-secret-1",
            "--allow-network",
            "127.0.0.0/8",
        ])
        .env("XDG_CACHE_HOME", tempfile::tempdir().unwrap().path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(keys, ["1", "2", "3", "4", "5"]);
    assert!(stderr.contains("[info guest] page 1: 2 todos"), "{stderr}");
    assert!(stderr.contains("fetched 5 records in 4 pages"), "{stderr}");
}

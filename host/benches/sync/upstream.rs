//! The loopback upstream the sync benchmarks read from and push to: pages
//! of ~1 KiB JSON records made on request (so a million records need no
//! memory), with a per-request latency to stand for a real API's, and a
//! batch endpoint that accepts anything.
//!
//! `GET /items/{pages}/{per_page}/{latency_ms}?page=N` (from 1) answers
//! `{"data": [...]}`; past the last page, an empty list. Lists of up to
//! 50,000 records are made once and kept.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
struct PageQuery {
    page: Option<usize>,
}

/// Record `i`: about 1 KiB of JSON, as an API of products would send.
pub fn record(i: usize) -> Value {
    const FILLER: &str = "lorem ipsum dolor sit amet ";
    json!({"id": i, "name": format!("Item {i}"), "description": &FILLER.repeat(32)[..850],
           "price": {"amount": format!("{}.99", i % 500), "currency": "EUR"},
           "status": if i.is_multiple_of(10) { "archived" } else { "active" }, "tags": ["alpha", "beta", "gamma"],
           "updated_at": format!("2024-05-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60)})
}

/// Page `page` (from 1) of `pages` pages of `per_page` records.
pub fn page(pages: usize, per_page: usize, page: usize) -> String {
    let records: Vec<Value> = if (1..=pages).contains(&page) {
        ((page - 1) * per_page + 1..=page * per_page)
            .map(record)
            .collect()
    } else {
        Vec::new()
    };
    json!({ "data": records }).to_string()
}

/// [`page`], made once for lists of up to 50,000 records (50 MB), so
/// that the upstream, which shares the 2 cores with what is measured,
/// costs what a real server's answer costs the client: a copy.
fn cached_page(pages: usize, per_page: usize, n: usize) -> String {
    type Pages = std::collections::HashMap<(usize, usize, usize), String>;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<Pages>> =
        std::sync::LazyLock::new(Default::default);
    if pages * per_page > 50_000 {
        return page(pages, per_page, n);
    }
    CACHE
        .lock()
        .unwrap()
        .entry((pages, per_page, n))
        .or_insert_with(|| page(pages, per_page, n))
        .clone()
}

/// Start the upstream; its origin (`http://127.0.0.1:port`).
pub async fn start() -> String {
    let app = Router::new()
        .route(
            "/items/{pages}/{per_page}/{latency}",
            get(
                |Path((pages, per_page, latency)): Path<(usize, usize, u64)>,
                 Query(q): Query<PageQuery>| async move {
                    if latency > 0 {
                        tokio::time::sleep(Duration::from_millis(latency)).await;
                    }
                    let body = cached_page(pages, per_page, q.page.unwrap_or(1));
                    ([("content-type", "application/json")], body)
                },
            ),
        )
        .route(
            "/batch",
            post(|| async { (axum::http::StatusCode::OK, "{}") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The records of the page at `url` (under `/data`), as a native client
/// reads them: the body parsed into values.
pub async fn native_page(client: &reqwest::Client, url: &str) -> Vec<Value> {
    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
    let mut page: Value = serde_json::from_slice(&body).unwrap();
    std::mem::take(page["data"].as_array_mut().unwrap())
}

/// The native baseline: a Rust client fetching the same pages and
/// parsing each into records, doing nothing else.
#[allow(dead_code)] // the sandbox benchmark has a baseline of its own
pub async fn native_fetch(origin: &str, pages: usize, per_page: usize) -> usize {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut records = 0;
    for n in 1.. {
        let items = native_page(
            &client,
            &format!("{origin}/items/{pages}/{per_page}/0?page={n}"),
        )
        .await;
        if items.is_empty() {
            break;
        }
        records += items.len();
        std::hint::black_box(items);
    }
    records
}

//! Rate budgets hold across nodes: two nodes on one database (PostgreSQL,
//! and SQLite shared by two pools),
//! two sessions each of one connection (whose spec allows 5 requests per
//! hour and 2 at once to its API), all sending at the same time. The API
//! sees exactly 5 requests, never more than 2 at once; the calls that
//! would pass it fail with the budget named. And the window slides: a
//! burst across a window's boundary gets the budget once, not twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;
use wharf::app::App as WharfApp;
use wharf::registry::Registry;
use wharf::store::Store;
use wharf::vault::Vault;

use crate::api_support::{App, Db, engine_options};
use crate::support::{Upstream, guest, runtime};

#[derive(Default)]
struct Seen {
    now: AtomicUsize,
    most: AtomicUsize,
    total: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_holds_across_two_nodes_on_postgres() {
    budget_across_nodes(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_holds_across_two_nodes_on_sqlite() {
    budget_across_nodes(Db::Sqlite).await;
}

async fn budget_across_nodes(db: Db) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let up = Upstream::start(Router::new().route(
        "/api",
        get(move || {
            let s = s.clone();
            async move {
                let n = s.now.fetch_add(1, Ordering::SeqCst) + 1;
                s.most.fetch_max(n, Ordering::SeqCst);
                s.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                s.now.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }
        }),
    ))
    .await;
    let a = App::new(db).await;
    assert_eq!(
        a.upload(guest("hostile")).await.status,
        axum::http::StatusCode::CREATED
    );
    let id = a
        .connection(
            "budgeted",
            "hostile@0.1.0",
            json!({"attack": "requests", "n": 3, "url": up.url("/api"), "budget_url": up.origin()}),
            json!({}),
        )
        .await;
    // A second node: its own store pool, registry and name, the same data.
    let store = Store::open(&a.url).await.unwrap();
    let vault = Arc::new(Vault::from_keys(&a.secret_key).unwrap());
    let registry = Arc::new(Registry::new(store.clone(), runtime()));
    let b = WharfApp::new(store, registry, vault, engine_options());
    assert_ne!(a.state.app.node, b.node);

    let row = a.state.app.store.connection(&id).await.unwrap().unwrap();
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for node in [
        a.state.app.clone(),
        a.state.app.clone(),
        b.clone(),
        b.clone(),
    ] {
        let row = row.clone();
        let refused = refused.clone();
        tasks.push(tokio::spawn(async move {
            let (_, session) = wharf::connections::open(&node, &row).await.unwrap();
            // A refused request fails the call (a guest cannot swallow a
            // refusal); the records of a call that got through count.
            match session.fetch("out", None).await {
                Ok(page) => page.records[0].fields()["requests"].as_u64().unwrap(),
                Err(e) => {
                    refused.lock().unwrap().push(e.to_string());
                    0
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert!(ok <= 5, "{:?}", refused.lock().unwrap());
    assert_eq!(seen.total.load(Ordering::SeqCst), 5);
    let most = seen.most.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} requests at once");
    {
        let refused = refused.lock().unwrap();
        assert!(!refused.is_empty());
        assert!(
            refused
                .iter()
                .all(|e| e.contains("budget of 5 requests per 3600 s")),
            "{refused:?}"
        );
    }

    // The window slides: 2 per second, asked at chosen times. A burst at
    // the end of one second and the start of the next gets 2, not 4.
    let store = &a.state.app.store;
    let slide = |t: i64| store.rate_slide(&id, "http://slide.test", t, 1000, 2);
    assert_eq!(slide(10_900).await.unwrap(), None);
    assert_eq!(slide(10_950).await.unwrap(), None);
    assert_eq!(slide(11_000).await.unwrap(), Some(900), "after a boundary");
    assert_eq!(slide(11_050).await.unwrap(), Some(850));
    // The first leaves the window at 11,900: one more may go.
    assert_eq!(slide(11_901).await.unwrap(), None);
    assert_eq!(slide(11_920).await.unwrap(), Some(30));
    assert_eq!(slide(11_951).await.unwrap(), None);
    // Another host of the connection is counted apart.
    assert_eq!(
        store
            .rate_slide(&id, "http://other.test", 11_951, 1000, 2)
            .await
            .unwrap(),
        None
    );
}

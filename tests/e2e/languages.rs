//! Connectors in Python (componentize-py) and JavaScript (ComponentizeJS),
//! built by the suite with their own toolchains (installed from PyPI and
//! npm into `target/` on first use: `sdk/python/build.py`,
//! `sdk/js/build.mjs`), through the same scenario as the Rust `http-json`:
//! upload, check, a sync into the records store, a host that was not
//! granted refused, and a secret that reaches the upstream through its
//! placeholder but never the connector (nor a log, nor the run's error).

use std::path::PathBuf;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::api_support::{App, Db};
use crate::fakes::{self, Item};
use crate::support::guest;

const TOKEN: &str = "lang-token-8bd2f1";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// One language's connector and how it is built.
pub(crate) struct Guest {
    name: &'static str,
    tool: &'static str,
    script: &'static str,
    source: &'static str,
    /// The component, once built in this test process.
    cell: &'static OnceCell<Vec<u8>>,
    /// Built first: the language's first build installs its toolchain.
    after: Option<&'static Guest>,
}

pub(crate) static PYTHON: Guest = Guest {
    name: "python-json",
    tool: "python3",
    script: "sdk/python/build.py",
    source: "guests/python-json",
    cell: &PYTHON_BUILT,
    after: None,
};

/// The Python twin written with the standard library's `urllib.request`
/// (over wasi:http).
pub(crate) static PYTHON_URLLIB: Guest = Guest {
    name: "python-urllib",
    tool: "python3",
    script: "sdk/python/build.py",
    source: "guests/python-urllib",
    cell: &PYTHON_URLLIB_BUILT,
    after: Some(&PYTHON),
};

pub(crate) static JAVASCRIPT: Guest = Guest {
    name: "js-json",
    tool: "node",
    script: "sdk/js/build.mjs",
    source: "guests/js-json/connector.js",
    cell: &JAVASCRIPT_BUILT,
    after: None,
};

/// The JavaScript twin written with the platform `fetch()` (wasi:http).
pub(crate) static JAVASCRIPT_FETCH: Guest = Guest {
    name: "js-fetch",
    tool: "node",
    script: "sdk/js/build.mjs",
    source: "guests/js-fetch/connector.js",
    cell: &JAVASCRIPT_FETCH_BUILT,
    after: Some(&JAVASCRIPT),
};

/// Attacks on the HTTP capability through `fetch()` (`wasi_http.rs`).
pub(crate) static JAVASCRIPT_HOSTILE: Guest = Guest {
    name: "js-hostile",
    tool: "node",
    script: "sdk/js/build.mjs",
    source: "guests/js-hostile/connector.js",
    cell: &JAVASCRIPT_HOSTILE_BUILT,
    after: Some(&JAVASCRIPT),
};

static PYTHON_BUILT: OnceCell<Vec<u8>> = OnceCell::const_new();
static PYTHON_URLLIB_BUILT: OnceCell<Vec<u8>> = OnceCell::const_new();
static JAVASCRIPT_BUILT: OnceCell<Vec<u8>> = OnceCell::const_new();
static JAVASCRIPT_FETCH_BUILT: OnceCell<Vec<u8>> = OnceCell::const_new();
static JAVASCRIPT_HOSTILE_BUILT: OnceCell<Vec<u8>> = OnceCell::const_new();

/// Build `g` (once per test process; the build script itself skips an
/// up-to-date component) and give its bytes. The first build installs the
/// language's toolchain into target/: tests that build other projects in
/// that language call this first, so no two installs race.
pub(crate) async fn built(g: &'static Guest) -> Vec<u8> {
    if let Some(first) = g.after {
        build_once(first).await;
    }
    build_once(g).await.clone()
}

async fn build_once(g: &'static Guest) -> &'static Vec<u8> {
    g.cell
        .get_or_init(|| async move {
            let out = PathBuf::from(env!("WHARF_CONNECTORS_DIR")).join(format!("{}.wasm", g.name));
            let started = Instant::now();
            let status = tokio::process::Command::new(g.tool)
                .arg(root().join(g.script))
                .arg(root().join(g.source))
                .arg(&out)
                .status()
                .await
                .unwrap_or_else(|e| panic!("{} is needed to build {}: {e}", g.tool, g.name));
            assert!(status.success(), "building {} failed", g.name);
            eprintln!(
                "{} built in {:.1} s ({} bytes)",
                g.name,
                started.elapsed().as_secs_f64(),
                std::fs::metadata(&out).unwrap().len()
            );
            std::fs::read(&out).unwrap()
        })
        .await
}

fn config(base_url: &str) -> Value {
    json!({
        "base_url": base_url,
        "path": "/page-items",
        "records": "/data",
        "key": "id",
        "page_size": 10,
    })
}

async fn scenario(g: &'static Guest) {
    let bytes = built(g).await;
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    let a = app.upload(bytes).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["name"], g.name, "{}", a.text);
    let connector = format!("{}@0.1.0", g.name);

    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, upstream) = fakes::source(items, Some(TOKEN)).await;
    let good = app
        .connection(
            "good",
            &connector,
            config(&src.url("/api")),
            json!({"api_token": TOKEN}),
        )
        .await;
    let check = app
        .post(&format!("/api/v1/connections/{good}/check"), json!(null))
        .await;
    assert_eq!(check.json["ok"], true, "{}", check.text);

    // A sync into the records store: every page, every record, keyed.
    let sync = app
        .sync(json!({"name": "items", "source": good, "streams": ["items"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["fetched"], 25, "{run}");
    assert_eq!(run["counters"]["created"], 25, "{run}");
    let stored = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records?stream=items&limit=100"
        ))
        .await;
    let keys: Vec<&str> = stored.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 25, "{}", stored.text);
    assert!(keys.contains(&"25"), "{keys:?}");
    // The upstream got the token (it answered), through the placeholder.
    assert_eq!(upstream.lock().unwrap().requests.len(), 1 + 3);
    let logs = app
        .get(&format!(
            "/api/v1/runs/{}/logs",
            run["id"].as_str().unwrap()
        ))
        .await;
    assert!(!logs.text.contains(TOKEN), "{}", logs.text);

    // The wrong token: the upstream refuses it and echoes what it was
    // shown; the connector gets that answer redacted, so neither the run's
    // error nor its log holds the secret.
    let (strict, _) = fakes::source(Vec::new(), Some("another-token")).await;
    let wrong = app
        .connection(
            "wrong",
            &connector,
            config(&strict.url("/api")),
            json!({"api_token": TOKEN}),
        )
        .await;
    let sync = app
        .sync(json!({"name": "refused", "source": wrong, "streams": ["items"]}))
        .await;
    let run = app.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    let id = run["id"].as_str().unwrap();
    let logs = app.get(&format!("/api/v1/runs/{id}/logs")).await;
    assert!(
        !run.to_string().contains(TOKEN) && !logs.text.contains(TOKEN),
        "{run} {}",
        logs.text
    );
    let cassette = app.get(&format!("/api/v1/runs/{id}/cassette")).await;
    assert_eq!(cassette.status, StatusCode::OK, "{}", cassette.text);
    assert!(!cassette.text.contains(TOKEN));
    assert!(
        cassette.text.contains("Bearer {{secret:api_token}}"),
        "{}",
        cassette.text
    );

    // A host that was not granted: refused before anything is sent.
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "ungranted", "connector": connector, "config": config(&src.url("/api")), "secrets": {"api_token": TOKEN}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let ungranted = a.json["id"].as_str().unwrap();
    let asked = upstream.lock().unwrap().requests.len();
    let check = app
        .post(
            &format!("/api/v1/connections/{ungranted}/check"),
            json!(null),
        )
        .await;
    assert_eq!(check.json["ok"], false, "{}", check.text);
    assert!(check.text.contains("blocked network"), "{}", check.text);
    assert_eq!(upstream.lock().unwrap().requests.len(), asked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_connector_passes_the_shared_scenario() {
    scenario(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_connector_passes_the_shared_scenario() {
    scenario(&JAVASCRIPT).await;
}

/// `urllib.request` goes through wasi:http, which the host serves with the
/// same checks as `http.send`: the same scenario holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_connector_using_urllib_passes_the_shared_scenario() {
    scenario(&PYTHON_URLLIB).await;
}

/// `fetch()` goes through wasi:http, which the host serves with the same
/// checks as `http.send`: the same scenario holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_connector_using_fetch_passes_the_shared_scenario() {
    scenario(&JAVASCRIPT_FETCH).await;
}

/// A session of the component `bytes` with `config`, granted the fake at
/// `base_url` on loopback and the API token.
async fn session(
    rt: &wharf::runtime::Runtime,
    bytes: &[u8],
    config: Value,
    base_url: &str,
) -> wharf::runtime::Session {
    let c = rt.load(bytes).await.unwrap();
    wharf::runtime::Session::new(
        rt,
        &c,
        wharf::runtime::SessionOptions {
            config,
            networks: vec!["127.0.0.0/8".parse().unwrap()],
            hosts: c
                .spec()
                .host_patterns(&json!({ "base_url": base_url }))
                .unwrap(),
            secrets: [(
                "api_token".to_string(),
                wharf::model::secret::SecretValue::new(TOKEN.to_string()),
            )]
            .into(),
            ..Default::default()
        },
        |log| log,
    )
    .unwrap()
}

/// The Rust connector of the same shape, through the same scenario's
/// first steps, for comparison in the benchmarks: the three languages (and
/// JavaScript through `fetch()`, Python through `urllib`) agree on the
/// records. Names outside ASCII (two- and three-byte UTF-8, a surrogate pair
/// in JavaScript, escapes) cross each language's string encoding, which
/// `sdk/js/build.mjs` replaces in ComponentizeJS's bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_languages_read_the_same_records() {
    let names = [
        "Élément",
        "✓ done",
        "🚢 at the wharf",
        "埠頭",
        "tab\tquote\"back\\slash",
        "a\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}",
    ];
    let items: Vec<Item> = (1..=25)
        .map(|i| {
            let mut item = Item::new(i, i);
            item.name = format!("{} {i}", names[i as usize % names.len()]);
            item
        })
        .collect();
    let (src, _) = fakes::source(items, Some(TOKEN)).await;
    let rt = crate::support::runtime();
    let mut all = Vec::new();
    for (bytes, config) in [
        (built(&PYTHON).await, config(&src.url("/api"))),
        (built(&JAVASCRIPT).await, config(&src.url("/api"))),
        (built(&JAVASCRIPT_FETCH).await, config(&src.url("/api"))),
        (built(&PYTHON_URLLIB).await, config(&src.url("/api"))),
        (
            guest("http-json"),
            json!({"base_url": src.url("/api"),
                "headers": {"Authorization": "Bearer {{secret:api_token}}"},
                "streams": {"items": {
                "path": "/page-items", "records": "/data", "key": "id",
                "pagination": {"type": "page_number", "size_param": "per_page", "size": 10}}}}),
        ),
    ] {
        let s = session(&rt, &bytes, config, &src.url("/api")).await;
        let mut cursor: Option<String> = None;
        let mut records = Vec::new();
        loop {
            let page = s.fetch("items", cursor.as_deref()).await.unwrap();
            records.extend(page.records.iter().map(|r| {
                (
                    r.key.clone(),
                    serde_json::from_str::<Value>(r.data.get()).unwrap(),
                )
            }));
            cursor = page.cursor.or(cursor);
            if !page.more {
                break;
            }
        }
        all.push(records);
    }
    assert_eq!(all[0].len(), 25);
    let rust = all.last().unwrap();
    assert_eq!(&all[0], rust, "Python and Rust");
    assert_eq!(&all[1], rust, "JavaScript and Rust");
    assert_eq!(&all[2], rust, "JavaScript with fetch() and Rust");
    assert_eq!(&all[3], rust, "Python with urllib and Rust");
}

/// ComponentizeJS's `fetch()` leaves `wasi:http` handles behind at every
/// call (its collector would drop them, and rarely runs): a run's kept
/// instance starts afresh before it holds too many, so a long run does not
/// fill the resource table and trap a few hundred pages in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_connector_serves_a_long_run_of_calls() {
    let items: Vec<Item> = (1..=3).map(|i| Item::new(i, i)).collect();
    let (src, _) = fakes::source(items, Some(TOKEN)).await;
    let rt = crate::support::runtime();
    let bytes = built(&JAVASCRIPT_FETCH).await;
    let s = session(&rt, &bytes, config(&src.url("/api")), &src.url("/api")).await;
    const CALLS: u64 = 700;
    for call in 0..CALLS {
        let page = s
            .fetch("items", None)
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        assert_eq!(page.records.len(), 3);
    }
    let u = s.usage();
    assert_eq!(u.calls, CALLS);
    assert!(
        u.instances <= CALLS / 10,
        "{} instances for {CALLS} calls: kept instances should serve most calls",
        u.instances
    );
}

/// The Python SDK's own unit tests (`sdk/python/tests`): among them the
/// differential test of `items_at`, the raw-record path of `python-json`,
/// against parsing everything with `json.loads`.
#[test]
fn the_python_sdk_unit_tests_pass() {
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "sdk/python/tests", "-v"])
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("test_same_items_as_parsing_everything"),
        "{text}"
    );
}

//! Sync engine benchmarks. `cargo bench -p wharf --bench sync` prints a
//! Markdown table, each goal with its ratio against a baseline measured in
//! the same run; the numbers are kept in `docs/performance.md`.
//! `WHARF_BENCH=one|concurrent|nodes|memory|million|scheduler` runs one part;
//! `store` and `push` run one sync alone (for `perf`).
//!
//! 1. One sync (1 KiB JSON records, 100 per page) from a loopback upstream
//!    through `http-json` into the records store, and into `http-push`
//!    (batched), on SQLite and on PostgreSQL, against a native client
//!    fetching the same pages; the share of time inside connector calls.
//! 2. Concurrent syncs on one node (N = 1, 4, 10), several nodes on one
//!    PostgreSQL, the memory each extra run adds, and the resident memory
//!    of a 1,000,000-record sync over time ([`scale`]).
//! 3. The scheduler with 10,000 syncs due every minute, on SQLite and on
//!    PostgreSQL: schedule lag (p50, p99) and queue claim throughput.

#[path = "sync/scale.rs"]
mod scale;
#[path = "sync/upstream.rs"]
mod upstream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wharf::app::{App, AppOptions};
use wharf::registry::Registry;
use wharf::runtime::{Runtime, RuntimeOptions};
use wharf::store::Store;
use wharf::store::connections::{Grants, NewConnection};
use wharf::store::runs::Trigger;
use wharf::store::syncs::{Mode, RetryPolicy, Schedule, SyncRow};
use wharf::sync::run::{self, Outcome, StopSignal};
use wharf::vault::Vault;

const PAGES: usize = 200;
const PER_PAGE: usize = 100;

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("WHARF_GUESTS_DIR")).join(format!("{}.wasm", name.replace('-', "_"))),
    )
    .expect("guest built by host/build.rs")
}

/// A line of `/proc/self/status` in MiB (`VmHWM:` peak, `VmRSS:` now).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// The database a benchmark runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    fn label(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
        }
    }
}

struct Setup {
    engine: App,
    _dir: tempfile::TempDir,
}

async fn setup(database_url: Option<String>) -> Setup {
    setup_with(database_url, AppOptions::default()).await
}

async fn setup_with(database_url: Option<String>, options: AppOptions) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = match database_url {
        Some(url) => Store::open(&url).await.unwrap(),
        None => Store::open_sqlite_dir(dir.path()).await.unwrap(),
    };
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().join("artifacts")),
        // `WHARF_BENCH_FRESH=1`: every call in a fresh instance, to compare.
        limits: wharf::runtime::Limits {
            fresh_instances: std::env::var_os("WHARF_BENCH_FRESH").is_some(),
            ..Default::default()
        },
        ..RuntimeOptions::default()
    })
    .unwrap();
    let registry = Arc::new(Registry::new(store.clone(), runtime));
    let vault = Arc::new(Vault::from_keys(&fernet::Fernet::generate_key()).unwrap());
    let engine = App::new(store, registry, vault, options);
    Setup { engine, _dir: dir }
}

/// A setup on `db` (a fresh PostgreSQL database each time).
async fn setup_on(db: Db, options: AppOptions) -> Setup {
    let url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(
            fresh_postgres()
                .await
                .expect("PostgreSQL on 127.0.0.1:5432"),
        ),
    };
    setup_with(url, options).await
}

/// An `http-json` source reading `pages` pages of `per_page` records from
/// `origin`, each answered after `latency_ms`.
async fn source(
    e: &App,
    name: &str,
    origin: &str,
    pages: usize,
    per_page: usize,
    latency_ms: u64,
) -> String {
    connection(
        e,
        name,
        "http-json@0.1.0",
        json!({"base_url": origin, "streams": {"items": {"path": format!("/items/{pages}/{per_page}/{latency_ms}"),
            "records": "/data", "key": "id", "pagination": {"type": "page_number", "size": per_page}}}}),
    )
    .await
}

async fn connection(e: &App, name: &str, connector: &str, config: Value) -> String {
    let id = wharf::store::new_id();
    let loopback = Grants {
        hosts: Vec::new(),
        networks: vec!["127.0.0.0/8".parse().unwrap()],
        reveal: Vec::new(),
        tls_ca: None,
        quotas: Default::default(),
    };
    let (cname, version) = connector.split_once('@').unwrap();
    let spec = e
        .store
        .connector(cname, version)
        .await
        .unwrap()
        .unwrap()
        .spec;
    let grants = Grants {
        hosts: spec.host_patterns(&config).unwrap(),
        ..loopback
    };
    e.store
        .insert_connection(&NewConnection {
            id: id.clone(),
            name: name.into(),
            connector: cname.into(),
            version: version.into(),
            config,
            grants,
            secrets: Vec::new(),
        })
        .await
        .unwrap();
    id
}

fn sync_row(
    name: &str,
    source: &str,
    destination: Option<String>,
    schedule: Option<Schedule>,
    next_due_at: Option<i64>,
) -> SyncRow {
    SyncRow {
        id: wharf::store::new_id(),
        name: name.into(),
        source_id: source.into(),
        streams: vec!["items".into()],
        mode: Mode::Full,
        mapper_id: None,
        destination_id: destination,
        schedule,
        enabled: true,
        error_threshold: -1,
        retry: RetryPolicy::default(),
        schemas: BTreeMap::new(),
        limits: Default::default(),
        record_count: 0,
        next_due_at,
        created_at: 0,
        updated_at: 0,
    }
}

struct Row {
    what: String,
    result: String,
    /// Against the baseline of the same run.
    ratio: String,
    goal: &'static str,
}

/// One sync of `PAGES` × `PER_PAGE` records into the records store (or
/// `http-push`), the best of three runs: records/s and the row.
async fn one_sync(db: Db, origin: &str, into_push: bool) -> (f64, Row) {
    let s = setup_on(db, AppOptions::default()).await;
    let e = &s.engine;
    for g in ["http-json", "http-push"] {
        e.registry
            .upload(&guest(g), None, None, None)
            .await
            .unwrap();
    }
    let source = source(e, "source", origin, PAGES, PER_PAGE, 0).await;
    let destination = if into_push {
        Some(connection(e, "dest", "http-push@0.1.0", json!({"url": format!("{origin}/batch"), "batch": {"url": format!("{origin}/batch")}})).await)
    } else {
        None
    };
    let sync = e
        .store
        .insert_sync(&sync_row("bench", &source, destination, None, None))
        .await
        .unwrap();
    // Warm the connectors (compile or read cached artifacts) before timing.
    let _ = e.registry.get("http-json", "0.1.0").await.unwrap();
    let _ = e.registry.get("http-push", "0.1.0").await.unwrap();
    let mut best: Option<(Duration, Duration, Duration)> = None;
    for _ in 0..3 {
        e.store
            .enqueue_run(&sync.id, Trigger::Manual, None, 0, 1)
            .await
            .unwrap()
            .unwrap();
        let run = e.store.claim_run(&e.node, 60_000).await.unwrap().unwrap();
        let started = Instant::now();
        let (outcome, in_calls, in_http) =
            run::execute_timed(e, &run, &StopSignal::default()).await;
        let took = started.elapsed();
        assert!(matches!(outcome, Outcome::Succeeded), "{outcome:?}");
        e.store
            .finish_run(&run.lease().unwrap(), "succeeded", None, None)
            .await
            .unwrap();
        let done = e.store.run(&run.id).await.unwrap().unwrap();
        assert_eq!(done.counters.fetched as usize, PAGES * PER_PAGE);
        if best.is_none_or(|b| took < b.0) {
            best = Some((took, in_calls, in_http));
        }
    }
    let (took, in_calls, in_http) = best.unwrap();
    let rate = (PAGES * PER_PAGE) as f64 / took.as_secs_f64();
    let wasm = in_calls.saturating_sub(in_http);
    let share = |d: Duration| 100.0 * d.as_secs_f64() / took.as_secs_f64();
    let into = if into_push {
        "`http-push` (batched)"
    } else {
        "records store"
    };
    let row = Row {
        what: format!(
            "one sync, {PAGES} × {PER_PAGE} records of 1 KiB, `http-json` → {into}, {}",
            db.label()
        ),
        result: format!(
            "{rate:.0} records/s; connector calls {:.0} % of the time (Wasm and copies {:.0} %, their HTTP {:.0} %); peak RSS {:.0} MiB",
            share(in_calls),
            share(wasm),
            share(in_http),
            peak_rss_mib()
        ),
        ratio: String::new(),
        goal: "",
    };
    (rate, row)
}

/// The syncs of part 1, with their ratios.
async fn syncs(origin: &str) -> Vec<Row> {
    // The native baseline, the best of three.
    let mut native = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let n = upstream::native_fetch(origin, PAGES, PER_PAGE).await;
        assert_eq!(n, PAGES * PER_PAGE);
        native = native.min(started.elapsed().as_secs_f64());
    }
    let native = (PAGES * PER_PAGE) as f64 / native;
    let (sqlite, mut store_row) = one_sync(Db::Sqlite, origin, false).await;
    store_row.ratio = format!(
        "{:.2}× the native client ({native:.0} records/s, fetch and parse only)",
        sqlite / native
    );
    store_row.goal = "≥ 100,000 records/s and ≥ 0.3× native";
    let (_, mut push_row) = one_sync(Db::Sqlite, origin, true).await;
    push_row.goal = "≥ 60,000 records/s";
    let mut rows = vec![store_row, push_row];
    if fresh_postgres().await.is_some() {
        let (postgres, mut pg_row) = one_sync(Db::Postgres, origin, false).await;
        pg_row.ratio = format!("{:.2}× the same sync on SQLite", postgres / sqlite);
        pg_row.goal = "≥ 0.5× SQLite";
        rows.push(pg_row);
    }
    rows
}

fn percentile(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

async fn scheduler(database_url: Option<String>, label: &str) -> Vec<Row> {
    const SYNCS: usize = 10_000;
    let s = setup(database_url).await;
    let e = &s.engine;
    e.registry
        .upload(&guest("hostile"), None, None, None)
        .await
        .unwrap();
    let source = connection(
        e,
        "echo",
        "hostile@0.1.0",
        json!({"attack": "echo", "url": "http://x.example"}),
    )
    .await;
    // Every sync is due at the same minute: the worst case.
    let minute = (wharf::store::now_ms() / 60_000) * 60_000;
    for i in 0..SYNCS {
        e.store
            .insert_sync(&sync_row(
                &format!("s{i:05}"),
                &source,
                None,
                Some(Schedule::Every { every: 60 }),
                Some(minute),
            ))
            .await
            .unwrap();
    }
    // Tick as the scheduler does once the minute has come, and measure how
    // late each run was enqueued after its due time.
    // The tick starts as the minute comes (here: now, for syncs due at the
    // minute that just began); a run's lag is when its row was committed.
    // The scheduler ticks every `AppOptions::tick` (250 ms), which adds
    // up to that much on top in the worst case.
    let t0 = wharf::store::now_ms();
    let started = Instant::now();
    let mut enqueued = 0;
    while enqueued < SYNCS {
        enqueued += wharf::sync::scheduler::tick(e, t0.max(minute))
            .await
            .unwrap();
    }
    let tick_time = started.elapsed();
    let tick_period = AppOptions::default().tick.as_millis() as i64;
    let mut lags: Vec<i64> = all_scheduled_runs(e)
        .await
        .into_iter()
        .map(|created| created - t0 + tick_period)
        .collect();
    let p50 = percentile(&mut lags, 0.50);
    let p99 = percentile(&mut lags, 0.99);
    // Claim throughput: two claimers drain the queue (claim + finish).
    let claim_started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let e = e.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0;
            while let Some(run) = e.store.claim_run(&e.node, 60_000).await.unwrap() {
                e.store
                    .finish_run(&run.lease().unwrap(), "succeeded", None, None)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut claimed = 0;
    for h in handles {
        claimed += h.await.unwrap();
    }
    let claim_time = claim_started.elapsed();
    assert_eq!(claimed, SYNCS);
    vec![
        Row {
            what: format!("scheduler, {SYNCS} syncs due the same minute, {label}"),
            result: format!(
                "all enqueued in {:.2} s; schedule lag (worst-case tick included) p50 {:.2} s, p99 {:.2} s",
                tick_time.as_secs_f64(),
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0
            ),
            ratio: String::new(),
            goal: "lag p99 < 1 s",
        },
        Row {
            what: format!("queue claim + finish, {label}, 2 claimers"),
            result: format!("{:.0} runs/s", claimed as f64 / claim_time.as_secs_f64()),
            ratio: String::new(),
            goal: "(reported)",
        },
    ]
}

async fn all_scheduled_runs(e: &App) -> Vec<i64> {
    use sqlx::Row;
    sqlx::query("SELECT created_at FROM runs WHERE trigger_kind = 'schedule'")
        .fetch_all(e.store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<i64, _>("created_at").unwrap())
        .collect()
}

async fn fresh_postgres() -> Option<String> {
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .ok()?;
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("wharf_bench_{}_{n}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&admin)
        .await
        .ok()?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .ok()?;
    Some(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("WHARF_BENCH").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    let origin = upstream::start().await;
    // Rows are printed as each part ends, so a long run shows progress.
    println!("\n| benchmark | result | ratio | goal |\n| --- | --- | --- | --- |");
    let print = |rows: Vec<Row>| {
        for r in rows {
            println!("| {} | {} | {} | {} |", r.what, r.result, r.ratio, r.goal);
        }
    };
    if part("one") {
        print(syncs(&origin).await);
    }
    // One sync alone, into the records store or `http-push`: for profiles.
    if only == "store" || only == "push" {
        print(vec![one_sync(Db::Sqlite, &origin, only == "push").await.1]);
    }
    if part("concurrent") {
        print(scale::concurrent(&origin).await);
    }
    if part("nodes") {
        print(scale::nodes(&origin).await);
    }
    if part("memory") {
        print(scale::memory(&origin).await);
    }
    if part("million") {
        print(scale::million(&origin).await);
    }
    if part("scheduler") {
        print(scheduler(None, "SQLite").await);
        match fresh_postgres().await {
            Some(url) => print(scheduler(Some(url), "PostgreSQL").await),
            None => eprintln!(
                "PostgreSQL on 127.0.0.1:5432 is not available; skipping its scheduler benchmark"
            ),
        }
    }
}

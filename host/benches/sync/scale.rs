//! Syncs at scale, run as a node runs them (the worker loop claiming from
//! the queue, leases kept): N concurrent syncs on one node against one
//! sync alone, on SQLite and PostgreSQL; three nodes on one PostgreSQL
//! against one; the resident memory each extra concurrent run adds; the
//! resident memory of one 1,000,000-record sync over time.
//!
//! The upstream answers each page after a latency, as a real API does, so
//! that concurrency has something to overlap on 2 cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wharf::app::{App, AppOptions};
use wharf::store::runs::Trigger;

use super::{
    Db, Row, Setup, fresh_postgres, guest, setup_on, setup_with, source, status_mib, sync_row,
};

/// Options of a node that runs `workers` syncs at once.
fn node(workers: usize) -> AppOptions {
    AppOptions {
        workers,
        scheduler: false,
        poll: Duration::from_millis(20),
        ..AppOptions::default()
    }
}

/// `n` syncs, each from a connection of its own, of `pages` × `per_page`
/// records answered after `latency_ms`, into the records store.
async fn syncs(
    e: &App,
    origin: &str,
    n: usize,
    pages: usize,
    per_page: usize,
    latency_ms: u64,
) -> Vec<String> {
    e.registry
        .upload(&guest("http-json"), None, None, None)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let source = source(
            e,
            &format!("source-{i}"),
            origin,
            pages,
            per_page,
            latency_ms,
        )
        .await;
        let sync = e
            .store
            .insert_sync(&sync_row(&format!("sync-{i}"), &source, None, None, None))
            .await
            .unwrap();
        ids.push(sync.id);
    }
    let _ = e.registry.get("http-json", "0.1.0").await.unwrap();
    ids
}

/// Run every sync once on `nodes` (their worker loops claiming from the
/// same queue) and wait until all succeeded: how long it took.
async fn run_all(nodes: &[App], syncs: &[String]) -> Duration {
    let first = &nodes[0];
    let started = Instant::now();
    let mut runs = Vec::new();
    for id in syncs {
        let run = first
            .store
            .enqueue_run(id, Trigger::Manual, None, 0, 1)
            .await
            .unwrap()
            .unwrap();
        runs.push(run.id);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = nodes
        .iter()
        .map(|app| tokio::spawn(wharf::sync::worker::run(app.clone(), stopped.clone())))
        .collect();
    for app in nodes {
        app.wake.notify_waiters();
    }
    for id in &runs {
        loop {
            let run = first.store.run(id).await.unwrap().unwrap();
            match run.status.as_str() {
                // Claimed once: never released because the database was busy.
                "succeeded" => {
                    assert_eq!(run.lease_gen, 1, "run {id} was claimed more than once");
                    break;
                }
                "queued" | "running" => tokio::time::sleep(Duration::from_millis(10)).await,
                other => panic!("run {id} ended {other}: {:?}", run.error),
            }
        }
    }
    let took = started.elapsed();
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    took
}

/// Records/s of `n` concurrent syncs on one node.
async fn on_one_node(db: Db, origin: &str, n: usize) -> f64 {
    const PAGES: usize = 40;
    const PER_PAGE: usize = 100;
    let s = setup_on(db, node(n)).await;
    let ids = syncs(&s.engine, origin, n, PAGES, PER_PAGE, 10).await;
    let took = run_all(std::slice::from_ref(&s.engine), &ids).await;
    (n * PAGES * PER_PAGE) as f64 / took.as_secs_f64()
}

/// N = 1, 4 and 10 concurrent syncs on one node, on both databases.
pub async fn concurrent(origin: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut dbs = vec![Db::Sqlite];
    if fresh_postgres().await.is_some() {
        dbs.push(Db::Postgres);
    }
    for db in dbs {
        let alone = on_one_node(db, origin, 1).await;
        for n in [4, 10] {
            let total = on_one_node(db, origin, n).await;
            rows.push(Row {
                what: format!(
                    "{n} concurrent syncs on one node, {}, 40 pages × 100 records each, 10 ms per page upstream",
                    db.label()
                ),
                result: format!("{total:.0} records/s in total (one sync alone: {alone:.0})"),
                ratio: format!("{:.2}× one sync alone", total / alone),
                goal: "≥ 1× one sync alone",
            });
        }
    }
    rows
}

/// One node against three on one PostgreSQL, 12 syncs, each node running
/// 4 at once, an upstream slow enough (50 ms a page) that the work is
/// waiting, not CPU.
pub async fn nodes(origin: &str) -> Vec<Row> {
    const SYNCS: usize = 12;
    const PAGES: usize = 10;
    const PER_PAGE: usize = 50;
    let Some(url) = fresh_postgres().await else {
        eprintln!("PostgreSQL on 127.0.0.1:5432 is not available; skipping the nodes benchmark");
        return Vec::new();
    };
    let one = setup_with(Some(url.clone()), node(4)).await;
    let ids = syncs(&one.engine, origin, SYNCS, PAGES, PER_PAGE, 50).await;
    let alone = run_all(std::slice::from_ref(&one.engine), &ids).await;
    let mut three: Vec<Setup> = vec![one];
    for _ in 0..2 {
        three.push(setup_with(Some(url.clone()), node(4)).await);
    }
    for s in &three[1..] {
        // Each node has the connector in its own registry.
        let _ = s.engine.registry.get("http-json", "0.1.0").await.unwrap();
    }
    let apps: Vec<App> = three.iter().map(|s| s.engine.clone()).collect();
    let together = run_all(&apps, &ids).await;
    let rate = |d: Duration| (SYNCS * PAGES * PER_PAGE) as f64 / d.as_secs_f64();
    vec![Row {
        what: format!(
            "{SYNCS} syncs ({PAGES} pages × {PER_PAGE} records, 50 ms per page upstream), PostgreSQL: 3 nodes against 1, 4 workers each"
        ),
        result: format!(
            "3 nodes {:.0} records/s, 1 node {:.0} records/s",
            rate(together),
            rate(alone)
        ),
        ratio: format!(
            "{:.2}× one node",
            alone.as_secs_f64() / together.as_secs_f64()
        ),
        goal: "> 1× one node",
    }]
}

/// Resident memory sampled every 20 ms while `work` runs: the highest.
async fn peak_while<F: std::future::Future>(work: F) -> (F::Output, f64) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0f64;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(status_mib("VmRSS:"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let out = work.await;
    done.store(true, Ordering::SeqCst);
    (out, sampler.join().unwrap())
}

/// The resident memory 1, 10 and 50 concurrent syncs add on one node
/// (SQLite), each run holding its sessions and at most two pages.
pub async fn memory(origin: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut measured = Vec::new();
    for n in [1, 10, 50] {
        let s = setup_on(Db::Sqlite, node(n)).await;
        let ids = syncs(&s.engine, origin, n, 20, 100, 20).await;
        let before = status_mib("VmRSS:");
        let (_, peak) = peak_while(run_all(std::slice::from_ref(&s.engine), &ids)).await;
        measured.push((n, before, peak));
    }
    let (_, base_before, base_peak) = measured[0];
    let one = base_peak - base_before;
    for &(n, before, peak) in &measured[1..] {
        let added = (peak - before - one).max(0.0) / (n - 1) as f64;
        rows.push(Row {
            what: format!("resident memory, {n} concurrent syncs on one node (20 pages × 100 records of 1 KiB each, SQLite)"),
            result: format!(
                "{:.1} MiB over the idle node ({before:.0} → {peak:.0} MiB); one sync alone {one:.1} MiB",
                peak - before
            ),
            ratio: format!("{added:.2} MiB per extra run"),
            goal: "≤ 10 MiB per run",
        });
    }
    rows
}

/// One sync of 1,000,000 records of 1 KiB into the records store
/// (SQLite): resident memory every ~10 % of the way. Pages of 200 keep
/// the run within the default budget of 10,000 requests.
pub async fn million(origin: &str) -> Vec<Row> {
    const PAGES: usize = 5_000;
    const PER_PAGE: usize = 200;
    let s = setup_on(Db::Sqlite, node(1)).await;
    let ids = syncs(&s.engine, origin, 1, PAGES, PER_PAGE, 0).await;
    let store = s.engine.store.clone();
    let done = Arc::new(AtomicBool::new(false));
    let curve = {
        let (done, store) = (done.clone(), store.clone());
        let sync = ids[0].clone();
        tokio::spawn(async move {
            let mut points: Vec<(u64, f64, i64)> = Vec::new();
            let started = Instant::now();
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let stored = store
                    .sync(&sync)
                    .await
                    .unwrap()
                    .map_or(0, |s| s.record_count);
                points.push((started.elapsed().as_secs(), status_mib("VmRSS:"), stored));
            }
            points
        })
    };
    let took = run_all(std::slice::from_ref(&s.engine), &ids).await;
    done.store(true, Ordering::SeqCst);
    let points = curve.await.unwrap();
    // About ten points along the way.
    let step = (points.len() / 10).max(1);
    let shown: Vec<String> = points
        .iter()
        .step_by(step)
        .map(|(t, rss, stored)| format!("{t} s: {}k records, {rss:.0} MiB", stored / 1000))
        .collect();
    let rss: Vec<f64> = points.iter().map(|p| p.1).collect();
    let (low, high) = rss
        .iter()
        .skip(rss.len() / 10)
        .fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
    vec![Row {
        what: "one sync of 1,000,000 records of 1 KiB into the records store, SQLite: resident memory over time".into(),
        result: format!(
            "{:.0} records/s; {}",
            (PAGES * PER_PAGE) as f64 / took.as_secs_f64(),
            shown.join("; ")
        ),
        ratio: format!("after the first 10 %: {low:.0}–{high:.0} MiB"),
        goal: "flat",
    }]
}

//! Metrics of this node, as Prometheus text: runs by status, records by
//! outcome, run durations, HTTP requests by connector and status class,
//! what runs used by connector and connection, queue depth and schedule lag.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::model::resources::SideResources;
use crate::store::pages::StoreOutcome;
use crate::store::runs::Counters;

const BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// Most (connector, connection) series kept for run resources; later pairs
/// are added up under `connector="",connection=""`, so a node with
/// thousands of connections does not make a scrape unbounded.
pub const MAX_RESOURCE_SERIES: usize = 500;

/// What runs of one connector on one connection used, added up.
#[derive(Default, Clone, Copy)]
struct Used {
    runs: u64,
    call_ms: u64,
    wasm_ms: u64,
    http_ms: u64,
    bytes_in: u64,
    bytes_out: u64,
    log_bytes: u64,
    peak_memory: u64,
    epoch_ticks: u64,
}

/// Counters of this node since it started.
#[derive(Default)]
pub struct Metrics {
    finished: Mutex<BTreeMap<String, u64>>,
    records: Mutex<BTreeMap<&'static str, u64>>,
    duration_buckets: [AtomicU64; 9],
    duration_count: AtomicU64,
    duration_sum_ms: AtomicU64,
    http: Mutex<BTreeMap<(String, String), u64>>,
    used: Mutex<BTreeMap<(String, String), Used>>,
    lag_last_ms: AtomicI64,
    lag_max_ms: AtomicI64,
}

impl Metrics {
    /// A committed page.
    pub fn page(&self, c: &Counters, stored: &StoreOutcome) {
        let mut r = self.records.lock().expect("metrics lock");
        for (name, v) in [
            ("fetched", c.fetched),
            ("mapped", c.mapped),
            ("pushed", c.pushed),
            ("created", c.created + stored.created),
            ("updated", c.updated + stored.updated),
            ("deleted", c.deleted + stored.deleted),
            ("unchanged", c.unchanged + stored.unchanged),
            ("rejected", c.rejected),
        ] {
            *r.entry(name).or_default() += v.max(0) as u64;
        }
    }

    /// A finished run.
    pub fn run_finished(&self, status: &str, seconds: f64) {
        *self
            .finished
            .lock()
            .expect("metrics lock")
            .entry(status.to_string())
            .or_default() += 1;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_ms
            .fetch_add((seconds * 1000.0) as u64, Ordering::Relaxed);
    }

    /// HTTP requests a connector made, by status class (`2xx`, …, `error`).
    pub fn http(&self, connector: &str, class: &str, n: u64) {
        if n > 0 {
            *self
                .http
                .lock()
                .expect("metrics lock")
                .entry((connector.to_string(), class.to_string()))
                .or_default() += n;
        }
    }

    /// What one side of a finished run used.
    pub fn resources(&self, s: &SideResources) {
        let mut used = self.used.lock().expect("metrics lock");
        let mut key = (s.connector.clone(), s.connection.clone());
        if !used.contains_key(&key) && used.len() >= MAX_RESOURCE_SERIES {
            // Empty labels: no connector or connection can be named so.
            key = (String::new(), String::new());
        }
        let u = used.entry(key).or_default();
        u.runs += 1;
        u.call_ms += s.call_ms;
        u.wasm_ms += s.wasm_ms;
        u.http_ms += s.http_ms;
        u.bytes_in += s.bytes_in;
        u.bytes_out += s.bytes_out;
        u.log_bytes += s.log_bytes;
        u.peak_memory = u.peak_memory.max(s.peak_memory_bytes);
        u.epoch_ticks += s.epoch_ticks;
    }

    /// A due time enqueued `lag_ms` after it was due.
    pub fn schedule_lag(&self, lag_ms: i64) {
        self.lag_last_ms.store(lag_ms, Ordering::Relaxed);
        self.lag_max_ms.fetch_max(lag_ms, Ordering::Relaxed);
    }

    /// Prometheus text, with the queue state read from the database.
    pub fn render(&self, runs_by_status: &[(String, i64)], queued: i64, running: i64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP wharf_runs Runs in the database by status.\n# TYPE wharf_runs gauge"
        );
        for (status, n) in runs_by_status {
            let _ = writeln!(out, "wharf_runs{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP wharf_runs_finished_total Runs this node finished, by outcome.\n# TYPE wharf_runs_finished_total counter"
        );
        for (status, n) in self.finished.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "wharf_runs_finished_total{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP wharf_records_total Records handled by this node, by outcome.\n# TYPE wharf_records_total counter"
        );
        for (outcome, n) in self.records.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "wharf_records_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP wharf_run_duration_seconds Duration of runs this node finished.\n# TYPE wharf_run_duration_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "wharf_run_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.duration_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "wharf_run_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "wharf_run_duration_seconds_sum {}",
            self.duration_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "wharf_run_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP wharf_http_requests_total Requests connectors made, by connector and status class.\n# TYPE wharf_http_requests_total counter"
        );
        for ((connector, class), n) in self.http.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "wharf_http_requests_total{{connector=\"{connector}\",status=\"{class}\"}} {n}"
            );
        }
        self.render_resources(&mut out);
        let _ = writeln!(
            out,
            "# HELP wharf_queue_depth Runs waiting to be claimed.\n# TYPE wharf_queue_depth gauge\nwharf_queue_depth {queued}"
        );
        let _ = writeln!(
            out,
            "# HELP wharf_runs_running Runs being executed.\n# TYPE wharf_runs_running gauge\nwharf_runs_running {running}"
        );
        let _ = writeln!(
            out,
            "# HELP wharf_schedule_lag_seconds How late the last scheduled run was enqueued.\n# TYPE wharf_schedule_lag_seconds gauge\nwharf_schedule_lag_seconds {}",
            self.lag_last_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "# HELP wharf_schedule_lag_max_seconds The largest schedule lag since start.\n# TYPE wharf_schedule_lag_max_seconds gauge\nwharf_schedule_lag_max_seconds {}",
            self.lag_max_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        out
    }

    fn render_resources(&self, out: &mut String) {
        let used = self.used.lock().expect("metrics lock").clone();
        let labels = |(connector, connection): &(String, String)| {
            format!(
                "connector=\"{}\",connection=\"{}\"",
                label(connector),
                label(connection)
            )
        };
        for (name, kind, help, value) in RESOURCE_SERIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (key, u) in &used {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(key), value(u));
            }
        }
        let name = "wharf_connector_http_bytes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Request and response body bytes of connectors' HTTP requests.\n# TYPE {name} counter"
        );
        for (key, u) in &used {
            let l = labels(key);
            let _ = writeln!(out, "{name}{{{l},direction=\"in\"}} {}", u.bytes_in);
            let _ = writeln!(out, "{name}{{{l},direction=\"out\"}} {}", u.bytes_out);
        }
    }
}

/// A label value as the exposition format writes it: `\`, `"` and line
/// feeds escaped (a connection's name may hold quotes).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric of run resources: name, type, help, and its value.
type ResourceSeries = (&'static str, &'static str, &'static str, fn(&Used) -> f64);

const RESOURCE_SERIES: [ResourceSeries; 7] = [
    (
        "wharf_connector_runs_total",
        "counter",
        "Runs (sides of runs) a connector took part in on this node.",
        |u| u.runs as f64,
    ),
    (
        "wharf_connector_call_seconds_total",
        "counter",
        "Time in calls into connectors.",
        |u| u.call_ms as f64 / 1000.0,
    ),
    (
        "wharf_connector_wasm_seconds_total",
        "counter",
        "Time in calls not spent waiting on HTTP: instantiation and the guest's own work.",
        |u| u.wasm_ms as f64 / 1000.0,
    ),
    (
        "wharf_connector_epoch_ticks_total",
        "counter",
        "Epoch ticks (10 ms) in which connectors' own WebAssembly code ran.",
        |u| u.epoch_ticks as f64,
    ),
    (
        "wharf_connector_http_seconds_total",
        "counter",
        "Time connectors' HTTP requests took.",
        |u| u.http_ms as f64 / 1000.0,
    ),
    (
        "wharf_connector_log_bytes_total",
        "counter",
        "Bytes of log lines connectors wrote.",
        |u| u.log_bytes as f64,
    ),
    (
        "wharf_connector_peak_memory_bytes",
        "gauge",
        "The most linear memory one call held, since this node started.",
        |u| u.peak_memory as f64,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_series_are_bounded() {
        let m = Metrics::default();
        for i in 0..MAX_RESOURCE_SERIES + 10 {
            m.resources(&SideResources {
                connector: "c@1".into(),
                connection: format!("conn{i}"),
                call_ms: 1000,
                bytes_in: 5,
                ..Default::default()
            });
        }
        let text = m.render(&[], 0, 0);
        let series = text
            .lines()
            .filter(|l| l.starts_with("wharf_connector_runs_total{"))
            .count();
        assert_eq!(series, MAX_RESOURCE_SERIES + 1);
        assert!(text.contains("wharf_connector_runs_total{connector=\"\",connection=\"\"} 10"));
        assert!(text.contains(
            "wharf_connector_http_bytes_total{connector=\"c@1\",connection=\"conn0\",direction=\"in\"} 5"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.resources(&SideResources {
            connector: "c@1".into(),
            connection: "eu \"prod\" \\ x".into(),
            ..Default::default()
        });
        let text = m.render(&[], 0, 0);
        assert!(
            text.contains(
                r#"wharf_connector_runs_total{connector="c@1",connection="eu \"prod\" \\ x"} 1"#
            ),
            "{text}"
        );
    }
}

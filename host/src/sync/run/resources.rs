//! What a run used, gathered from its sessions when it ends: kept on the
//! run (so the API and the console show it) and added to the node's
//! metrics by connector and connection.

use std::time::Duration;

use super::Run;
use super::open::Opened;
use crate::app::App;
use crate::model::resources::{HostUse, RunResources, SideResources};
use crate::store::runs::Lease;

/// One side's use, as its session counted it.
fn side(o: &Opened) -> SideResources {
    let u = o.session.usage();
    let ms = |d: Duration| d.as_millis() as u64;
    let http_time = Duration::from_nanos(u.http.busy_nanos);
    SideResources {
        side: o.side.name().to_string(),
        connector: format!("{}@{}", o.row.connector, o.row.version),
        connection: o.row.name.clone(),
        calls: u.calls,
        instances: u.instances,
        call_ms: ms(u.call_time),
        // HTTP time is spent inside calls (`http.send` blocks the guest);
        // what is left is instantiation and the guest's own work.
        wasm_ms: ms(u.call_time.saturating_sub(http_time)),
        http_ms: ms(http_time),
        peak_memory_bytes: u.peak_memory,
        epoch_ticks: u.epoch_ticks,
        http_requests: u.http.requests,
        http_denied: u.http.denied,
        bytes_out: u.http.bytes_out,
        bytes_in: u.http.bytes_in,
        hosts: u
            .origins
            .into_iter()
            .map(|(origin, o)| HostUse {
                origin,
                requests: o.requests,
                bytes_out: o.bytes_out,
                bytes_in: o.bytes_in,
            })
            .collect(),
        log_lines: u.log_lines,
        log_bytes: u.log_bytes,
        log_dropped: u.log_dropped,
        per_call: u.per_call,
        calls_not_kept: u.calls_not_kept,
    }
}

/// What the run's sessions used, over `wall`.
pub(super) fn of(run: &Run<'_>, wall: Duration) -> RunResources {
    RunResources::new(wall.as_millis() as u64, run.opened().map(side).collect())
}

/// Time in the run's connector calls, and the part of it performing their
/// HTTP requests, to the nanosecond (for the benchmarks).
pub(super) fn timings(run: &Run<'_>) -> (Duration, Duration) {
    run.opened()
        .fold((Duration::ZERO, Duration::ZERO), |(calls, http), o| {
            (
                calls + o.session.call_time(),
                http + Duration::from_nanos(o.session.http_counters().busy_nanos),
            )
        })
}

/// Keep `resources` on the run and count them in the metrics. A run whose
/// lease was lost keeps nothing (the node that holds it now counts).
pub(super) async fn record(app: &App, lease: &Lease, resources: &RunResources) {
    match app.store.set_run_resources(lease, resources).await {
        Ok(true) => {
            for s in &resources.sides {
                app.metrics.resources(s);
            }
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(run = %lease.run_id, error = %e, "the run's resources could not be kept")
        }
    }
}

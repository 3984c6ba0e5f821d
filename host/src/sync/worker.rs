//! Workers: claim runs from the queue, have the lease keeper hold their
//! leases, finish them, and on shutdown finish or release what is in flight
//! within the grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::run::{self, Outcome, Stop, StopSignal};
use crate::app::App;
use crate::store::now_ms;
use crate::store::runs::{RunRow, Trigger};

/// Stop signals of the runs in flight, by run and lease generation: the
/// same run claimed again while its old execution winds down is a second
/// entry.
type Signals = Arc<Mutex<HashMap<(String, i64), Arc<StopSignal>>>>;

/// Run workers until `shutdown` turns true; then wait up to the grace
/// period for in-flight runs, and release the rest to the queue.
pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    if app.options.workers == 0 {
        return;
    }
    let slots = Arc::new(Semaphore::new(app.options.workers));
    let signals: Signals = Arc::default();
    let mut tasks = JoinSet::new();
    let lease_ms = app.options.lease.as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        match app.store.rescue_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "rescued runs whose worker stopped heartbeating"),
            Err(e) => tracing::warn!(error = %e, "rescuing expired leases failed"),
        }
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            match app.store.claim_run(&app.node, lease_ms).await {
                Ok(Some(run)) => {
                    let stop = Arc::new(StopSignal::default());
                    let id = (run.id.clone(), run.lease_gen);
                    signals
                        .lock()
                        .expect("signals lock")
                        .insert(id.clone(), stop.clone());
                    let (app, signals) = (app.clone(), signals.clone());
                    tasks.spawn(async move {
                        let work = {
                            let (app, run, stop) = (app.clone(), run.clone(), stop.clone());
                            async move { run::execute(&app, &run, &stop).await }
                        };
                        execute(app, run, stop, work).await;
                        drop(permit);
                        signals.lock().expect("signals lock").remove(&id);
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a run failed");
                    break;
                }
            }
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            () = tokio::time::sleep(app.options.poll) => {}
            () = app.wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
    if !tasks.is_empty() {
        tracing::info!(runs = tasks.len(), grace = ?app.options.grace, "waiting for in-flight runs");
    }
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(app.options.grace, drain)
        .await
        .is_err()
    {
        for s in signals.lock().expect("signals lock").values() {
            s.shutdown();
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Execute one claimed run (`work`, normally [`run::execute`]) with its
/// lease kept and cancellation watched, and end it.
///
/// However the execution ends, the run ends: a panic anywhere in it fails
/// the run with the reason, and the lease is let go with the guard. Every
/// write names the lease, so an execution that lost it writes nothing.
pub async fn execute(
    app: App,
    run: RunRow,
    stop: Arc<StopSignal>,
    work: impl std::future::Future<Output = Outcome>,
) {
    let Some(lease) = run.lease() else {
        tracing::error!(run = %run.id, "claimed run without a lease owner");
        return;
    };
    let _held = app.leases.hold(lease.clone(), stop.clone());
    let started = tokio::time::Instant::now();
    tracing::info!(run = %run.id, sync = %run.sync_id, attempt = run.attempt, "run started");
    let start_line = format!(
        "run started on {} (trigger {}, attempt {})",
        app.node, run.trigger, run.attempt
    );
    let _ = app
        .store
        .append_run_logs(
            &lease,
            &[(now_ms(), "info".into(), "app".into(), start_line)],
        )
        .await;
    let outcome = std::panic::AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = crate::runtime::panic_message(&*panic);
            tracing::error!(run = %run.id, panic = %what, "a run's execution panicked");
            Outcome::Failed {
                kind: "internal".into(),
                message: format!("the run stopped on an internal error (a bug in Wharf): {what}"),
                retry: None,
            }
        });
    let seconds = started.elapsed().as_secs_f64();
    let status = match &outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed { .. } => "failed",
        Outcome::Stopped(Stop::Cancelled) => "cancelled",
        Outcome::Stopped(Stop::Shutdown) | Outcome::Internal(_) => "released",
        Outcome::Stopped(Stop::LeaseLost) => "lease_lost",
    };
    let summary = match &outcome {
        Outcome::Failed { message, .. } => format!("run {status} after {seconds:.2} s: {message}"),
        _ => format!("run {status} after {seconds:.2} s"),
    };
    let store = &app.store;
    if status != "lease_lost" {
        let _ = store
            .append_run_logs(&lease, &[(now_ms(), "info".into(), "app".into(), summary)])
            .await;
    }
    let ended = match &outcome {
        Outcome::Succeeded => store
            .finish_run(&lease, "succeeded", None, None)
            .await
            .unwrap_or(false),
        Outcome::Failed {
            kind,
            message,
            retry,
        } => {
            let ended = store
                .finish_run(&lease, "failed", Some(kind), Some(message))
                .await
                .unwrap_or(false);
            if let (true, Some(delay)) = (ended, retry) {
                let after = now_ms() + delay.as_millis() as i64;
                match store
                    .enqueue_run(&run.sync_id, Trigger::Retry, None, after, run.attempt + 1)
                    .await
                {
                    Ok(Some(next)) => {
                        tracing::info!(run = %run.id, retry = %next.id, after_ms = delay.as_millis() as u64, "retry enqueued")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "enqueueing a retry failed"),
                }
            }
            ended
        }
        Outcome::Stopped(Stop::Cancelled) => store
            .finish_run(
                &lease,
                "cancelled",
                Some("cancelled"),
                Some("cancelled by request"),
            )
            .await
            .unwrap_or(false),
        Outcome::Stopped(Stop::Shutdown) => {
            let _ = store.release_run(&lease).await;
            false
        }
        Outcome::Stopped(Stop::LeaseLost) => false,
        Outcome::Internal(e) => {
            tracing::error!(run = %run.id, error = %e, "run interrupted by a store error; releasing it");
            let _ = store.release_run(&lease).await;
            false
        }
    };
    tracing::info!(run = %run.id, status, seconds, ended, "run ended");
    if ended && matches!(status, "succeeded" | "failed") {
        let ended = store.run(&run.id).await.ok().flatten();
        let sync_name = store
            .sync(&run.sync_id)
            .await
            .ok()
            .flatten()
            .map(|s| s.name);
        let data = serde_json::json!({
            "run": run.id,
            "sync": run.sync_id,
            "sync_name": sync_name,
            "status": status,
            "trigger": run.trigger,
            "counters": ended.as_ref().map(|r| r.counters),
            "error_kind": ended.as_ref().and_then(|r| r.error_kind.clone()),
            "error": ended.as_ref().and_then(|r| r.error.clone()),
        });
        crate::events::emit(store, &format!("run.{status}"), data).await;
    }
    if ended || status == "released" {
        app.metrics.run_finished(status, seconds);
    }
}

//! The scheduler: each due time of a sync becomes one queued run, even with
//! several nodes running schedulers (a unique index on the run's due time,
//! and a compare-and-set on the sync's next due time). After downtime each
//! sync gets one catch-up run, not one per missed time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::schedule::next_due;
use crate::app::App;
use crate::store::StoreError;

/// Wall-clock milliseconds that follow tokio's clock, so tests can pause
/// and advance time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: i64,
    start: tokio::time::Instant,
}

impl Clock {
    /// A clock starting at the system time.
    pub fn system() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self::starting_at(wall)
    }

    /// A clock starting at `wall` ms.
    pub fn starting_at(wall: i64) -> Self {
        Self {
            wall,
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, in Unix ms.
    pub fn now(&self) -> i64 {
        self.wall + self.start.elapsed().as_millis() as i64
    }
}

/// Enqueue a run for every sync whose time has come; returns how many.
///
/// Each batch of due syncs is one transaction: the run of each due time is
/// inserted (a unique index keeps it to one, whichever node gets there
/// first) and the sync's next due time moved on, skipping times missed
/// during downtime.
pub async fn tick(app: &App, now: i64) -> Result<usize, StoreError> {
    let mut enqueued = 0;
    loop {
        let due = app.store.due_syncs(now, 1000).await?;
        let batch: Vec<(String, i64, Option<i64>)> = due
            .iter()
            .filter_map(|s| {
                Some((
                    s.id.clone(),
                    s.next_due_at?,
                    next_due(s.schedule.as_ref()?, now),
                ))
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        let done = app.store.enqueue_scheduled(&batch, now).await?;
        for ((_, due, _), new) in batch.iter().zip(&done) {
            if *new {
                enqueued += 1;
                app.metrics.schedule_lag((now - due).max(0));
            }
        }
        if due.len() < 1000 {
            break;
        }
    }
    if enqueued > 0 {
        app.wake.notify_waiters();
    }
    Ok(enqueued)
}

/// Tick every `options.tick` until shutdown.
pub async fn run(app: App, clock: Clock, shutdown: watch::Receiver<bool>) {
    if !app.options.scheduler {
        return;
    }
    let period = app.options.tick;
    drive(clock, period, shutdown, |now| {
        let app = app.clone();
        async move {
            if let Err(e) = tick(&app, now).await {
                tracing::warn!(error = %e, "scheduler tick failed");
            }
        }
    })
    .await;
}

/// Call `f` with the clock's time, then every `period`, until shutdown.
pub async fn drive<F, Fut>(
    clock: Clock,
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut f: F,
) where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut interval = tokio::time::interval(period.max(Duration::from_millis(10)));
    // A slow tick (a busy database) is not made up with a burst of ticks:
    // the scheduler's catch-up logic already handles missed due times.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => f(clock.now()).await,
            _ = shutdown.changed() => return,
        }
    }
}

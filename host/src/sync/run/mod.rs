//! One run, as docs/architecture.md describes it: for each stream, `fetch` →
//! `map` → validate each record against its stream's JSON Schema → `push`
//! → in one transaction store the cursor, the counters, the rejections and
//! the log. A cursor is committed only after the destination accepted the
//! page, so a run that dies resumes from its last committed page and the
//! destination (which upserts by key) sees nothing lost and nothing twice.
//!
//! - [`open`]: the sync's connections opened as sessions.
//! - [`page`]: the one push-and-commit of a page (also used by ingestion).
//! - [`validate`]: records against their stream's schema.
//! - [`retry`]: connector calls with retries, and what a failure means.
//! - [`resources`]: what the run used, kept on it when it ends.

mod cassettes;
mod land;
mod open;
mod page;
mod resources;
mod retry;
mod validate;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::app::App;
use crate::model::record::{Record, mapper_rejection};
use crate::store::StoreError;
use crate::store::runs::{Counters, Lease, RejectionRow, RunRow};
use crate::store::syncs::{Mode, SyncRow};

pub use land::land;
use open::{Opened, Side, Sides, open_failed, open_sides};
pub use page::{Batch, Position};
pub use retry::connection_error;

/// Why a run should stop between steps.
#[derive(Default)]
pub struct StopSignal {
    cancel: AtomicBool,
    lease_lost: AtomicBool,
    shutdown: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// Ask the run to stop: cancelled by a person.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// Another worker owns the run now.
    pub fn lease_lost(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// The node is shutting down and the grace period is over.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// Why the run should stop, if it should.
    pub fn reason(&self) -> Option<Stop> {
        if self.lease_lost.load(Ordering::SeqCst) {
            Some(Stop::LeaseLost)
        } else if self.shutdown.load(Ordering::SeqCst) {
            Some(Stop::Shutdown)
        } else if self.cancel.load(Ordering::SeqCst) {
            Some(Stop::Cancelled)
        } else {
            None
        }
    }
    async fn stopped(&self) -> Stop {
        loop {
            let notified = self.notify.notified();
            if let Some(r) = self.reason() {
                return r;
            }
            notified.await;
        }
    }
}

impl crate::app::leases::LeaseHolder for StopSignal {
    fn lease_lost(&self) {
        StopSignal::lease_lost(self);
    }
    fn cancel(&self) {
        StopSignal::cancel(self);
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Cancelled by a person.
    Cancelled,
    /// The lease moved to another worker.
    LeaseLost,
    /// The node is shutting down.
    Shutdown,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every stream was read to its end.
    Succeeded,
    /// The run failed; `retry` says whether (and when) to try again.
    Failed {
        /// Machine-readable kind.
        kind: String,
        /// For a person.
        message: String,
        /// Retry as a new run after this long.
        retry: Option<Duration>,
    },
    /// Stopped early.
    Stopped(Stop),
    /// The store failed; the lease will expire and the run be rescued.
    Internal(String),
}

impl From<StoreError> for Outcome {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Succeeded => f.write_str("succeeded"),
            Self::Failed { kind, message, .. } => write!(f, "failed ({kind}): {message}"),
            Self::Stopped(Stop::Cancelled) => f.write_str("cancelled"),
            Self::Stopped(Stop::LeaseLost) => {
                f.write_str("stopped: another execution took the run over")
            }
            Self::Stopped(Stop::Shutdown) => f.write_str("stopped: the node is shutting down"),
            Self::Internal(e) => write!(f, "interrupted by an internal error: {e}"),
        }
    }
}

struct Run<'a> {
    app: &'a App,
    run: &'a RunRow,
    lease: Lease,
    /// Pages, records and bytes of the run so far, for its limits.
    totals: Counters,
    sync: SyncRow,
    stop: &'a StopSignal,
    source: Opened,
    source_schemas: HashMap<String, Value>,
    mapper: Option<Opened>,
    destination: Option<Opened>,
    /// Each stream's schema validator (`None`: nothing to check), made
    /// on first use; locked briefly.
    validators: std::sync::Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>,
    rejected: i64,
    /// Seconds this run has waited on pending pages (async jobs upstream).
    pending_secs: u64,
    /// Its commits and pushes, each on a task of its own.
    beside: page::Beside,
}

/// A page read from the source and mapped, ready to push and commit.
struct Read {
    records: Vec<Record>,
    /// Each record's position in the fetched page.
    origin: Vec<usize>,
    /// The mapper's refusals.
    refused: Vec<RejectionRow>,
    /// Records the source returned.
    fetched: i64,
    pending: Option<u32>,
    more: bool,
    cursor: Option<String>,
    row_errors: Vec<crate::model::record::RowError>,
}

/// Execute a claimed run.
pub async fn execute(app: &App, run: &RunRow, stop: &StopSignal) -> Outcome {
    execute_timed(app, run, stop).await.0
}

/// Execute a claimed run; also the time spent in connector calls, and the
/// part of it spent performing the connectors' HTTP requests.
pub async fn execute_timed(
    app: &App,
    run: &RunRow,
    stop: &StopSignal,
) -> (Outcome, Duration, Duration) {
    let started = std::time::Instant::now();
    let Some(lease) = run.lease() else {
        return (
            Outcome::Internal("the run has no lease".into()),
            Duration::ZERO,
            Duration::ZERO,
        );
    };
    let sync = match app.store.sync(&run.sync_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return (
                failed("config", "the sync was deleted", None),
                Duration::ZERO,
                Duration::ZERO,
            );
        }
        Err(e) => return (e.into(), Duration::ZERO, Duration::ZERO),
    };
    let Sides {
        source,
        source_schemas,
        offered,
        mapper,
        destination,
    } = match open_with_inputs(app, &run.id, &sync).await {
        Ok(sides) => sides,
        Err((id, e)) => {
            return (
                open_failed(app, &lease, &id, e).await,
                Duration::ZERO,
                Duration::ZERO,
            );
        }
    };
    // Per-connection concurrency on this node.
    let mut slots = Vec::new();
    let mut ids: Vec<&str> = vec![&source.row.id];
    ids.extend(mapper.as_ref().map(|m| m.row.id.as_str()));
    ids.extend(destination.as_ref().map(|d| d.row.id.as_str()));
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let slot = app.connection_slot(id);
        tokio::select! {
            permit = slot.acquire_owned() => slots.push(permit.expect("semaphores are never closed")),
            reason = stop.stopped() => return (Outcome::Stopped(reason), Duration::ZERO, Duration::ZERO),
        }
    }
    // A stream the source does not offer is the sync's mistake (the
    // connection serves its other syncs), so the connection keeps its status.
    if let Some(offered) = &offered
        && let Some(missing) = sync.streams.iter().find(|s| !offered.contains(s))
    {
        let message = format!(
            "stream `{missing}` is not offered by source `{}` (it offers: {}); change the sync's streams",
            source.row.name,
            offered.join(", ")
        );
        return (
            failed("config", message, None),
            Duration::ZERO,
            Duration::ZERO,
        );
    }
    let limit = Duration::from_secs(sync.limits.max_duration_secs);
    let mut r = Run {
        app,
        run,
        lease,
        totals: run.counters,
        sync,
        stop,
        source,
        source_schemas,
        mapper,
        destination,
        validators: Default::default(),
        rejected: run.counters.rejected,
        pending_secs: 0,
        beside: page::Beside::new(),
    };
    // The run's own time counts from its first start, across retries of
    // the same run after a crash.
    let spent = run
        .started_at
        .map_or(0, |t| (crate::store::now_ms() - t).max(0) as u64);
    let left = limit.saturating_sub(Duration::from_millis(spent));
    let outcome = match tokio::time::timeout(left, r.streams()).await {
        Ok(outcome) => outcome,
        Err(_) => failed(
            "limit",
            format!(
                "the run took longer than the sync's limit of {} s (limits.max_duration_secs)",
                limit.as_secs()
            ),
            None,
        ),
    };
    // A commit or push the run stopped ends before the run is counted
    // and its connections' slots are given back.
    r.beside.settle().await;
    drop(slots);
    if let Outcome::Failed { .. } = &outcome {
        cassettes::keep_cassettes(app, &r).await;
    }
    resources::record(app, &r.lease, &resources::of(&r, started.elapsed())).await;
    let (calls, http) = resources::timings(&r);
    (outcome, calls, http)
}

pub(crate) fn failed(kind: &str, message: impl Into<String>, retry: Option<Duration>) -> Outcome {
    Outcome::Failed {
        kind: kind.into(),
        message: message.into(),
        retry,
    }
}

impl Run<'_> {
    async fn streams(&mut self) -> Outcome {
        let progress = match self.app.store.run_progress(&self.run.id).await {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let committed = match self.sync.mode {
            Mode::Incremental => match self.app.store.sync_cursors(&self.sync.id).await {
                Ok(c) => c,
                Err(e) => return e.into(),
            },
            Mode::Full => Default::default(),
        };
        for stream in self.sync.streams.clone() {
            let (cursor, done) = match progress.get(&stream) {
                Some((cursor, done)) => (cursor.clone(), *done),
                None => (committed.get(&stream).cloned().flatten(), false),
            };
            if done {
                continue;
            }
            if let Err(outcome) = self.stream(&stream, cursor).await {
                return outcome;
            }
        }
        Outcome::Succeeded
    }

    async fn stream(&mut self, stream: &str, mut cursor: Option<String>) -> Result<(), Outcome> {
        let checkpoint = self.sync.mode == Mode::Incremental;
        let position = |cursor, done| Position {
            stream: stream.to_string(),
            cursor,
            done,
            checkpoint,
        };
        // While page n is pushed and committed, page n+1 is read (fetched
        // and mapped): at most one page ahead, so memory stays bounded, and
        // its cursor is committed only with it, after page n's.
        let mut ahead: Option<Read> = None;
        loop {
            if let Some(reason) = self.stop.reason() {
                return Err(Outcome::Stopped(reason));
            }
            let page = match ahead.take() {
                Some(page) => page,
                None => self.read(stream, cursor.clone()).await?,
            };
            // A pending page (a report or bulk job still running upstream)
            // is not the end of the stream, whatever `more` says.
            let pending = page.pending;
            let done = !page.more && pending.is_none();
            let next = page.cursor.clone().or(cursor.clone());
            let at = position(page.cursor, done);
            let batch = Batch::page_from(page.records, page.origin, page.fetched)
                .with_row_errors(page.row_errors)
                .with_rejections(page.refused);
            let commit = self.push_and_commit(batch, at);
            let (committed, read_ahead) = if done || pending.is_some() {
                (commit.await, None)
            } else {
                // A page that cannot be committed stops the run at once; a
                // read that fails waits for the commit before it counts.
                let read = self.read(stream, next.clone());
                tokio::pin!(commit, read);
                tokio::select! {
                    committed = &mut commit => {
                        let committed = committed?;
                        (Ok(committed), Some(read.await))
                    }
                    read = &mut read => (commit.await, Some(read)),
                }
            };
            let counters = committed?.0;
            self.count(&counters)?;
            self.rejected += counters.rejected;
            if self.sync.error_threshold >= 0 && self.rejected > self.sync.error_threshold {
                return Err(failed(
                    "threshold",
                    format!(
                        "{} records were rejected, more than the sync's error threshold of {}; see the run's errors",
                        self.rejected, self.sync.error_threshold
                    ),
                    None,
                ));
            }
            cursor = next;
            if done {
                return Ok(());
            }
            if let Some(secs) = pending {
                self.wait_pending(stream, secs).await?;
            }
            ahead = read_ahead.transpose()?;
        }
    }

    /// Fetch the page after `cursor` and map it.
    async fn read(&self, stream: &str, cursor: Option<String>) -> Result<Read, Outcome> {
        let page = {
            let source = &self.source.session;
            self.call(Side::Source, || source.fetch(stream, cursor.as_deref()))
                .await?
        };
        let fetched = page.records.len() as i64;
        let (records, origin, refused) = match &self.mapper {
            Some(m) => {
                let mut input = page.records;
                let session = &m.session;
                hand_over_blobs(&mut input, &self.source.session, session);
                let input = &input;
                let out = self.call(Side::Mapper, || session.map(input)).await?;
                mapped_page(out, input.len())
            }
            None => {
                let n = page.records.len();
                (page.records, (0..n).collect(), Vec::new())
            }
        };
        Ok(Read {
            records,
            origin,
            refused,
            fetched,
            pending: page.pending,
            more: page.more,
            cursor: page.cursor,
            row_errors: page.row_errors,
        })
    }

    /// Wait before fetching a pending page again: the source's delay (at
    /// least 1 s, at most 5 min at a time), counted against the sync's
    /// `limits.max_pending_secs`, cut short by a cancel or a shutdown.
    async fn wait_pending(&mut self, stream: &str, secs: u32) -> Result<(), Outcome> {
        let secs = u64::from(secs).clamp(1, 300);
        let limit = self.sync.limits.max_pending_secs;
        if self.pending_secs + secs > limit {
            return Err(failed(
                "limit",
                format!(
                    "stream `{stream}` is still pending after {} s of waiting, more than the sync's limit of {limit} s per run (limits.max_pending_secs); what was fetched so far is committed",
                    self.pending_secs
                ),
                None,
            ));
        }
        self.pending_secs += secs;
        self.note(format!(
            "stream `{stream}`: the source is not ready yet; fetching again in {secs} s"
        ));
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(secs)) => Ok(()),
            stop = self.stop.stopped() => Err(Outcome::Stopped(stop)),
        }
    }

    /// Add a committed page to the run's totals; fail the run if it passed
    /// one of the sync's limits (the page stays committed).
    fn count(&mut self, page: &Counters) -> Result<(), Outcome> {
        self.totals.pages += page.pages;
        self.totals.fetched += page.fetched;
        self.totals.bytes += page.bytes;
        let limits = &self.sync.limits;
        let checks = [
            (self.totals.pages, limits.max_pages, "pages", "max_pages"),
            (
                self.totals.fetched,
                limits.max_records,
                "records",
                "max_records",
            ),
            (
                self.totals.bytes,
                limits.max_bytes,
                "bytes of responses",
                "max_bytes",
            ),
        ];
        for (used, limit, what, field) in checks {
            if used as u64 > limit {
                return Err(failed(
                    "limit",
                    format!(
                        "the run fetched {used} {what}, more than the sync's limit of {limit} per run (limits.{field}); what was fetched so far is committed"
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// Open the sides of `sync` with the input files of run `run_id`.
async fn open_with_inputs(
    app: &App,
    run_id: &str,
    sync: &SyncRow,
) -> Result<Sides, (String, crate::connections::OpenError)> {
    let inputs = open_inputs(app, run_id).await.map_err(|e| {
        (
            sync.source_id.clone(),
            crate::connections::OpenError::Store(e),
        )
    })?;
    open_sides(app, sync, inputs).await
}

/// The run's input files, as the source reads them.
async fn open_inputs(
    app: &App,
    run_id: &str,
) -> Result<Vec<crate::runtime::blobs::Input>, crate::store::StoreError> {
    Ok(app
        .store
        .run_inputs(run_id)
        .await?
        .into_iter()
        .map(|f| crate::runtime::blobs::Input {
            name: f.name,
            content_type: f.content_type,
            bytes: Arc::new(f.bytes),
        })
        .collect())
}

/// A record's blob lives in the session that made it: `to` (the mapper)
/// gets it under an id of its own, so a mapper can read the files a
/// source attached (the `files` connector reading a Nextcloud CSV).
fn hand_over_blobs(
    records: &mut [Record],
    from: &crate::runtime::Session,
    to: &crate::runtime::Session,
) {
    for r in records.iter_mut() {
        if let Some(id) = &r.blob
            && let Ok(bytes) = from.blobs().bytes(id)
        {
            r.blob = Some(to.blobs().adopt(bytes));
        }
    }
}

/// A mapper's output for a page of `inputs` records: the records it mapped,
/// each with its position (the input's, when the mapper maps one to one),
/// and its refusals as rejections of the input they stand for.
fn mapped_page(out: Vec<Record>, inputs: usize) -> (Vec<Record>, Vec<usize>, Vec<RejectionRow>) {
    let one_to_one = out.len() == inputs;
    let (mut records, mut origin, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for (i, record) in out.into_iter().enumerate() {
        match mapper_rejection(&record) {
            Some(e) => refused.push(RejectionRow {
                stream: e.stream,
                index: if one_to_one { i as i64 } else { -1 },
                key: Some(e.row),
                field: e.field,
                message: e.message,
            }),
            None => {
                origin.push(if one_to_one { i } else { records.len() });
                records.push(record);
            }
        }
    }
    (records, origin, refused)
}

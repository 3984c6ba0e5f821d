//! One run, exactly as DESIGN.md describes: for each stream, `fetch` →
//! `map` → validate each record against its stream's JSON Schema → `push`
//! → in one transaction store the cursor, the counters, the rejections and
//! the log. A cursor is committed only after the destination accepted the
//! page, so a run that dies resumes from its last committed page and the
//! destination (which upserts by key) sees nothing lost and nothing twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::app::App;
use crate::clock::jitter;
use crate::connections::OpenError;
use crate::model::record::Record;
use crate::runtime::LogLine;
use crate::runtime::{CallError, ConnectorError, Session};
use crate::store::StoreError;
use crate::store::connections::{ConnectionRow, Status};
use crate::store::pages::{PageCommit, PageRefused};
use crate::store::runs::{Counters, Lease, RejectionRow, RunRow};
use crate::store::syncs::{Mode, SyncRow};

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

/// Which side of a sync a connection is.
#[derive(Debug, Clone, Copy)]
enum Side {
    Source,
    Mapper,
    Destination,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Mapper => "mapper",
            Self::Destination => "destination",
        }
    }
}

struct Opened {
    row: ConnectionRow,
    session: Session,
    counted: crate::runtime::HttpCounters,
    counted_dropped: u64,
}

/// The sessions of a sync's connections, and the source's stream schemas.
struct Sides {
    source: Opened,
    source_schemas: HashMap<String, Value>,
    mapper: Option<Opened>,
    destination: Option<Opened>,
}

async fn open_connection(
    app: &App,
    id: &str,
    side: Side,
) -> Result<(Opened, Arc<crate::runtime::Connector>), OpenError> {
    let row = app.store.connection(id).await?.ok_or_else(|| {
        OpenError::ConnectorGone(format!("{} connection {id} (deleted)", side.name()))
    })?;
    let (connector, session) = crate::connections::open(app, &row).await?;
    let opened = Opened {
        row,
        session,
        counted: Default::default(),
        counted_dropped: 0,
    };
    Ok((opened, connector))
}

/// Open the source, mapper and destination of a sync; on failure, which
/// connection failed and why.
async fn open_sides(app: &App, sync: &SyncRow) -> Result<Sides, (String, OpenError)> {
    let (source, connector) = open_connection(app, &sync.source_id, Side::Source)
        .await
        .map_err(|e| (sync.source_id.clone(), e))?;
    let mut others = [
        (&sync.mapper_id, Side::Mapper),
        (&sync.destination_id, Side::Destination),
    ]
    .into_iter()
    .map(|(id, side)| async move {
        match id {
            Some(id) => open_connection(app, id, side)
                .await
                .map(|(o, _)| Some(o))
                .map_err(|e| (id.clone(), e)),
            None => Ok(None),
        }
    });
    let mapper = others.next().expect("two sides").await?;
    let destination = others.next().expect("two sides").await?;
    let source_schemas = connector
        .spec()
        .streams
        .iter()
        .map(|s| (s.name.clone(), s.schema.clone()))
        .collect();
    Ok(Sides {
        source,
        source_schemas,
        mapper,
        destination,
    })
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
    validators: HashMap<String, Option<Arc<jsonschema::Validator>>>,
    rejected: i64,
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
        mapper,
        destination,
    } = match open_sides(app, &sync).await {
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
        validators: HashMap::new(),
        rejected: run.counters.rejected,
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
    drop(slots);
    let (mut calls, mut http) = (Duration::ZERO, Duration::ZERO);
    for o in r.sessions() {
        calls += o.session.call_time();
        http += Duration::from_nanos(o.session.http_counters().busy_nanos);
    }
    (outcome, calls, http)
}

fn failed(kind: &str, message: impl Into<String>, retry: Option<Duration>) -> Outcome {
    Outcome::Failed {
        kind: kind.into(),
        message: message.into(),
        retry,
    }
}

async fn open_failed(app: &App, lease: &Lease, connection_id: &str, e: OpenError) -> Outcome {
    let message = e.to_string();
    match e {
        OpenError::Store(e) => e.into(),
        OpenError::Secret { .. } | OpenError::Session { .. } => {
            if let Ok(Some(c)) = app.store.connection(connection_id).await {
                connection_error(app, Some(lease), &c, &message).await;
            }
            failed("config", message, None)
        }
        OpenError::OAuth { .. } => failed("auth", message, None),
        _ => failed("config", message, None),
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
        loop {
            if let Some(reason) = self.stop.reason() {
                return Err(Outcome::Stopped(reason));
            }
            let page = {
                let source = &self.source.session;
                let c = cursor.clone();
                self.call(Side::Source, || source.fetch(stream, c.as_deref()))
                    .await?
            };
            let mut counters = Counters {
                pages: 1,
                fetched: page.records.len() as i64,
                ..Counters::default()
            };
            let records = match &self.mapper {
                Some(m) => {
                    let input = &page.records;
                    let session = &m.session;
                    self.call(Side::Mapper, || session.map(input)).await?
                }
                None => page.records,
            };
            counters.mapped = records.len() as i64;
            let (valid, mut rejections) = self.validate(records).await;
            counters.pushed = valid.len() as i64;
            let mut store_records = Vec::new();
            match &self.destination {
                Some(d) => {
                    let session = &d.session;
                    let input = &valid;
                    let result = self.call(Side::Destination, || session.push(input)).await?;
                    counters.created = i64::from(result.created);
                    counters.updated = i64::from(result.updated);
                    counters.deleted = i64::from(result.deleted);
                    for x in result.rejected {
                        let record = &valid[x.index as usize];
                        rejections.push(RejectionRow {
                            stream: record.stream.clone(),
                            index: i64::from(x.index),
                            key: record.key.clone(),
                            field: x.field,
                            message: x.message,
                        });
                    }
                }
                None => store_records = valid,
            }
            counters.rejected = rejections.len() as i64;
            let (requests, bytes) = self.http_delta();
            counters.http_requests = requests;
            counters.bytes = bytes;
            let logs = self.drain_logs();
            let done = !page.more;
            let next = page.cursor.clone().or(cursor.clone());
            let logs_dropped = self.dropped_logs();
            let commit = PageCommit {
                lease: &self.lease,
                sync_id: &self.sync.id,
                stream,
                cursor: page.cursor.clone(),
                done,
                checkpoint: self.sync.mode == Mode::Incremental,
                counters,
                rejections,
                logs,
                logs_dropped,
                records: store_records,
                quota: quota(&self.sync),
            };
            let outcome = match self.app.store.commit_page(commit).await {
                Ok(Ok(o)) => o,
                Ok(Err(refused)) => return Err(refused_outcome(refused)),
                Err(e) => return Err(e.into()),
            };
            self.app.metrics.page(&counters, &outcome);
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

    /// Log lines the sessions dropped since the last page.
    fn dropped_logs(&mut self) -> i64 {
        let mut total = 0;
        for o in self.sessions() {
            let now = o.session.log().dropped();
            total += (now - o.counted_dropped) as i64;
            o.counted_dropped = now;
        }
        total
    }

    /// Split records into those that satisfy their stream's schema and
    /// rejections naming the field.
    ///
    /// Schemas come from the connectors' specs, so validation is guest
    /// input: patterns use a linear-time regex app, and a page is
    /// checked on the blocking pool, never on an async worker.
    async fn validate(&mut self, records: Vec<Record>) -> (Vec<Record>, Vec<RejectionRow>) {
        for record in &records {
            if self.validators.contains_key(&record.stream) {
                continue;
            }
            let validator = self
                .sync
                .schemas
                .get(&record.stream)
                .or_else(|| self.source_schemas.get(&record.stream))
                .filter(|schema| {
                    !(schema.as_object().is_some_and(|o| o.is_empty())
                        || **schema == Value::Bool(true))
                })
                .and_then(|schema| crate::model::record::schema_validator(schema).ok())
                .map(Arc::new);
            self.validators.insert(record.stream.clone(), validator);
        }
        if !records
            .iter()
            .any(|r| self.validators.get(&r.stream).is_some_and(Option::is_some))
        {
            return (records, Vec::new());
        }
        let validators = self.validators.clone();
        tokio::task::spawn_blocking(move || check_records(&validators, records))
            .await
            .expect("validation does not panic")
    }

    /// One connector call: waits out `rate-limited`, retries `transient`
    /// with exponential backoff and jitter, stops when the run must.
    async fn call<T, F, Fut>(&self, side: Side, mut f: F) -> Result<T, Outcome>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let policy = &self.sync.retry;
        let mut attempt = 1u32;
        let mut waits = 0u32;
        loop {
            let result = tokio::select! {
                r = f() => r,
                reason = self.stop.stopped() => return Err(Outcome::Stopped(reason)),
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay = match &error {
                CallError::Connector(ConnectorError::RateLimited(secs))
                    if u64::from(*secs) <= policy.max_rate_limit_wait_secs && waits < 10 =>
                {
                    waits += 1;
                    Duration::from_secs(u64::from(*secs).max(1))
                }
                CallError::Connector(ConnectorError::Transient(_))
                    if attempt < policy.attempts.max(1) =>
                {
                    let base = policy.backoff_ms.saturating_mul(1 << (attempt - 1).min(20));
                    attempt += 1;
                    Duration::from_millis(
                        (base.min(policy.max_backoff_ms) as f64 * jitter()) as u64,
                    )
                }
                _ => return Err(self.call_failed(side, error).await),
            };
            self.note(format!(
                "{} call failed: {error}; trying again in {:.1} s",
                side.name(),
                delay.as_secs_f64()
            ));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                reason = self.stop.stopped() => return Err(Outcome::Stopped(reason)),
            }
        }
    }

    async fn call_failed(&self, side: Side, error: CallError) -> Outcome {
        let connection = match side {
            Side::Source => Some(&self.source.row),
            Side::Mapper => self.mapper.as_ref().map(|m| &m.row),
            Side::Destination => self.destination.as_ref().map(|d| &d.row),
        };
        let name = connection.map_or("?", |c| c.name.as_str());
        let message = format!("{} `{name}`: {error}", side.name());
        let retry_policy = &self.sync.retry;
        let can_retry = self.run.attempt <= i64::from(retry_policy.run_retries);
        match &error {
            CallError::Connector(ConnectorError::Config(_) | ConnectorError::Auth(_)) => {
                if let Some(c) = connection {
                    connection_error(self.app, Some(&self.lease), c, &error.to_string()).await;
                }
                failed(error.kind(), message, None)
            }
            CallError::Connector(ConnectorError::Transient(_)) if can_retry => {
                let backoff = retry_policy
                    .backoff_ms
                    .saturating_mul(4 << self.run.attempt.min(10));
                failed(
                    error.kind(),
                    message,
                    Some(Duration::from_millis(
                        backoff.min(retry_policy.max_backoff_ms * 10),
                    )),
                )
            }
            CallError::Connector(ConnectorError::RateLimited(secs)) if can_retry => failed(
                error.kind(),
                message,
                Some(Duration::from_secs(u64::from(*secs))),
            ),
            _ => failed(error.kind(), message, None),
        }
    }

    /// A line from the app into the run's log (stored with the page).
    fn note(&self, message: String) {
        self.source
            .session
            .log()
            .host_line(crate::runtime::LogSource::Host, message);
    }

    fn sessions(&mut self) -> impl Iterator<Item = &mut Opened> {
        std::iter::once(&mut self.source)
            .chain(self.mapper.as_mut())
            .chain(self.destination.as_mut())
    }

    /// Requests and bytes since the last page; metrics by connector and
    /// status class on the way.
    fn http_delta(&mut self) -> (i64, i64) {
        let metrics = self.app.metrics.clone();
        let mut total = (0, 0);
        for o in self.sessions() {
            let now = o.session.http_counters();
            total.0 += (now.requests - o.counted.requests) as i64;
            total.1 += (now.bytes_in - o.counted.bytes_in) as i64;
            for (i, class) in crate::runtime::STATUS_CLASSES.iter().enumerate() {
                metrics.http(
                    &o.row.connector,
                    class,
                    now.by_class[i] - o.counted.by_class[i],
                );
            }
            o.counted = now;
        }
        total
    }

    /// Every session's new log lines, in time order, labelled by side.
    fn drain_logs(&self) -> Vec<(i64, String, String, String)> {
        let sides = [
            ("source", Some(&self.source)),
            ("mapper", self.mapper.as_ref()),
            ("destination", self.destination.as_ref()),
        ];
        let mut lines: Vec<(LogLine, &str)> = Vec::new();
        for (side, opened) in sides {
            if let Some(o) = opened {
                lines.extend(o.session.log().drain().into_iter().map(|l| (l, side)));
            }
        }
        lines.sort_by_key(|(l, _)| l.at_ms);
        lines
            .into_iter()
            .map(|(l, side)| {
                let level = format!("{:?}", l.level).to_lowercase();
                let source = format!("{side}/{:?}", l.source).to_lowercase();
                (l.at_ms as i64, level, source, l.message)
            })
            .collect()
    }
}

/// Mark a connection broken and tell subscribers; on behalf of a run, only
/// while the run's lease is held.
pub async fn connection_error(app: &App, lease: Option<&Lease>, c: &ConnectionRow, reason: &str) {
    let store = &app.store;
    let set = match lease {
        Some(lease) => store
            .set_connection_status_fenced(lease, &c.id, Status::Error, Some(reason))
            .await
            .unwrap_or(false),
        None => store
            .set_connection_status(&c.id, Status::Error, Some(reason))
            .await
            .is_ok(),
    };
    if !set {
        return;
    }
    crate::events::emit(
        &app.store,
        "connection.error",
        serde_json::json!({"connection": c.id, "name": c.name, "reason": reason}),
    )
    .await;
}

/// Split records into those that satisfy their stream's schema and
/// rejections naming the field.
fn check_records(
    validators: &HashMap<String, Option<Arc<jsonschema::Validator>>>,
    records: Vec<Record>,
) -> (Vec<Record>, Vec<RejectionRow>) {
    let mut valid = Vec::with_capacity(records.len());
    let mut rejections = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let Some(Some(validator)) = validators.get(&record.stream) else {
            valid.push(record);
            continue;
        };
        let data: Value = serde_json::from_str(record.data.get()).unwrap_or(Value::Null);
        match validator.iter_errors(&data).next() {
            None => valid.push(record),
            Some(e) => {
                let path = e.instance_path.to_string();
                rejections.push(RejectionRow {
                    stream: record.stream.clone(),
                    index: index as i64,
                    key: record.key.clone(),
                    field: (!path.is_empty())
                        .then(|| path.clone())
                        .or_else(|| missing_field(&e.to_string())),
                    message: e.to_string(),
                });
            }
        }
    }
    (valid, rejections)
}

/// Records an import or delivery may map one call each, when the mapper
/// does not map one record to one.
const MAX_SINGLE_MAPS: usize = 1_000;

/// Records the sync may keep in the records store.
fn quota(sync: &SyncRow) -> i64 {
    i64::try_from(sync.limits.max_stored_records).unwrap_or(i64::MAX)
}

/// Why a page could not be committed, as the run's outcome.
fn refused_outcome(refused: PageRefused) -> Outcome {
    match refused {
        PageRefused::LeaseLost => Outcome::Stopped(Stop::LeaseLost),
        PageRefused::Quota { limit } => failed(
            "limit",
            format!(
                "the records store would hold more than the sync's quota of {limit} records (limits.max_stored_records); the page was not stored"
            ),
            None,
        ),
    }
}

/// `"name" is a required property` → `/name`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix('"')?;
    let (name, tail) = rest.split_once('"')?;
    tail.contains("required").then(|| format!("/{name}"))
}

/// Run the connectors of a sync on records that did not come from `fetch`
/// (an import, a webhook delivery): map → validate → push, committed as one
/// page of `run`. Returns the rejections with their index in `records`.
pub async fn push_records(
    app: &App,
    run: &RunRow,
    stream: &str,
    records: Vec<Record>,
    extra_rejections: Vec<RejectionRow>,
) -> Result<(Counters, Vec<RejectionRow>), Outcome> {
    let stop = Arc::new(StopSignal::default());
    let lease = run
        .lease()
        .ok_or_else(|| Outcome::Internal("the run has no lease".into()))?;
    let _held = app.leases.hold(lease.clone(), stop.clone());
    let sync = app
        .store
        .sync(&run.sync_id)
        .await?
        .ok_or_else(|| failed("config", "the sync was deleted", None))?;
    let Sides {
        source,
        source_schemas,
        mapper,
        destination,
    } = open_sides(app, &sync)
        .await
        .map_err(|(_, e)| failed("config", e.to_string(), None))?;
    let mut r = Run {
        app,
        run,
        lease: lease.clone(),
        totals: Counters::default(),
        sync,
        stop: &stop,
        source,
        source_schemas,
        mapper,
        destination,
        validators: HashMap::new(),
        rejected: 0,
    };
    let mut counters = Counters {
        fetched: records.len() as i64,
        ..Counters::default()
    };
    // Map one record at a time, so each output keeps its input's index.
    let mut mapped: Vec<(usize, Record)> = Vec::with_capacity(records.len());
    match &r.mapper {
        Some(m) => {
            let out = r.call(Side::Mapper, || m.session.map(&records)).await?;
            if out.len() == records.len() {
                mapped.extend(out.into_iter().enumerate());
            } else if records.len() > MAX_SINGLE_MAPS {
                return Err(failed(
                    "config",
                    format!(
                        "the mapper does not map one record to one, so each of the {} records would need a call of its own; send at most {MAX_SINGLE_MAPS} at a time",
                        records.len()
                    ),
                    None,
                ));
            } else {
                for (i, rec) in records.iter().enumerate() {
                    let one = std::slice::from_ref(rec);
                    for o in r.call(Side::Mapper, || m.session.map(one)).await? {
                        mapped.push((i, o));
                    }
                }
            }
        }
        None => mapped.extend(records.into_iter().enumerate()),
    }
    counters.mapped = mapped.len() as i64;
    let (indices, outputs): (Vec<usize>, Vec<Record>) = mapped.into_iter().unzip();
    let (valid, mut rejections) = r.validate(outputs).await;
    // `valid` keeps the order of the outputs that passed: the input of each
    // is the input of the output at that position.
    let rejected_outputs: std::collections::HashSet<i64> =
        rejections.iter().map(|x| x.index).collect();
    let valid_indices: Vec<usize> = (0..indices.len())
        .filter(|p| !rejected_outputs.contains(&(*p as i64)))
        .map(|p| indices[p])
        .collect();
    for x in &mut rejections {
        x.index = indices[x.index as usize] as i64;
    }
    counters.pushed = valid.len() as i64;
    let mut store_records = Vec::new();
    match &r.destination {
        Some(d) => {
            let result = r.call(Side::Destination, || d.session.push(&valid)).await?;
            counters.created = i64::from(result.created);
            counters.updated = i64::from(result.updated);
            counters.deleted = i64::from(result.deleted);
            for x in result.rejected {
                let record = &valid[x.index as usize];
                rejections.push(RejectionRow {
                    stream: record.stream.clone(),
                    index: valid_indices.get(x.index as usize).copied().unwrap_or(0) as i64,
                    key: record.key.clone(),
                    field: x.field,
                    message: x.message,
                });
            }
        }
        None => store_records = valid,
    }
    rejections.extend(extra_rejections);
    rejections.sort_by_key(|x| x.index);
    counters.rejected = rejections.len() as i64;
    let logs = r.drain_logs();
    let quota = quota(&r.sync);
    let logs_dropped = r.dropped_logs();
    let commit = PageCommit {
        lease: &lease,
        sync_id: &run.sync_id,
        stream,
        cursor: None,
        done: true,
        checkpoint: false,
        counters,
        rejections: rejections.clone(),
        logs,
        logs_dropped,
        records: store_records,
        quota,
    };
    let outcome = app
        .store
        .commit_page(commit)
        .await?
        .map_err(refused_outcome)?;
    counters.created += outcome.created;
    counters.updated += outcome.updated;
    counters.unchanged += outcome.unchanged;
    counters.deleted += outcome.deleted;
    app.metrics.page(&counters, &outcome);
    Ok((counters, rejections))
}

//! A page on its way out: pushed to the destination (or kept for the
//! records store) and committed with its position, counters, rejections
//! and log lines in one transaction. The one place that does this, for
//! fetched pages and for ingested records alike.

use std::sync::Arc;

use super::open::Side;
use super::{Outcome, Run, Stop, failed};
use crate::model::record::{Record, RowError};
use crate::runtime::CallError;
use crate::store::pages::{PageCommit, PageRefused, StoreOutcome};
use crate::store::runs::{Counters, RejectionRow};

/// Records to push, and where each came from.
#[derive(Debug)]
pub struct Batch {
    records: Vec<Record>,
    /// Per record, its position in what came in (the fetched page, the
    /// imported rows), so rejections name the row a person knows.
    origin: Vec<usize>,
    /// Rejections found before (rows of an import that did not parse).
    rejections: Vec<RejectionRow>,
    /// Records that came in.
    fetched: i64,
    /// Whether this is a fetched page (counted in the run's pages).
    page: bool,
}

impl Batch {
    /// A fetched page (out of the mapper, or as it came): each record with
    /// its position in the page that came in.
    pub fn page_from(records: Vec<Record>, origin: Vec<usize>, fetched: i64) -> Self {
        debug_assert_eq!(records.len(), origin.len());
        Self {
            records,
            origin,
            rejections: Vec::new(),
            fetched,
            page: true,
        }
    }

    /// With rejections found before the push (a mapper's refusals).
    pub fn with_rejections(mut self, rejections: Vec<RejectionRow>) -> Self {
        self.rejections.extend(rejections);
        self
    }

    /// With the rows the source could not read, stored with the run's
    /// errors (and counted as rejected) like refused records.
    pub fn with_row_errors(mut self, errors: Vec<RowError>) -> Self {
        self.rejections
            .extend(errors.into_iter().map(|e| RejectionRow {
                stream: e.stream,
                // A row number when the source gives one.
                index: e.row.trim().parse().unwrap_or(-1),
                key: Some(e.row),
                field: e.field,
                message: e.message,
            }));
        self
    }

    /// Records that did not come from `fetch` (an import, a delivery): each
    /// with its `origin` position among the `fetched` that came in, and the
    /// rejections found before.
    pub fn ingested(
        records: Vec<Record>,
        origin: Vec<usize>,
        rejections: Vec<RejectionRow>,
        fetched: i64,
    ) -> Self {
        debug_assert_eq!(records.len(), origin.len());
        Self {
            records,
            origin,
            rejections,
            fetched,
            page: false,
        }
    }
}

/// Where a page stands in its stream.
#[derive(Debug, Clone)]
pub struct Position {
    /// The stream.
    pub stream: String,
    /// The cursor after the page (none: keep the previous one).
    pub cursor: Option<String>,
    /// The stream is finished.
    pub done: bool,
    /// Also store the cursor as the sync's checkpoint.
    pub checkpoint: bool,
}

impl Run<'_> {
    /// Validate, push and commit `batch` at `position`: the page's
    /// counters (with what the records store did) and its rejections.
    pub(super) async fn push_and_commit(
        &self,
        batch: Batch,
        position: Position,
    ) -> Result<(Counters, Vec<RejectionRow>), Outcome> {
        let Batch {
            records,
            origin,
            mut rejections,
            fetched,
            page,
        } = batch;
        let mut counters = Counters {
            pages: i64::from(page),
            fetched,
            mapped: records.len() as i64,
            ..Counters::default()
        };
        let (valid, invalid) = self.validate(records).await;
        // `valid` keeps the order of the records that passed: the origin of
        // each is the origin of the record at that position.
        let refused: std::collections::HashSet<i64> = invalid.iter().map(|x| x.index).collect();
        let valid_origin: Vec<usize> = (0..origin.len())
            .filter(|p| !refused.contains(&(*p as i64)))
            .map(|p| origin[p])
            .collect();
        rejections.extend(invalid.into_iter().map(|mut x| {
            x.index = origin[x.index as usize] as i64;
            x
        }));
        counters.pushed = valid.len() as i64;
        let mut store_records = Vec::new();
        match &self.destination {
            Some(d) => {
                let session = &d.session;
                // A record's blob lives in the session that made it: the
                // destination gets it under an id of its own.
                let mut valid = valid;
                for r in valid.iter_mut() {
                    let Some(id) = r.blob.take() else { continue };
                    let made_by = std::iter::once(&self.source).chain(self.mapper.as_ref());
                    if let Some(bytes) = made_by
                        .filter_map(|o| o.session.blobs().bytes(&id).ok())
                        .next()
                    {
                        r.blob = Some(session.blobs().adopt(bytes));
                    }
                }
                // The push runs on a task of its own, so the destination's
                // guest computes beside the source's, which reads the next
                // page on the run's task.
                let valid = Arc::new(valid);
                let result = self
                    .call(Side::Destination, || {
                        let (session, records) = (session.clone(), valid.clone());
                        let task = self
                            .beside
                            .spawn(async move { session.push(&records).await });
                        async move {
                            task.await.unwrap_or_else(|cancelled| {
                                Err(CallError::Sandbox(format!(
                                    "the call's task ended without a result: {cancelled}"
                                )))
                            })
                        }
                    })
                    .await?;
                counters.created = i64::from(result.created);
                counters.updated = i64::from(result.updated);
                counters.deleted = i64::from(result.deleted);
                if let Some(job) = &result.accepted_job {
                    // The destination took the page for later (an import
                    // job): its outcome is the destination's to report.
                    self.note(format!(
                        "the destination accepted {} records for processing later: job `{job}`",
                        valid.len()
                    ));
                }
                for x in result.rejected {
                    // The runtime checked that each index is in the batch.
                    let at = x.index as usize;
                    rejections.push(RejectionRow {
                        stream: valid[at].stream.clone(),
                        index: valid_origin[at] as i64,
                        key: valid[at].key.clone(),
                        field: x.field,
                        message: x.message,
                    });
                }
            }
            None => store_records = valid,
        }
        rejections.sort_by_key(|x| x.index);
        counters.rejected = rejections.len() as i64;
        let (requests, bytes) = self.http_delta();
        counters.http_requests = requests;
        counters.bytes = bytes;
        let logs = self.drain_logs();
        let logs_dropped = self.dropped_logs();
        // The commit runs on a task of its own: the run's task goes on
        // reading the next page, and while a guest computes it polls
        // nothing else, so each of the commit's statements would wait for
        // the guest to yield before the next was sent to the database.
        let store = self.app.store.clone();
        let (lease, sync_id, quota) = (self.lease.clone(), self.sync.id.clone(), quota(&self.sync));
        let rejected = rejections.clone();
        let commit = self.beside.spawn(async move {
            store
                .commit_page(PageCommit {
                    lease: &lease,
                    sync_id: &sync_id,
                    stream: &position.stream,
                    cursor: position.cursor,
                    done: position.done,
                    checkpoint: position.checkpoint,
                    counters,
                    rejections: rejected,
                    logs,
                    logs_dropped,
                    records: store_records,
                    quota,
                })
                .await
        });
        let stored: StoreOutcome = commit
            .await
            .map_err(|cancelled| {
                Outcome::Internal(format!("the page commit failed: {cancelled}"))
            })??
            .map_err(refused_outcome)?;
        self.app.metrics.page(&counters, &stored);
        counters.created += stored.created;
        counters.updated += stored.updated;
        counters.unchanged += stored.unchanged;
        counters.deleted += stored.deleted;
        Ok((counters, rejections))
    }
}

/// Records the sync may keep in the records store.
fn quota(sync: &crate::store::syncs::SyncRow) -> i64 {
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

/// The tasks a run starts beside its own (its commits, its destination's
/// pushes). Each holds a token; once the run has ended, it waits until
/// every token is back, so that what it then counts and keeps (its
/// resources, a failed run's cassettes) includes a call it stopped, and
/// its connection slots are freed only when no guest of it still runs.
pub(super) struct Beside {
    token: Option<tokio::sync::mpsc::Sender<()>>,
    ended: tokio::sync::mpsc::Receiver<()>,
}

impl Beside {
    pub(super) fn new() -> Self {
        let (token, ended) = tokio::sync::mpsc::channel(1);
        Self {
            token: Some(token),
            ended,
        }
    }

    /// Run `work` on a task of its own, awaited through the [`Apart`].
    fn spawn<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Apart<T> {
        let token = self.token.clone();
        Apart(tokio::spawn(async move {
            // Dropped with the task, whether it ended or was aborted.
            let _token = token;
            work.await
        }))
    }

    /// Wait until every task started beside the run has ended (one the
    /// run dropped ends at its next await: a guest's next yield).
    pub(super) async fn settle(&mut self) {
        self.token = None;
        while self.ended.recv().await.is_some() {}
    }
}

/// A future on a task of its own, awaited by the run. Dropped with the
/// run (a stop, the run's time limit), it aborts the task: a commit not
/// yet done rolls back (one that is may still commit, which is safe: its
/// first statement checks the lease), a push ends at its guest's next
/// yield. A panic in the task goes on in the run's task, as when the
/// run's own task made the call; the output's error is only a task
/// cancelled from outside (the runtime shutting down).
struct Apart<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Apart<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for Apart<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| match joined {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                joined => joined,
            })
    }
}

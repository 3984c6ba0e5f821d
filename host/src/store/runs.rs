//! Runs, which are also the durable job queue.
//!
//! A run is enqueued `queued` (manual trigger, schedule tick, retry), claimed
//! by a worker with a lease it renews by heartbeat, and finished
//! `succeeded`, `failed` or `cancelled`. A lease that expires (the worker
//! died) puts the run back in the queue; it resumes from its last committed
//! page. At most one run per sync is `running` (a unique index, so this
//! holds across nodes). Claiming is one atomic statement: `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, an `UPDATE … RETURNING` on SQLite (whose writers
//! are serialized).
//!
//! [`Store::commit_page`] is the run loop's checkpoint: cursor, counters,
//! rejections, log lines and records-store writes in one transaction.
//!
//! Every claim takes the next lease generation; an execution's writes
//! (heartbeats, pages, logs, the end) name the [`Lease`] they hold and are
//! refused once the run was claimed again. So an execution that lost its
//! lease, even on the node that claimed the run next, commits nothing.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Backend, Result, Store, corrupt, new_id, now_ms};
use crate::model::record::{Op, Record};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `POST /syncs/{id}/runs`.
    Manual,
    /// A schedule tick.
    Schedule,
    /// An incoming webhook.
    Webhook,
    /// A retry of a failed run.
    Retry,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Retry => "retry",
        }
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Pages fetched.
    pub pages: i64,
    /// Records fetched.
    pub fetched: i64,
    /// Records out of the mapper.
    pub mapped: i64,
    /// Records handed to the destination.
    pub pushed: i64,
    /// Created at the destination.
    pub created: i64,
    /// Updated at the destination.
    pub updated: i64,
    /// Deleted at the destination.
    pub deleted: i64,
    /// Unchanged (records store: same content hash).
    pub unchanged: i64,
    /// Rejected (validation or destination).
    pub rejected: i64,
    /// HTTP requests made by the connectors.
    pub http_requests: i64,
    /// Response bytes received by the connectors.
    pub bytes: i64,
}

const COUNTERS: [&str; 11] = [
    "pages",
    "fetched",
    "mapped",
    "pushed",
    "created",
    "updated",
    "deleted",
    "unchanged",
    "rejected",
    "http_requests",
    "bytes",
];

impl Counters {
    fn values(&self) -> [i64; 11] {
        [
            self.pages,
            self.fetched,
            self.mapped,
            self.pushed,
            self.created,
            self.updated,
            self.deleted,
            self.unchanged,
            self.rejected,
            self.http_requests,
            self.bytes,
        ]
    }
}

/// A run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// Id.
    pub id: String,
    /// Its sync.
    pub sync_id: String,
    /// What started it.
    pub trigger: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// 1 for the first attempt, 2 for its first retry, …
    pub attempt: i64,
    /// The scheduled time it stands for (schedule triggers).
    pub due_at: Option<i64>,
    /// Not claimed before this time (retry backoff).
    pub run_after: i64,
    /// Enqueued (Unix ms).
    pub created_at: i64,
    /// First claimed (Unix ms).
    pub started_at: Option<i64>,
    /// Finished (Unix ms).
    pub finished_at: Option<i64>,
    /// Node holding the lease.
    pub lease_owner: Option<String>,
    /// Lease end (Unix ms).
    pub lease_until: Option<i64>,
    /// Cancellation was asked for.
    pub cancel_requested: bool,
    /// Error kind of a failed run.
    pub error_kind: Option<String>,
    /// Why a run failed, for a person.
    pub error: Option<String>,
    /// Counters.
    pub counters: Counters,
    /// Log lines not kept.
    pub logs_dropped: i64,
    /// Generation of the lease (each claim takes the next one).
    pub lease_gen: i64,
}

/// What an execution holds: a run, for one node, at one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run_id: String,
    /// The node holding it.
    pub owner: String,
    /// The generation of the claim.
    pub generation: i64,
}

impl RunRow {
    /// The lease of a run that is running.
    pub fn lease(&self) -> Option<Lease> {
        Some(Lease {
            run_id: self.id.clone(),
            owner: self.lease_owner.clone()?,
            generation: self.lease_gen,
        })
    }
}

const COLUMNS: &str = "id, sync_id, trigger_kind, status, attempt, due_at, run_after, created_at, started_at, finished_at, \
    lease_owner, lease_until, cancel_requested, error_kind, error, pages, fetched, mapped, pushed, created, updated, \
    deleted, unchanged, rejected, http_requests, bytes, logs_dropped, lease_gen";

fn from_row(r: &AnyRow) -> Result<RunRow> {
    let get = |c: &str| -> Result<i64> { Ok(r.try_get::<i64, _>(c)?) };
    Ok(RunRow {
        id: r.try_get("id")?,
        sync_id: r.try_get("sync_id")?,
        trigger: r.try_get("trigger_kind")?,
        status: r.try_get("status")?,
        attempt: get("attempt")?,
        due_at: r.try_get("due_at")?,
        run_after: get("run_after")?,
        created_at: get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        cancel_requested: get("cancel_requested")? != 0,
        error_kind: r.try_get("error_kind")?,
        error: r.try_get("error")?,
        counters: Counters {
            pages: get("pages")?,
            fetched: get("fetched")?,
            mapped: get("mapped")?,
            pushed: get("pushed")?,
            created: get("created")?,
            updated: get("updated")?,
            deleted: get("deleted")?,
            unchanged: get("unchanged")?,
            rejected: get("rejected")?,
            http_requests: get("http_requests")?,
            bytes: get("bytes")?,
        },
        logs_dropped: get("logs_dropped")?,
        lease_gen: get("lease_gen")?,
    })
}

/// A rejected record.
#[derive(Debug, Clone, Serialize)]
pub struct RejectionRow {
    /// Stream.
    pub stream: String,
    /// Index in its page (or row number of an import).
    pub index: i64,
    /// Key, if known.
    pub key: Option<String>,
    /// Field at fault.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// A stored log line.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    /// Sequence in the run.
    pub seq: i64,
    /// Unix ms.
    pub at: i64,
    /// Level.
    pub level: String,
    /// Source.
    pub source: String,
    /// Text (already redacted).
    pub message: String,
}

/// What one page commits.
#[derive(Debug)]
pub struct PageCommit<'a> {
    /// The lease; nothing is written if it is no longer held.
    pub lease: &'a Lease,
    /// Its sync.
    pub sync_id: &'a str,
    /// Stream of the page.
    pub stream: &'a str,
    /// Cursor after the page (None: keep the previous one).
    pub cursor: Option<String>,
    /// The stream is finished.
    pub done: bool,
    /// Also store the cursor as the sync's checkpoint (incremental mode).
    pub checkpoint: bool,
    /// Counter increments.
    pub counters: Counters,
    /// Rejections.
    pub rejections: Vec<RejectionRow>,
    /// Log lines: (at, level, source, message).
    pub logs: Vec<(i64, String, String, String)>,
    /// Log lines dropped.
    pub logs_dropped: i64,
    /// Records for the built-in records store.
    pub records: Vec<Record>,
    /// Records the sync may keep in the store in all.
    pub quota: i64,
}

/// Why a page was not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRefused {
    /// The lease is no longer held: another execution owns the run.
    LeaseLost,
    /// The records store would hold more than the sync's quota.
    Quota {
        /// The quota.
        limit: i64,
    },
}

/// What the records store did with a page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreOutcome {
    /// New.
    pub created: i64,
    /// Changed.
    pub updated: i64,
    /// Same content hash: not rewritten.
    pub unchanged: i64,
    /// Removed.
    pub deleted: i64,
}

/// Max log lines a run keeps in the database.
pub const RUN_LOG_CAP: i64 = 2_000;

impl Store {
    /// Enqueue a run. For schedule triggers, `None` if that due time was
    /// already enqueued (by this or another node).
    pub async fn enqueue_run(
        &self,
        sync_id: &str,
        trigger: Trigger,
        due_at: Option<i64>,
        run_after: i64,
        attempt: i64,
    ) -> Result<Option<RunRow>> {
        let id = new_id();
        let done = sqlx::query(
            "INSERT INTO runs (id, sync_id, trigger_kind, status, attempt, due_at, run_after, created_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(sync_id)
        .bind(trigger.as_str())
        .bind(attempt)
        .bind(due_at)
        .bind(run_after)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.run(&id).await
    }

    /// Enqueue the due time of each sync and move its next due time, in one
    /// transaction: `(sync id, due at, next due at)`. Returns, per item,
    /// whether a run was enqueued (false: another scheduler did it first).
    pub async fn enqueue_scheduled(
        &self,
        items: &[(String, i64, Option<i64>)],
        now: i64,
    ) -> Result<Vec<bool>> {
        const CHUNK: usize = 400;
        let mut tx = self.pool().begin().await?;
        let mut enqueued = std::collections::HashSet::new();
        let created = now_ms();
        for chunk in items.chunks(CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(${}, ${}, 'schedule', 'queued', 1, ${}, $1, $2)",
                        3 + 3 * i,
                        4 + 3 * i,
                        5 + 3 * i
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO runs (id, sync_id, trigger_kind, status, attempt, due_at, run_after, created_at) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING sync_id",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(now).bind(created);
            for (sync_id, due, _) in chunk {
                q = q.bind(new_id()).bind(sync_id).bind(due);
            }
            for row in q.fetch_all(&mut *tx).await? {
                enqueued.insert(row.try_get::<String, _>("sync_id")?);
            }
        }
        // Syncs on the same schedule share their next due time: one
        // statement per (due, next) group instead of one per sync.
        let mut groups: HashMap<(i64, Option<i64>), Vec<&str>> = HashMap::new();
        for (sync_id, due, next) in items {
            groups.entry((*due, *next)).or_default().push(sync_id);
        }
        for ((due, next), ids) in groups {
            for chunk in ids.chunks(CHUNK) {
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", 3 + i)).collect();
                let sql = format!(
                    "UPDATE syncs SET next_due_at = $1 WHERE next_due_at = $2 AND id IN ({})",
                    list.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(next).bind(due);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(items
            .iter()
            .map(|(id, _, _)| enqueued.contains(id))
            .collect())
    }

    /// Insert a run already claimed by `owner` (imports and webhook
    /// deliveries run at once, in the request); `None` if the sync has a
    /// running run.
    pub async fn start_run_now(
        &self,
        sync_id: &str,
        trigger: Trigger,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<RunRow>> {
        let id = new_id();
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO runs (id, sync_id, trigger_kind, status, attempt, run_after, created_at, started_at, lease_owner, lease_until, lease_gen) \
             VALUES ($1, $2, $3, 'running', 1, $4, $4, $4, $5, $6, 1)",
        )
        .bind(&id)
        .bind(sync_id)
        .bind(trigger.as_str())
        .bind(now)
        .bind(owner)
        .bind(now + lease_ms)
        .execute(self.pool())
        .await;
        match done {
            Ok(_) => self.run(&id).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Claim the oldest claimable run, if any.
    pub async fn claim_run(&self, owner: &str, lease_ms: i64) -> Result<Option<RunRow>> {
        let now = now_ms();
        let pick = "SELECT r.id FROM runs r WHERE r.status = 'queued' AND r.run_after <= $3 \
             AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.sync_id = r.sync_id AND x.status = 'running') \
             ORDER BY r.run_after, r.created_at LIMIT 1";
        let sql = match self.backend() {
            Backend::Postgres => format!(
                "UPDATE runs SET status = 'running', lease_owner = $1, lease_until = $2, started_at = COALESCE(started_at, $3), \
                 lease_gen = lease_gen + 1 WHERE id = ({pick} FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
            ),
            Backend::Sqlite => format!(
                "UPDATE runs SET status = 'running', lease_owner = $1, lease_until = $2, started_at = COALESCE(started_at, $3), \
                 lease_gen = lease_gen + 1 WHERE id = ({pick}) RETURNING {COLUMNS}"
            ),
        };
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(self.pool())
            .await;
        match row {
            Ok(row) => row.as_ref().map(from_row).transpose(),
            // Two nodes raced for runs of the same sync: the unique index
            // refused the second; it simply finds nothing this time.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Extend a lease; false if the run is no longer ours.
    pub async fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND lease_gen = $4 AND status = 'running'",
        )
        .bind(now_ms() + lease_ms)
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Put runs whose lease expired back in the queue.
    pub async fn rescue_expired(&self) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL WHERE status = 'running' AND lease_until < $1",
        )
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Give a run back to the queue (graceful shutdown).
    pub async fn release_run(&self, lease: &Lease) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND lease_gen = $3 AND status = 'running'",
        )
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finish a run we hold; false (and nothing written) if we no longer do.
    pub async fn finish_run(
        &self,
        lease: &Lease,
        status: &str,
        error_kind: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET status = $1, error_kind = $2, error = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE id = $5 AND lease_owner = $6 AND lease_gen = $7 AND status = 'running'",
        )
        .bind(status)
        .bind(error_kind)
        .bind(error)
        .bind(now_ms())
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ask a run to stop: a queued run is cancelled at once, a running one
    /// at its next check (within one call deadline).
    pub async fn request_cancel(&self, run_id: &str) -> Result<Option<RunRow>> {
        sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_at = $1, error = 'cancelled before it started' WHERE id = $2 AND status = 'queued'",
        )
        .bind(now_ms())
        .bind(run_id)
        .execute(self.pool())
        .await?;
        sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = $1 AND status = 'running'")
            .bind(run_id)
            .execute(self.pool())
            .await?;
        self.run(run_id).await
    }

    /// Whether cancellation was asked for.
    pub async fn cancel_requested(&self, run_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("cancel_requested")? != 0,
            None => true,
        })
    }

    /// Which of these runs have a cancellation request.
    pub async fn cancel_requested_among(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashSet<String>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok(r.try_get("id")?))
            .collect()
    }

    /// One run.
    pub async fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Runs of a sync, newest first.
    pub async fn runs_of_sync(&self, sync_id: &str, limit: i64) -> Result<Vec<RunRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs WHERE sync_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(sync_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Runs in a status (all syncs).
    pub async fn count_runs(&self, status: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE status = $1")
            .bind(status)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Runs by status, for metrics.
    pub async fn runs_by_status(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status ORDER BY status")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Where each stream of a run stands: (cursor, done).
    pub async fn run_progress(
        &self,
        run_id: &str,
    ) -> Result<HashMap<String, (Option<String>, bool)>> {
        let rows = sqlx::query("SELECT stream, cursor, done FROM run_streams WHERE run_id = $1")
            .bind(run_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("stream")?,
                    (r.try_get("cursor")?, r.try_get::<i64, _>("done")? != 0),
                ))
            })
            .collect()
    }

    /// Log lines of a run after `after` (sequence number).
    pub async fn run_logs(&self, run_id: &str, after: i64, limit: i64) -> Result<Vec<LogRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, level, source, message FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    level: r.try_get("level")?,
                    source: r.try_get("source")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Rejections of a run.
    pub async fn run_rejections(&self, run_id: &str, limit: i64) -> Result<Vec<RejectionRow>> {
        let rows = sqlx::query(
            "SELECT stream, record_index, record_key, field, message FROM run_rejections WHERE run_id = $1 ORDER BY seq LIMIT $2",
        )
        .bind(run_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RejectionRow {
                    stream: r.try_get("stream")?,
                    index: r.try_get("record_index")?,
                    key: r.try_get("record_key")?,
                    field: r.try_get("field")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Commit one page: records-store writes, cursor, counters, rejections
    /// and logs in one transaction. Refused, with nothing written, if the
    /// lease is no longer held or the records store would pass the quota.
    pub async fn commit_page(
        &self,
        c: PageCommit<'_>,
    ) -> Result<std::result::Result<StoreOutcome, PageRefused>> {
        let mut tx = self.pool().begin().await?;
        // Take the run's row first (a write, so PostgreSQL locks it and
        // SQLite holds the write lock): a claim by another execution waits
        // for this transaction or makes it find nothing.
        let held = sqlx::query(
            "UPDATE runs SET lease_until = lease_until WHERE id = $1 AND lease_owner = $2 AND lease_gen = $3 AND status = 'running'",
        )
        .bind(&c.lease.run_id)
        .bind(&c.lease.owner)
        .bind(c.lease.generation)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !held {
            return Ok(Err(PageRefused::LeaseLost));
        }
        let run_id = c.lease.run_id.as_str();
        let outcome = store_records(&mut tx, c.sync_id, &c.records).await?;
        let growth = outcome.created - outcome.deleted;
        if growth != 0 {
            let row = sqlx::query(
                "UPDATE syncs SET record_count = record_count + $1 WHERE id = $2 RETURNING record_count",
            )
            .bind(growth)
            .bind(c.sync_id)
            .fetch_one(&mut *tx)
            .await?;
            let count: i64 = row.try_get("record_count")?;
            if growth > 0 && count > c.quota {
                return Ok(Err(PageRefused::Quota { limit: c.quota }));
            }
        }
        let mut counters = c.counters;
        counters.created += outcome.created;
        counters.updated += outcome.updated;
        counters.deleted += outcome.deleted;
        counters.unchanged += outcome.unchanged;
        let set: Vec<String> = COUNTERS
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name} = {name} + ${}", i + 1))
            .collect();
        let sql = format!(
            "UPDATE runs SET {}, logs_dropped = logs_dropped + $12 WHERE id = $13",
            set.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for v in counters.values() {
            q = q.bind(v);
        }
        q.bind(c.logs_dropped)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;

        let cursor_sql = "INSERT INTO run_streams (run_id, stream, cursor, done) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id, stream) DO UPDATE SET cursor = COALESCE(excluded.cursor, run_streams.cursor), done = excluded.done";
        sqlx::query(cursor_sql)
            .bind(run_id)
            .bind(c.stream)
            .bind(c.cursor.as_deref())
            .bind(i64::from(c.done))
            .execute(&mut *tx)
            .await?;
        if c.checkpoint && c.cursor.is_some() {
            sqlx::query(
                "INSERT INTO sync_cursors (sync_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sync_id, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(c.sync_id)
            .bind(c.stream)
            .bind(c.cursor.as_deref())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        if !c.rejections.is_empty() {
            let base = next_seq(&mut tx, "run_rejections", run_id).await?;
            for (i, r) in c.rejections.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO run_rejections (run_id, seq, stream, record_index, record_key, field, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(run_id)
                .bind(base + i as i64)
                .bind(&r.stream)
                .bind(r.index)
                .bind(r.key.as_deref())
                .bind(r.field.as_deref())
                .bind(&r.message)
                .execute(&mut *tx)
                .await?;
            }
        }
        if !c.logs.is_empty() {
            let base = next_seq(&mut tx, "run_logs", run_id).await?;
            let room = (RUN_LOG_CAP - base).max(0) as usize;
            let dropped = c.logs.len().saturating_sub(room) as i64;
            for (i, (at, level, source, message)) in c.logs.iter().take(room).enumerate() {
                sqlx::query("INSERT INTO run_logs (run_id, seq, at, level, source, message) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(run_id)
                    .bind(base + i as i64)
                    .bind(at)
                    .bind(level)
                    .bind(source)
                    .bind(message)
                    .execute(&mut *tx)
                    .await?;
            }
            if dropped > 0 {
                sqlx::query("UPDATE runs SET logs_dropped = logs_dropped + $1 WHERE id = $2")
                    .bind(dropped)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Ok(outcome))
    }

    /// Append log lines outside a page (run start and end), while the lease
    /// is held; false (nothing written) otherwise.
    pub async fn append_run_logs(
        &self,
        lease: &Lease,
        logs: &[(i64, String, String, String)],
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let held = sqlx::query(
            "UPDATE runs SET lease_until = lease_until WHERE id = $1 AND lease_owner = $2 AND lease_gen = $3 AND status = 'running'",
        )
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !held {
            return Ok(false);
        }
        let run_id = lease.run_id.as_str();
        let base = next_seq(&mut tx, "run_logs", run_id).await?;
        for (i, (at, level, source, message)) in logs
            .iter()
            .enumerate()
            .take((RUN_LOG_CAP - base).max(0) as usize)
        {
            sqlx::query("INSERT INTO run_logs (run_id, seq, at, level, source, message) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(run_id)
                .bind(base + i as i64)
                .bind(at)
                .bind(level)
                .bind(source)
                .bind(message)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

async fn next_seq(tx: &mut Transaction<'_, Any>, table: &str, run_id: &str) -> Result<i64> {
    let row = sqlx::query(&format!(
        "SELECT COALESCE(MAX(seq), 0) AS m FROM {table} WHERE run_id = $1"
    ))
    .bind(run_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get::<i64, _>("m")? + 1)
}

/// The key a record is stored under: its key, or (for keyless records)
/// the hash of its content, so identical rows collapse into one.
pub fn record_key(r: &Record, hash: &str) -> String {
    r.key.clone().unwrap_or_else(|| format!("sha256:{hash}"))
}

/// SHA-256 of a record's data as the connector wrote it. Connectors built
/// with the SDK write object keys in sorted order, so the same content
/// always hashes the same; re-parsing every record to canonicalise it would
/// cost more than the whole store write.
pub fn content_hash(r: &Record) -> String {
    hex::encode(Sha256::digest(r.data.get().as_bytes()))
}

/// Parameters per statement stay far below SQLite's limit (32,766).
const BATCH: usize = 200;

async fn store_records(
    tx: &mut Transaction<'_, Any>,
    sync_id: &str,
    records: &[Record],
) -> Result<StoreOutcome> {
    let mut outcome = StoreOutcome::default();
    if records.is_empty() {
        return Ok(outcome);
    }
    let now = now_ms();
    // Later records of the page win over earlier ones with the same key.
    let mut latest: Vec<(String, String, &Record)> = Vec::with_capacity(records.len());
    let mut index: HashMap<(&str, String), usize> = HashMap::new();
    for r in records {
        let hash = content_hash(r);
        let key = record_key(r, &hash);
        match index.get(&(r.stream.as_str(), key.clone())) {
            Some(&i) => latest[i] = (key, hash, r),
            None => {
                index.insert((r.stream.as_str(), key.clone()), latest.len());
                latest.push((key, hash, r));
            }
        }
    }
    let mut by_stream: HashMap<&str, Vec<&(String, String, &Record)>> = HashMap::new();
    for item in &latest {
        by_stream
            .entry(item.2.stream.as_str())
            .or_default()
            .push(item);
    }
    for (stream, items) in by_stream {
        for chunk in items.chunks(BATCH) {
            // What is stored now, in one query.
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", 3 + i)).collect();
            let sql = format!(
                "SELECT record_key, hash FROM records WHERE sync_id = $1 AND stream = $2 AND record_key IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(sync_id).bind(stream);
            for (key, _, _) in chunk {
                q = q.bind(key.as_str());
            }
            let mut stored: HashMap<String, String> = HashMap::new();
            for row in q.fetch_all(&mut **tx).await? {
                stored.insert(row.try_get("record_key")?, row.try_get("hash")?);
            }
            let mut writes: Vec<&(String, String, &Record)> = Vec::new();
            let mut deletes: Vec<&str> = Vec::new();
            for item in chunk {
                let (key, hash, r) = item;
                match (r.op, stored.get(key)) {
                    (Op::Delete, Some(_)) => {
                        deletes.push(key);
                        outcome.deleted += 1;
                    }
                    (Op::Delete, None) => outcome.unchanged += 1,
                    (Op::Upsert, Some(old)) if old == hash => outcome.unchanged += 1,
                    (Op::Upsert, Some(_)) => {
                        writes.push(item);
                        outcome.updated += 1;
                    }
                    (Op::Upsert, None) => {
                        writes.push(item);
                        outcome.created += 1;
                    }
                }
            }
            if !writes.is_empty() {
                let values: Vec<String> = (0..writes.len())
                    .map(|i| {
                        format!(
                            "($1, $2, ${}, ${}, ${}, $3)",
                            4 + 3 * i,
                            5 + 3 * i,
                            6 + 3 * i
                        )
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO records (sync_id, stream, record_key, hash, data, updated_at) VALUES {} \
                     ON CONFLICT (sync_id, stream, record_key) DO UPDATE SET hash = excluded.hash, data = excluded.data, updated_at = excluded.updated_at",
                    values.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(sync_id).bind(stream).bind(now);
                for (key, hash, r) in writes {
                    q = q.bind(key.as_str()).bind(hash.as_str()).bind(r.data.get());
                }
                q.execute(&mut **tx).await?;
            }
            if !deletes.is_empty() {
                let list: Vec<String> = (0..deletes.len()).map(|i| format!("${}", 3 + i)).collect();
                let sql = format!(
                    "DELETE FROM records WHERE sync_id = $1 AND stream = $2 AND record_key IN ({})",
                    list.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(sync_id).bind(stream);
                for key in deletes {
                    q = q.bind(key);
                }
                q.execute(&mut **tx).await?;
            }
        }
    }
    Ok(outcome)
}

/// A stored record, for reading and export.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRecord {
    /// Stream.
    pub stream: String,
    /// Key.
    pub key: String,
    /// Data (a JSON object).
    pub data: Value,
    /// Last written (Unix ms).
    pub updated_at: i64,
}

impl Store {
    /// Stored records of a sync's stream, by key, after `after`.
    pub async fn records(
        &self,
        sync_id: &str,
        stream: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query(
            "SELECT stream, record_key, data, updated_at FROM records WHERE sync_id = $1 AND stream = $2 AND record_key > $3 \
             ORDER BY record_key LIMIT $4",
        )
        .bind(sync_id)
        .bind(stream)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(StoredRecord {
                    stream: r.try_get("stream")?,
                    key: r.try_get("record_key")?,
                    data: serde_json::from_str(&data).map_err(|e| corrupt("records", e))?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Streams with stored records, and how many each has.
    pub async fn record_streams(&self, sync_id: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT stream, COUNT(*) AS n FROM records WHERE sync_id = $1 GROUP BY stream ORDER BY stream")
            .bind(sync_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("stream")?, r.try_get("n")?)))
            .collect()
    }
}

//! Runs as rows: what a run is (trigger, status, counters, its lease),
//! reading runs, their stream positions, log lines and rejections, and
//! appending log lines outside a page. Queue operations are in
//! [`super::queue`], page commits in [`super::pages`].

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{Result, Store};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Retry => "retry",
        }
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

pub(super) const COUNTERS: [&str; 11] = [
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
    pub(super) fn values(&self) -> [i64; 11] {
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// What the run's last attempt used, once it ended (absent while it
    /// runs, and for runs from before this was counted).
    pub resources: Option<crate::model::resources::RunResources>,
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

pub(super) const COLUMNS: &str = "id, sync_id, trigger_kind, status, attempt, due_at, run_after, created_at, started_at, finished_at, \
    lease_owner, lease_until, cancel_requested, error_kind, error, pages, fetched, mapped, pushed, created, updated, \
    deleted, unchanged, rejected, http_requests, bytes, logs_dropped, lease_gen, resources";

pub(super) fn from_row(r: &AnyRow) -> Result<RunRow> {
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
        resources: match r.try_get::<Option<String>, _>("resources")? {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| super::corrupt("runs", e))?),
            None => None,
        },
    })
}

/// A rejected record.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[schemars(rename = "Rejection")]
pub struct RejectionRow {
    /// Stream.
    pub stream: String,
    /// Index in its page (or row number of an import).
    #[sqlx(rename = "record_index")]
    pub index: i64,
    /// Key, if known.
    #[sqlx(rename = "record_key")]
    pub key: Option<String>,
    /// Field at fault.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// A stored log line.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[schemars(rename = "LogLine")]
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

/// Max log lines a run keeps in the database.
pub const RUN_LOG_CAP: i64 = 2_000;

impl Store {
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
        self.runs_page(sync_id, None, limit).await
    }

    /// Runs of a sync, newest first, after a position `(created_at, id)`.
    pub async fn runs_page(
        &self,
        sync_id: &str,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<RunRow>> {
        let (at, id) = after.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs WHERE sync_id = $1 AND (created_at < $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at DESC, id LIMIT $4"
        ))
        .bind(sync_id)
        .bind(at)
        .bind(id)
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
        rows.iter().map(|r| Ok(LogRow::from_row(r)?)).collect()
    }

    /// Rejections of a run.
    pub async fn run_rejections(&self, run_id: &str, limit: i64) -> Result<Vec<RejectionRow>> {
        Ok(self
            .rejections_page(run_id, 0, limit)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Rejections of a run after sequence number `after`, each with its
    /// sequence number.
    pub async fn rejections_page(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, RejectionRow)>> {
        let rows = sqlx::query(
            "SELECT seq, stream, record_index, record_key, field, message FROM run_rejections WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, RejectionRow::from_row(r)?)))
            .collect()
    }

    /// Keep what the run used, while the lease is held; false (nothing
    /// written) otherwise.
    pub async fn set_run_resources(
        &self,
        lease: &Lease,
        resources: &crate::model::resources::RunResources,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET resources = $1 WHERE id = $2 AND lease_owner = $3 AND lease_gen = $4",
        )
        .bind(serde_json::to_string(resources).expect("resources serialize"))
        .bind(&lease.run_id)
        .bind(&lease.owner)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Append log lines outside a page (run start and end), while the lease
    /// is held; false (nothing written) otherwise.
    pub async fn append_run_logs(
        &self,
        lease: &Lease,
        logs: &[(i64, String, String, String)],
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !lease_held(&mut tx, lease).await? {
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

/// Whether `lease` still holds its run, taking the run's row (a write, so
/// PostgreSQL locks it until the transaction ends).
pub(super) async fn lease_held(tx: &mut sqlx::AnyConnection, lease: &Lease) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE runs SET lease_until = lease_until WHERE id = $1 AND lease_owner = $2 AND lease_gen = $3 AND status = 'running'",
    )
    .bind(&lease.run_id)
    .bind(&lease.owner)
    .bind(lease.generation)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn next_seq(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    run_id: &str,
) -> Result<i64> {
    let row = sqlx::query(&format!(
        "SELECT COALESCE(MAX(seq), 0) AS m FROM {table} WHERE run_id = $1"
    ))
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.try_get::<i64, _>("m")? + 1)
}

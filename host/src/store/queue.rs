//! The runs table as a durable job queue.
//!
//! A run is enqueued `queued` (manual trigger, schedule tick, retry),
//! claimed by a worker with a lease it renews by heartbeat, and finished
//! `succeeded`, `failed` or `cancelled`. A lease that expires (the worker
//! died) puts the run back in the queue; it resumes from its last committed
//! page. At most one run per sync is `running` (a unique index, so this
//! holds across nodes). Claiming is one atomic statement: `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, an `UPDATE … RETURNING` on SQLite (whose writers
//! are serialized).
//!
//! Every claim takes the next lease generation; an execution's writes
//! (heartbeats, pages, logs, the end) name the [`Lease`] they hold and are
//! refused once the run was claimed again. So an execution that lost its
//! lease, even on the node that claimed the run next, commits nothing.

use std::collections::HashMap;

use sqlx::Row;

use super::runs::{COLUMNS, Lease, RunRow, Trigger, from_row};
use super::{Backend, Result, Store, new_id, now_ms};

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

    /// The manual run of a sync waiting in the queue, if there is one (at
    /// most one can be: a unique index holds it).
    pub async fn queued_manual_run(&self, sync_id: &str) -> Result<Option<RunRow>> {
        let row = sqlx::query(
            "SELECT id FROM runs WHERE sync_id = $1 AND status = 'queued' AND trigger_kind = 'manual'",
        )
        .bind(sync_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => self.run(&r.try_get::<String, _>("id")?).await,
            None => Ok(None),
        }
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
        let mut tx = self.begin_write().await?;
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
                 lease_gen = lease_gen + 1, resources = NULL WHERE id = ({pick} FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
            ),
            Backend::Sqlite => format!(
                "UPDATE runs SET status = 'running', lease_owner = $1, lease_until = $2, started_at = COALESCE(started_at, $3), \
                 lease_gen = lease_gen + 1, resources = NULL WHERE id = ({pick}) RETURNING {COLUMNS}"
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
}

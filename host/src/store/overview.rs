//! What the dashboard shows at a glance: runs finished in a window, the
//! syncs due next, the connections in error, the queue.

use sqlx::Row;

use super::{Result, Store};

/// A finished run, as the dashboard counts it.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// When it finished (Unix ms).
    pub finished_at: i64,
    /// Records handed to the destination.
    pub pushed: i64,
}

/// A sync due to run.
#[derive(Debug, Clone)]
pub struct DueSync {
    /// Sync id.
    pub id: String,
    /// Sync name.
    pub name: String,
    /// When it is due (Unix ms).
    pub due_at: i64,
}

/// A connection that needs an administrator.
#[derive(Debug, Clone)]
pub struct TroubledConnection {
    /// Connection id.
    pub id: String,
    /// Connection name.
    pub name: String,
    /// `error` or `needs_reauth`.
    pub status: String,
    /// Why.
    pub reason: Option<String>,
}

impl Store {
    /// Runs finished at or after `since`, oldest first.
    pub async fn runs_finished_since(&self, since: i64) -> Result<Vec<FinishedRun>> {
        let rows = sqlx::query(
            "SELECT status, finished_at, pushed FROM runs WHERE finished_at >= $1 ORDER BY finished_at",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FinishedRun {
                    status: r.try_get("status")?,
                    finished_at: r.try_get("finished_at")?,
                    pushed: r.try_get("pushed")?,
                })
            })
            .collect()
    }

    /// The enabled syncs with a schedule, soonest first.
    pub async fn next_due_syncs(&self, limit: i64) -> Result<Vec<DueSync>> {
        let rows = sqlx::query(
            "SELECT id, name, next_due_at FROM syncs WHERE enabled = 1 AND next_due_at IS NOT NULL \
             ORDER BY next_due_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueSync {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    due_at: r.try_get("next_due_at")?,
                })
            })
            .collect()
    }

    /// Connections in `error` or `needs_reauth`, by name.
    pub async fn troubled_connections(&self) -> Result<Vec<TroubledConnection>> {
        let rows = sqlx::query(
            "SELECT id, name, status, status_reason FROM connections \
             WHERE status IN ('error', 'needs_reauth') ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TroubledConnection {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    status: r.try_get("status")?,
                    reason: r.try_get("status_reason")?,
                })
            })
            .collect()
    }
}

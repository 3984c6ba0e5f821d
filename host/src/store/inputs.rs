//! Files handed to a run (`run_inputs`): uploaded with the request that
//! queues the run, read by the source connector as read-only blobs. They
//! go with the run: deleting it (or its retention) deletes them.

use sqlx::Row;

use super::runs::{RunRow, Trigger};
use super::{Result, Store, new_id, now_ms};

/// A file of a run.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// File name.
    pub name: String,
    /// Media type, if given.
    pub content_type: Option<String>,
    /// Bytes.
    pub bytes: Vec<u8>,
}

impl Store {
    /// Queue a manual run of `sync_id` with `file`, in one transaction so no
    /// worker can claim the run before its file is there. `None` when a
    /// manual run of the sync is already waiting.
    pub async fn enqueue_run_with_input(
        &self,
        sync_id: &str,
        file: &RunInput,
    ) -> Result<Option<RunRow>> {
        let id = new_id();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO runs (id, sync_id, trigger_kind, status, attempt, due_at, run_after, created_at) \
             VALUES ($1, $2, $3, 'queued', 1, NULL, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(sync_id)
        .bind(Trigger::Manual.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO run_inputs (run_id, name, content_type, bytes) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&file.name)
        .bind(&file.content_type)
        .bind(&file.bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.run(&id).await
    }

    /// The files of a run.
    pub async fn run_inputs(&self, run_id: &str) -> Result<Vec<RunInput>> {
        let rows = sqlx::query(
            "SELECT name, content_type, bytes FROM run_inputs WHERE run_id = $1 ORDER BY name",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RunInput {
                    name: r.try_get("name")?,
                    content_type: r.try_get("content_type")?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .collect()
    }
}

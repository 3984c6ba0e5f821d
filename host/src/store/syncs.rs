//! Syncs: source connection and streams → optional mapper → destination
//! (a connection, or the built-in records store), with a schedule, a mode,
//! an error threshold, a retry policy, and the committed cursor per stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, corrupt, now_ms};

/// Whether a run starts from the beginning or after the last committed cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every run reads everything.
    Full,
    /// Every run continues after the cursor the previous runs committed.
    Incremental,
}

/// When a sync runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Schedule {
    /// Every N seconds.
    Every {
        /// Seconds between runs: 1 second to 366 days.
        #[schemars(range(min = 1, max = MAX_EVERY_SECS))]
        every: u64,
    },
    /// A five-field cron expression, UTC.
    Cron {
        /// Minute, hour, day of month, month, day of week; `*`, lists,
        /// ranges and steps (e.g. `*/15 * * * *`).
        #[schemars(length(min = 9, max = 200))]
        cron: String,
    },
}

/// What a run does about failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts of one connector call on transient errors (1 = no retry).
    #[schemars(range(min = 1, max = 20))]
    pub attempts: u32,
    /// First backoff, doubled each attempt, with jitter.
    #[schemars(range(max = 3_600_000))]
    pub backoff_ms: u64,
    /// Largest backoff.
    #[schemars(range(max = 86_400_000))]
    pub max_backoff_ms: u64,
    /// Runs that failed on a transient error are retried as new runs this
    /// many times.
    #[schemars(range(max = 20))]
    pub run_retries: u32,
    /// Longest `rate-limited` wait a run accepts before failing.
    #[schemars(range(max = 86_400))]
    pub max_rate_limit_wait_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff_ms: 500,
            max_backoff_ms: 30_000,
            run_retries: 2,
            max_rate_limit_wait_secs: 300,
        }
    }
}

/// What one run of a sync may do, and what the sync may keep in the
/// records store. A run that reaches a limit fails with the limit named;
/// the defaults stop a runaway source long before it fills a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunLimits {
    /// Records fetched in one run.
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub max_records: u64,
    /// Pages fetched in one run.
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub max_pages: u64,
    /// Response bytes the connectors receive in one run.
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub max_bytes: u64,
    /// Wall-clock time of one run, in seconds (at most 30 days).
    #[schemars(range(min = 1, max = 2_592_000))]
    pub max_duration_secs: u64,
    /// Records the sync keeps in the records store.
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub max_stored_records: u64,
    /// Seconds one run may wait on pending pages (a report or bulk job
    /// the source polls), at most 30 days.
    #[schemars(range(min = 1, max = 2_592_000))]
    pub max_pending_secs: u64,
}

/// Longest interval of an `every` schedule: 366 days.
pub const MAX_EVERY_SECS: u64 = 366 * 24 * 3600;

/// Largest value of a count or size limit: 10^15, far above any real run
/// and exact in every JSON client (below 2^53).
pub const MAX_LIMIT: u64 = 1_000_000_000_000_000;

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_records: 10_000_000,
            max_pages: 1_000_000,
            max_bytes: 20 << 30,
            max_duration_secs: 24 * 3600,
            max_stored_records: 10_000_000,
            max_pending_secs: 6 * 3600,
        }
    }
}

/// A sync as stored.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SyncRow {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Source connection.
    pub source_id: String,
    /// Streams to read, in order.
    pub streams: Vec<String>,
    /// Full or incremental.
    pub mode: Mode,
    /// Optional mapper connection.
    pub mapper_id: Option<String>,
    /// Destination connection; none: the built-in records store.
    pub destination_id: Option<String>,
    /// Schedule; none: manual only.
    pub schedule: Option<Schedule>,
    /// Whether schedules fire.
    pub enabled: bool,
    /// Rejected records a run tolerates before failing (-1: any number).
    pub error_threshold: i64,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// JSON Schemas by stream, for streams the source does not describe
    /// (e.g. what a mapper produces); they override the source's.
    pub schemas: BTreeMap<String, serde_json::Value>,
    /// Limits of each run, and the records-store quota.
    pub limits: RunLimits,
    /// Records the sync keeps in the records store now.
    pub record_count: i64,
    /// Next scheduled time (Unix ms).
    pub next_due_at: Option<i64>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Changed (Unix ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, source_id, streams, mode, mapper_id, destination_id, schedule, enabled, error_threshold, retry, schemas, next_due_at, created_at, updated_at, limits, record_count";

fn from_row(r: &AnyRow) -> Result<SyncRow> {
    let streams: String = r.try_get("streams")?;
    let mode: String = r.try_get("mode")?;
    let schedule: Option<String> = r.try_get("schedule")?;
    let retry: String = r.try_get("retry")?;
    let schemas: String = r.try_get("schemas")?;
    let limits: String = r.try_get("limits")?;
    let parse = |e: serde_json::Error| corrupt("syncs", e);
    Ok(SyncRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        source_id: r.try_get("source_id")?,
        streams: serde_json::from_str(&streams).map_err(parse)?,
        mode: serde_json::from_value(serde_json::Value::String(mode)).map_err(parse)?,
        mapper_id: r.try_get("mapper_id")?,
        destination_id: r.try_get("destination_id")?,
        schedule: schedule
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(parse)?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        error_threshold: r.try_get("error_threshold")?,
        retry: serde_json::from_str(&retry).map_err(parse)?,
        schemas: serde_json::from_str(&schemas).map_err(parse)?,
        limits: serde_json::from_str(&limits).map_err(parse)?,
        record_count: r.try_get("record_count")?,
        next_due_at: r.try_get("next_due_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn mode_text(m: Mode) -> &'static str {
    match m {
        Mode::Full => "full",
        Mode::Incremental => "incremental",
    }
}

impl Store {
    /// Insert a sync.
    pub async fn insert_sync(&self, s: &SyncRow) -> Result<SyncRow> {
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO syncs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, 0)"
        ))
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.source_id)
        .bind(serde_json::to_string(&s.streams).expect("streams serialize"))
        .bind(mode_text(s.mode))
        .bind(s.mapper_id.as_deref())
        .bind(s.destination_id.as_deref())
        .bind(s.schedule.as_ref().map(|x| serde_json::to_string(x).expect("schedule serializes")))
        .bind(i64::from(s.enabled))
        .bind(s.error_threshold)
        .bind(serde_json::to_string(&s.retry).expect("retry serializes"))
        .bind(serde_json::to_string(&s.schemas).expect("schemas serialize"))
        .bind(s.next_due_at)
        .bind(now)
        .bind(serde_json::to_string(&s.limits).expect("limits serialize"))
        .execute(self.pool())
        .await?;
        self.sync(&s.id)
            .await?
            .ok_or_else(|| corrupt("syncs", "inserted row vanished"))
    }

    /// Replace a sync's settings (everything but id and times).
    pub async fn update_sync(&self, s: &SyncRow) -> Result<Option<SyncRow>> {
        let done = sqlx::query(
            "UPDATE syncs SET name = $1, source_id = $2, streams = $3, mode = $4, mapper_id = $5, destination_id = $6, \
             schedule = $7, enabled = $8, error_threshold = $9, retry = $10, schemas = $11, next_due_at = $12, updated_at = $13, limits = $15 WHERE id = $14",
        )
        .bind(&s.name)
        .bind(&s.source_id)
        .bind(serde_json::to_string(&s.streams).expect("streams serialize"))
        .bind(mode_text(s.mode))
        .bind(s.mapper_id.as_deref())
        .bind(s.destination_id.as_deref())
        .bind(s.schedule.as_ref().map(|x| serde_json::to_string(x).expect("schedule serializes")))
        .bind(i64::from(s.enabled))
        .bind(s.error_threshold)
        .bind(serde_json::to_string(&s.retry).expect("retry serializes"))
        .bind(serde_json::to_string(&s.schemas).expect("schemas serialize"))
        .bind(s.next_due_at)
        .bind(now_ms())
        .bind(&s.id)
        .bind(serde_json::to_string(&s.limits).expect("limits serialize"))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.sync(&s.id).await
    }

    /// One sync.
    pub async fn sync(&self, id: &str) -> Result<Option<SyncRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM syncs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Syncs by name, after `after`.
    pub async fn syncs(&self, after: Option<&str>, limit: i64) -> Result<Vec<SyncRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM syncs WHERE name > $1 ORDER BY name LIMIT $2"
        ))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every sync that reads from a connection, by name.
    pub async fn syncs_by_source(&self, connection_id: &str) -> Result<Vec<SyncRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM syncs WHERE source_id = $1 ORDER BY name"
        ))
        .bind(connection_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether a sync name is taken by another sync.
    pub async fn sync_name_taken(&self, name: &str, except: Option<&str>) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM syncs WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => except != Some(r.try_get::<String, _>("id")?.as_str()),
            None => false,
        })
    }

    /// Delete a sync with its runs, cursors and stored records.
    pub async fn delete_sync(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        for table in ["run_logs", "run_rejections", "run_streams"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE run_id IN (SELECT id FROM runs WHERE sync_id = $1)"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for table in ["runs", "sync_cursors", "records"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE sync_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM syncs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Names of syncs that use a connection.
    pub async fn syncs_using_connection(&self, connection_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM syncs WHERE source_id = $1 OR mapper_id = $1 OR destination_id = $1 ORDER BY name",
        )
        .bind(connection_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// Enabled syncs whose next due time has come.
    pub async fn due_syncs(&self, now: i64, limit: i64) -> Result<Vec<SyncRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM syncs WHERE enabled = 1 AND next_due_at IS NOT NULL AND next_due_at <= $1 \
             ORDER BY next_due_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Move a sync's next due time from `from` to `to`, only if no other
    /// scheduler moved it first.
    pub async fn advance_schedule(&self, id: &str, from: i64, to: Option<i64>) -> Result<bool> {
        let done =
            sqlx::query("UPDATE syncs SET next_due_at = $1 WHERE id = $2 AND next_due_at = $3")
                .bind(to)
                .bind(id)
                .bind(from)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The committed cursor of every stream of a sync.
    pub async fn sync_cursors(&self, id: &str) -> Result<BTreeMap<String, Option<String>>> {
        let rows = sqlx::query("SELECT stream, cursor FROM sync_cursors WHERE sync_id = $1")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("stream")?, r.try_get("cursor")?)))
            .collect()
    }
}

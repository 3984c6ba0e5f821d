//! A page commit: the run loop's checkpoint. Records-store writes, the
//! cursor, counters, rejections and log lines in one transaction, fenced by
//! the run's lease and held to the sync's records quota.

use sqlx::Row;

use super::records::store_records;
use super::runs::{COUNTERS, Counters, Lease, RUN_LOG_CAP, RejectionRow, lease_held, next_seq};
use super::{Backend, Result, Store, now_ms};
use crate::model::record::Record;

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

impl Store {
    /// Commit one page: records-store writes, cursor, counters, rejections
    /// and logs in one transaction. Refused, with nothing written, if the
    /// lease is no longer held or the records store would pass the quota.
    pub async fn commit_page(
        &self,
        c: PageCommit<'_>,
    ) -> Result<std::result::Result<StoreOutcome, PageRefused>> {
        let sqlite = self.backend() == Backend::Sqlite;
        let mut tx = self.begin_page_write().await?;
        // On PostgreSQL the run's row is taken first (a write, so it is
        // locked): a claim by another execution waits for this transaction
        // or makes it find nothing, and the two never lock the same records
        // in opposite orders. On SQLite `BEGIN IMMEDIATE` already holds the
        // database's one write lock, so nothing can move the lease before
        // the counters' update checks it below: one statement (a round trip
        // to SQLite's thread) fewer per page.
        if !sqlite && !lease_held(&mut tx, c.lease).await? {
            return Ok(Err(PageRefused::LeaseLost));
        }
        let run_id = c.lease.run_id.as_str();
        let written = write_records(&mut tx, self.backend(), c.sync_id, &c.records, c.quota).await;
        let (outcome, over_quota) = match written {
            Ok(w) => w,
            // On SQLite the lease is checked last; a sync deleted under its
            // run (its runs with it) fails the records' writes first. That
            // is a lost lease, not a failure of the store.
            Err(e) => {
                if sqlite && !lease_held(&mut tx, c.lease).await? {
                    return Ok(Err(PageRefused::LeaseLost));
                }
                return Err(e);
            }
        };
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
        let update = format!(
            "UPDATE runs SET {}, logs_dropped = logs_dropped + $12 \
             WHERE id = $13 AND lease_owner = $14 AND lease_gen = $15 AND status = 'running'",
            set.join(", ")
        );
        // The stream's cursor goes with the counters in one request: one
        // round trip instead of two. On SQLite as a second statement (its
        // `$n`s number the request's values; the cursor's upsert always
        // changes one row, so the request changes two while the lease
        // holds); PostgreSQL prepares one statement per request, so there
        // the update is a `WITH` whose returned row the upsert reads (it
        // changes one row while the lease holds).
        let sql = if sqlite {
            format!("{update}; {}", cursor_upsert("VALUES ($13, $16, $17, $18)"))
        } else {
            format!(
                "WITH counted AS ({update} RETURNING id) {}",
                cursor_upsert("SELECT id, $16, $17, $18 FROM counted")
            )
        };
        let mut q = sqlx::query(&sql);
        for v in counters.values() {
            q = q.bind(v);
        }
        let changed = q
            .bind(c.logs_dropped)
            .bind(run_id)
            .bind(&c.lease.owner)
            .bind(c.lease.generation)
            .bind(c.stream)
            .bind(c.cursor.as_deref())
            .bind(i64::from(c.done))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let held = changed == if sqlite { 2 } else { 1 };
        // Returning drops the transaction: nothing of the page is written.
        if !held {
            return Ok(Err(PageRefused::LeaseLost));
        }
        if over_quota {
            return Ok(Err(PageRefused::Quota { limit: c.quota }));
        }
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
}

/// The page's records written to the records store, and the sync's stored
/// count moved by what they added: what changed, and whether the count
/// passed `quota`.
async fn write_records(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    sync_id: &str,
    records: &[Record],
    quota: i64,
) -> Result<(StoreOutcome, bool)> {
    let outcome = store_records(tx, backend, sync_id, records).await?;
    let growth = outcome.created - outcome.deleted;
    if growth == 0 {
        return Ok((outcome, false));
    }
    let row = sqlx::query(
        "UPDATE syncs SET record_count = record_count + $1 WHERE id = $2 RETURNING record_count",
    )
    .bind(growth)
    .bind(sync_id)
    .fetch_one(&mut *tx)
    .await?;
    let count: i64 = row.try_get("record_count")?;
    Ok((outcome, growth > 0 && count > quota))
}

/// Where a run's stream stands after a page: its cursor (kept when the
/// page has none) and whether it is done. `rows` gives the run, the
/// stream, the cursor and the flag (`VALUES (…)` or a `SELECT`).
fn cursor_upsert(rows: &str) -> String {
    format!(
        "INSERT INTO run_streams (run_id, stream, cursor, done) {rows} \
         ON CONFLICT (run_id, stream) DO UPDATE SET cursor = COALESCE(excluded.cursor, run_streams.cursor), done = excluded.done"
    )
}

//! The built-in records store: the latest version of every record by
//! (sync, stream, key) with a content hash, so unchanged records are not
//! written again; read and exported through the API.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::pages::StoreOutcome;
use super::{Backend, Result, Store, corrupt, now_ms};
use crate::model::record::{Op, Record};

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

/// Parameters per statement (six a row on SQLite) stay far below SQLite's
/// limit (32,766 in the bundled SQLite; 999 before 3.32).
const BATCH: usize = 200;

pub(super) async fn store_records(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    sync_id: &str,
    records: &[Record],
) -> Result<StoreOutcome> {
    let mut outcome = StoreOutcome::default();
    if records.is_empty() {
        return Ok(outcome);
    }
    let now = now_ms();
    let keyed: Vec<Item> = records
        .iter()
        .map(|r| {
            let hash = content_hash(r);
            (record_key(r, &hash), hash, r)
        })
        .collect();
    // Later records of the page win over earlier ones with the same key.
    let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(keyed.len());
    for (i, (key, _, r)) in keyed.iter().enumerate() {
        last.insert((r.stream.as_str(), key.as_str()), i);
    }
    let latest = keyed
        .iter()
        .enumerate()
        .filter(|(i, (key, _, r))| last[&(r.stream.as_str(), key.as_str())] == *i)
        .map(|(_, item)| item);
    let mut by_stream: HashMap<&str, Vec<&Item>> = HashMap::new();
    for item in latest {
        by_stream
            .entry(item.2.stream.as_str())
            .or_default()
            .push(item);
    }
    for (stream, items) in by_stream {
        for chunk in items.chunks(BATCH) {
            let (upserts, deletes): (Vec<&Item>, Vec<&Item>) =
                chunk.iter().partition(|(_, _, r)| r.op == Op::Upsert);
            let page = Chunk {
                sync_id,
                stream,
                now,
            };
            match backend {
                Backend::Sqlite => {
                    let stored = page.stored_hashes(tx, &upserts).await?;
                    let mut writes = Vec::new();
                    for item in &upserts {
                        match stored.get(&item.0) {
                            Some(old) if *old == item.1 => outcome.unchanged += 1,
                            Some(_) => {
                                writes.push(*item);
                                outcome.updated += 1;
                            }
                            None => {
                                writes.push(*item);
                                outcome.created += 1;
                            }
                        }
                    }
                    page.upsert(tx, Backend::Sqlite, &writes).await?;
                }
                Backend::Postgres => {
                    // One statement: the unique index finds each row, an
                    // unchanged hash skips the update, and each row written
                    // says whether it was new (`xmax = 0`). A `SELECT` of
                    // the page's keys first would be planned generically
                    // after a few pages and scan the whole sync.
                    let written = page.upsert(tx, Backend::Postgres, &upserts).await?;
                    let created = written.iter().filter(|c| **c).count() as i64;
                    outcome.created += created;
                    outcome.updated += written.len() as i64 - created;
                    outcome.unchanged += (upserts.len() - written.len()) as i64;
                }
            }
            let deleted = page.delete(tx, backend, &deletes).await?;
            outcome.deleted += deleted;
            outcome.unchanged += deletes.len() as i64 - deleted;
        }
    }
    Ok(outcome)
}

/// A record to write: its key, content hash, and the record.
type Item<'a> = (String, String, &'a Record);

/// The statements of one chunk of a page's records of one stream.
struct Chunk<'a> {
    sync_id: &'a str,
    stream: &'a str,
    now: i64,
}

impl Chunk<'_> {
    /// The stored hash of each of `items`' keys that is stored.
    async fn stored_hashes(
        &self,
        tx: &mut sqlx::AnyConnection,
        items: &[&Item<'_>],
    ) -> Result<HashMap<String, String>> {
        // Positional `?`s: SQLite keeps named parameters (`$3`) in a list
        // that sqlx looks every one of them up in, once per bind. The pairs
        // come back as one JSON row: sqlx hands each row from SQLite's
        // worker thread over a channel, and a page's hundred rows cost more
        // in those hand-overs than the lookup itself.
        let sql = format!(
            "SELECT json_group_array(json_array(record_key, hash)) AS pairs FROM records \
             WHERE sync_id = ? AND stream = ? AND record_key IN ({})",
            vec!["?"; items.len()].join(", ")
        );
        let mut q = sqlx::query(&sql).bind(self.sync_id).bind(self.stream);
        for (key, _, _) in items {
            q = q.bind(key.as_str());
        }
        let row = q.fetch_one(&mut *tx).await?;
        let pairs: String = row.try_get("pairs")?;
        let pairs: Vec<(String, String)> =
            serde_json::from_str(&pairs).map_err(|e| corrupt("records", e))?;
        Ok(pairs.into_iter().collect())
    }

    /// Insert or update `items`; on PostgreSQL, rows whose hash is
    /// unchanged are left alone and each row written tells whether it was
    /// new (on SQLite `stored_hashes` decided that first).
    async fn upsert(
        &self,
        tx: &mut sqlx::AnyConnection,
        backend: Backend,
        items: &[&Item<'_>],
    ) -> Result<Vec<bool>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let upsert = |values: String| {
            format!(
                "INSERT INTO records (sync_id, stream, record_key, hash, data, updated_at) VALUES {values} \
                 ON CONFLICT (sync_id, stream, record_key) DO UPDATE SET hash = excluded.hash, data = excluded.data, updated_at = excluded.updated_at"
            )
        };
        match backend {
            Backend::Sqlite => {
                // Positional `?`s (see `stored_hashes`), each row's values
                // bound in order.
                let sql = upsert(vec!["(?, ?, ?, ?, ?, ?)"; items.len()].join(", "));
                let mut q = sqlx::query(&sql);
                for (key, hash, r) in items {
                    q = q
                        .bind(self.sync_id)
                        .bind(self.stream)
                        .bind(key.as_str())
                        .bind(hash.as_str())
                        .bind(r.data.get())
                        .bind(self.now);
                }
                q.execute(&mut *tx).await?;
                Ok(Vec::new())
            }
            Backend::Postgres => {
                // The chunk's shared values bound once.
                let values: Vec<String> = (0..items.len())
                    .map(|i| {
                        format!(
                            "($1, $2, ${}, ${}, ${}, $3)",
                            4 + 3 * i,
                            5 + 3 * i,
                            6 + 3 * i
                        )
                    })
                    .collect();
                let sql = upsert(values.join(", "))
                    + " WHERE records.hash <> excluded.hash \
                     RETURNING CASE WHEN xmax = 0 THEN 1::int8 ELSE 0::int8 END AS created";
                let mut q = sqlx::query(&sql)
                    .bind(self.sync_id)
                    .bind(self.stream)
                    .bind(self.now);
                for (key, hash, r) in items {
                    q = q.bind(key.as_str()).bind(hash.as_str()).bind(r.data.get());
                }
                q.fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| Ok(row.try_get::<i64, _>("created")? == 1))
                    .collect()
            }
        }
    }

    /// Delete `items`' keys: how many were stored.
    async fn delete(
        &self,
        tx: &mut sqlx::AnyConnection,
        backend: Backend,
        items: &[&Item<'_>],
    ) -> Result<i64> {
        if items.is_empty() {
            return Ok(0);
        }
        if backend == Backend::Postgres {
            // As above: a generic plan of the key list would scan the sync.
            sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(&mut *tx)
                .await?;
        }
        let list: Vec<String> = (0..items.len()).map(|i| format!("${}", 3 + i)).collect();
        let sql = format!(
            "DELETE FROM records WHERE sync_id = $1 AND stream = $2 AND record_key IN ({}) RETURNING record_key",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(self.sync_id).bind(self.stream);
        for (key, _, _) in items {
            q = q.bind(key.as_str());
        }
        Ok(q.fetch_all(&mut *tx).await?.len() as i64)
    }
}

/// A stored record, for reading and export.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
        self.records_with_prefix(sync_id, stream, None, after, limit)
            .await
    }

    /// [`Store::records`] whose keys start with `prefix`.
    pub async fn records_with_prefix(
        &self,
        sync_id: &str,
        stream: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredRecord>> {
        let prefix = prefix.filter(|p| !p.is_empty());
        // The first page has no lower bound: `> ''` would leave out a record
        // whose key is the empty string.
        let mut filter = String::new();
        if after.is_some() {
            filter.push_str(" AND record_key > $4");
        }
        // `>= prefix` lets the key index seek; substr decides (no LIKE, so
        // `%` and `_` in a key are plain characters).
        if let Some(p) = prefix {
            let n = if after.is_some() { 5 } else { 4 };
            filter.push_str(&format!(
                " AND record_key >= ${n} AND substr(record_key, 1, {}) = ${n}",
                p.chars().count()
            ));
        }
        let sql = format!(
            "SELECT stream, record_key, data, updated_at FROM records WHERE sync_id = $1 AND stream = $2{filter} \
             ORDER BY record_key LIMIT $3"
        );
        let mut query = sqlx::query(&sql).bind(sync_id).bind(stream).bind(limit);
        if let Some(a) = after {
            query = query.bind(a);
        }
        if let Some(p) = prefix {
            query = query.bind(p);
        }
        let rows = query.fetch_all(self.pool()).await?;
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

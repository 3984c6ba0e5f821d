//! The built-in records store: the latest version of every record by
//! (sync, stream, key) with a content hash, so unchanged records are not
//! written again; read and exported through the API.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::pages::StoreOutcome;
use super::{Result, Store, corrupt, now_ms};
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

/// Parameters per statement stay far below SQLite's limit (32,766).
const BATCH: usize = 200;

pub(super) async fn store_records(
    tx: &mut sqlx::AnyConnection,
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
            for row in q.fetch_all(&mut *tx).await? {
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
                q.execute(&mut *tx).await?;
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
                q.execute(&mut *tx).await?;
            }
        }
    }
    Ok(outcome)
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
        // `>= prefix` lets the key index seek; substr decides (no LIKE, so
        // `%` and `_` in a key are plain characters).
        let (filter, after) = match prefix {
            Some(p) => (
                format!(
                    " AND record_key >= $5 AND substr(record_key, 1, {}) = $5",
                    p.chars().count()
                ),
                after.unwrap_or(""),
            ),
            None => (String::new(), after.unwrap_or("")),
        };
        let sql = format!(
            "SELECT stream, record_key, data, updated_at FROM records WHERE sync_id = $1 AND stream = $2 AND record_key > $3{filter} \
             ORDER BY record_key LIMIT $4"
        );
        let mut query = sqlx::query(&sql)
            .bind(sync_id)
            .bind(stream)
            .bind(after)
            .bind(limit);
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

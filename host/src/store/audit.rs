//! The audit log: who (key id), what, when, for every administrative change.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Result, Store, corrupt, now_ms};

/// One audit entry.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (Unix ms).
    pub at: i64,
    /// The API key that acted (none: the server itself or the CLI).
    pub key_id: Option<String>,
    /// What was done, e.g. `connection.create`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Details (never secret values).
    pub detail: Value,
}

impl Store {
    /// Append an entry.
    pub async fn audit(
        &self,
        key_id: Option<&str>,
        action: &str,
        target: &str,
        detail: &Value,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, key_id, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(now_ms())
            .bind(key_id)
            .bind(action)
            .bind(target)
            .bind(detail.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Entries newest first, before sequence number `before`.
    pub async fn audit_entries(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, key_id, action, target, detail FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    key_id: r.try_get("key_id")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail).map_err(|e| corrupt("audit_log", e))?,
                })
            })
            .collect()
    }
}

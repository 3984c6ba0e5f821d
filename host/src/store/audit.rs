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
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        limit: i64,
        filter: &AuditFilter<'_>,
    ) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, key_id, action, target, detail FROM audit_log WHERE id < $1",
        );
        let mut binds: Vec<String> = Vec::new();
        let mut condition = |sql: &mut String, column: &str, value: &str, prefix: bool| {
            binds.push(value.to_string());
            let n = binds.len() + 1;
            if prefix {
                // substr, not LIKE: `_` in an action name is no wildcard.
                let len = value.chars().count();
                sql.push_str(&format!(" AND substr({column}, 1, {len}) = ${n}"));
            } else {
                sql.push_str(&format!(" AND {column} = ${n}"));
            }
        };
        if let Some(actor) = filter.actor {
            condition(&mut sql, "key_id", actor, false);
        }
        if let Some(action) = filter.action {
            // `connection.` asks for every action on connections.
            condition(&mut sql, "action", action, action.ends_with('.'));
        }
        if let Some(target) = filter.target {
            condition(&mut sql, "target", target, false);
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len() + 2));
        let mut query = sqlx::query(&sql).bind(before.unwrap_or(i64::MAX));
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let rows = query.bind(limit).fetch_all(self.pool()).await?;
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

/// Which audit entries to list; `None` matches all.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditFilter<'a> {
    /// The key that acted.
    pub actor: Option<&'a str>,
    /// The action; ending in `.`, every action starting so.
    pub action: Option<&'a str>,
    /// The object acted on.
    pub target: Option<&'a str>,
}

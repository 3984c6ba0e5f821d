//! The audit log: who (an API key, or a person by subject and email), what,
//! when, for every administrative change.

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
    /// The API key that acted (none: a person, the server itself or the CLI).
    pub key_id: Option<String>,
    /// The person who acted (the ID token's `sub`), signed in through
    /// single sign-on.
    pub subject: Option<String>,
    /// That person's email, as the identity provider gave it then.
    pub email: Option<String>,
    /// What was done, e.g. `connection.create`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Details (never secret values).
    pub detail: Value,
}

/// Who acted, as the audit log records it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Actor<'a> {
    /// An API key's id.
    pub key_id: Option<&'a str>,
    /// A person's subject.
    pub subject: Option<&'a str>,
    /// A person's email.
    pub email: Option<&'a str>,
}

impl Store {
    /// Append an entry made by an API key (or, with none, by the server).
    pub async fn audit(
        &self,
        key_id: Option<&str>,
        action: &str,
        target: &str,
        detail: &Value,
    ) -> Result<()> {
        let actor = Actor {
            key_id,
            ..Actor::default()
        };
        self.audit_by(&actor, action, target, detail).await
    }

    /// Append an entry made by `actor`.
    pub async fn audit_by(
        &self,
        actor: &Actor<'_>,
        action: &str,
        target: &str,
        detail: &Value,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, key_id, subject, email, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(now_ms())
            .bind(actor.key_id)
            .bind(actor.subject)
            .bind(actor.email)
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
            "SELECT id, at, key_id, subject, email, action, target, detail FROM audit_log WHERE id < $1",
        );
        let mut binds: Vec<String> = Vec::new();
        if let Some(actor) = filter.actor {
            // A key id, a person's subject or their email.
            binds.push(actor.to_string());
            let n = binds.len() + 1;
            sql.push_str(&format!(
                " AND (key_id = ${n} OR subject = ${n} OR email = ${n})"
            ));
        }
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
                    subject: r.try_get("subject")?,
                    email: r.try_get("email")?,
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
    /// The key that acted, or the person (subject or email).
    pub actor: Option<&'a str>,
    /// The action; ending in `.`, every action starting so.
    pub action: Option<&'a str>,
    /// The object acted on.
    pub target: Option<&'a str>,
}

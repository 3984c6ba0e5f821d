//! API keys: stored as SHA-256 hashes; the key itself is shown once.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, now_ms};

/// A stored key (never the key itself).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ApiKey")]
pub struct ApiKeyRow {
    /// Public id (also the key's visible prefix).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// `admin`, `write`, `run` or `read`.
    pub scope: String,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last used (Unix ms).
    pub last_used_at: Option<i64>,
    /// Revoked (Unix ms).
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, scope, created_at, last_used_at, revoked_at";

fn from_row(r: &AnyRow) -> Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Store a new key's hash.
    pub async fn insert_api_key(
        &self,
        id: &str,
        name: &str,
        hash: &str,
        scope: &str,
    ) -> Result<ApiKeyRow> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, hash, scope, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(hash)
        .bind(scope)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        from_row(&row)
    }

    /// The unrevoked key with this hash.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The unrevoked key with this id (a console session's key).
    pub async fn active_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND revoked_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Note a use (best effort, at most about once a minute per key).
    pub async fn touch_api_key(&self, id: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// All keys, newest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether any unrevoked key exists.
    pub async fn has_active_api_key(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Revoke a key; false if unknown or already revoked.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

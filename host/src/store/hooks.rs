//! Incoming webhooks in the database: each connection's endpoint token
//! (hashed) and the deliveries it received, with a unique key per delivery
//! id, so a replay is processed once.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Result, Store, now_ms};

/// An incoming delivery.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Delivery")]
pub struct DeliveryRow {
    /// The sender's delivery id.
    pub delivery_id: String,
    /// Received (Unix ms).
    pub received_at: i64,
    /// `processing`, `processed`, `failed`.
    pub status: String,
    /// What happened.
    pub detail: Option<Value>,
}

impl Store {
    /// Set the hash of a connection's webhook endpoint token.
    pub async fn set_hook_token(&self, connection_id: &str, token_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO connection_hooks (connection_id, token_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connection_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
        )
        .bind(connection_id)
        .bind(token_hash)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The hash of a connection's webhook endpoint token.
    pub async fn hook_token(&self, connection_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT token_hash FROM connection_hooks WHERE connection_id = $1")
            .bind(connection_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("token_hash")).transpose()?)
    }

    /// Record an incoming delivery; false if this delivery id was seen.
    pub async fn begin_delivery(&self, connection_id: &str, delivery_id: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO hook_deliveries (connection_id, delivery_id, received_at, status) VALUES ($1, $2, $3, 'processing') \
             ON CONFLICT DO NOTHING",
        )
        .bind(connection_id)
        .bind(delivery_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record how a delivery was handled.
    pub async fn finish_delivery(
        &self,
        connection_id: &str,
        delivery_id: &str,
        status: &str,
        detail: &Value,
    ) -> Result<()> {
        sqlx::query("UPDATE hook_deliveries SET status = $1, detail = $2 WHERE connection_id = $3 AND delivery_id = $4")
            .bind(status)
            .bind(detail.to_string())
            .bind(connection_id)
            .bind(delivery_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forget a delivery that could not be processed, so the sender's retry is.
    pub async fn forget_delivery(&self, connection_id: &str, delivery_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM hook_deliveries WHERE connection_id = $1 AND delivery_id = $2")
            .bind(connection_id)
            .bind(delivery_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deliveries of a connection, newest first, after a position
    /// `(received_at, delivery_id)`.
    pub async fn deliveries(
        &self,
        connection_id: &str,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let (at, id) = after.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(
            "SELECT delivery_id, received_at, status, detail FROM hook_deliveries WHERE connection_id = $1 \
             AND (received_at < $2 OR (received_at = $2 AND delivery_id > $3)) ORDER BY received_at DESC, delivery_id LIMIT $4",
        )
        .bind(connection_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: Option<String> = r.try_get("detail")?;
                Ok(DeliveryRow {
                    delivery_id: r.try_get("delivery_id")?,
                    received_at: r.try_get("received_at")?,
                    status: r.try_get("status")?,
                    detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }
}

//! Outgoing webhooks in the database: the endpoints (with their sealed
//! signing secrets) and the durable queue of messages to each.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, corrupt, now_ms};

/// An outgoing webhook endpoint.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Webhook")]
pub struct WebhookRow {
    /// Id.
    pub id: String,
    /// Where events are POSTed (empty when a connection is the target).
    pub url: String,
    /// A destination connection that posts each event as a message
    /// instead (Slack, Teams, Discord).
    #[serde(rename = "connection", skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The message text for a connection target, with `{data.error}`-style
    /// placeholders filled from the event (default: one per event type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Events it receives.
    pub events: Vec<String>,
    /// Otherwise blocked networks its URL may resolve to.
    pub networks: Vec<String>,
    /// Whether deliveries are attempted.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// First failure of the current streak (Unix ms).
    pub failing_since: Option<i64>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Changed (Unix ms).
    pub updated_at: i64,
    /// The signing secret as a Fernet token (never serialized).
    #[serde(skip)]
    pub secret_token: String,
}

const WEBHOOK_COLUMNS: &str = "id, url, events, secret, networks, enabled, disabled_reason, failing_since, created_at, updated_at, connection_id, template";

fn webhook_from_row(r: &AnyRow) -> Result<WebhookRow> {
    let events: String = r.try_get("events")?;
    let networks: String = r.try_get("networks")?;
    Ok(WebhookRow {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        connection_id: r.try_get("connection_id")?,
        template: r.try_get("template")?,
        events: serde_json::from_str(&events).map_err(|e| corrupt("webhooks", e))?,
        networks: serde_json::from_str(&networks).map_err(|e| corrupt("webhooks", e))?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: r.try_get("disabled_reason")?,
        failing_since: r.try_get("failing_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        secret_token: r.try_get("secret")?,
    })
}

/// A message to deliver (or delivered).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Message")]
pub struct MessageRow {
    /// `msg_…`: the `webhook-id`, the same across retries.
    pub id: String,
    /// Endpoint.
    pub webhook_id: String,
    /// Event type.
    pub event: String,
    /// The JSON body.
    pub payload: Value,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt (Unix ms).
    pub next_attempt_at: i64,
    /// Last HTTP status.
    pub last_status: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Delivered (Unix ms).
    pub delivered_at: Option<i64>,
}

const MESSAGE_COLUMNS: &str = "id, webhook_id, event, payload, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";

fn message_from_row(r: &AnyRow) -> Result<MessageRow> {
    let payload: String = r.try_get("payload")?;
    Ok(MessageRow {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        event: r.try_get("event")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("webhook_messages", e))?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

impl Store {
    /// Insert an outgoing endpoint.
    pub async fn insert_webhook(&self, w: &WebhookRow) -> Result<WebhookRow> {
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $7, $8, $9)"
        ))
        .bind(&w.id)
        .bind(&w.url)
        .bind(serde_json::to_string(&w.events).expect("events serialize"))
        .bind(&w.secret_token)
        .bind(serde_json::to_string(&w.networks).expect("networks serialize"))
        .bind(i64::from(w.enabled))
        .bind(now)
        .bind(w.connection_id.as_deref())
        .bind(w.template.as_deref())
        .execute(self.pool())
        .await?;
        self.webhook(&w.id)
            .await?
            .ok_or_else(|| corrupt("webhooks", "inserted row vanished"))
    }

    /// Replace an endpoint's settings.
    pub async fn update_webhook(&self, w: &WebhookRow) -> Result<Option<WebhookRow>> {
        let done = sqlx::query(
            "UPDATE webhooks SET url = $1, events = $2, networks = $3, enabled = $4, disabled_reason = $5, \
             failing_since = $6, updated_at = $7, connection_id = $9, template = $10 WHERE id = $8",
        )
        .bind(&w.url)
        .bind(serde_json::to_string(&w.events).expect("events serialize"))
        .bind(serde_json::to_string(&w.networks).expect("networks serialize"))
        .bind(i64::from(w.enabled))
        .bind(w.disabled_reason.as_deref())
        .bind(w.failing_since)
        .bind(now_ms())
        .bind(&w.id)
        .bind(w.connection_id.as_deref())
        .bind(w.template.as_deref())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.webhook(&w.id).await
    }

    /// One endpoint.
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRow>> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// All endpoints.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Delete an endpoint and its messages.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        sqlx::query("DELETE FROM webhook_messages WHERE webhook_id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queue a message for an endpoint.
    pub async fn enqueue_message(
        &self,
        id: &str,
        webhook_id: &str,
        event: &str,
        payload: &Value,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO webhook_messages (id, webhook_id, event, payload, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(id)
        .bind(webhook_id)
        .bind(event)
        .bind(payload.to_string())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claim up to `limit` due messages of enabled endpoints for `lease_ms`.
    pub async fn claim_messages(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let now = now_ms();
        let ids = sqlx::query(
            "SELECT m.id FROM webhook_messages m JOIN webhooks w ON w.id = m.webhook_id \
             WHERE m.status = 'pending' AND m.next_attempt_at <= $1 AND w.enabled = 1 \
             AND (m.lease_until IS NULL OR m.lease_until < $1) ORDER BY m.next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for row in ids {
            let id: String = row.try_get("id")?;
            // Compare-and-set per message: another node may claim it first.
            let got = sqlx::query(&format!(
                "UPDATE webhook_messages SET lease_owner = $1, lease_until = $2 \
                 WHERE id = $3 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $4) RETURNING {MESSAGE_COLUMNS}"
            ))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(&id)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
            if let Some(r) = got {
                claimed.push(message_from_row(&r)?);
            }
        }
        Ok(claimed)
    }

    /// Record an attempt: delivered, retried at `next`, or given up.
    pub async fn record_attempt(
        &self,
        id: &str,
        status: &str,
        next_attempt_at: i64,
        http_status: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE webhook_messages SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_status = $3, \
             last_error = $4, lease_owner = NULL, lease_until = NULL, delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END \
             WHERE id = $6",
        )
        .bind(status)
        .bind(next_attempt_at)
        .bind(http_status)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Note an endpoint's success or failure streak.
    pub async fn webhook_outcome(&self, id: &str, ok: bool) -> Result<Option<i64>> {
        if ok {
            sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1")
                .bind(id)
                .execute(self.pool())
                .await?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT failing_since FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("failing_since")?)
    }

    /// Disable an endpoint with a reason.
    pub async fn disable_webhook(&self, id: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Messages of an endpoint, newest first, after a position
    /// `(created_at, id)`.
    pub async fn messages(
        &self,
        webhook_id: &str,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let (at, id) = after.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE webhook_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND id > $3)) ORDER BY created_at DESC, id LIMIT $4"
        ))
        .bind(webhook_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// One message of an endpoint.
    pub async fn message(&self, webhook_id: &str, id: &str) -> Result<Option<MessageRow>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE webhook_id = $1 AND id = $2"
        ))
        .bind(webhook_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Send a pending or given-up message again now (not one being sent
    /// or already delivered): it is due at once, with its attempts kept.
    pub async fn retry_message(&self, webhook_id: &str, id: &str) -> Result<Option<MessageRow>> {
        let now = now_ms();
        let row = sqlx::query(&format!(
            "UPDATE webhook_messages SET status = 'pending', next_attempt_at = $1 \
             WHERE webhook_id = $2 AND id = $3 AND status IN ('pending', 'failed') \
             AND (lease_until IS NULL OR lease_until < $1) RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(now)
        .bind(webhook_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }
}

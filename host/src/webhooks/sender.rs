//! Delivering outgoing webhook messages from the durable queue.
//!
//! Each message keeps its `webhook-id` across attempts and is signed per
//! Standard Webhooks at every attempt. Attempts follow a schedule of about
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 % jitter), or the
//! endpoint's `Retry-After`. Redirects are not followed. A `410 Gone`
//! disables the endpoint; so does failing for more than five days. A
//! subscription whose target is a connection posts through it instead
//! ([`super::notify`]), on the same schedule; a message the connection
//! refuses is not sent again.

use std::time::Duration;

use tokio::sync::watch;
use url::Url;

use super::verify::sign_standard;
use crate::app::App;
use crate::clock::jitter;
use crate::egress::client::{Timeouts, guarded_client};
use crate::egress::networks::NetworkPolicy;
use crate::egress::policy::EgressPolicy;
use crate::egress::resolver::GuardedResolver;
use crate::store::now_ms;
use crate::store::outbox::{MessageRow, WebhookRow};

/// Delay before each retry (after attempt 1, 2, …).
pub const SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// An endpoint failing this long is disabled.
pub const DISABLE_AFTER_MS: i64 = 5 * 24 * 3600 * 1000;

/// Deliver due messages until shutdown.
pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        match app.store.claim_messages(&app.node, 60_000, 20).await {
            Ok(messages) => {
                let tasks = messages.into_iter().map(|m| deliver(&app, m));
                futures::future::join_all(tasks).await;
            }
            Err(e) => tracing::warn!(error = %e, "claiming webhook messages failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Check an endpoint URL against the SSRF rules (at registration and at
/// every send): scheme, no user info, and every address it resolves to.
pub async fn check_url(url: &str, networks: &[String]) -> Result<(Url, NetworkPolicy), String> {
    let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let nets = networks
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|_| format!("`{n}` is not a CIDR network"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let networks = NetworkPolicy::new(nets);
    // The endpoint's own origin is its whole allow-list.
    EgressPolicy::origin_of(&url, networks.clone())
        .and_then(|policy| policy.check_url(&url))
        .map_err(|e| e.to_string())?;
    if let Some(url::Host::Domain(name)) = url.host() {
        GuardedResolver::resolve_checked(&networks, name)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((url, networks))
}

async fn deliver(app: &App, m: MessageRow) {
    let store = &app.store;
    let w = match store.webhook(&m.webhook_id).await {
        Ok(Some(w)) => w,
        _ => return,
    };
    let result = attempt(app, &w, &m).await;
    let attempts = m.attempts + 1;
    match result {
        Ok(()) => {
            let _ = store
                .record_attempt(&m.id, "delivered", now_ms(), Some(200), None)
                .await;
            let _ = store.webhook_outcome(&w.id, true).await;
        }
        Err(Failure::Refused(why)) => {
            tracing::info!(message = %m.id, webhook = %w.id, %why, "notification refused");
            let _ = store
                .record_attempt(&m.id, "failed", now_ms(), None, Some(&why))
                .await;
        }
        Err(Failure::Gone) => {
            let _ = store
                .record_attempt(
                    &m.id,
                    "failed",
                    now_ms(),
                    Some(410),
                    Some("410 Gone: the endpoint is disabled"),
                )
                .await;
            let _ = store
                .disable_webhook(&w.id, "the endpoint answered 410 Gone")
                .await;
            let _ = store
                .audit(
                    None,
                    "webhook.disabled",
                    &w.id,
                    &serde_json::json!({"reason": "410 Gone"}),
                )
                .await;
        }
        Err(Failure::Retry {
            status,
            error,
            retry_after,
        }) => {
            let scheduled = SCHEDULE_SECS.get(m.attempts as usize).copied();
            let (state, next) = match (retry_after, scheduled) {
                (_, None) => ("failed", now_ms()),
                (Some(ra), Some(_)) => ("pending", now_ms() + ra.min(36_000) as i64 * 1000),
                (None, Some(s)) => (
                    "pending",
                    now_ms() + (s as f64 * 1000.0 * (0.9 + (jitter() - 0.5) * 0.2)) as i64,
                ),
            };
            tracing::info!(message = %m.id, webhook = %w.id, attempts, status, %error, state, "webhook delivery failed");
            let _ = store
                .record_attempt(&m.id, state, next, status, Some(&error))
                .await;
            if let Ok(Some(since)) = store.webhook_outcome(&w.id, false).await
                && now_ms() - since > DISABLE_AFTER_MS
            {
                let _ = store
                    .disable_webhook(&w.id, "the endpoint failed for more than five days")
                    .await;
                let _ = store
                    .audit(
                        None,
                        "webhook.disabled",
                        &w.id,
                        &serde_json::json!({"reason": "failing for days"}),
                    )
                    .await;
            }
        }
    }
}

enum Failure {
    Gone,
    /// A connection refused the message itself.
    Refused(String),
    Retry {
        status: Option<i64>,
        error: String,
        retry_after: Option<u64>,
    },
}

fn retry(error: impl Into<String>) -> Failure {
    Failure::Retry {
        status: None,
        error: error.into(),
        retry_after: None,
    }
}

async fn attempt(app: &App, w: &WebhookRow, m: &MessageRow) -> Result<(), Failure> {
    if let Some(connection) = &w.connection_id {
        return super::notify::deliver(app, connection, w.template.as_deref(), m)
            .await
            .map_err(|e| match e {
                super::notify::NotifyError::Refused(why) => Failure::Refused(why),
                super::notify::NotifyError::Retry(error, retry_after) => Failure::Retry {
                    status: None,
                    error,
                    retry_after,
                },
            });
    }
    let (url, networks) = check_url(&w.url, &w.networks)
        .await
        .map_err(|e| retry(format!("refused: {e}")))?;
    let secret = app
        .vault
        .decrypt(&w.secret_token)
        .map_err(|e| retry(e.to_string()))?;
    let body = m.payload.to_string();
    let ts = now_ms() / 1000;
    let signature = sign_standard(secret.expose(), &m.id, ts, body.as_bytes())
        .map_err(|e| retry(e.to_string()))?;
    let client = guarded_client(
        &networks,
        Timeouts {
            connect: Duration::from_secs(10),
            total: Some(Duration::from_secs(15)),
        },
        None,
    )
    .map_err(|e| retry(e.to_string()))?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &m.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| retry(e.without_url().to_string()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    if status == reqwest::StatusCode::GONE {
        return Err(Failure::Gone);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let error = if status.is_redirection() {
        format!("HTTP {status}: redirects are not followed")
    } else {
        format!("HTTP {status}")
    };
    Err(Failure::Retry {
        status: Some(i64::from(status.as_u16())),
        error,
        retry_after,
    })
}

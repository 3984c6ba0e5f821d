//! Connector calls as a run makes them: `rate-limited` waited out,
//! `transient` retried with backoff and jitter, every wait and call raced
//! against the run's stop signal; and what a failure that stays means for
//! the run (retry as a new run or not) and the connection (marked `error`).

use std::future::Future;
use std::time::Duration;

use super::open::Side;
use super::{Outcome, Run, failed};
use crate::app::App;
use crate::clock::jitter;
use crate::runtime::{CallError, ConnectorError};
use crate::store::connections::{ConnectionRow, Status};
use crate::store::runs::Lease;

impl Run<'_> {
    /// One connector call: waits out `rate-limited`, retries `transient`
    /// with exponential backoff and jitter, stops when the run must.
    pub(super) async fn call<T, F, Fut>(&self, side: Side, mut f: F) -> Result<T, Outcome>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let policy = &self.sync.retry;
        let mut attempt = 1u32;
        let mut waits = 0u32;
        let mut renewed = false;
        loop {
            let result = tokio::select! {
                r = f() => r,
                reason = self.stop.stopped() => return Err(Outcome::Stopped(reason)),
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // `auth-expired`: renew the side's token or session and call
            // once more, at once.
            if matches!(error, CallError::Connector(ConnectorError::AuthExpired(_))) && !renewed {
                renewed = true;
                if self.side_session(side).renew_credentials().await {
                    self.note(format!(
                        "{} said its credentials expired; renewed them and calling again",
                        side.name()
                    ));
                    continue;
                }
            }
            let delay = match &error {
                CallError::Connector(ConnectorError::RateLimited(secs))
                    if u64::from(*secs) <= policy.max_rate_limit_wait_secs && waits < 10 =>
                {
                    waits += 1;
                    Duration::from_secs(u64::from(*secs).max(1))
                }
                CallError::Connector(ConnectorError::Transient(_))
                    if attempt < policy.attempts.max(1) =>
                {
                    let base = policy.backoff_ms.saturating_mul(1 << (attempt - 1).min(20));
                    attempt += 1;
                    Duration::from_millis(
                        (base.min(policy.max_backoff_ms) as f64 * jitter()) as u64,
                    )
                }
                _ => return Err(self.call_failed(side, error).await),
            };
            self.note(format!(
                "{} call failed: {error}; trying again in {:.1} s",
                side.name(),
                delay.as_secs_f64()
            ));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                reason = self.stop.stopped() => return Err(Outcome::Stopped(reason)),
            }
        }
    }

    fn side_session(&self, side: Side) -> &crate::runtime::Session {
        match side {
            Side::Source => &self.source.session,
            Side::Mapper => &self.mapper.as_ref().unwrap_or(&self.source).session,
            Side::Destination => &self.destination.as_ref().unwrap_or(&self.source).session,
        }
    }

    pub(super) async fn call_failed(&self, side: Side, error: CallError) -> Outcome {
        let connection = match side {
            Side::Source => Some(&self.source.row),
            Side::Mapper => self.mapper.as_ref().map(|m| &m.row),
            Side::Destination => self.destination.as_ref().map(|d| &d.row),
        };
        let name = connection.map_or("?", |c| c.name.as_str());
        let message = format!("{} `{name}`: {error}", side.name());
        let retry_policy = &self.sync.retry;
        let can_retry = self.run.attempt <= i64::from(retry_policy.run_retries);
        match &error {
            CallError::Connector(ConnectorError::Config(_) | ConnectorError::Auth(_)) => {
                if let Some(c) = connection {
                    connection_error(self.app, Some(&self.lease), c, &error.to_string()).await;
                }
                failed(error.kind(), message, None)
            }
            CallError::Connector(ConnectorError::Transient(_)) if can_retry => {
                let backoff = retry_policy
                    .backoff_ms
                    .saturating_mul(4 << self.run.attempt.min(10));
                failed(
                    error.kind(),
                    message,
                    Some(Duration::from_millis(
                        backoff.min(retry_policy.max_backoff_ms * 10),
                    )),
                )
            }
            CallError::Connector(ConnectorError::RateLimited(secs)) if can_retry => failed(
                error.kind(),
                message,
                Some(Duration::from_secs(u64::from(*secs))),
            ),
            _ => failed(error.kind(), message, None),
        }
    }
}

/// Mark a connection broken and tell subscribers; on behalf of a run, only
/// while the run's lease is held.
pub async fn connection_error(app: &App, lease: Option<&Lease>, c: &ConnectionRow, reason: &str) {
    let store = &app.store;
    let set = match lease {
        Some(lease) => store
            .set_connection_status_fenced(lease, &c.id, Status::Error, Some(reason))
            .await
            .unwrap_or(false),
        None => store
            .set_connection_status(&c.id, Status::Error, Some(reason))
            .await
            .is_ok(),
    };
    if !set {
        return;
    }
    crate::events::emit(
        &app.store,
        "connection.error",
        serde_json::json!({"connection": c.id, "name": c.name, "reason": reason}),
    )
    .await;
}

//! Records that do not come from `fetch`: the rows of a file imported
//! through the API, and the records of a verified incoming webhook
//! delivery. Each lands as a run of its own, started at once in the
//! request: map → validate → push → commit (the one page path of
//! [`super::run`]), with its counters, rejections and log kept like any
//! run's. HTTP handlers only translate requests and errors.

use serde_json::{Value, json};

use super::run::{self, Outcome};
use crate::app::App;
use crate::model::record::{Op, Record};
use crate::runtime::{CallError, ConnectorError};
use crate::store::StoreError;
use crate::store::connections::ConnectionRow;
use crate::store::runs::{Counters, RejectionRow, Trigger};
use crate::store::syncs::SyncRow;

/// Why records could not land.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The sync is running; try again when it ends.
    #[error("sync `{0}` is running; try again when the run ends")]
    Busy(String),
    /// The run failed; the reason is for a person.
    #[error("{0}")]
    Failed(String),
    /// The connection could not be opened, or its connector could not read
    /// the delivery.
    #[error("{0}")]
    Connector(String),
    /// The connector could not read the delivery for now (the system
    /// behind it is busy or throttles, the node's sandboxes are all in
    /// use): the sender should send it again after `retry_after` seconds.
    #[error("{message}")]
    Unavailable {
        /// Why, for a person.
        message: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What landed.
#[derive(Debug)]
pub struct Landed {
    /// The run it landed as.
    pub run: String,
    /// Its counters.
    pub counters: Counters,
    /// Rejections, each with its index among the records given.
    pub rejections: Vec<RejectionRow>,
}

/// Land `records` in `stream` of `sync` as a run of its own, started now
/// (`earlier` are rejections found before, such as rows that did not
/// parse). The run ends `succeeded` or `failed` with the reason.
pub async fn land(
    app: &App,
    sync: &SyncRow,
    trigger: Trigger,
    stream: &str,
    records: Vec<Record>,
    earlier: Vec<RejectionRow>,
) -> Result<Landed, IngestError> {
    let run = app
        .store
        .start_run_now(
            &sync.id,
            trigger,
            &app.node,
            app.options.lease.as_millis() as i64,
        )
        .await?
        .ok_or_else(|| IngestError::Busy(sync.name.clone()))?;
    let lease = run.lease().expect("a run started now holds its lease");
    match run::land(app, &run, stream, records, earlier).await {
        Ok((counters, rejections)) => {
            app.store
                .finish_run(&lease, "succeeded", None, None)
                .await?;
            Ok(Landed {
                run: run.id,
                counters,
                rejections,
            })
        }
        Err(outcome) => {
            let (kind, message) = match &outcome {
                Outcome::Failed { kind, message, .. } => (kind.clone(), message.clone()),
                other => ("internal".to_string(), other.to_string()),
            };
            app.store
                .finish_run(&lease, "failed", Some(&kind), Some(&message))
                .await?;
            Err(IngestError::Failed(message))
        }
    }
}

/// A verified webhook delivery, as the connector's `receive` gets it.
#[derive(Debug)]
pub struct Delivery {
    /// `POST` (or the method a sender uses).
    pub method: &'static str,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Query parameters of the URL.
    pub query: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// A verified delivery to connection `c`: the connector's `receive` turns
/// it into records, which land in every stream of every sync of `c` that
/// reads them; a connector without `receive` has `c`'s enabled syncs
/// triggered instead. What happened, for the delivery's record.
pub async fn delivery(app: &App, c: &ConnectionRow, d: Delivery) -> Result<Value, IngestError> {
    let syncs = app.store.syncs_by_source(&c.id).await?;
    let (_, session) = crate::connections::open(app, c)
        .await
        .map_err(|e| IngestError::Connector(e.to_string()))?;
    let records = match session.receive(d.method, d.headers, d.query, d.body).await {
        Err(CallError::Connector(ConnectorError::Unsupported)) => {
            let mut runs = Vec::new();
            for s in syncs.iter().filter(|s| s.enabled) {
                if let Some(run) = app
                    .store
                    .enqueue_run(&s.id, Trigger::Webhook, None, crate::clock::now_ms(), 1)
                    .await?
                {
                    runs.push(run.id);
                }
            }
            app.wake.notify_waiters();
            return Ok(json!({"triggered": runs}));
        }
        Err(e) => {
            let message = format!("the connector could not read the delivery: {e}");
            // Passing trouble is answered so that the sender tries again
            // (a 4xx is final to most senders); the rest is the delivery's.
            let retry_after = match &e {
                CallError::Connector(ConnectorError::RateLimited(secs)) => Some(u64::from(*secs)),
                CallError::Connector(ConnectorError::Transient(_)) => Some(30),
                CallError::Sandbox(_) => Some(5),
                _ => None,
            };
            return Err(match retry_after {
                Some(retry_after) => IngestError::Unavailable {
                    message,
                    retry_after: retry_after.clamp(1, 3600),
                },
                None => IngestError::Connector(message),
            });
        }
        Ok(records) => records,
    };
    let mut results = Vec::new();
    for s in &syncs {
        for stream in &s.streams {
            let mine: Vec<Record> = records
                .iter()
                .filter(|r| &r.stream == stream)
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            match land(app, s, Trigger::Webhook, stream, mine, Vec::new()).await {
                Ok(landed) => results.push(json!({"sync": s.id, "run": landed.run,
                    "status": "succeeded", "counters": landed.counters})),
                Err(IngestError::Failed(reason)) => {
                    results.push(json!({"sync": s.id, "status": "failed", "error": reason}));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let deletes = records.iter().filter(|r| r.op == Op::Delete).count();
    Ok(json!({"records": records.len(), "deletes": deletes, "runs": results}))
}

//! `/api/v1/overview`: the state of the installation at a glance, as the
//! console's dashboard shows it: runs of the last 24 hours by outcome and
//! hour, records moved, connections in error, the next scheduled runs and
//! the queue.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use serde::Serialize;

use super::auth::Scope;
use super::error::ApiError;
use super::openapi::{Content, schema};
use super::{AppState, Route};
use crate::store::now_ms;

pub fn routes() -> Vec<Route> {
    vec![Route {
        method: Method::GET,
        path: "/api/v1/overview",
        scope: Some(Scope::Read),
        summary: "Runs of the last 24 hours by outcome and hour, records moved, connections in error, next scheduled runs, queue depth",
        query: None,
        body: None,
        ok: vec![(200, Content::Json(schema::<Overview>))],
        errors: &[],
        handler: get(overview),
    }]
}

const HOUR_MS: i64 = 3_600_000;
/// Hours the overview looks back.
const HOURS: i64 = 24;
/// Scheduled runs listed.
const NEXT_RUNS: i64 = 5;

/// The installation at a glance.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Overview {
    /// Start of the window (Unix ms, the start of an hour).
    since: i64,
    /// Runs finished in the window, by outcome.
    finished: Outcomes,
    /// The same, by hour: 24 buckets, oldest first.
    hours: Vec<HourBucket>,
    /// Records handed to destinations by runs finished in the window.
    records_moved: i64,
    /// Runs waiting to be claimed.
    queue_depth: i64,
    /// Runs running now.
    running: i64,
    /// Connections in `error` or `needs_reauth`.
    connections_in_error: Vec<TroubledConnection>,
    /// The next scheduled runs, soonest first.
    next_runs: Vec<NextRun>,
}

/// Runs by outcome.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Outcomes {
    /// Succeeded.
    succeeded: i64,
    /// Failed.
    failed: i64,
    /// Cancelled.
    cancelled: i64,
}

/// One hour of the window.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HourBucket {
    /// Start of the hour (Unix ms).
    start: i64,
    /// Runs that finished in it.
    #[serde(flatten)]
    outcomes: Outcomes,
}

/// A connection that needs an administrator.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TroubledConnection {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// `error` or `needs_reauth`.
    status: String,
    /// Why.
    reason: Option<String>,
}

/// A sync due to run.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NextRun {
    /// Sync id.
    sync_id: String,
    /// Sync name.
    sync: String,
    /// When it is due (Unix ms).
    due_at: i64,
}

impl Outcomes {
    fn count(&mut self, status: &str) {
        match status {
            "succeeded" => self.succeeded += 1,
            "failed" => self.failed += 1,
            _ => self.cancelled += 1,
        }
    }
}

async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    let store = &state.app.store;
    // Whole hours, so the buckets of two requests a minute apart agree.
    let since = (now_ms() / HOUR_MS - (HOURS - 1)) * HOUR_MS;
    let mut hours: Vec<HourBucket> = (0..HOURS)
        .map(|h| HourBucket {
            start: since + h * HOUR_MS,
            outcomes: Outcomes::default(),
        })
        .collect();
    let mut finished = Outcomes::default();
    let mut records_moved = 0;
    for run in store.runs_finished_since(since).await? {
        finished.count(&run.status);
        records_moved += run.pushed;
        let hour = ((run.finished_at - since) / HOUR_MS).clamp(0, HOURS - 1);
        hours[hour as usize].outcomes.count(&run.status);
    }
    let connections_in_error = store
        .troubled_connections()
        .await?
        .into_iter()
        .map(|c| TroubledConnection {
            id: c.id,
            name: c.name,
            status: c.status,
            reason: c.reason,
        })
        .collect();
    let next_runs = store
        .next_due_syncs(NEXT_RUNS)
        .await?
        .into_iter()
        .map(|s| NextRun {
            sync_id: s.id,
            sync: s.name,
            due_at: s.due_at,
        })
        .collect();
    Ok(Json(Overview {
        since,
        finished,
        hours,
        records_moved,
        queue_depth: store.count_runs("queued").await?,
        running: store.count_runs("running").await?,
        connections_in_error,
        next_runs,
    }))
}

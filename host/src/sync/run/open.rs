//! The connections of a sync opened as sessions, one per side, and what
//! the run collects from them (HTTP counters, log lines).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::retry::connection_error;
use super::{Outcome, Run, failed};
use crate::app::App;
use crate::connections::OpenError;
use crate::runtime::blobs::Input;
use crate::runtime::cassette::Tape;
use crate::runtime::{LogLine, Session};
use crate::store::connections::ConnectionRow;
use crate::store::runs::Lease;
use crate::store::syncs::SyncRow;

/// Which side of a sync a connection is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    Source,
    Mapper,
    Destination,
}

impl Side {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Mapper => "mapper",
            Self::Destination => "destination",
        }
    }
}

/// Failed calls a side's tape keeps (a run retries a failing call a few
/// times before it fails).
const KEPT_FAILED_CALLS: usize = 3;

pub(super) struct Opened {
    pub(super) row: ConnectionRow,
    /// Shared with a call on a task of its own (the destination's push).
    pub(super) session: Arc<Session>,
    /// The session's failed calls.
    pub(super) tape: Arc<Tape>,
    pub(super) side: Side,
    /// HTTP counters and dropped log lines already counted in a page;
    /// locked briefly, as pages are committed while the next is fetched.
    counted: std::sync::Mutex<(crate::runtime::HttpCounters, u64)>,
}

/// The sessions of a sync's connections, and the source's stream schemas.
pub(super) struct Sides {
    pub(super) source: Opened,
    pub(super) source_schemas: HashMap<String, Value>,
    /// The streams the source offers, when its spec or config lists them.
    pub(super) offered: Option<Vec<String>>,
    pub(super) mapper: Option<Opened>,
    pub(super) destination: Option<Opened>,
}

async fn open_connection(
    app: &App,
    id: &str,
    side: Side,
    inputs: Vec<Input>,
) -> Result<(Opened, Arc<crate::runtime::Connector>), OpenError> {
    let row = app.store.connection(id).await?.ok_or_else(|| {
        OpenError::ConnectorGone(format!("{} connection {id} (deleted)", side.name()))
    })?;
    // Each side keeps its last failed calls, stored with the run if it
    // fails (`GET /api/v1/runs/{id}/cassette`).
    let tape = Arc::new(Tape::failures(KEPT_FAILED_CALLS));
    let (connector, session) =
        crate::connections::open_with_inputs(app, &row, inputs, Some(tape.clone())).await?;
    let opened = Opened {
        row,
        session: Arc::new(session),
        tape,
        side,
        counted: Default::default(),
    };
    Ok((opened, connector))
}

/// Open the source (with the run's input files), mapper and destination
/// of a sync; on failure, which connection failed and why.
pub(super) async fn open_sides(
    app: &App,
    sync: &SyncRow,
    inputs: Vec<Input>,
) -> Result<Sides, (String, OpenError)> {
    let (source, connector) = open_connection(app, &sync.source_id, Side::Source, inputs)
        .await
        .map_err(|e| (sync.source_id.clone(), e))?;
    let mut others = [
        (&sync.mapper_id, Side::Mapper),
        (&sync.destination_id, Side::Destination),
    ]
    .into_iter()
    .map(|(id, side)| async move {
        match id {
            Some(id) => open_connection(app, id, side, Vec::new())
                .await
                .map(|(o, _)| Some(o))
                .map_err(|e| (id.clone(), e)),
            None => Ok(None),
        }
    });
    let mapper = others.next().expect("two sides").await?;
    let destination = others.next().expect("two sides").await?;
    let source_schemas = connector
        .spec()
        .streams
        .iter()
        .map(|s| (s.name.clone(), s.schema.clone()))
        .collect();
    let offered = connector.spec().offered_streams(&source.row.config);
    Ok(Sides {
        source,
        source_schemas,
        offered,
        mapper,
        destination,
    })
}

pub(super) async fn open_failed(
    app: &App,
    lease: &Lease,
    connection_id: &str,
    e: OpenError,
) -> Outcome {
    let message = e.to_string();
    match e {
        OpenError::Store(e) => e.into(),
        OpenError::Secret { .. } | OpenError::Session { .. } => {
            if let Ok(Some(c)) = app.store.connection(connection_id).await {
                connection_error(app, Some(lease), &c, &message).await;
            }
            failed("config", message, None)
        }
        OpenError::OAuth { .. } => failed("auth", message, None),
        _ => failed("config", message, None),
    }
}

impl Run<'_> {
    /// Log lines the sessions dropped since the last page.
    pub(super) fn dropped_logs(&self) -> i64 {
        let mut total = 0;
        for o in self.opened() {
            let now = o.session.log().dropped();
            let mut counted = o.counted.lock().expect("counted lock");
            total += (now - counted.1) as i64;
            counted.1 = now;
        }
        total
    }

    /// A line from the sync engine into the run's log (stored with the page).
    pub(super) fn note(&self, message: String) {
        self.source
            .session
            .log()
            .host_line(crate::runtime::LogSource::Host, message);
    }

    pub(super) fn opened(&self) -> impl Iterator<Item = &Opened> {
        std::iter::once(&self.source)
            .chain(self.mapper.as_ref())
            .chain(self.destination.as_ref())
    }

    /// Requests and bytes since the last page; metrics by connector and
    /// status class on the way.
    pub(super) fn http_delta(&self) -> (i64, i64) {
        let metrics = &self.app.metrics;
        let mut total = (0, 0);
        for o in self.opened() {
            let now = o.session.http_counters();
            let mut counted = o.counted.lock().expect("counted lock");
            let before = counted.0;
            total.0 += (now.requests - before.requests) as i64;
            total.1 += (now.bytes_in - before.bytes_in) as i64;
            for (i, class) in crate::runtime::STATUS_CLASSES.iter().enumerate() {
                metrics.http(
                    &o.row.connector,
                    class,
                    now.by_class[i] - before.by_class[i],
                );
            }
            counted.0 = now;
        }
        total
    }

    /// Every session's new log lines, in time order, labelled by side.
    pub(super) fn drain_logs(&self) -> Vec<(i64, String, String, String)> {
        let sides = [
            ("source", Some(&self.source)),
            ("mapper", self.mapper.as_ref()),
            ("destination", self.destination.as_ref()),
        ];
        let mut lines: Vec<(LogLine, &str)> = Vec::new();
        for (side, opened) in sides {
            if let Some(o) = opened {
                lines.extend(o.session.log().drain().into_iter().map(|l| (l, side)));
            }
        }
        lines.sort_by_key(|(l, _)| l.at_ms);
        lines
            .into_iter()
            .map(|(l, side)| {
                let level = format!("{:?}", l.level).to_lowercase();
                let source = format!("{side}/{:?}", l.source).to_lowercase();
                (l.at_ms as i64, level, source, l.message)
            })
            .collect()
    }
}

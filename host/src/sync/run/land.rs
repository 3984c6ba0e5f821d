//! Records that did not come from `fetch` (an import, a webhook delivery)
//! landed through the sync's mapper and destination as one page of a run.

use std::sync::Arc;

use super::open::{Side, Sides, open_sides};
use super::{Batch, Outcome, Position, Run, StopSignal, failed};
use crate::app::App;
use crate::model::record::{Record, mapper_rejection};
use crate::store::runs::{Counters, RejectionRow, RunRow};

/// Records an import or delivery may map one call each, when the mapper
/// does not map one record to one.
const MAX_SINGLE_MAPS: usize = 1_000;

/// Run the connectors of a sync on records that did not come from `fetch`
/// (an import, a webhook delivery): map → validate → push, committed as one
/// page of `run` (already claimed). Returns the counters and the
/// rejections, each with its index in `records`.
pub async fn land(
    app: &App,
    run: &RunRow,
    stream: &str,
    records: Vec<Record>,
    earlier_rejections: Vec<RejectionRow>,
) -> Result<(Counters, Vec<RejectionRow>), Outcome> {
    let stop = Arc::new(StopSignal::default());
    let lease = run
        .lease()
        .ok_or_else(|| Outcome::Internal("the run has no lease".into()))?;
    let _held = app.leases.hold(lease.clone(), stop.clone());
    let sync = app
        .store
        .sync(&run.sync_id)
        .await?
        .ok_or_else(|| failed("config", "the sync was deleted", None))?;
    let Sides {
        source,
        source_schemas,
        offered: _,
        mapper,
        destination,
    } = open_sides(app, &sync, Vec::new())
        .await
        .map_err(|(_, e)| failed("config", e.to_string(), None))?;
    let r = Run {
        app,
        run,
        lease,
        totals: Counters::default(),
        sync,
        stop: &stop,
        source,
        source_schemas,
        mapper,
        destination,
        validators: Default::default(),
        rejected: 0,
        pending_secs: 0,
        beside: super::page::Beside::new(),
    };
    let fetched = records.len() as i64;
    // Map one record at a time if the mapper does not keep the count, so
    // each output keeps its input's index.
    let mut mapped: Vec<(usize, Record)> = Vec::with_capacity(records.len());
    match &r.mapper {
        Some(m) => {
            let out = r.call(Side::Mapper, || m.session.map(&records)).await?;
            if out.len() == records.len() {
                mapped.extend(out.into_iter().enumerate());
            } else if records.len() > MAX_SINGLE_MAPS {
                return Err(failed(
                    "config",
                    format!(
                        "the mapper does not map one record to one, so each of the {} records would need a call of its own; send at most {MAX_SINGLE_MAPS} at a time",
                        records.len()
                    ),
                    None,
                ));
            } else {
                for (i, rec) in records.iter().enumerate() {
                    let one = std::slice::from_ref(rec);
                    for o in r.call(Side::Mapper, || m.session.map(one)).await? {
                        mapped.push((i, o));
                    }
                }
            }
        }
        None => mapped.extend(records.into_iter().enumerate()),
    }
    // What the mapper refused is stored with the run's errors under the
    // position of the record it refused.
    let mut rejections = earlier_rejections;
    let from_mapper = r.mapper.is_some();
    mapped.retain(
        |(i, record)| match mapper_rejection(record).filter(|_| from_mapper) {
            Some(e) => {
                rejections.push(RejectionRow {
                    stream: e.stream,
                    index: *i as i64,
                    key: Some(e.row),
                    field: e.field,
                    message: e.message,
                });
                false
            }
            None => true,
        },
    );
    let (origin, outputs): (Vec<usize>, Vec<Record>) = mapped.into_iter().unzip();
    let batch = Batch::ingested(outputs, origin, rejections, fetched);
    let position = Position {
        stream: stream.to_string(),
        cursor: None,
        done: true,
        checkpoint: false,
    };
    r.push_and_commit(batch, position).await
}

//! The ACC Issues API (`GET construction/issues/v1/projects/{projectId}/issues`):
//! a project's issues by `limit` (at most 100) and `offset` against
//! `pagination.totalResults`, in creation order (`sortBy=createdAt`, so an
//! issue updated during the pass does not move between pages).
//!
//! The project id there is the Data Management id without its `b.`
//! (APS's documented translation). Requests name the hub's data centre in
//! `x-ads-region`. Incremental passes ask for `filter[updatedAt]=<bound>..`
//! and then for the issues deleted since (`filter[deleted]=true`, which
//! the API serves apart from the others), which become deletes.
//!
//! Only BIM 360 / ACC account hubs have issues. A project whose issues the
//! user may not see (`403`, no "View" permission in the Issues tool) or
//! that has no Issues tool (`404`) is skipped with a warning.

use wharf_sdk::prelude::*;

use crate::api::{self, acc_id, ms_at, seg};
use crate::records::Place;
use crate::walk::{Task, Walk};

/// Issues a request at most (the API's maximum and default).
const LIMIT: u64 = 100;

/// One page of a project's issues (or of its deleted ones).
pub fn page(w: &mut Walk, at: Place, offset: u64, deleted: bool) -> Result<Vec<Task>> {
    let path = format!(
        "/construction/issues/v1/projects/{}/issues",
        seg(acc_id(&at.project))
    );
    let mut request = api::json(w.config, &path)
        .query("limit", LIMIT)
        .query("offset", offset)
        .query("sortBy", "createdAt");
    if let Some(bound) = w.bound {
        request = request.query("filter[updatedAt]", format!("{}..", api::iso_ms(bound)));
    }
    if deleted {
        request = request.query("filter[deleted]", "true");
    }
    if let Some(region) = &at.region {
        request = request.header("x-ads-region", region.as_str());
    }
    w.calls += 1;
    let what = format!("the issues of project {}", at.path);
    let Some(response) = api::send_or_skip(request, &what)? else {
        return Ok(Vec::new());
    };
    let body: Value = response.json()?;
    let results = body["results"].as_array().map_or(&[][..], Vec::as_slice);
    for issue in results {
        let updated = ms_at(issue, "/updatedAt");
        // The filter's bound is inclusive; the issue at the bound was
        // emitted by the last pass.
        if !w.after(updated) {
            continue;
        }
        w.note(updated);
        w.records.push(record(issue, &at, deleted));
    }
    let read = offset + results.len() as u64;
    let more = match body
        .pointer("/pagination/totalResults")
        .and_then(Value::as_u64)
    {
        Some(total) => read < total,
        None => results.len() as u64 >= LIMIT,
    };
    Ok(if more && !results.is_empty() {
        vec![Task::Issues {
            at,
            offset: read,
            deleted,
        }]
    } else if !deleted && w.bound.is_some() {
        vec![Task::Issues {
            at,
            offset: 0,
            deleted: true,
        }]
    } else {
        Vec::new()
    })
}

/// An issue as a record, with its project's ids; a deleted issue as a
/// delete.
fn record(issue: &Value, at: &Place, deleted: bool) -> Record {
    let mut data = issue.as_object().cloned().unwrap_or_default();
    data.insert("hub_id".into(), json!(at.hub));
    data.insert("project_id".into(), json!(at.project));
    data.insert("acc_project_id".into(), json!(acc_id(&at.project)));
    data.insert("project_name".into(), json!(at.path));
    let key = issue["id"].as_str().map(str::to_string);
    let gone = deleted || issue["deleted"] == Value::Bool(true);
    let mut record = match (&key, gone) {
        (Some(id), true) => Record::delete("issues", id.as_str()),
        _ => Record::upsert("issues", Map::new()),
    };
    record.data = data;
    record.key = key;
    record
}

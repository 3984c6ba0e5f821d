//! Bulk API 2.0 query jobs, for objects too large to page through
//! `/query`: `POST /jobs/query` with the pass's SOQL (no ORDER BY, which
//! slows a job down), `GET /jobs/query/{id}` until `JobComplete` (the host
//! waits between polls: the page is "pending", not a failure), then
//! `GET /jobs/query/{id}/results?maxRecords=N&locator=L` set by set until
//! `Sforce-Locator: null`.
//!
//! A set's CSV is parsed into records typed by the object's describe
//! (`bulk_output: records`: booleans and numbers as JSON, empty values as
//! null), or kept whole in the host as one record's blob (`csv`). The next
//! pass's bound is the job's creation time, by Salesforce's clock, less the
//! lookback: the job reads the org as it is once it runs.

use serde::Deserialize;
use serde_json::{Map, Number, Value, json};
use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;

use crate::api::{self, Api};
use crate::describe::Described;
use crate::query::{self, Cursor};
use crate::{BulkOutput, Config, csv, describe};

/// A job, as `POST /jobs/query` and `GET /jobs/query/{id}` describe it.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct JobInfo {
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    created_date: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

/// Create the job of the pass `at`; the page waits for it.
pub fn start(config: &Config, api: &Api, described: &Described, mut at: Cursor) -> Result<Page> {
    let soql = query::statement(config, described, &at, false, false)?;
    let body = json!({
        "operation": if at.all { "queryAll" } else { "query" },
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    });
    let request = api.request("POST", api.data("jobs/query")).json(&body)?;
    let response = api.send(request)?;
    let job: JobInfo = response.json()?;
    if !is_id(&job.id) {
        return Err(Error::Fatal(format!(
            "Salesforce answered with a job id `{}`",
            job.id
        )));
    }
    at.started = Some(
        job.created_date
            .as_deref()
            .and_then(query::secs_of)
            .unwrap_or_else(|| query::server_time(&response)),
    );
    wharf_sdk::log::info(format!(
        "{}: Bulk API 2.0 query job {} created",
        described.name, job.id
    ));
    at.job = Some(job.id);
    Ok(Page::pending(at.text()?, poll(config)))
}

fn poll(config: &Config) -> u32 {
    config.bulk_poll_secs.clamp(1, 600)
}

/// Record ids are 15 or 18 letters and digits.
fn is_id(id: &str) -> bool {
    (15..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The pass's job: still running (wait), failed (stop), or the next set.
pub fn resume(config: &Config, api: &Api, object: &str, mut at: Cursor) -> Result<Page> {
    let id =
        at.job.clone().filter(|j| is_id(j)).ok_or_else(|| {
            Error::Config(format!("the cursor of `{object}` names no Bulk API job"))
        })?;
    if !at.complete {
        let url = api.data(&format!("jobs/query/{id}"));
        let info: JobInfo = api.send(api.request("GET", url))?.json()?;
        match info.state.as_str() {
            "JobComplete" => at.complete = true,
            "UploadComplete" | "InProgress" | "Open" => {
                return Ok(Page::pending(at.text()?, poll(config)));
            }
            "Failed" => {
                return Err(Error::Fatal(format!(
                    "the Bulk API 2.0 job {id} reading {object} failed: {}",
                    info.error_message.as_deref().unwrap_or("no reason given")
                )));
            }
            "Aborted" => {
                return Err(Error::Fatal(format!(
                    "the Bulk API 2.0 job {id} reading {object} was aborted in Salesforce"
                )));
            }
            other => {
                return Err(Error::Fatal(format!(
                    "the Bulk API 2.0 job {id} is in an unknown state `{other}`"
                )));
            }
        }
    }
    results(config, api, object, &id, at)
}

/// The next result set, and the cursor after it.
fn results(config: &Config, api: &Api, object: &str, id: &str, mut at: Cursor) -> Result<Page> {
    let mut url = format!(
        "{}?maxRecords={}",
        api.data(&format!("jobs/query/{id}/results")),
        config.bulk_page_size.max(1)
    );
    if let Some(l) = &at.locator {
        url.push_str(&format!("&locator={}", wharf_sdk::http::encode(l)));
    }
    let mut request = Request::get(url)
        .header("Accept", "text/csv")
        .oauth_bearer();
    if config.bulk_output == BulkOutput::Csv {
        request = request.keep_body();
    }
    let response = api.send(request)?;
    let next = response
        .header("sforce-locator")
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "null")
        .map(str::to_string);
    at.sets += 1;
    let mut page = match config.bulk_output {
        BulkOutput::Records => rows(config, api, object, &response, &mut at)?,
        BulkOutput::Csv => Page::new(vec![set_record(object, id, &at, &response)?], None, false),
    };
    match next {
        Some(locator) => {
            at.locator = Some(locator);
            page.cursor = Some(at.text()?);
            page.more = true;
        }
        None => {
            let started = at.started.unwrap_or_else(|| query::server_time(&response));
            page.cursor = Some(at.end_of_pass(started, config.lookback_secs).text()?);
            page.more = false;
            wharf_sdk::log::info(format!(
                "{object}: Bulk API 2.0 job {id} read in {} sets{}",
                at.sets,
                api::usage_text()
            ));
        }
    }
    Ok(page)
}

/// A result set as typed records; a row that does not fit its header is a
/// row error, and the rest goes on.
fn rows(
    config: &Config,
    api: &Api,
    object: &str,
    response: &Response,
    at: &mut Cursor,
) -> Result<Page> {
    let described = describe::object(api, object)?;
    let text = String::from_utf8_lossy(&response.body);
    let table = csv::parse(&text).map_err(|e| {
        Error::Fatal(format!(
            "set {} of the Bulk API results of {object}: {e}",
            at.sets
        ))
    })?;
    let mut table = table.into_iter().peekable();
    // Each set starts with the header, as Salesforce's example shows; a set
    // without one is read in the SELECT's order, which the columns follow.
    let named = |row: &Vec<String>| row.iter().all(|h| described.field(h).is_some());
    let header = match table.peek() {
        Some(first) if named(first) => table.next().unwrap_or_default(),
        _ => {
            let deletes = config.include_deleted && described.field("IsDeleted").is_some();
            described.selected(config.fields_of(object), deletes)?
        }
    };
    let kinds: Vec<&str> = header
        .iter()
        .map(|h| described.field(h).map_or("string", |f| f.kind.as_str()))
        .collect();
    let mut page = Page::new(Vec::new(), None, false);
    for (n, row) in table.enumerate() {
        let place = format!("set {} row {}", at.sets, n + 1);
        if row.len() != header.len() {
            let why = format!("{} values for {} columns", row.len(), header.len());
            page = page.row_error(object, place, None, why);
            continue;
        }
        let mut data = Map::new();
        let mut bad = None;
        for ((name, kind), text) in header.iter().zip(&kinds).zip(row) {
            match typed(kind, text) {
                Some(v) => {
                    data.insert(name.clone(), v);
                }
                None => {
                    bad = Some(name.clone());
                    break;
                }
            }
        }
        if let Some(field) = bad {
            let why = format!("`{field}` does not hold a value of its type");
            page = page.row_error(object, place, Some(&field), why);
            continue;
        }
        page.records
            .push(query::record(object, Value::Object(data), at)?);
    }
    Ok(page)
}

/// A CSV value as the JSON `/query` would give: empty is null.
pub fn typed(kind: &str, text: String) -> Option<Value> {
    if text.is_empty() {
        return Some(Value::Null);
    }
    match kind {
        "boolean" => match text.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        "int" | "double" | "currency" | "percent" => text.parse::<Number>().ok().map(Value::Number),
        _ => Some(Value::String(text)),
    }
}

/// A result set kept whole: one record naming it, with the CSV as its blob.
fn set_record(object: &str, id: &str, at: &Cursor, response: &Response) -> Result<Record> {
    let blob = response
        .blob
        .clone()
        .ok_or_else(|| Error::Fatal("the host kept no body for the result set".into()))?;
    let count = response
        .header("sforce-numberofrecords")
        .and_then(|n| n.trim().parse::<u64>().ok());
    let data = json!({
        "object": object,
        "job": id,
        "set": at.sets,
        "records": count,
        "content_type": "text/csv",
        "file_name": format!("{object}-{id}-{:04}.csv", at.sets),
    });
    Ok(Record::from_value(object, data)?
        .with_key(format!("{id}/{}", at.sets))
        .with_blob(&Blob(blob)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_values_typed() {
        assert_eq!(typed("boolean", "true".into()), Some(json!(true)));
        assert_eq!(typed("boolean", "yes".into()), None);
        assert_eq!(typed("int", "42".into()), Some(json!(42)));
        assert_eq!(
            typed("currency", "950000000".into()),
            Some(json!(950_000_000))
        );
        assert_eq!(typed("double", "1.5".into()), Some(json!(1.5)));
        assert_eq!(typed("string", "".into()), Some(Value::Null));
        assert_eq!(
            typed("datetime", "2024-05-01T10:00:00.000Z".into()),
            Some(json!("2024-05-01T10:00:00.000Z"))
        );
        assert!(is_id("7503h00000F0T6bAAF") && !is_id("750/../x"));
    }
}

//! Reading an object: one pass is one SOQL statement, `SELECT fields FROM
//! Object WHERE SystemModstamp > bound ORDER BY SystemModstamp`, read page by
//! page through `nextRecordsUrl` (or handed to Bulk API 2.0 when the object
//! is large). The cursor holds where the pass stands; when it ends, the
//! next pass's bound is the newest change seen, or a little before the pass
//! began if that is earlier, so records committed while it ran are read
//! again rather than missed (upserts make that harmless).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api::{self, Api};
use crate::{bulk, describe};

/// Longest `/query` URL sent; Salesforce refuses URIs over 16,384 bytes, and
/// a longer statement (a very wide object) goes to Bulk API 2.0, which
/// takes it in a body.
const MAX_URL: usize = 16_000;

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Lower bound (exclusive, Unix seconds) of this pass and the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The field the bound applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The pass reads deleted records too (`queryAll`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub all: bool,
    /// The next `/query` page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The newest value of `field` seen in this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// When the pass began, by Salesforce's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    /// The Bulk API 2.0 job of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The job has finished.
    #[serde(default, skip_serializing_if = "is_false")]
    pub complete: bool,
    /// The next result set of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
    /// Result sets read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sets: u32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Cursor {
    /// The cursor of a page: JSON.
    pub fn text(&self) -> Result<String> {
        serde_json::to_string(self).map_err(Error::fatal)
    }

    /// The cursor after a pass that began at `started` and saw `max`: the
    /// newest change, or `lookback` before the pass began if that is
    /// earlier, never before this pass's own bound.
    pub fn end_of_pass(&self, started: i64, lookback: i64) -> Cursor {
        let Some(field) = self.field.clone() else {
            // No change field: every pass reads everything.
            return Cursor::default();
        };
        let overlap = started - lookback.max(0);
        let bound = self.max.map_or(overlap, |m| m.min(overlap));
        Cursor {
            since: Some(self.since.map_or(bound, |s| s.max(bound))),
            field: Some(field),
            ..Cursor::default()
        }
    }
}

/// One page of `object`.
pub fn fetch(config: &Config, api: &Api, object: &str, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor of `{object}` is not this connector's: {e}"
            ))
        })?,
        None => Cursor::default(),
    };
    if at.job.is_some() {
        return bulk::resume(config, api, object, at);
    }
    if let Some(next) = at.next.clone() {
        let response = api.send_raw(page_request(config, api, api.at(&next)?))?;
        if response.status == 400 && api::problem(&response).code == "INVALID_QUERY_LOCATOR" {
            // The server-side cursor expired (15 idle minutes, or too many
            // open): the pass resumes from the newest change it saw, which
            // the ORDER BY makes safe.
            wharf_sdk::log::info(format!(
                "{object}: the query cursor expired; resuming the pass"
            ));
            return start(config, api, object, at, true);
        }
        if response.status >= 300 {
            return Err(api::error(&response));
        }
        return page(config, object, at, response);
    }
    start(config, api, object, at, false)
}

/// Begin a pass (or, `resume`, pick it up from the newest change seen).
fn start(config: &Config, api: &Api, object: &str, at: Cursor, resume: bool) -> Result<Page> {
    let described = describe::object(api, object)?;
    let at = pass(config, &described, at, resume)?;
    let soql = statement(config, &described, &at, resume, true)?;
    let url = format!(
        "{}?q={}",
        api.data(if at.all { "queryAll" } else { "query" }),
        wharf_sdk::http::encode(&soql)
    );
    let named = config
        .bulk_objects
        .iter()
        .any(|b| b.eq_ignore_ascii_case(object));
    if named || url.len() > MAX_URL {
        return bulk::start(config, api, &described, at);
    }
    let response = api.send(page_request(config, api, url))?;
    let total = response
        .json::<Value>()
        .ok()
        .filter(|b| b["done"] == false)
        .and_then(|b| b["totalSize"].as_u64());
    if config.bulk_threshold > 0
        && let Some(total) = total.filter(|t| *t > config.bulk_threshold)
    {
        wharf_sdk::log::info(format!(
            "{object}: {total} records to read, over bulk_threshold; reading them with Bulk API 2.0"
        ));
        return bulk::start(config, api, &described, at);
    }
    page(config, object, at, response)
}

/// The cursor of a pass about to begin: its bound (the last pass's, else
/// `start_date`), its change field, and whether it reads deletes.
pub fn pass(
    config: &Config,
    described: &describe::Described,
    at: Cursor,
    resume: bool,
) -> Result<Cursor> {
    let since = match (at.since, &config.start_date) {
        (Some(s), _) => Some(s),
        (None, Some(d)) if !d.trim().is_empty() => Some(
            wharf_sdk::time::from_rfc3339_utc(d.trim()).ok_or_else(|| {
                Error::Config(format!("start_date `{d}` is not like 2020-01-01T00:00:00Z"))
            })? - 1,
        ),
        _ => None,
    };
    let deletes = config.include_deleted && described.field("IsDeleted").is_some();
    Ok(Cursor {
        since,
        field: described.cursor_field().map(str::to_string),
        // Deletes are only news to a pass that follows another.
        all: deletes && (at.since.is_some() || at.all),
        started: if resume { at.started } else { None },
        max: if resume { at.max } else { None },
        ..Cursor::default()
    })
}

/// The SOQL of the pass `at` (from its newest change, inclusive, when
/// resuming; ordered by the change field for `/query`).
pub fn statement(
    config: &Config,
    described: &describe::Described,
    at: &Cursor,
    resume: bool,
    ordered: bool,
) -> Result<String> {
    let deletes = config.include_deleted && described.field("IsDeleted").is_some();
    let fields = described.selected(config.fields_of(&described.name), deletes)?;
    let (bound, inclusive) = match (resume, at.max) {
        (true, Some(max)) => (Some(max), true),
        _ => (at.since, false),
    };
    Ok(soql(
        &described.name,
        &fields,
        at.field.as_deref(),
        bound,
        inclusive,
        ordered,
    ))
}

/// A `/query` request with the page size.
fn page_request(config: &Config, api: &Api, url: String) -> Request {
    api.request("GET", url).header(
        "Sforce-Query-Options",
        format!("batchSize={}", config.page_size.clamp(200, 2000)),
    )
}

/// The statement of a pass. With a change field, the bound filters and the
/// order follows it, so a resumed pass can start at the newest change seen.
pub fn soql(
    object: &str,
    fields: &[String],
    field: Option<&str>,
    bound: Option<i64>,
    inclusive: bool,
    ordered: bool,
) -> String {
    let mut q = format!("SELECT {} FROM {object}", fields.join(", "));
    if let Some(f) = field {
        if let Some(b) = bound {
            let op = if inclusive { ">=" } else { ">" };
            q.push_str(&format!(" WHERE {f} {op} {}", wharf_sdk::time::rfc3339(b)));
        }
        if ordered {
            q.push_str(&format!(" ORDER BY {f} ASC"));
        }
    }
    q
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    #[serde(default)]
    records: Vec<Value>,
}

/// The records of a `/query` page, and the cursor after it.
fn page(config: &Config, object: &str, mut at: Cursor, response: Response) -> Result<Page> {
    if at.started.is_none() {
        at.started = Some(server_time(&response));
    }
    let body: QueryPage = response.json()?;
    let mut records = Vec::with_capacity(body.records.len());
    for item in body.records {
        records.push(record(object, item, &mut at)?);
    }
    let started = at.started.unwrap_or_else(now);
    match body.next_records_url.filter(|_| !body.done) {
        Some(next) => {
            at.next = Some(next);
            Ok(Page::new(records, Some(at.text()?), true))
        }
        None => {
            let end = at.end_of_pass(started, config.lookback_secs);
            wharf_sdk::log::debug(format!("{object}: pass done{}", api::usage_text()));
            Ok(Page::last(records, Some(end.text()?)))
        }
    }
}

/// One queried row as a record: `attributes` dropped, datetimes as RFC
/// 3339, a deleted row as a delete of its id.
pub fn record(object: &str, mut item: Value, at: &mut Cursor) -> Result<Record> {
    if let Some(map) = item.as_object_mut() {
        map.remove("attributes");
    }
    normalize(&mut item);
    if let Some(seen) = at
        .field
        .as_deref()
        .and_then(|f| item.get(f))
        .and_then(Value::as_str)
        .and_then(secs_of)
    {
        at.max = Some(at.max.map_or(seen, |m| m.max(seen)));
    }
    let id = item.get("Id").and_then(Value::as_str).map(str::to_string);
    if item.get("IsDeleted") == Some(&Value::Bool(true))
        && let Some(id) = &id
    {
        return Ok(Record::delete(object, id.clone()));
    }
    let mut r = Record::from_value(object, item)?;
    r.key = id;
    Ok(r)
}

/// Salesforce's `2024-05-01T10:00:00.000+0000` as RFC 3339
/// (`…00.000Z`), at any depth.
pub fn normalize(value: &mut Value) {
    match value {
        Value::String(s) => {
            let b = s.as_bytes();
            let shaped = b.len() == 28
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && b[13] == b':'
                && b[19] == b'.';
            if shaped && s.ends_with("+0000") {
                s.truncate(23);
                s.push('Z');
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Object(map) => map.values_mut().for_each(normalize),
        _ => {}
    }
}

/// Unix seconds of a Salesforce datetime (`…+0000` or `…Z`).
pub fn secs_of(text: &str) -> Option<i64> {
    let t = text
        .strip_suffix("+0000")
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    wharf_sdk::time::from_rfc3339_utc(t)
}

/// Salesforce's clock, from the answer's `Date`; the host's if absent.
pub fn server_time(response: &Response) -> i64 {
    response
        .header("date")
        .and_then(wharf_sdk::time::from_http_date)
        .unwrap_or_else(now)
}

fn now() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let f = vec!["Id".to_string(), "Name".into(), "SystemModstamp".into()];
        assert_eq!(
            soql(
                "Account",
                &f,
                Some("SystemModstamp"),
                Some(1_714_557_600),
                false,
                true
            ),
            "SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp > 2024-05-01T10:00:00Z ORDER BY SystemModstamp ASC"
        );
        assert_eq!(
            soql("Account", &f, Some("SystemModstamp"), None, false, false),
            "SELECT Id, Name, SystemModstamp FROM Account"
        );
        assert!(soql("X", &f, Some("SystemModstamp"), Some(0), true, true).contains(">= 1970"));
    }

    #[test]
    fn datetimes() {
        let mut v =
            serde_json::json!({"a": "2024-05-01T10:00:00.000+0000", "b": ["x+0000"], "c": 1});
        normalize(&mut v);
        assert_eq!(v["a"], "2024-05-01T10:00:00.000Z");
        assert_eq!(v["b"][0], "x+0000");
        assert_eq!(secs_of("2024-05-01T10:00:00.000+0000"), Some(1_714_557_600));
        assert_eq!(secs_of("2024-05-01T10:00:00.000Z"), Some(1_714_557_600));
    }

    #[test]
    fn a_pass_ends_at_the_newest_change_or_before_it_began() {
        let at = |since, max| Cursor {
            since,
            max,
            field: Some("SystemModstamp".into()),
            ..Cursor::default()
        };
        let started = 1_800_000_000;
        assert_eq!(
            at(None, Some(1_700_000_000))
                .end_of_pass(started, 300)
                .since,
            Some(1_700_000_000)
        );
        assert_eq!(
            at(None, Some(started + 5)).end_of_pass(started, 300).since,
            Some(started - 300)
        );
        assert_eq!(
            at(Some(started), None).end_of_pass(started, 300).since,
            Some(started)
        );
        let none = Cursor::default().end_of_pass(started, 300);
        assert_eq!(none, Cursor::default());
    }

    #[test]
    fn rows() {
        let mut at = Cursor {
            field: Some("SystemModstamp".into()),
            ..Cursor::default()
        };
        let row = serde_json::json!({"attributes": {"type": "Account"}, "Id": "001", "IsDeleted": false,
            "SystemModstamp": "2024-05-01T10:00:00.000+0000"});
        let r = record("Account", row, &mut at).unwrap();
        assert_eq!(r.key.as_deref(), Some("001"));
        assert!(r.get("attributes").is_none());
        assert_eq!(at.max, Some(1_714_557_600));
        let gone = serde_json::json!({"Id": "002", "IsDeleted": true});
        assert_eq!(record("Account", gone, &mut at).unwrap().op, Op::Delete);
    }
}

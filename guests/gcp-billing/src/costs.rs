//! The `costs` stream: one pass runs the billing query over a window of
//! days, polls the job while it runs, and pages its results; each row is a
//! record keyed by date and group values, so a revised day replaces
//! itself. The next pass starts `settle_days` before the last pass's last
//! day: the export is appended to several times a day and revises recent
//! days for some time after.
//!
//! A fetch never waits on BigQuery longer than `timeout_ms`: a query still
//! running is a pending page (the host calls again after a pause, the job
//! in the cursor), so a long query costs no sandbox time.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::time::{civil, date, days};

use crate::api::{self, Results};
use crate::config::{Config, Group};
use crate::query;

pub const STREAM: &str = "costs";

/// Where a pass stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The pass's first day (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The day after its last (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// Its query job, once BigQuery named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    /// The job's location (`getQueryResults` needs it outside US and EU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    /// The next page's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// How often the job was found still running.
    #[serde(default, skip_serializing_if = "is_zero")]
    polls: u32,
    /// The last day of the last finished pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_until: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Days since the epoch of `YYYY-MM-DD`.
fn day_of(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(days(i64::from(y), m, d))
}

fn day_text(day: i64) -> String {
    date(day * 86_400)
}

fn today() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(86_400_000)
}

/// The days `[from, to)` of a pass after `done_until`, on `today` (UTC).
fn window(config: &Config, done_until: Option<i64>, today: i64) -> (i64, i64) {
    // Today in UTC can be tomorrow somewhere (UTC+14): the window ends
    // after that day, so the newest costs of any zone are in it.
    let to = today + 2;
    let from = match done_until {
        Some(last) => last - config.settle_days,
        None => today - config.lookback_days,
    }
    .min(today);
    if config.monthly() {
        // A month is summed whole, or its record would be a part of it.
        let (y, m, _) = civil(from);
        return (days(y, m, 1), to);
    }
    (from, to)
}

/// The dry run of the first pass's query: BigQuery checks the table, the
/// columns, the service account's permissions and the parameters, and
/// says how much the pass would scan, at no charge.
pub fn check(config: &Config, groups: &[Group]) -> Result<()> {
    let (from, to) = window(config, None, today());
    let answer = api::query(config, &query::body(config, groups, from, to, true))?;
    let bytes = answer["totalBytesProcessed"]
        .as_str()
        .and_then(|b| b.parse::<u64>().ok())
        .unwrap_or(0);
    wharf_sdk::log::info(format!(
        "the billing query is valid; its first pass ({} to {}) would scan {:.1} MB",
        day_text(from),
        day_text(to - 1),
        bytes as f64 / 1e6
    ));
    if let Some(max) = config.maximum_bytes_billed
        && bytes > max
    {
        return Err(Error::Config(format!(
            "the first pass would scan {bytes} bytes, more than maximum_bytes_billed ({max}): raise it or shorten lookback_days"
        )));
    }
    Ok(())
}

/// One page of `costs`.
pub fn fetch(config: &Config, groups: &[Group], cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor is not this connector's: {e}")))?,
        None => Cursor::default(),
    };
    let done_until = at.done_until.clone();
    let (from, to) = match (
        at.from.as_deref().and_then(day_of),
        at.to.as_deref().and_then(day_of),
    ) {
        (Some(f), Some(t)) => (f, t),
        _ => window(config, done_until.as_deref().and_then(day_of), today()),
    };
    let pass = |job: Option<String>, location: Option<String>, token, polls| Cursor {
        from: Some(day_text(from)),
        to: Some(day_text(to)),
        job,
        location,
        token,
        polls,
        done_until: done_until.clone(),
    };
    let answer = match at.job.as_deref() {
        None => api::query(config, &query::body(config, groups, from, to, false))?,
        Some(job) => {
            match api::results(config, job, at.location.as_deref(), at.token.as_deref())? {
                Results::Answer(v) => v,
                Results::Gone(why) => {
                    // Results live about a day: a pass resumed later runs its
                    // query again; its records are upserts, so none doubles.
                    wharf_sdk::log::warn(format!(
                        "the query job {job} is gone ({why}); running the pass's query again"
                    ));
                    let again = pass(None, None, None, 0);
                    return Ok(Page::new(Vec::new(), Some(text(&again)?), true));
                }
            }
        }
    };
    let reference = &answer["jobReference"];
    let job = reference["jobId"]
        .as_str()
        .map(str::to_string)
        .or(at.job.clone());
    let location = reference["location"]
        .as_str()
        .map(str::to_string)
        .or(at.location.clone());
    if answer["jobComplete"] != true {
        let job = job.ok_or_else(|| {
            Error::fatal("BigQuery says the query is still running but names no job")
        })?;
        let polls = at.polls.saturating_add(1);
        let wait = 1u32 << (polls - 1).min(5);
        let next = pass(Some(job), location, at.token.clone(), polls);
        return Ok(Page::pending(text(&next)?, wait.min(30)));
    }
    let records = records(config, groups, &answer)?;
    let next = answer["pageToken"].as_str().filter(|t| !t.is_empty());
    let (cursor, more) = match next {
        Some(token) => {
            let job = job.ok_or_else(|| {
                Error::fatal("BigQuery sent a page token but named no job to page")
            })?;
            (pass(Some(job), location, Some(token.to_string()), 0), true)
        }
        None => (
            Cursor {
                done_until: Some(day_text(to - 1)),
                ..Cursor::default()
            },
            false,
        ),
    };
    Ok(Page::new(records, Some(text(&cursor)?), more))
}

fn text(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

/// The day after a period that starts on `day`.
fn end_of(config: &Config, day: i64) -> i64 {
    if config.monthly() {
        let (y, m, _) = civil(day);
        days(y + i64::from(m / 12), m % 12 + 1, 1)
    } else {
        day + 1
    }
}

/// The fields of a record besides the groups, as the query names them.
const MEASURES: [&str; 5] = ["cost", "credits", "net_cost", "currency", "exported_at"];

/// The records of an answer: a row per period and group.
fn records(config: &Config, groups: &[Group], answer: &Value) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for mut row in crate::rows::objects(answer)? {
        let Some(start) = row.get("date").and_then(Value::as_str).map(str::to_string) else {
            return Err(Error::fatal("a row of the billing query without its date"));
        };
        let end = day_of(&start).map(|d| day_text(end_of(config, d)));
        let mut data = Map::new();
        let mut id = start.clone();
        data.insert("date".into(), json!(start));
        data.insert("end".into(), json!(end));
        for (i, g) in groups.iter().enumerate() {
            let v = row.remove(&format!("g{i}")).unwrap_or(Value::Null);
            id.push('|');
            id.push_str(&wharf_sdk::scalar_text(&v).unwrap_or_default());
            data.insert(g.field.clone(), v);
        }
        for m in MEASURES {
            data.insert(m.into(), row.remove(m).unwrap_or(Value::Null));
        }
        // The query groups by currency too: two accounts billing in two
        // currencies under one view are two records.
        id.push('|');
        id.push_str(&wharf_sdk::scalar_text(&data["currency"]).unwrap_or_default());
        data.insert("id".into(), json!(id));
        out.push(Record::upsert(STREAM, data).with_key(id));
    }
    Ok(out)
}

/// The stream, its fields' schema by the config's groups.
pub fn stream(groups: &[Group]) -> StreamSpec {
    let mut properties = json!({
        "id": {"type": "string", "description": "date|group values…|currency"},
        "date": {"type": "string", "format": "date", "description": "First day of the period (in the config's time zone)"},
        "end": {"type": ["string", "null"], "format": "date", "description": "The day after the period"},
        "cost": {"type": ["number", "null"], "description": "Sum of `cost` (before credits)"},
        "credits": {"type": ["number", "null"], "description": "Sum of the credits (negative)"},
        "net_cost": {"type": ["number", "null"], "description": "cost + credits"},
        "currency": {"type": ["string", "null"]},
        "exported_at": {"type": ["string", "null"], "format": "date-time", "description": "The newest export_time among the period's rows"}
    });
    for g in groups {
        properties[g.field.as_str()] = json!({"type": ["string", "null"]});
    }
    StreamSpec::new(STREAM)
        .description("One record per day (or month) and group: date, end, a field per group (service, project, label_<key>…), cost, credits, net_cost, currency, exported_at")
        .key_field("id")
        .cursor_field("date")
        .schema(json!({"type": "object", "required": ["id", "date"], "properties": properties}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        let mut base = json!({"project_id": "billing-admin-4821", "client_email": "etl@billing-admin-4821.iam.gserviceaccount.com",
            "table": "billing-admin-4821.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn windows_start_before_the_last_pass_ended() {
        let today = days(2024, 5, 20);
        let c = config(json!({"lookback_days": 9, "settle_days": 3}));
        assert_eq!(window(&c, None, today), (today - 9, today + 2));
        assert_eq!(window(&c, Some(today + 1), today), (today - 2, today + 2));
        let monthly = config(json!({"granularity": "MONTHLY"}));
        assert_eq!(window(&monthly, None, today).0, days(2024, 4, 1));
        assert_eq!(end_of(&monthly, days(2024, 12, 1)), days(2025, 1, 1));
    }

    #[test]
    fn rows_become_records_keyed_by_date_and_groups() {
        let c = config(json!({"group_by": ["service", "label:team"]}));
        let groups = c.validate().unwrap();
        let answer = json!({"jobComplete": true, "schema": {"fields": [
            {"name": "date", "type": "DATE"}, {"name": "g0", "type": "STRING"}, {"name": "g1", "type": "STRING"},
            {"name": "currency", "type": "STRING"}, {"name": "cost", "type": "NUMERIC"}, {"name": "credits", "type": "NUMERIC"},
            {"name": "net_cost", "type": "NUMERIC"}, {"name": "exported_at", "type": "TIMESTAMP"}]},
            "rows": [{"f": [{"v": "2024-05-01"}, {"v": "Compute Engine"}, {"v": null}, {"v": "USD"}, {"v": "10.5"},
                {"v": "-1.05"}, {"v": "9.45"}, {"v": "1714608000000000"}]}]});
        let r = records(&c, &groups, &answer).unwrap();
        assert_eq!(r[0].key.as_deref(), Some("2024-05-01|Compute Engine||USD"));
        assert_eq!(r[0].get("end"), Some(&json!("2024-05-02")));
        assert_eq!(r[0].get("label_team"), Some(&Value::Null));
        assert_eq!(r[0].get("net_cost"), Some(&json!(9.45)));
        assert_eq!(
            r[0].get("exported_at"),
            Some(&json!("2024-05-02T00:00:00Z"))
        );
    }
}

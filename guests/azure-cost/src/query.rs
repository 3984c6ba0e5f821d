//! The `costs` stream: a pass over `[from, end)` read in calendar-month
//! windows (Azure truncates a longer daily range, and answers a grouped one
//! for its last day only), each window's pages by `nextLink` with the same
//! body, and the answer's `columns`/`rows` table as records by column name.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::time::{civil, date, days};

use crate::Config;
use crate::api::{self, Answer};

/// Where a pass stands. Days are `YYYY-MM-DD`.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The first day of the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The day after the current pass (exclusive), fixed for its windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    /// The current window's next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The window was started again once after a stale `nextLink`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    restarted: bool,
    /// The end of the last finished pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_until: Option<String>,
}

/// `YYYY-MM-DD` of a day number.
fn day(d: i64) -> String {
    date(d * 86_400)
}

/// The day number of `YYYY-MM-DD`, if it is a real date.
fn day_of(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let n = days(i64::from(y), m, d);
    (civil(n) == (i64::from(y), m, d)).then_some(n)
}

/// The first day of the month after the one of day `d`.
fn next_month(d: i64) -> i64 {
    let (y, m, _) = civil(d);
    days(y + i64::from(m / 12), m % 12 + 1, 1)
}

/// The query for the days `[from, to)`: daily, the config's columns summed
/// and grouped.
pub fn body(config: &Config, from: i64, to: i64) -> Value {
    let aggregation: Map<String, Value> = config
        .metrics
        .iter()
        .map(|m| (format!("total{m}"), json!({"name": m, "function": "Sum"})))
        .collect();
    let mut dataset = json!({"granularity": "Daily", "aggregation": aggregation});
    if !config.group_by.is_empty() {
        dataset["grouping"] = config
            .group_by
            .iter()
            .map(|g| json!({"type": g.kind, "name": g.name.trim()}))
            .collect();
    }
    if let Some(f) = &config.filter {
        dataset["filter"] = f.clone();
    }
    json!({
        "type": config.cost_type,
        "timeframe": "Custom",
        // `to` is inclusive: the last second of the window's last day.
        "timePeriod": {"from": format!("{}T00:00:00Z", day(from)), "to": format!("{}T23:59:59Z", day(to - 1))},
        "dataset": dataset,
    })
}

/// The first page for the days `[from, to)` (a window), as `check` asks.
pub fn first_page(config: &Config, from: i64, to: i64) -> Result<Value> {
    match api::post(&api::query_url(config)?, &body(config, from, to), false)? {
        Answer::Table(v) => Ok(v),
        Answer::StaleLink(m) => Err(Error::Fatal(m)),
    }
}

/// One page of the `costs` stream.
pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor is not this connector's: {e}")))?,
        None => Cursor::default(),
    };
    let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
    let done_until = at.done_until.clone();
    // Today is included (its costs so far).
    let (from, end) = match (
        at.from.as_deref().and_then(day_of),
        at.end.as_deref().and_then(day_of),
    ) {
        (Some(f), Some(e)) if f < e => (f, e),
        _ => {
            let from = match done_until.as_deref().and_then(day_of) {
                Some(until) => until - config.settle_days.max(1),
                None => today - config.lookback_days,
            };
            (from.min(today), today + 1)
        }
    };
    let to = next_month(from).min(end);
    let body = body(config, from, to);
    let (url, following) = match at.next.as_deref() {
        Some(link) => (api::next_link(config, link)?, true),
        None => (api::query_url(config)?, false),
    };
    let answer = match api::post(&url, &body, following)? {
        Answer::Table(v) => v,
        Answer::StaleLink(why) if !at.restarted => {
            wharf_sdk::log::warn(format!(
                "Cost Management refused a nextLink ({why}); reading {} again from its first page",
                day(from)
            ));
            let again = Cursor {
                from: Some(day(from)),
                end: Some(day(end)),
                next: None,
                restarted: true,
                done_until,
            };
            return Ok(Page::new(Vec::new(), Some(to_text(&again)?), true));
        }
        Answer::StaleLink(why) => return Err(Error::Fatal(why)),
    };
    let records = records(config, &answer)?;
    let next = answer["properties"]["nextLink"]
        .as_str()
        .or(answer["nextLink"].as_str())
        .filter(|l| !l.trim().is_empty());
    if next.is_some() && next == at.next.as_deref() {
        return Err(Error::Fatal(
            "Cost Management answered the same nextLink again".into(),
        ));
    }
    let (cursor, more) = match next {
        Some(link) => {
            let page = Cursor {
                from: Some(day(from)),
                end: Some(day(end)),
                next: Some(link.to_string()),
                restarted: at.restarted,
                done_until,
            };
            (page, true)
        }
        None if to < end => {
            let window = Cursor {
                from: Some(day(to)),
                end: Some(day(end)),
                next: None,
                restarted: false,
                done_until,
            };
            (window, true)
        }
        None => {
            let done = Cursor {
                done_until: Some(day(end)),
                ..Cursor::default()
            };
            (done, false)
        }
    };
    Ok(Page::new(records, Some(to_text(&cursor)?), more))
}

fn to_text(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

/// The day of a `UsageDate` cell: `20240501` (a number, as daily answers
/// have it), or text `20240501` / `2024-05-01[T00:00:00]`.
fn usage_day(cell: &Value) -> Option<i64> {
    let text = match cell {
        Value::Number(n) => n.as_u64()?.to_string(),
        Value::String(s) => s.split('T').next()?.replace('-', ""),
        _ => return None,
    };
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    day_of(&format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]))
}

/// A group cell as text: a tag's missing value (`null`) is `""`.
fn text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The records of an answer: one per row, fields by column name.
fn records(config: &Config, answer: &Value) -> Result<Vec<Record>> {
    let props = &answer["properties"];
    let rows = props["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let columns: Vec<&str> = props["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect();
    let at = |name: &str| {
        columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Fatal(format!(
                    "Cost Management's answer has no `{name}` column (it has {})",
                    columns.join(", ")
                ))
            })
    };
    let date_at = at("UsageDate")?;
    let currency_at = at("Currency").ok();
    // A tag group comes back as two columns, TagKey and TagValue.
    let groups: Vec<(String, usize)> = config
        .group_by
        .iter()
        .map(|g| {
            let column = if g.kind == "TagKey" {
                "TagValue"
            } else {
                g.name.trim()
            };
            Ok((g.name.trim().to_string(), at(column)?))
        })
        .collect::<Result<_>>()?;
    let metrics: Vec<(&String, usize)> = config
        .metrics
        .iter()
        .map(|m| Ok((m, at(m)?)))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let cell = |n: usize| row.get(n).unwrap_or(&Value::Null);
        let d = usage_day(cell(date_at)).ok_or_else(|| {
            Error::Fatal(format!(
                "row {i}: UsageDate {} is not a yyyyMMdd date",
                cell(date_at)
            ))
        })?;
        let mut data = Map::new();
        let mut id = day(d);
        data.insert("date".into(), json!(day(d)));
        data.insert("end".into(), json!(day(d + 1)));
        for (name, n) in &groups {
            let value = text(cell(*n));
            id.push('|');
            id.push_str(&value);
            data.insert(name.clone(), json!(value));
        }
        for (name, n) in &metrics {
            let value = match cell(*n) {
                Value::String(s) => s.parse::<f64>().map_or(Value::Null, |v| json!(v)),
                other => other.clone(),
            };
            data.insert((*name).clone(), value);
        }
        let currency = currency_at.map(|n| text(cell(n))).unwrap_or_default();
        id.push('|');
        id.push_str(&currency);
        data.insert("currency".into(), json!(currency));
        data.insert("id".into(), json!(id));
        out.push(Record::upsert("costs", data).with_key(id));
    }
    Ok(out)
}

/// The JSON Schema of the records this config yields.
pub fn schema(config: &Config) -> Value {
    let mut properties = Map::new();
    let day = json!({"type": "string", "format": "date"});
    properties.insert("date".into(), day.clone());
    properties.insert("end".into(), day);
    for g in &config.group_by {
        properties.insert(g.name.trim().to_string(), json!({"type": "string"}));
    }
    for m in &config.metrics {
        properties.insert(m.clone(), json!({"type": ["number", "null"]}));
    }
    properties.insert("currency".into(), json!({"type": "string"}));
    properties.insert("id".into(), json!({"type": "string"}));
    json!({"type": "object", "required": ["id", "date", "currency"], "properties": properties})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        let mut c = json!({"tenant_id": "t", "scope": "/subscriptions/s"});
        c.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn windows_keep_to_calendar_months() {
        let jan30 = day_of("2024-01-30").unwrap();
        assert_eq!(day(next_month(jan30)), "2024-02-01");
        assert_eq!(day(next_month(day_of("2024-12-31").unwrap())), "2025-01-01");
        let c = config(
            json!({"group_by": [{"type": "Dimension", "name": "ServiceName"}, {"type": "TagKey", "name": "team"}]}),
        );
        let b = body(&c, jan30, next_month(jan30));
        assert_eq!(
            b["timePeriod"],
            json!({"from": "2024-01-30T00:00:00Z", "to": "2024-01-31T23:59:59Z"})
        );
        assert_eq!(
            b["dataset"]["aggregation"],
            json!({"totalCost": {"name": "Cost", "function": "Sum"}})
        );
        assert_eq!(
            b["dataset"]["grouping"][1],
            json!({"type": "TagKey", "name": "team"})
        );
        assert_eq!(day_of("2024-02-30"), None);
    }

    #[test]
    fn rows_become_records_by_column_name() {
        let c = config(json!({"metrics": ["Cost", "CostUSD"],
            "group_by": [{"type": "Dimension", "name": "ServiceName"}, {"type": "TagKey", "name": "team"}]}));
        let answer = json!({"properties": {"nextLink": null,
            "columns": [{"name": "Cost", "type": "Number"}, {"name": "CostUSD", "type": "Number"},
                {"name": "UsageDate", "type": "Number"}, {"name": "ServiceName", "type": "String"},
                {"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"},
                {"name": "Currency", "type": "String"}],
            "rows": [[12.5, 13.75, 20240501, "Virtual Machines", "team", "data", "EUR"],
                     [0.25, 0.27, 20240501, "Storage", null, null, "EUR"]]}});
        let r = records(&c, &answer).unwrap();
        assert_eq!(
            r[0].key.as_deref(),
            Some("2024-05-01|Virtual Machines|data|EUR")
        );
        assert_eq!(r[0].get("Cost"), Some(&json!(12.5)));
        assert_eq!(r[0].get("CostUSD"), Some(&json!(13.75)));
        assert_eq!(r[0].get("end"), Some(&json!("2024-05-02")));
        assert_eq!(r[1].get("team"), Some(&json!("")));
        assert_eq!(r[1].get("currency"), Some(&json!("EUR")));
        let missing = json!({"properties": {"columns": [{"name": "Cost"}], "rows": [[1.0]]}});
        assert!(matches!(records(&c, &missing), Err(Error::Fatal(m)) if m.contains("UsageDate")));
        assert_eq!(
            usage_day(&json!("2024-05-01T00:00:00")),
            day_of("2024-05-01")
        );
        assert_eq!(usage_day(&json!(20241301)), None);
    }
}

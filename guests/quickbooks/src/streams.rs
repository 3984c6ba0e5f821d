//! Reading a stream: a pass of queries ordered by
//! `MetaData.LastUpdatedTime`, then change data capture for as long as the
//! last pass is recent enough for it.
//!
//! A query pass pages by that time rather than by position: each page asks
//! for what changed at or after the last time read and drops the entities
//! already read at exactly that time, by Id (Intuit's order among equal
//! times is not promised to hold between calls, so a count would not do).
//! An entity edited during the pass moves to its end instead of shifting
//! the rest back over a page boundary, so no record is skipped (the edited
//! one is read twice). Only when a whole page shares one time does a page
//! start past the ones read, by position. Names and accounts are read
//! inactive ones included (`Active IN (true,false)`): a query returns only
//! active ones otherwise.
//!
//! After a pass, each run asks CDC what changed since the server's time at
//! the start of the last read: full entities and deletions in one call.
//! CDC looks back 30 days at most and answers 1,000 entities at most; a
//! longer gap or a bigger change set is read by a query pass again (which
//! cannot see deletions; the log says so).

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use crate::entities::{self, Entity, Removal};
use crate::{Config, api};

/// CDC answers at most this many entities; as many means some may be
/// missing.
const CDC_MAX: usize = 1000;

/// CDC looks back 30 days; a day less leaves room for clocks and for a
/// run that starts late.
const CDC_LOOKBACK_SECS: i64 = 29 * 86_400;

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The server's time when the last finished read began: the next
    /// `changedSince`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// A query pass is under way.
    #[serde(default, skip_serializing_if = "is_false")]
    querying: bool,
    /// The pass reads what changed at or after this time (none: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The last `LastUpdatedTime` read in this pass…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<String>,
    /// …and the Ids of this pass's entities with exactly that time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tied: Vec<String>,
    /// The server's time of this pass's first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One page of `stream` for the company `realm`.
pub fn fetch(config: &Config, realm: &str, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let entity = entities::by_stream(stream)?;
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!("the cursor of `{stream}` is not QuickBooks': {e}"))
        })?,
        None => Cursor::default(),
    };
    if at.querying {
        return query_page(config, realm, entity, at);
    }
    match &at.since {
        Some(since) if recent(since) => changes(config, realm, entity, since.clone()),
        Some(since) => {
            wharf_sdk::log::info(format!(
                "{stream}: the last read was more than 29 days ago, beyond change data capture; \
                 reading what changed since {since} by query (deletions in between are not seen)"
            ));
            query_page(config, realm, entity, pass_from(Some(since.clone())))
        }
        None => {
            let from = config
                .start_date
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .map(|d| format!("{}T00:00:00+00:00", d.trim()));
            query_page(config, realm, entity, pass_from(from))
        }
    }
}

fn pass_from(from: Option<String>) -> Cursor {
    Cursor {
        querying: true,
        from,
        ..Cursor::default()
    }
}

/// The query of the page after `at`.
fn statement(entity: &Entity, at: &Cursor, page_size: u32) -> Result<String> {
    let (bound, skip) = match (&at.seen, &at.from) {
        // Past the ones read at `seen` by position only when they fill a
        // page: the Ids would drop the whole of it.
        (Some(seen), _) if at.tied.len() >= page_size as usize => (Some(seen), at.tied.len()),
        (Some(seen), _) => (Some(seen), 0),
        (None, Some(from)) => (Some(from), 0),
        (None, None) => (None, 0),
    };
    let mut conditions = Vec::new();
    if entity.removal == Removal::Deactivate {
        conditions.push("Active IN (true,false)".to_string());
    }
    if let Some(time) = bound {
        conditions.push(format!("MetaData.LastUpdatedTime >= '{}'", quotable(time)?));
    }
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", conditions.join(" AND ")),
    };
    Ok(format!(
        "SELECT * FROM {}{filter} ORDERBY MetaData.LastUpdatedTime STARTPOSITION {} MAXRESULTS {page_size}",
        entity.name,
        skip + 1
    ))
}

/// A time goes into a query between quotes only if it is one.
fn quotable(time: &str) -> Result<&str> {
    if !time.is_empty()
        && time
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'+' | b'-'))
    {
        Ok(time)
    } else {
        Err(Error::Config(format!("`{time}` is not a QuickBooks time")))
    }
}

fn query_page(config: &Config, realm: &str, entity: &Entity, mut at: Cursor) -> Result<Page> {
    let page_size = config.page_size.clamp(1, 1000);
    let query = statement(entity, &at, page_size)?;
    let response = api::send(api::get(config, realm, "query").query("query", &query))?;
    let mut body: Value = response.json()?;
    let time = body["time"].as_str().map(str::to_string);
    let items = match body["QueryResponse"].get_mut(entity.name).map(Value::take) {
        Some(Value::Array(items)) => items,
        // No rows: Intuit leaves the entity (and the counts) out.
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            return Err(Error::fatal(format!(
                "QuickBooks answered a query of {} with {other:.80}",
                entity.name
            )));
        }
    };
    if at.started.is_none() {
        at.started = time.or_else(|| Some(wharf_sdk::time::rfc3339(now_secs())));
    }
    let full = items.len() >= page_size as usize;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let updated = item["MetaData"]["LastUpdatedTime"]
            .as_str()
            .map(str::to_string);
        let id = scalar_text(&item["Id"]).unwrap_or_default();
        match updated {
            Some(t) if at.seen.as_deref() == Some(t.as_str()) => {
                if at.tied.contains(&id) {
                    // Read on the page before.
                    continue;
                }
                at.tied.push(id);
            }
            Some(t) => {
                at.seen = Some(t);
                at.tied = vec![id];
            }
            None => {}
        }
        records.push(record(entity, item)?);
    }
    if full {
        return Ok(Page::new(records, Some(encode(&at)?), true));
    }
    // The pass is over: the next run asks for changes since it began.
    let next = Cursor {
        since: at.started.take(),
        ..Cursor::default()
    };
    Ok(Page::new(records, Some(encode(&next)?), false))
}

/// What changed since `since`, by change data capture.
fn changes(config: &Config, realm: &str, entity: &Entity, since: String) -> Result<Page> {
    let request = api::get(config, realm, "cdc")
        .query("entities", entity.name)
        .query("changedSince", &since);
    let mut body: Value = api::send(request)?.json()?;
    let time = body["time"].as_str().map(str::to_string);
    let mut items = Vec::new();
    for answer in body["CDCResponse"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .flat_map(|r| r["QueryResponse"].as_array_mut().into_iter().flatten())
    {
        if let Some(Value::Array(found)) = answer.get_mut(entity.name).map(Value::take) {
            items.extend(found);
        }
    }
    if items.len() >= CDC_MAX {
        wharf_sdk::log::info(format!(
            "{}: {} or more changes since {since}, more than change data capture answers at once; \
             reading them by query",
            entity.stream, CDC_MAX
        ));
        return query_page(config, realm, entity, pass_from(Some(since)));
    }
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        if item["status"].as_str() == Some("Deleted") {
            let id = scalar_text(&item["Id"])
                .ok_or_else(|| Error::fatal(format!("a deleted {} without an Id", entity.name)))?;
            records.push(Record::delete(entity.stream, id));
        } else {
            records.push(record(entity, item)?);
        }
    }
    let next = Cursor {
        since: Some(time.unwrap_or(since)),
        ..Cursor::default()
    };
    Ok(Page::new(records, Some(encode(&next)?), false))
}

/// An entity as a record keyed by its `Id`.
pub fn record(entity: &Entity, item: Value) -> Result<Record> {
    let key = scalar_text(&item["Id"]);
    let mut record = Record::from_value(entity.stream, item)?;
    record.key = key;
    Ok(record)
}

fn encode(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

fn now_secs() -> i64 {
    wharf_sdk::time::now_ms() / 1000
}

/// Whether change data capture still reaches back to `since`.
fn recent(since: &str) -> bool {
    parse_time(since).is_some_and(|t| now_secs() - t < CDC_LOOKBACK_SECS)
}

/// Unix seconds of an Intuit time: `2024-05-02T10:15:30-07:00`, with
/// optional fractional seconds, or `Z`.
fn parse_time(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-');
    let (y, m, d) = (
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
    );
    let split = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(split);
    let clock = clock.split('.').next()?;
    let mut hms = clock.splitn(3, ':');
    let (h, min, s): (i64, i64, i64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next().unwrap_or("0").parse().ok()?,
    );
    let offset = match zone {
        "" | "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (oh, om) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let days = wharf_sdk::time::days(y, m, d);
    Some(days * 86_400 + h * 3600 + min * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intuit_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:00-07:00"), Some(7 * 3600));
        assert_eq!(parse_time("1970-01-01T01:00:00.123+01:00"), Some(0));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn statements_resume_by_time() {
        let invoice = entities::by_stream("invoices").unwrap();
        assert_eq!(
            statement(invoice, &Cursor::default(), 10).unwrap(),
            "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 10"
        );
        let mut at = Cursor {
            querying: true,
            seen: Some("2024-05-02T10:15:30-07:00".into()),
            tied: vec!["115".into(), "116".into()],
            ..Cursor::default()
        };
        assert_eq!(
            statement(invoice, &at, 10).unwrap(),
            "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-05-02T10:15:30-07:00' \
             ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 10"
        );
        // A whole page of one time: past it by position.
        at.tied = (0..10).map(|i| i.to_string()).collect();
        assert!(
            statement(invoice, &at, 10)
                .unwrap()
                .contains("STARTPOSITION 11 MAXRESULTS 10")
        );
        let customers = entities::by_stream("customers").unwrap();
        assert_eq!(
            statement(customers, &Cursor::default(), 10).unwrap(),
            "SELECT * FROM Customer WHERE Active IN (true,false) ORDERBY MetaData.LastUpdatedTime \
             STARTPOSITION 1 MAXRESULTS 10"
        );
        let forged = Cursor {
            seen: Some("2024' or Id > '0".into()),
            ..Cursor::default()
        };
        assert!(statement(invoice, &forged, 10).is_err());
    }
}

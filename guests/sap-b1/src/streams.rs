//! Reading entity sets: one page per `fetch`, `$select`/`$filter`/`$orderby`
//! on the first request of a pass, then the Service Layer's next link
//! (which carries those options on) until there is none; every request
//! asks `Prefer: odata.maxpagesize`.
//!
//! Incremental passes (see [`crate::entities::Changes`]):
//! - stamped sets ask `UpdateDate ge <day>` from the newest `UpdateDate` +
//!   `UpdateTime` of the last pass less the lookback, and drop the records
//!   stamped before that moment (the day filter alone would send the whole
//!   day again). SAP's stamps are the server's local time; the cursor only
//!   compares them with each other, never with the host's clock.
//! - numbered sets ask `<key> gt <last number>`; payments, which can be
//!   cancelled after they were read, then ask for the cancelled ones up to
//!   that number again (`Cancelled eq 'tYES'`).
//!
//! Pages are ordered by the key, so a record changed while a pass runs
//! does not move under the `$skip` of the next link; one created during the
//! pass is read by the next pass, as the lookback covers it.

use serde::{Deserialize, Serialize};
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;

use crate::entities::{Changes, Entity};
use crate::{Config, Version, api};

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The newest stamp (`2024-05-01T10:15:00`) or number the last pass read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The next page of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The newest stamp or number of this pass so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<String>,
    /// The pass reads the cancelled payments up to `since` again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cancelled: bool,
}

/// One page of the entity set `stream`.
pub fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let entity = config.entity(stream)?;
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor of `{stream}` is not this connector's: {e}"
            ))
        })?,
        None => Cursor::default(),
    };
    let bound = match entity.changes {
        Changes::Stamped { .. } => at
            .since
            .as_deref()
            .and_then(|s| shift(s, -i64::from(config.lookback_minutes) * 60)),
        Changes::Numbered => at.since.clone(),
        Changes::Whole => None,
    };
    let url = match (&at.next, &at.since) {
        (Some(next), _) => next.clone(),
        (None, Some(upto)) if at.cancelled => cancellations_url(config, &entity, upto),
        (None, _) => first_url(config, &entity, bound.as_deref()),
    };
    let response = api::read(api::page(&url, config))?;
    let next = api::next_url(config, &url, &response)?;
    let mut body: Value = response.json()?;
    let items = wharf_sdk::rest::records_at(&mut body, "/value")?;
    let mut seen = at.seen.clone();
    let mut records = Vec::with_capacity(items.len());
    for mut item in items {
        strip_annotations(&mut item);
        let mark = mark_of(&entity, &item);
        if let (Some((stamp, true)), Some(bound), Changes::Stamped { .. }) =
            (&mark, &bound, entity.changes)
            && stamp < bound
        {
            // Read by the last pass: same day, earlier time.
            continue;
        }
        if let Some((m, _)) = mark
            && !at.cancelled
        {
            seen = Some(newest(seen, m));
        }
        let key = item.get(&entity.key).and_then(wharf_sdk::scalar_text);
        let record = Record::from_value(&entity.name, item)?;
        records.push(match key {
            Some(k) => record.with_key(k),
            None => record,
        });
    }
    let incremental = at.since.is_some();
    let (cursor, more) = match next {
        Some(next) => (
            Cursor {
                since: at.since,
                next: Some(next),
                seen,
                cancelled: at.cancelled,
            },
            true,
        ),
        None => {
            let since = match (seen, at.since) {
                (Some(s), Some(old)) => Some(newest(Some(old), s)),
                (s, old) => s.or(old),
            };
            // After an incremental pass of payments, the cancelled ones it
            // did not read: the rest of the same pass.
            let cancellations = incremental && !at.cancelled && entity.cancellable();
            (
                Cursor {
                    since,
                    next: None,
                    seen: None,
                    cancelled: cancellations,
                },
                cancellations,
            )
        }
    };
    let cursor = serde_json::to_string(&cursor).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), more))
}

/// The first request of a pass: the fields asked for (with the key and the
/// stamps, which the cursor needs), the incremental bound and the
/// config's own filter, in key order.
pub fn first_url(config: &Config, entity: &Entity, bound: Option<&str>) -> String {
    let mut filters = Vec::new();
    match (entity.changes, bound) {
        (Changes::Stamped { .. }, Some(b)) => {
            let day = &b[..10.min(b.len())];
            filters.push(match config.version {
                // OData v3 compares dates as text; v4 takes a date literal.
                Version::V1 => format!("UpdateDate ge '{day}'"),
                Version::V2 => format!("UpdateDate ge {day}"),
            });
        }
        (Changes::Numbered, Some(n)) => filters.push(format!("{} gt {n}", entity.key)),
        _ => {}
    }
    url_with(config, entity, filters)
}

/// The cancelled payments up to number `upto` (its cursor's, a number).
fn cancellations_url(config: &Config, entity: &Entity, upto: &str) -> String {
    let upto: i64 = upto.parse().unwrap_or(0);
    let filters = vec![
        "Cancelled eq 'tYES'".to_string(),
        format!("{} le {upto}", entity.key),
    ];
    url_with(config, entity, filters)
}

/// A request of `entity` with the config's fields and filter, and
/// `extra` filters, in key order.
fn url_with(config: &Config, entity: &Entity, extra: Vec<String>) -> String {
    let mut query = Vec::new();
    if let Some(fields) = config.select.get(&entity.name).filter(|f| !f.is_empty()) {
        let mut fields = fields.clone();
        let mut needed = vec![entity.key.clone()];
        if let Changes::Stamped { time } = entity.changes {
            needed.push("UpdateDate".into());
            if time {
                needed.push("UpdateTime".into());
            }
        }
        for n in needed {
            if !fields.contains(&n) {
                fields.push(n);
            }
        }
        query.push(format!("$select={}", encode(&fields.join(","))));
    }
    let mut filters = Vec::new();
    if let Some(own) = config
        .filters
        .get(&entity.name)
        .filter(|f| !f.trim().is_empty())
    {
        filters.push(format!("({})", own.trim()));
    }
    filters.extend(extra);
    if !filters.is_empty() {
        query.push(format!("$filter={}", encode(&filters.join(" and "))));
    }
    query.push(format!("$orderby={}", encode(&entity.key)));
    format!("{}/{}?{}", config.root(), entity.name, query.join("&"))
}

/// Where a record stands for the cursor: its stamp (and whether it has a
/// time), or its number.
fn mark_of(entity: &Entity, item: &Value) -> Option<(String, bool)> {
    match entity.changes {
        Changes::Stamped { .. } => {
            let date = item.get("UpdateDate")?.as_str()?;
            let day = date.get(..10).filter(|d| is_day(d))?;
            match item.get("UpdateTime").and_then(time_of) {
                Some(t) => Some((format!("{day}T{t}"), true)),
                None => Some((format!("{day}T00:00:00"), false)),
            }
        }
        Changes::Numbered => {
            let n = item.get(&entity.key)?.as_i64()?;
            Some((n.to_string(), false))
        }
        Changes::Whole => None,
    }
}

fn is_day(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `HH:MM:SS` of SAP's `UpdateTime`: `10:15:00` (with any fraction),
/// `10:15`, or the database's `101500`.
fn time_of(v: &Value) -> Option<String> {
    let text = wharf_sdk::scalar_text(v)?;
    let text = text.split('.').next()?.trim();
    let parts: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else if !text.is_empty() && text.len() <= 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        let padded = format!("{text:0>6}");
        return Some(format!(
            "{}:{}:{}",
            &padded[..2],
            &padded[2..4],
            &padded[4..]
        ));
    } else {
        return None;
    };
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match n.as_slice() {
        [h, m] if *h < 24 && *m < 60 => Some(format!("{h:02}:{m:02}:00")),
        [h, m, s] if *h < 24 && *m < 60 && *s < 60 => Some(format!("{h:02}:{m:02}:{s:02}")),
        _ => None,
    }
}

/// The later of two marks: numbers as numbers, stamps as text.
fn newest(a: Option<String>, b: String) -> String {
    match a {
        None => b,
        Some(a) => match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.max(y).to_string(),
            _ => a.max(b),
        },
    }
}

/// A stamp moved by `secs`.
fn shift(stamp: &str, secs: i64) -> Option<String> {
    let (day, time) = stamp.split_once('T')?;
    let d: Vec<i64> = day
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, dd], [h, mi, s]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let at = wharf_sdk::time::days(*y, u32::try_from(*m).ok()?, u32::try_from(*dd).ok()?) * 86_400
        + h * 3600
        + mi * 60
        + s
        + secs;
    Some(
        wharf_sdk::time::rfc3339(at)
            .trim_end_matches('Z')
            .to_string(),
    )
}

/// OData's annotations (`odata.etag`, `@odata.etag`, `…@odata.navigationLink`)
/// describe the answer, not the entity; they change without the entity
/// changing.
pub fn strip_annotations(value: &mut Value) {
    match value {
        Value::Object(fields) => strip_annotations_map(fields),
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}

/// [`strip_annotations`] of an object's fields.
pub fn strip_annotations_map(fields: &mut Map<String, Value>) {
    fields.retain(|k, _| !(k.starts_with("odata.") || k.contains("@odata.")));
    fields.values_mut().for_each(strip_annotations);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::lookup;
    use std::collections::BTreeMap;

    fn config(version: &str) -> Config {
        serde_json::from_value(json!({"base_url": "https://sap.test:50000", "company_db": "SBODEMOUS", "version": version,
            "select": {"Items": ["ItemCode", "ItemName"]}, "filters": {"Orders": "CardCode eq 'C20000'"}}))
        .unwrap()
    }

    #[test]
    fn first_requests_of_a_pass() {
        let none = BTreeMap::new();
        let c = config("v2");
        let items = lookup("Items", &none, &none).unwrap();
        assert_eq!(
            first_url(&c, &items, None),
            "https://sap.test:50000/b1s/v2/Items?$select=ItemCode%2CItemName%2CUpdateDate%2CUpdateTime&$orderby=ItemCode"
        );
        let orders = lookup("Orders", &none, &none).unwrap();
        assert_eq!(
            first_url(&c, &orders, Some("2024-05-01T09:15:00")),
            "https://sap.test:50000/b1s/v2/Orders?$filter=%28CardCode%20eq%20%27C20000%27%29%20and%20UpdateDate%20ge%202024-05-01&$orderby=DocEntry"
        );
        assert!(
            first_url(&config("v1"), &orders, Some("2024-05-01T09:15:00"))
                .contains("UpdateDate%20ge%20%272024-05-01%27")
        );
        let journal = lookup("JournalEntries", &none, &none).unwrap();
        assert!(
            first_url(&c, &journal, Some("41"))
                .ends_with("$filter=JdtNum%20gt%2041&$orderby=JdtNum")
        );
    }

    #[test]
    fn stamps_and_marks() {
        assert_eq!(
            shift("2024-03-01T00:30:00", -3600).unwrap(),
            "2024-02-29T23:30:00"
        );
        assert_eq!(time_of(&json!("10:15:00.000")).unwrap(), "10:15:00");
        assert_eq!(time_of(&json!(91500)).unwrap(), "09:15:00");
        assert_eq!(time_of(&json!("7:05")).unwrap(), "07:05:00");
        assert_eq!(time_of(&json!("late")), None);
        let none = BTreeMap::new();
        let bp = lookup("BusinessPartners", &none, &none).unwrap();
        assert_eq!(
            mark_of(
                &bp,
                &json!({"UpdateDate": "2024-05-01T00:00:00Z", "UpdateTime": "10:15:00"})
            ),
            Some(("2024-05-01T10:15:00".into(), true))
        );
        assert_eq!(
            mark_of(&bp, &json!({"UpdateDate": "2024-05-01"})),
            Some(("2024-05-01T00:00:00".into(), false))
        );
        assert_eq!(newest(Some("9".into()), "10".into()), "10");
        assert_eq!(
            newest(
                Some("2024-05-02T00:00:00".into()),
                "2024-05-01T23:00:00".into()
            ),
            "2024-05-02T00:00:00"
        );
        let mut v = json!({"odata.etag": "x", "@odata.etag": "y", "DocumentLines@odata.navigationLink": "z",
            "DocumentLines": [{"@odata.type": "t", "LineNum": 0}], "DocEntry": 1});
        strip_annotations(&mut v);
        assert_eq!(v, json!({"DocumentLines": [{"LineNum": 0}], "DocEntry": 1}));
    }
}

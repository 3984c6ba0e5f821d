//! The streams: Xero's paged collections by `page`/`pageSize`, the chart
//! of accounts in one call, journals by `offset`; incremental by
//! `If-Modified-Since` (the newest `UpdatedDateUTC` of the last pass) and
//! journals by their number. Xero's `/Date(…)/` values become RFC 3339.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use crate::Config;
use crate::api;

/// How a collection is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page=1,2,…` with `pageSize`.
    Pages,
    /// The whole collection in one answer (the chart of accounts).
    Whole,
    /// `offset=<last JournalNumber>`, 100 at a time (journals).
    Offset,
}

/// A stream and the endpoint behind it.
pub struct StreamDef {
    pub name: &'static str,
    /// The path and the answer's collection (`Invoices`).
    pub resource: &'static str,
    pub key: &'static str,
    pub cursor_field: Option<&'static str>,
    pub paging: Paging,
    pub description: &'static str,
}

pub const STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "invoices",
        resource: "Invoices",
        key: "InvoiceID",
        cursor_field: Some("UpdatedDateUTC"),
        paging: Paging::Pages,
        description: "Sales invoices (ACCREC) and bills (ACCPAY) with their line items",
    },
    StreamDef {
        name: "bank_transactions",
        resource: "BankTransactions",
        key: "BankTransactionID",
        cursor_field: Some("UpdatedDateUTC"),
        paging: Paging::Pages,
        description: "Spend and receive money transactions with their line items and account codes",
    },
    StreamDef {
        name: "contacts",
        resource: "Contacts",
        key: "ContactID",
        cursor_field: Some("UpdatedDateUTC"),
        paging: Paging::Pages,
        description: "Customers and suppliers",
    },
    StreamDef {
        name: "accounts",
        resource: "Accounts",
        key: "AccountID",
        cursor_field: Some("UpdatedDateUTC"),
        paging: Paging::Whole,
        description: "The chart of accounts (codes, names, types, tax types)",
    },
    StreamDef {
        name: "journals",
        resource: "Journals",
        key: "JournalID",
        cursor_field: Some("JournalNumber"),
        paging: Paging::Offset,
        description: "The general ledger's journals with their lines, in journal number order",
    },
];

/// Journals come 100 to a call, whatever is asked.
const JOURNALS_PER_CALL: usize = 100;

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// `If-Modified-Since` of this pass (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The next page of this pass (0: between passes).
    #[serde(default, skip_serializing_if = "is_zero")]
    page: u32,
    /// The newest `UpdatedDateUTC` seen in this pass (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<i64>,
    /// The last journal number read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    /// When this pass began (Unix seconds, the host's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<i64>,
}

/// How far before a pass's start the next pass looks again: Xero's clock
/// and the host's may differ, and a change made while the pass ran may
/// sit on a page already read.
const PASS_OVERLAP_SECS: i64 = 300;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One page of `stream` for the organisation `tenant`.
pub fn fetch(config: &Config, tenant: &str, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let def = STREAMS.iter().find(|s| s.name == stream).ok_or_else(|| {
        let names: Vec<&str> = STREAMS.iter().map(|s| s.name).collect();
        Error::Config(format!("unknown stream `{stream}` ({})", names.join(", ")))
    })?;
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor of `{stream}` is not Xero's: {e}")))?,
        None => Cursor::default(),
    };
    let mut request = api::get(config, def.resource);
    let page = at.page.max(1);
    let started = at
        .started
        .unwrap_or_else(|| wharf_sdk::time::now_ms().div_euclid(1000));
    match def.paging {
        Paging::Pages => {
            // A fixed order (by id): a record changed during the pass does
            // not move, so none slides onto a page already read.
            request = request
                .query("page", page)
                .query("pageSize", config.page_size.clamp(1, 1000))
                .query("order", format!("{} ASC", def.key));
            if def.name == "contacts" && config.include_archived {
                request = request.query("includeArchived", "true");
            }
        }
        Paging::Offset => request = request.query("offset", at.offset.unwrap_or(0)),
        Paging::Whole => {}
    }
    if def.paging != Paging::Offset
        && let Some(since) = at.since
    {
        request = request.header("If-Modified-Since", if_modified_since(since));
    }
    let mut body: Value = api::send(config, tenant, request)?.json()?;
    let items = wharf_sdk::rest::records_at(&mut body, &format!("/{}", def.resource))?;
    let count = items.len();
    let mut seen = at.seen;
    let mut last_number = at.offset;
    let mut records = Vec::with_capacity(count);
    for mut item in items {
        if let Some(ms) = item
            .get("UpdatedDateUTC")
            .and_then(Value::as_str)
            .and_then(ms_of)
        {
            seen = Some(seen.map_or(ms, |s| s.max(ms)));
        }
        if let Some(n) = item.get("JournalNumber").and_then(Value::as_i64) {
            last_number = Some(last_number.map_or(n, |l| l.max(n)));
        }
        dates_to_rfc3339(&mut item);
        let key = scalar_text(&item[def.key]);
        let mut record = Record::from_value(def.name, item)?;
        record.key = key;
        records.push(record);
    }
    let (next, more) = match def.paging {
        Paging::Pages => {
            let last = count < config.page_size.clamp(1, 1000) as usize
                || body["pagination"]["pageCount"]
                    .as_u64()
                    .is_some_and(|n| u64::from(page) >= n);
            if last {
                (end_of_pass(at.since, seen, started), false)
            } else {
                let next = Cursor {
                    since: at.since,
                    page: page + 1,
                    seen,
                    offset: None,
                    started: Some(started),
                };
                (next, true)
            }
        }
        Paging::Whole => (end_of_pass(at.since, seen, started), false),
        Paging::Offset => (
            Cursor {
                offset: last_number,
                ..Cursor::default()
            },
            count >= JOURNALS_PER_CALL,
        ),
    };
    let cursor = serde_json::to_string(&next).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), more))
}

/// The cursor after a pass: the next asks for what changed since the
/// newest change seen, or since a little before this pass began if that
/// is earlier (a change made during the pass), never before this pass's
/// own bound. Xero compares to the second, so the newest record comes
/// again; upserts make that harmless.
fn end_of_pass(since: Option<i64>, seen: Option<i64>, started: i64) -> Cursor {
    let overlap = started - PASS_OVERLAP_SECS;
    let bound = seen.map_or(overlap, |ms| ms.div_euclid(1000).min(overlap));
    Cursor {
        since: Some(since.map_or(bound, |s| s.max(bound))),
        ..Cursor::default()
    }
}

/// `If-Modified-Since` as Xero documents it: a UTC timestamp
/// `yyyy-mm-ddThh:mm:ss`.
fn if_modified_since(secs: i64) -> String {
    wharf_sdk::time::rfc3339(secs)
        .trim_end_matches('Z')
        .to_string()
}

/// Unix milliseconds of Xero's `/Date(1714650000000+0000)/`.
fn ms_of(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    if inner.is_empty() {
        return None;
    }
    // The offset's sign, not a leading minus.
    let end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '+' | '-'))
        .map_or(inner.len(), |(i, _)| i);
    inner[..end].parse().ok()
}

/// Every `/Date(…)/` in `value` as RFC 3339 (UTC; milliseconds when there
/// are any), so mappers and destinations see dates they can read.
pub fn dates_to_rfc3339(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(ms) = ms_of(s) {
                let mut text = wharf_sdk::time::rfc3339(ms.div_euclid(1000));
                let millis = ms.rem_euclid(1000);
                if millis != 0 {
                    text.insert_str(text.len() - 1, &format!(".{millis:03}"));
                }
                *s = text;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(dates_to_rfc3339),
        Value::Object(fields) => fields.values_mut().for_each(dates_to_rfc3339),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xero_dates() {
        assert_eq!(ms_of("/Date(1714650000000+0000)/"), Some(1_714_650_000_000));
        assert_eq!(ms_of("/Date(1439434356790)/"), Some(1_439_434_356_790));
        assert_eq!(ms_of("/Date(-1000+1300)/"), Some(-1000));
        assert_eq!(ms_of("2024-05-02"), None);
        assert_eq!(ms_of("/Date(é)/"), None);
        assert_eq!(ms_of("/Date()/"), None);
        let mut v =
            json!({"a": "/Date(1714650000000+0000)/", "b": ["/Date(1439434356790)/"], "c": "x"});
        dates_to_rfc3339(&mut v);
        assert_eq!(
            v,
            json!({"a": "2024-05-02T11:40:00Z", "b": ["2015-08-13T02:52:36.790Z"], "c": "x"})
        );
        assert_eq!(if_modified_since(1_714_650_000), "2024-05-02T11:40:00");
    }

    #[test]
    fn a_pass_ends_at_the_newest_change_or_before_it_began() {
        let started = 1_800_000_000;
        // The newest change, when it is older than the pass.
        let s = |since, seen| end_of_pass(since, seen, started).since;
        assert_eq!(s(None, Some(1_714_650_000_999)), Some(1_714_650_000));
        // A change during the pass: look again from before the pass began.
        assert_eq!(s(None, Some(1_800_000_100_000)), Some(started - 300));
        // Nothing changed: from before this pass began, never before its bound.
        assert_eq!(s(Some(5), None), Some(started - 300));
        assert_eq!(s(Some(started), None), Some(started));
    }
}

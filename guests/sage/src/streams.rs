//! The streams: Sage's lists read by `page`/`items_per_page` with
//! `attributes=all` (without it an item is only its `id`, `displayed_as`
//! and `$path`), incremental by `updated_or_created_since` from the newest
//! `updated_at` of the last pass.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api;

/// A stream and the list behind it.
pub struct StreamDef {
    pub name: &'static str,
    /// The list's path below `/v3.1`.
    pub path: &'static str,
    pub description: &'static str,
}

/// Every one of these lists takes `updated_or_created_since`, `page`,
/// `items_per_page` and `attributes` (Sage's Swagger description).
pub const STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "ledger_accounts",
        path: "/ledger_accounts",
        description: "The chart of accounts: nominal codes, names, types, classifications, tax rates",
    },
    StreamDef {
        name: "transactions",
        path: "/transactions",
        description: "Posted transactions (one per sales, purchase, bank or journal document), with type, origin and totals",
    },
    StreamDef {
        name: "ledger_entries",
        path: "/ledger_entries",
        description: "The general ledger's debit and credit lines, by ledger account and transaction",
    },
    StreamDef {
        name: "journals",
        path: "/journals",
        description: "Manual journals with their lines",
    },
    StreamDef {
        name: "contacts",
        path: "/contacts",
        description: "Customers and suppliers",
    },
    StreamDef {
        name: "sales_invoices",
        path: "/sales_invoices",
        description: "Sales invoices with their lines, tax and payment status",
    },
    StreamDef {
        name: "sales_credit_notes",
        path: "/sales_credit_notes",
        description: "Sales credit notes with their lines",
    },
    StreamDef {
        name: "purchase_invoices",
        path: "/purchase_invoices",
        description: "Purchase invoices (bills) with their lines, tax and payment status",
    },
    StreamDef {
        name: "purchase_credit_notes",
        path: "/purchase_credit_notes",
        description: "Purchase credit notes with their lines",
    },
    StreamDef {
        name: "contact_payments",
        path: "/contact_payments",
        description: "Customer receipts and supplier payments with their allocations",
    },
    StreamDef {
        name: "bank_accounts",
        path: "/bank_accounts",
        description: "Bank, cash and card accounts with their balances",
    },
    StreamDef {
        name: "products",
        path: "/products",
        description: "Products with their prices and ledger accounts",
    },
    StreamDef {
        name: "tax_rates",
        path: "/tax_rates",
        description: "Tax rates and their percentages",
    },
];

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// `updated_or_created_since` of this pass (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The next page of this pass (0: between passes).
    #[serde(default, skip_serializing_if = "is_zero")]
    page: u32,
    /// The newest `updated_at` seen in this pass (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<i64>,
    /// When this pass began (Unix seconds, the host's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How far before a pass's start the next pass looks again: Sage's clock
/// and the host's may differ, and a change made while the pass ran may sit
/// on a page already read.
const PASS_OVERLAP_SECS: i64 = 300;

/// One page of `stream` for the business `business`.
pub fn fetch(config: &Config, business: &str, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let def = STREAMS.iter().find(|s| s.name == stream).ok_or_else(|| {
        let names: Vec<&str> = STREAMS.iter().map(|s| s.name).collect();
        Error::Config(format!("unknown stream `{stream}` ({})", names.join(", ")))
    })?;
    let mut at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor of `{stream}` is not Sage's: {e}")))?,
        None => Cursor::default(),
    };
    if at.since.is_none() && at.page == 0 {
        at.since = start_date(config)?;
    }
    let page = at.page.max(1);
    let per_page = config.per_page();
    let started = at
        .started
        .unwrap_or_else(|| wharf_sdk::time::now_ms().div_euclid(1000));
    let mut request = api::get(config, def.path)
        .query("items_per_page", per_page)
        .query("page", page)
        .query("attributes", "all");
    if let Some(since) = at.since {
        request = request.query("updated_or_created_since", wharf_sdk::time::rfc3339(since));
    }
    let body: Value = api::send(business, request)?.json()?;
    let listed = api::listed(body, page, per_page)?;
    let mut seen = at.seen;
    let mut records = Vec::with_capacity(listed.items.len());
    for item in listed.items {
        if let Some(secs) = item["updated_at"].as_str().and_then(secs_of) {
            seen = Some(seen.map_or(secs, |s| s.max(secs)));
        }
        let record = Record::from_value(def.name, item)?.key_from("id");
        if record.key.is_none() {
            return Err(Error::Fatal(format!(
                "a record of `{}` came without an `id`",
                def.name
            )));
        }
        records.push(record);
    }
    let next = if listed.more {
        Cursor {
            since: at.since,
            page: page + 1,
            seen,
            started: Some(started),
        }
    } else {
        end_of_pass(at.since, seen, started)
    };
    let cursor = serde_json::to_string(&next).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), listed.more))
}

/// The config's `start_date` as Unix seconds.
fn start_date(config: &Config) -> Result<Option<i64>> {
    let Some(text) = config
        .start_date
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let day = || format!("{text}T00:00:00Z");
    secs_of(text)
        .or_else(|| secs_of(&day()))
        .map(Some)
        .ok_or_else(|| {
            Error::Config(format!(
                "start_date `{text}` is neither YYYY-MM-DD nor an RFC 3339 time"
            ))
        })
}

/// The cursor after a pass: the next asks for what changed since the
/// newest change seen, or since a little before this pass began if that is
/// earlier (a change made during the pass), never before this pass's own
/// bound. Sage's filter includes its bound, so the newest record comes
/// again; upserts make that harmless.
fn end_of_pass(since: Option<i64>, seen: Option<i64>, started: i64) -> Cursor {
    let overlap = started - PASS_OVERLAP_SECS;
    let bound = seen.map_or(overlap, |s| s.min(overlap));
    Cursor {
        since: Some(since.map_or(bound, |s| s.max(bound))),
        ..Cursor::default()
    }
}

/// Unix seconds of an RFC 3339 time (`2015-10-27T16:24:52Z`, with any
/// fraction, `Z` or a `±hh:mm` offset).
fn secs_of(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let clock = time.get(..8)?;
    let (hh, mm, ss) = (
        num(clock.get(..2)?)?,
        num(clock.get(3..5)?)?,
        num(clock.get(6..)?)?,
    );
    if clock.as_bytes()[2] != b':' || clock.as_bytes()[5] != b':' || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            sign * (num(oh)? * 3600 + num(om)? * 60)
        }
    };
    let (month, dom) = (u32::try_from(num(m)?).ok()?, u32::try_from(num(day)?).ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&dom) {
        return None;
    }
    let days = wharf_sdk::time::days(num(y)?, month, dom);
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sage_times() {
        assert_eq!(secs_of("2015-10-27T16:24:52Z"), Some(1_445_963_092));
        assert_eq!(
            secs_of("2015-10-27T17:24:52.123+01:00"),
            Some(1_445_963_092)
        );
        assert_eq!(secs_of("2015-10-27T11:24:52-05:00"), Some(1_445_963_092));
        assert_eq!(secs_of("2015-10-27"), None);
        assert_eq!(secs_of("2015-13-27T16:24:52Z"), None);
        assert_eq!(secs_of("2015-10-27T16:24:52"), None);
        assert_eq!(secs_of("2015-10-27T16:2é:52Z"), None);
        assert_eq!(secs_of("é"), None);
    }

    #[test]
    fn a_pass_ends_at_the_newest_change_or_before_it_began() {
        let started = 1_800_000_000;
        let s = |since, seen| end_of_pass(since, seen, started).since;
        assert_eq!(s(None, Some(1_714_650_000)), Some(1_714_650_000));
        // A change during the pass: look again from before the pass began.
        assert_eq!(s(None, Some(1_800_000_100)), Some(started - 300));
        // Nothing changed: from before this pass began, never before its bound.
        assert_eq!(s(Some(5), None), Some(started - 300));
        assert_eq!(s(Some(started), None), Some(started));
    }
}

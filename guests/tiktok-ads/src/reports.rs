//! The `reports` stream: TikTok's basic report at the configured level,
//! one record per level id and day (`stat_time_day`), keyed
//! `{date}|{level id}` so a day read again replaces itself; the record's
//! `id`, `date`, `level` and `ad_account_id` are those of the other ads
//! connectors' reports.
//!
//! A pass covers the days from where the last one ended, less
//! `lookback_days` (TikTok attributes conversions to the day of the click
//! or view, days later), to tomorrow in UTC (an advertiser's day may be
//! ahead of UTC), advertiser by advertiser. A range of at most 30 days is
//! read with the synchronous report (`GET /report/integrated/get/`, 30
//! days a request with `stat_time_day`, `page`/`page_size` ≤ 1,000 up to
//! `page_info.total_page`); a longer one, or one TikTok truncates
//! (`X-Tt-Ads-Throttle`: over 20,000 ids), with an async task
//! ([`crate::tasks`]) whose CSV is read a page at a time. While the task
//! runs the page is pending: the host calls again after a pause, and no
//! sandbox waits.
//!
//! A task is looked at [`MAX_POLLS`] times at most (about 85 minutes):
//! one still `QUEUING` or `PROCESSING` then is canceled and counts as
//! failed. In `auto` mode a failed task falls back to the synchronous
//! windows and the pass is marked `no_async`: from then on a truncated
//! synchronous answer keeps its rows (with a warning) instead of creating
//! another task, which could fail the same way, again and again.
//!
//! Metrics come as strings; numbers become JSON numbers, `-` (no value)
//! null, ids and names stay text. TikTok's `conversion` is `conversions`,
//! as in the other ads connectors' records.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};
use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;
use wharf_sdk::time::{date, days};

use crate::tasks::{self, Status};
use crate::{Config, ReportMode, api, csv};

pub const STREAM: &str = "reports";

/// Days a synchronous daily report may span.
const SYNC_WINDOW_DAYS: i64 = 30;
/// Longest pause between two looks at a running task.
const MAX_POLL_SECS: u32 = 60;
/// Looks at a task before it is given up: 62 s of doubling pauses, then
/// 60 s each, about 85 minutes in all. TikTok builds most files in
/// minutes; one queued longer is stuck, and would hold the pass forever.
const MAX_POLLS: u32 = 90;

/// Where the stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The last day the last finished pass read (never after the day it
    /// ran, in UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_until: Option<String>,
    /// The pass under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
}

/// A pass: its days (inclusive), the advertiser it is at, and where.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pass {
    from: String,
    to: String,
    #[serde(default)]
    adv: usize,
    #[serde(default)]
    step: Step,
    /// The advertiser's async task failed (or TikTok allows this app
    /// none): the rest of its pass is read synchronously, and a truncated
    /// answer creates no new task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    no_async: bool,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    /// Nothing read of this advertiser yet.
    #[default]
    Start,
    /// The synchronous window starting `day`, at `page`.
    Sync { day: String, page: u32 },
    /// The async task, looked at `polls` times.
    Task { task: String, polls: u32 },
    /// Its CSV, from byte `offset`; `blob` while this run holds the file.
    Rows {
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blob: Option<String>,
        offset: u64,
        #[serde(default)]
        columns: Vec<String>,
    },
}

/// What one step of an advertiser gives.
enum Next {
    /// Records, and the step after them.
    More(Step, Vec<Record>),
    /// A task still running: look again after this many seconds.
    Wait(Step, u32),
    /// The advertiser's last records.
    Done(Vec<Record>),
}

/// Days since the epoch of `YYYY-MM-DD` (a longer text's first ten).
pub fn day_of(text: &str) -> Option<i64> {
    let t = text.get(..10)?;
    let mut parts = t.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then(|| days(i64::from(y), m, d))
}

pub fn day_text(day: i64) -> String {
    date(day * 86_400)
}

pub fn today() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(86_400_000)
}

/// The next pass after `done_until`, on `today` (UTC day numbers).
fn new_pass(config: &Config, done_until: Option<i64>, today: i64) -> Result<Pass> {
    let start = config.start_day()?;
    let from = match done_until {
        Some(last) => last + 1 - i64::from(config.lookback_days),
        None => start.unwrap_or(today - 29),
    };
    let from = start.map_or(from, |s| from.max(s)).min(today);
    Ok(Pass {
        from: day_text(from),
        to: day_text(today + 1),
        adv: 0,
        step: Step::Start,
        no_async: false,
    })
}

fn text(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

/// One page of `reports`.
pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor of `reports` is not this connector's: {e}"
            ))
        })?,
        None => Cursor::default(),
    };
    let today = today();
    let done_until = at.done_until.clone();
    let mut pass = match at.pass {
        Some(p) => p,
        None => new_pass(config, done_until.as_deref().and_then(day_of), today)?,
    };
    let ids = &config.advertiser_ids;
    // `step` may mark the pass `no_async`; the cursor keeps that.
    let next = match ids.get(pass.adv) {
        Some(advertiser) => step(config, advertiser, &mut pass)?,
        // The config lost advertisers since the pass began.
        None => Next::Done(Vec::new()),
    };
    let with = |step: Step| Cursor {
        done_until: done_until.clone(),
        pass: Some(Pass {
            step,
            ..pass.clone()
        }),
    };
    Ok(match next {
        Next::More(step, records) => Page::new(records, Some(text(&with(step))?), true),
        Next::Wait(step, secs) => Page::pending(text(&with(step))?, secs),
        Next::Done(records) if pass.adv + 1 < ids.len() => {
            let following = Cursor {
                done_until: done_until.clone(),
                // A failed task of one advertiser says nothing of the next.
                pass: Some(Pass {
                    adv: pass.adv + 1,
                    step: Step::Start,
                    no_async: false,
                    ..pass.clone()
                }),
            };
            Page::new(records, Some(text(&following)?), true)
        }
        Next::Done(records) => {
            let last = day_of(&pass.to).unwrap_or(today).min(today);
            let end = Cursor {
                done_until: Some(day_text(last)),
                pass: None,
            };
            Page::last(records, Some(text(&end)?))
        }
    })
}

/// The next step of `advertiser` in `pass` (marked `no_async` when its
/// task fails).
fn step(config: &Config, advertiser: &str, pass: &mut Pass) -> Result<Next> {
    let from = day_of(&pass.from).ok_or_else(|| Error::Config("bad pass in cursor".into()))?;
    let to = day_of(&pass.to).ok_or_else(|| Error::Config("bad pass in cursor".into()))?;
    let auto = config.report_mode == ReportMode::Auto;
    match pass.step.clone() {
        Step::Start => {
            let long = to - from + 1 > SYNC_WINDOW_DAYS;
            let asynchronous = match config.report_mode {
                ReportMode::Async => true,
                ReportMode::Sync => false,
                ReportMode::Auto => long && !pass.no_async,
            };
            if asynchronous {
                match tasks::create(config, advertiser, &pass.from, &pass.to) {
                    Ok(task) => return Ok(Next::Wait(Step::Task { task, polls: 0 }, 1)),
                    // Async reports may need TikTok's allowlist: read by
                    // windows instead of failing, and ask no more.
                    Err(Error::Config(why)) if auto => {
                        wharf_sdk::log::warn(format!(
                            "advertiser {advertiser}: no async report ({why}); reading {} to {} by 30-day windows",
                            pass.from, pass.to
                        ));
                        pass.no_async = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            sync_page(config, advertiser, pass, from, 1)
        }
        Step::Sync { day, page } => {
            let day = day_of(&day).ok_or_else(|| Error::Config("bad day in cursor".into()))?;
            sync_page(config, advertiser, pass, day, page)
        }
        Step::Task { task, polls } => {
            let mut status = tasks::status(config, advertiser, &task)?;
            if matches!(status, Status::Running) && polls >= MAX_POLLS {
                status = tasks::give_up(config, advertiser, &task, polls)?;
            }
            match status {
                Status::Done => rows(config, advertiser, &task, None, 0, Vec::new()),
                Status::Running => {
                    let polls = polls.saturating_add(1);
                    Ok(Next::Wait(Step::Task { task, polls }, poll_wait(polls)))
                }
                Status::Failed(why) if auto => {
                    wharf_sdk::log::warn(format!(
                        "advertiser {advertiser}: report task {task} ended {why}; reading by 30-day windows instead"
                    ));
                    // A truncated window must not create the next task.
                    pass.no_async = true;
                    sync_page(config, advertiser, pass, from, 1)
                }
                Status::Failed(why) => Err(Error::Fatal(format!(
                    "advertiser {advertiser}: TikTok's report task {task} ended {why}"
                ))),
            }
        }
        Step::Rows {
            task,
            blob,
            offset,
            columns,
        } => rows(config, advertiser, &task, blob, offset, columns),
    }
}

/// The pause before the next look at a task already looked at `polls`
/// times: 2, 4, 8 … seconds, then [`MAX_POLL_SECS`].
fn poll_wait(polls: u32) -> u32 {
    1u32.checked_shl(polls)
        .unwrap_or(MAX_POLL_SECS)
        .min(MAX_POLL_SECS)
}

/// One page of the synchronous report for the window starting `day`.
fn sync_page(
    config: &Config,
    advertiser: &str,
    pass: &mut Pass,
    day: i64,
    page: u32,
) -> Result<Next> {
    let to = day_of(&pass.to).unwrap_or(day);
    let end = (day + SYNC_WINDOW_DAYS - 1).min(to);
    let mut request = api::get(config, "report/integrated/get/")
        .query("advertiser_id", advertiser)
        .query("service_type", "AUCTION")
        .query("report_type", "BASIC")
        .query("data_level", config.level.data_level())
        .query("dimensions", config.level.dimensions())
        .query("metrics", json!(config.metrics))
        .query("start_date", day_text(day))
        .query("end_date", day_text(end))
        .query("page", page)
        .query("page_size", config.page_size());
    if let Some(filter) = config.level.status_filter() {
        request = request.query("filtering", filter);
    }
    let answer = api::send(request)?;
    if let Some(why) = answer.header("x-tt-ads-throttle") {
        wharf_sdk::log::warn(format!(
            "advertiser {advertiser}: TikTok truncates the synchronous report of {} to {} ({why})",
            pass.from, pass.to
        ));
        // Async reports are not truncated: read the pass that way, if
        // TikTok allows this app async reports and no task of this pass
        // failed already (another would be created after each failure).
        if config.report_mode == ReportMode::Auto && pass.no_async {
            wharf_sdk::log::warn(format!(
                "advertiser {advertiser}: the async report failed already; keeping the truncated rows"
            ));
        } else if config.report_mode == ReportMode::Auto {
            match tasks::create(config, advertiser, &pass.from, &pass.to) {
                Ok(task) => return Ok(Next::Wait(Step::Task { task, polls: 0 }, 1)),
                Err(Error::Config(no)) => {
                    wharf_sdk::log::warn(format!(
                        "advertiser {advertiser}: no async report either ({no}); keeping the truncated rows"
                    ));
                    pass.no_async = true;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let list = answer.data["list"].as_array().cloned().unwrap_or_default();
    let empty = Map::new();
    let records = list
        .iter()
        .map(|row| {
            let dims = row["dimensions"].as_object().unwrap_or(&empty);
            let metrics = row["metrics"].as_object().unwrap_or(&empty);
            record(config, advertiser, dims, metrics)
        })
        .collect::<Result<Vec<_>>>()?;
    let total_pages = answer.data["page_info"]["total_page"].as_u64().unwrap_or(0);
    Ok(if !list.is_empty() && u64::from(page) < total_pages {
        Next::More(
            Step::Sync {
                day: day_text(day),
                page: page + 1,
            },
            records,
        )
    } else if end < to {
        Next::More(
            Step::Sync {
                day: day_text(end + 1),
                page: 1,
            },
            records,
        )
    } else {
        Next::Done(records)
    })
}

/// One page of a finished task's CSV, downloaded first if this run does
/// not hold it.
fn rows(
    config: &Config,
    advertiser: &str,
    task: &str,
    blob: Option<String>,
    offset: u64,
    mut columns: Vec<String>,
) -> Result<Next> {
    let blob = match blob.map(Blob).filter(|b| b.size().is_ok()) {
        Some(b) => b,
        None => tasks::download(config, advertiser, task)?,
    };
    let max = config.csv_rows() + usize::from(columns.is_empty());
    let (mut lines, next) = csv::read(&blob, offset, max)?;
    if columns.is_empty() {
        if lines.is_empty() {
            return Ok(Next::Done(Vec::new()));
        }
        columns = lines
            .remove(0)
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        let id = config.level.id_field();
        if !columns.iter().any(|c| c == id) || !columns.iter().any(|c| c == "stat_time_day") {
            return Err(Error::Fatal(format!(
                "the file of report task {task} has no `{id}` and `stat_time_day` columns (it has {})",
                columns.join(", ")
            )));
        }
    }
    let mut records = Vec::with_capacity(lines.len());
    let mut skipped = 0;
    for line in &lines {
        if line.len() != columns.len() {
            skipped += 1;
            continue;
        }
        let (mut dims, mut metrics) = (Map::new(), Map::new());
        for (c, v) in columns.iter().zip(line) {
            let target = if c == "stat_time_day" || c == config.level.id_field() {
                &mut dims
            } else {
                &mut metrics
            };
            target.insert(c.clone(), Value::String(v.clone()));
        }
        records.push(record(config, advertiser, &dims, &metrics)?);
    }
    if skipped > 0 {
        wharf_sdk::log::warn(format!(
            "report task {task}: {skipped} rows do not have the file's {} columns and were skipped",
            columns.len()
        ));
    }
    Ok(match next {
        Some(offset) => Next::More(
            Step::Rows {
                task: task.to_string(),
                blob: Some(blob.0),
                offset,
                columns,
            },
            records,
        ),
        None => Next::Done(records),
    })
}

/// The record of one report row.
fn record(
    config: &Config,
    advertiser: &str,
    dims: &Map<String, Value>,
    metrics: &Map<String, Value>,
) -> Result<Record> {
    let id_field = config.level.id_field();
    let level_id = dims
        .get(id_field)
        .and_then(wharf_sdk::scalar_text)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::Fatal(format!("a report row has no `{id_field}`")))?;
    let day = dims
        .get("stat_time_day")
        .and_then(Value::as_str)
        .and_then(|d| d.get(..10))
        .filter(|d| day_of(d).is_some())
        .ok_or_else(|| Error::Fatal("a report row has no `stat_time_day`".into()))?;
    let id = format!("{day}|{level_id}");
    let mut data = Map::new();
    for (name, value) in metrics {
        let name = if name == "conversion" {
            "conversions"
        } else {
            name.as_str()
        };
        data.insert(name.to_string(), typed(name, value));
    }
    data.insert("id".into(), Value::String(id.clone()));
    data.insert("date".into(), Value::String(day.to_string()));
    data.insert("level".into(), Value::String(config.level.name().into()));
    for field in ["advertiser_id", "ad_account_id"] {
        data.insert(field.into(), Value::String(advertiser.to_string()));
    }
    data.insert(id_field.into(), Value::String(level_id));
    Ok(Record::upsert(STREAM, data).with_key(id))
}

/// A metric's value typed: ids, names and other text stay text; numbers
/// become numbers; TikTok's `-` (no value) becomes null.
pub fn typed(name: &str, value: &Value) -> Value {
    let Some(s) = value.as_str() else {
        return value.clone();
    };
    let s = s.trim();
    if s.is_empty() || s == "-" {
        return Value::Null;
    }
    let text_field = name.ends_with("_id")
        || name.ends_with("_name")
        || name.ends_with("_text")
        || name.ends_with("_type")
        || matches!(
            name,
            "currency" | "timezone" | "placement" | "call_to_action"
        );
    if !text_field {
        let leading_zero = s.len() > 1 && s.starts_with('0') && !s.starts_with("0.");
        if !leading_zero {
            if let Ok(i) = s.parse::<i64>() {
                return Value::Number(i.into());
            }
            if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed() {
        assert_eq!(typed("spend", &json!("12.34")), json!(12.34));
        assert_eq!(typed("impressions", &json!("1000")), json!(1000));
        assert_eq!(typed("cost_per_conversion", &json!("-")), Value::Null);
        assert_eq!(typed("campaign_id", &json!("1800")), json!("1800"));
        assert_eq!(typed("ad_name", &json!("2024")), json!("2024"));
        assert_eq!(typed("currency", &json!("USD")), json!("USD"));
        assert_eq!(typed("ctr", &json!("0.5")), json!(0.5));
        assert_eq!(typed("x", &json!("007")), json!("007"));
    }

    #[test]
    fn rows_become_keyed_records() {
        let config: Config =
            serde_json::from_value(json!({"advertiser_ids": ["7"], "level": "ad"})).unwrap();
        let dims = json!({"ad_id": "1820", "stat_time_day": "2024-05-01 00:00:00"});
        let metrics = json!({"spend": "12.30", "conversion": "4", "cost_per_conversion": "-", "campaign_id": "1800"});
        let r = record(
            &config,
            "7",
            dims.as_object().unwrap(),
            metrics.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(r.key.as_deref(), Some("2024-05-01|1820"));
        assert_eq!(r.get("date"), Some(&json!("2024-05-01")));
        assert_eq!(r.get("spend"), Some(&json!(12.3)));
        assert_eq!(r.get("conversions"), Some(&json!(4)));
        assert_eq!(r.get("cost_per_conversion"), Some(&Value::Null));
        assert_eq!(r.get("campaign_id"), Some(&json!("1800")));
        assert_eq!(r.get("ad_account_id"), Some(&json!("7")));
        assert_eq!(r.get("level"), Some(&json!("ad")));
    }

    #[test]
    fn passes_reread_the_lookback() {
        let config: Config = serde_json::from_value(
            json!({"advertiser_ids": ["1"], "lookback_days": 7, "start_date": "2024-01-01"}),
        )
        .unwrap();
        let today = days(2024, 5, 20);
        let first = new_pass(&config, None, today).unwrap();
        assert_eq!(
            (first.from.as_str(), first.to.as_str()),
            ("2024-01-01", "2024-05-21")
        );
        let next = new_pass(&config, Some(today), today).unwrap();
        assert_eq!(next.from, "2024-05-14", "seven days ending today again");
        assert_eq!(day_of("2024-05-01 00:00:00"), Some(days(2024, 5, 1)));
        assert_eq!(day_of("2024-13-01"), None);
    }

    #[test]
    fn a_failed_task_is_kept_in_the_cursor() {
        // A cursor written before `no_async` existed still reads.
        let old: Cursor = serde_json::from_value(json!({"pass": {"from": "2024-05-01",
            "to": "2024-06-20", "adv": 1, "step": {"step": "sync", "day": "2024-05-31", "page": 2}}}))
        .unwrap();
        let mut pass = old.pass.unwrap();
        assert!(!pass.no_async);
        assert!(!serde_json::to_string(&pass).unwrap().contains("no_async"));
        pass.no_async = true;
        let again: Pass = serde_json::from_str(&serde_json::to_string(&pass).unwrap()).unwrap();
        assert_eq!(again, pass);
    }

    #[test]
    fn tasks_are_looked_at_for_a_bounded_time() {
        assert_eq!(poll_wait(1), 2);
        assert_eq!(poll_wait(5), 32);
        assert_eq!(poll_wait(6), MAX_POLL_SECS);
        assert_eq!(poll_wait(40), MAX_POLL_SECS, "no overflow");
        let total: u32 = (1..=MAX_POLLS).map(poll_wait).sum();
        assert!((60 * 60..=2 * 60 * 60).contains(&total), "{total} s");
    }
}

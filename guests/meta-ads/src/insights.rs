//! The `insights` stream through asynchronous report runs, as Meta's
//! insights best practices ask for anything larger than a glance
//! (<https://developers.facebook.com/docs/marketing-api/insights/best-practices>):
//!
//! 1. `POST /act_{id}/insights` with `level`, `fields`, `time_range`,
//!    `time_increment=1`, `breakdowns`, `action_attribution_windows` and,
//!    below the account level, `filtering` on `<level>.effective_status`
//!    IN every status → `{"report_run_id": …}`. Without that filter Meta
//!    leaves deleted objects out ("`act_<ID>/insights?level=ad` does not
//!    return stats for the deleted object … You can query insights for
//!    DELETED objects using the ad.effective_status filter",
//!    <https://developers.facebook.com/docs/marketing-api/best-practices/manage-your-ad-object-status>),
//!    and their spend, still spent, would be missing.
//! 2. `GET /{report_run_id}` until `async_status` is `Job Completed` and
//!    `async_percent_completion` 100; each poll that finds it running is
//!    a pending page (the host calls again later; no sandbox waits).
//!    `Job Failed` or `Job Skipped`: the run is made again, three times,
//!    then for half the days.
//! 3. `GET /{report_run_id}/insights?limit=…` page by page (`after`).
//!
//! A pass walks each account's days in windows of `days_per_report`. The
//! next pass starts `lookback_days` before the last one's end: Meta
//! attributes conversions to the day of the click or view for up to 28
//! days, so recent days change; each row is keyed by day, level id and
//! breakdown values, so a revised day replaces itself.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::time::{date, days};

use crate::api::{self, Answer, GraphError};
use crate::{Config, accounts, cursor_text, objects, parse_cursor, rows};

pub const STREAM: &str = "insights";
pub const LEVELS: [&str; 4] = ["account", "campaign", "adset", "ad"];

/// The fields read when the config names none: ids and names of every
/// level (those below the configured level are left out), delivery, cost
/// and actions, close to Ads Manager's default columns.
pub const DEFAULT_FIELDS: [&str; 22] = [
    "account_id",
    "account_name",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "unique_clicks",
    "inline_link_clicks",
    "spend",
    "cpc",
    "cpm",
    "ctr",
    "actions",
    "action_values",
    "cost_per_action_type",
];

/// A report run that failed is made again this often before its days are
/// split in two.
const MAX_ATTEMPTS: u32 = 3;
/// Polls of one run (about 75 minutes) before it counts as failed: Meta
/// says a run can take up to an hour, retries included.
const MAX_POLLS: u32 = 80;
/// Meta keeps insights for 37 months.
const RETENTION_DAYS: i64 = 37 * 30;

/// Where the stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The pass's accounts and the one being read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    account: usize,
    /// The pass's days (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    /// The current report's days (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// The report run, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero32")]
    polls: u32,
    #[serde(default, skip_serializing_if = "is_zero32")]
    attempts: u32,
    /// The next page of the run's rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// The last day the last finished pass read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_until: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn is_zero32(n: &u32) -> bool {
    *n == 0
}

/// Days since the epoch of `YYYY-MM-DD`.
pub fn day_of(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let day = days(i64::from(y), m, d);
    (day_text(day) == text).then_some(day)
}

fn day_text(day: i64) -> String {
    date(day * 86_400)
}

/// Today, in UTC.
pub fn today() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(86_400_000)
}

fn depth(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(3)
}

/// The field naming a row's object at `level`.
pub fn id_field(level: &str) -> &'static str {
    ["account_id", "campaign_id", "adset_id", "ad_id"][depth(level)]
}

/// The fields asked for: the level's ids first, then the configured (or
/// default) ones, without ids and names of levels below the report's.
pub fn fields(config: &Config) -> Vec<String> {
    let wanted: Vec<String> = if config.fields.is_empty() {
        DEFAULT_FIELDS.map(String::from).into()
    } else {
        config.fields.clone()
    };
    let level = depth(&config.level);
    let below = |f: &str| {
        [("campaign_", 1), ("adset_", 2), ("ad_", 3)]
            .iter()
            .any(|(p, d)| *d > level && (f == format!("{p}id") || f == format!("{p}name")))
    };
    let mut out: Vec<String> = LEVELS[..=level].iter().map(|l| format!("{l}_id")).collect();
    for f in wanted {
        if !below(&f) && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// The days `(since, until)` of a pass after `done_until`, on `today`.
fn pass_days(config: &Config, done_until: Option<i64>, today: i64) -> (i64, i64) {
    let earliest = today - RETENTION_DAYS;
    let start = config
        .start_date
        .as_deref()
        .and_then(day_of)
        .unwrap_or(today - 365)
        .max(earliest);
    let since = match done_until {
        Some(last) => (last - config.lookback_days).max(start),
        None => start,
    };
    (since.min(today), today)
}

/// One page of `insights`.
pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let mut at: Cursor = parse_cursor(STREAM, cursor)?;
    if at.accounts.is_empty() {
        let done = at.done_until.as_deref().and_then(day_of);
        let (since, until) = pass_days(config, done, today());
        at = Cursor {
            accounts: accounts::resolve(config)?,
            since: Some(day_text(since)),
            until: Some(day_text(until)),
            done_until: at.done_until,
            ..Cursor::default()
        };
        if at.accounts.is_empty() {
            wharf_sdk::log::warn("no ad account to read");
            return finish(at, Vec::new());
        }
        window(config, &mut at, since);
    }
    let account =
        at.accounts.get(at.account).cloned().ok_or_else(|| {
            Error::Config("the cursor of `insights` points past its accounts".into())
        })?;
    let Some(run) = at.run.clone() else {
        return create(config, &account, at);
    };
    if at.after.is_none() {
        // Not read from yet: is it done?
        // Meta names a failed run's reason from v25.0 on; older versions
        // refuse the fields.
        let fields = if config.major() >= 25 {
            "id,async_status,async_percent_completion,error_code,error_message,error_subcode,error_user_msg"
        } else {
            "id,async_status,async_percent_completion"
        };
        let asked = api::get(config, &run).query("fields", fields);
        let report = match api::try_send(asked)? {
            Ok(answer) => answer,
            Err((e, _)) if e.missing() => return again(config, &account, at, &e),
            Err((e, usage)) => return Err(api::refused(&e, &usage)),
        };
        let status = report.body["async_status"].as_str().unwrap_or_default();
        let percent = report.body["async_percent_completion"]
            .as_f64()
            .unwrap_or(0.0);
        match status {
            "Job Completed" if percent >= 100.0 => {}
            "Job Failed" | "Job Skipped" => return failed(config, &account, at, &report.body),
            _ if at.polls >= MAX_POLLS => {
                let why = format!("still `{status}` after {} polls", at.polls);
                return failed(config, &account, at, &json!({"error_message": why}));
            }
            _ => {
                at.polls += 1;
                let wait =
                    poll_wait(at.polls).max(report.usage.pace(config.throttle_at()).unwrap_or(0));
                return Ok(Page::pending(cursor_text(&at)?, wait));
            }
        }
    }
    let mut asked = api::get(config, &format!("{run}/insights")).query("limit", config.limit());
    if let Some(after) = &at.after {
        asked = asked.query("after", after);
    }
    let mut answer = match api::try_send(asked)? {
        Ok(answer) => answer,
        // Runs live 30 days: a cursor resumed later makes its run again.
        Err((e, _)) if e.missing() => return again(config, &account, at, &e),
        Err((e, usage)) => return Err(api::refused(&e, &usage)),
    };
    let records = rows::records(config, &account, api::data(&mut answer.body))?;
    match api::after(&answer.body) {
        Some(after) => {
            at.after = Some(after);
            let pause = answer.usage.pace(config.throttle_at());
            Ok(crate::page(records, cursor_text(&at)?, true, pause))
        }
        None => advance(config, at, records, &answer),
    }
}

/// Point the cursor at the report of `from` and the days after it.
fn window(config: &Config, at: &mut Cursor, from: i64) {
    let until = at.until.as_deref().and_then(day_of).unwrap_or(from);
    let to = (from + config.days_per_report.max(1) - 1).min(until);
    at.from = Some(day_text(from));
    at.to = Some(day_text(to));
    at.run = None;
    at.after = None;
    at.polls = 0;
    at.attempts = 0;
}

/// Start the report run of the cursor's days.
fn create(config: &Config, account: &str, mut at: Cursor) -> Result<Page> {
    let (from, to) = (
        at.from.clone().unwrap_or_default(),
        at.to.clone().unwrap_or_default(),
    );
    let fields = fields(config).join(",");
    let range = json!({"since": from, "until": to}).to_string();
    let windows = json!(config.action_attribution_windows).to_string();
    let breakdowns = config.breakdowns.join(",");
    let action_breakdowns = config.action_breakdowns.join(",");
    let mut form: Vec<(&str, &str)> = vec![
        ("level", config.level.as_str()),
        ("fields", fields.as_str()),
        ("time_range", range.as_str()),
        ("time_increment", "1"),
    ];
    if !config.breakdowns.is_empty() {
        form.push(("breakdowns", breakdowns.as_str()));
    }
    if !config.action_breakdowns.is_empty() {
        form.push(("action_breakdowns", action_breakdowns.as_str()));
    }
    if !config.action_attribution_windows.is_empty() {
        form.push(("action_attribution_windows", windows.as_str()));
    }
    if let Some(t) = &config.action_report_time {
        form.push(("action_report_time", t.as_str()));
    }
    let filtering = status_filter(&config.level);
    if let Some(f) = &filtering {
        form.push(("filtering", f.as_str()));
    }
    let answer = api::send(api::post(config, &format!("{account}/insights"), &form))?;
    let run = answer.body["report_run_id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| answer.body["report_run_id"].as_u64().map(|n| n.to_string()))
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::Transient(format!(
                "Meta started no report run for {account} ({from} to {to}): {}",
                answer.body
            ))
        })?;
    at.run = Some(run);
    at.polls = 0;
    at.after = None;
    let wait = poll_wait(0).max(answer.usage.pace(config.throttle_at()).unwrap_or(0));
    Ok(Page::pending(cursor_text(&at)?, wait))
}

/// The report's `filtering`: every `effective_status` of the level's
/// objects, `DELETED` and `ARCHIVED` included, so their days are reported
/// (none at the account level).
fn status_filter(level: &str) -> Option<String> {
    let statuses = objects::level_statuses(level)?;
    let filter = json!([{"field": format!("{level}.effective_status"), "operator": "IN",
        "value": statuses}]);
    Some(filter.to_string())
}

/// Seconds before the next look at a running report: soon at first (small
/// reports take seconds), then backing off, since polls count against
/// the ad account's insights quota.
fn poll_wait(polls: u32) -> u32 {
    [1, 2, 4, 8, 15, 30][(polls as usize).min(5)].max(if polls > 10 { 60 } else { 0 })
}

/// The run is gone (expired after 30 days, or never Meta's): make it again.
fn again(config: &Config, account: &str, mut at: Cursor, e: &GraphError) -> Result<Page> {
    wharf_sdk::log::warn(format!(
        "report run {} of {account} is gone ({}); making it again",
        at.run.as_deref().unwrap_or("?"),
        e.describe()
    ));
    at.run = None;
    at.after = None;
    create(config, account, at)
}

/// A run that failed: again, up to [`MAX_ATTEMPTS`] times, then for half
/// the days; a single day that keeps failing fails the run with Meta's
/// reason.
fn failed(config: &Config, account: &str, mut at: Cursor, report: &Value) -> Result<Page> {
    let said = ["error_message", "error_user_msg"]
        .iter()
        .filter_map(|k| report[k].as_str())
        .collect::<Vec<_>>()
        .join(": ");
    let code = report["error_code"]
        .as_i64()
        .map(|c| format!(" (code {c})"))
        .unwrap_or_default();
    let (from, to) = (
        at.from.clone().unwrap_or_default(),
        at.to.clone().unwrap_or_default(),
    );
    let what = format!(
        "the report run {} of {account} for {from} to {to} failed{code}{}",
        at.run.as_deref().unwrap_or("?"),
        if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        }
    );
    at.attempts += 1;
    if at.attempts < MAX_ATTEMPTS {
        wharf_sdk::log::warn(format!("{what}; making it again"));
        return create(config, account, at);
    }
    let (Some(f), Some(t)) = (day_of(&from), day_of(&to)) else {
        return Err(Error::Fatal(what));
    };
    if f >= t {
        return Err(Error::Fatal(format!(
            "{what}, {MAX_ATTEMPTS} times; try fewer fields or breakdowns, or read this day later"
        )));
    }
    let half = f + (t - f + 1) / 2 - 1;
    wharf_sdk::log::warn(format!(
        "{what}, {MAX_ATTEMPTS} times; reading {from} to {} first",
        day_text(half)
    ));
    at.to = Some(day_text(half));
    at.attempts = 0;
    create(config, account, at)
}

/// After a report's last page: the next days, the next account, or the
/// pass's end.
fn advance(config: &Config, mut at: Cursor, records: Vec<Record>, answer: &Answer) -> Result<Page> {
    let to = at.to.as_deref().and_then(day_of).unwrap_or_default();
    let until = at.until.as_deref().and_then(day_of).unwrap_or(to);
    if to < until {
        window(config, &mut at, to + 1);
    } else {
        at.account += 1;
        if at.account >= at.accounts.len() {
            return finish(at, records);
        }
        let since = at.since.as_deref().and_then(day_of).unwrap_or(until);
        window(config, &mut at, since);
    }
    let pause = answer.usage.pace(config.throttle_at());
    Ok(crate::page(records, cursor_text(&at)?, true, pause))
}

/// The last page of a pass: the next starts from this one's last day.
fn finish(at: Cursor, records: Vec<Record>) -> Result<Page> {
    let next = Cursor {
        done_until: at.until.or(at.done_until),
        ..Cursor::default()
    };
    Ok(Page::last(records, Some(cursor_text(&next)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        let mut c = json!({});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn fields_of_a_level() {
        let campaign = fields(&config(json!({"level": "campaign"})));
        assert_eq!(&campaign[..2], ["account_id", "campaign_id"]);
        assert!(
            !campaign
                .iter()
                .any(|f| f.starts_with("ad_") || f.starts_with("adset_"))
        );
        assert!(campaign.contains(&"spend".to_string()));
        let ad = fields(&config(json!({"fields": ["spend", "ad_id"]})));
        assert_eq!(
            ad,
            ["account_id", "campaign_id", "adset_id", "ad_id", "spend"]
        );
    }

    #[test]
    fn passes_reread_the_lookback() {
        let today = 20_000;
        let c = config(json!({"start_date": "2024-05-01", "lookback_days": 28}));
        let start = day_of("2024-05-01").unwrap();
        assert_eq!(pass_days(&c, None, start + 40), (start, start + 40));
        assert_eq!(
            pass_days(&c, Some(start + 40), start + 41),
            (start + 12, start + 41)
        );
        let c = config(json!({}));
        assert_eq!(pass_days(&c, None, today), (today - 365, today));
        assert_eq!(day_of("2024-02-30"), None);
    }

    #[test]
    fn deleted_objects_are_reported() {
        let ad: Value = serde_json::from_str(&status_filter("ad").unwrap()).unwrap();
        assert_eq!(ad[0]["field"], "ad.effective_status");
        assert_eq!(ad[0]["operator"], "IN");
        let values = ad[0]["value"].as_array().unwrap();
        assert!(values.contains(&json!("DELETED")) && values.contains(&json!("ARCHIVED")));
        assert_eq!(values.len(), objects::ALL_STATUSES.len());
        let campaign: Value = serde_json::from_str(&status_filter("campaign").unwrap()).unwrap();
        assert_eq!(campaign[0]["field"], "campaign.effective_status");
        assert!(
            campaign[0]["value"]
                .as_array()
                .unwrap()
                .contains(&json!("DELETED"))
        );
        assert_eq!(
            status_filter("adset").map(|f| f.contains("adset.effective_status")),
            Some(true)
        );
        assert_eq!(status_filter("account"), None);
    }

    #[test]
    fn polls_back_off() {
        let waits: Vec<u32> = (0..13).map(poll_wait).collect();
        assert_eq!(waits, [1, 2, 4, 8, 15, 30, 30, 30, 30, 30, 30, 60, 60]);
    }
}

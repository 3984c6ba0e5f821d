//! Async report tasks, for ranges too long for a synchronous report:
//! `POST /report/task/create/` with the same selection (no 30-day limit,
//! no 20,000-id truncation, no paging), `GET /report/task/check/` until
//! `SUCCESS`, then `GET /report/task/download/`, which streams the CSV
//! (`output_format: CSV_STRING`). Titles are left untranslated
//! (`enable_report_title_translation: false`), so the CSV's columns are
//! the API's field names, which TikTok keeps stable where the translated
//! titles change (its note of November 2024).
//!
//! TikTok allows one task creation a second per app and 500 an hour per
//! ad account, and keeps a task for 30 days; the CSV is downloaded again
//! from the task when the blob of an earlier call is gone (a resumed run).
//! A task that never ends is canceled with `POST /report/task/cancel/`
//! (<https://business-api.tiktok.com/portal/docs?id=1803615367145537>).

use serde_json::{Value, json};
use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;

use crate::{Config, api};

/// Where a task stands.
pub enum Status {
    /// `QUEUING` or `PROCESSING`.
    Running,
    /// `SUCCESS`: its file can be downloaded.
    Done,
    /// `FAILED` or `CANCELED`, with TikTok's reason.
    Failed(String),
}

/// The task body: the configured report of `advertiser` over the days
/// `from`..=`to` (`YYYY-MM-DD`, the advertiser's time zone).
pub fn body(config: &Config, advertiser: &str, from: &str, to: &str) -> Value {
    json!({
        "advertiser_id": advertiser,
        "service_type": "AUCTION",
        "report_type": "BASIC",
        "data_level": config.level.data_level(),
        "dimensions": config.level.dimensions(),
        "metrics": config.metrics,
        "start_date": from,
        "end_date": to,
        "output_format": "CSV_STRING",
        "enable_report_title_translation": false,
    })
}

/// Create the task; its id.
pub fn create(config: &Config, advertiser: &str, from: &str, to: &str) -> Result<String> {
    let request = api::post(
        config,
        "report/task/create/",
        &body(config, advertiser, from, to),
    )?;
    let answer = api::send(request)?;
    let id = match &answer.data["task_id"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(Error::Fatal(
                "TikTok created a report task but named no task_id".into(),
            ));
        }
    };
    wharf_sdk::log::info(format!(
        "advertiser {advertiser}: async report task {id} created for {from} to {to}"
    ));
    Ok(id)
}

/// The task's status.
pub fn status(config: &Config, advertiser: &str, task: &str) -> Result<Status> {
    let answer = api::send(
        api::get(config, "report/task/check/")
            .query("advertiser_id", advertiser)
            .query("task_id", task),
    )?;
    let data = &answer.data;
    Ok(match data["status"].as_str().unwrap_or("") {
        "SUCCESS" => Status::Done,
        "QUEUING" | "PROCESSING" => Status::Running,
        "FAILED" | "CANCELED" => Status::Failed(format!(
            "{} ({})",
            data["status"].as_str().unwrap_or(""),
            data["message"]
                .as_str()
                .filter(|m| !m.is_empty())
                .unwrap_or("no reason given")
        )),
        other => {
            return Err(Error::Fatal(format!(
                "TikTok's report task {task} is in an unknown status `{other}`"
            )));
        }
    })
}

/// Give up a task still `QUEUING` or `PROCESSING` after `polls` looks:
/// cancel it (JSON `advertiser_id` and `task_id`; TikTok answers
/// `data.status` `CANCELED`, or an error code when the task is past
/// canceling), so it stops holding the account's queue, and count it
/// failed. A refused cancel (the task just ended) changes nothing to that;
/// a pause TikTok asks for, or a passing failure, is the host's to wait
/// out, and the task is looked at again.
pub fn give_up(config: &Config, advertiser: &str, task: &str, polls: u32) -> Result<Status> {
    let body = json!({"advertiser_id": advertiser, "task_id": task});
    match api::post(config, "report/task/cancel/", &body).and_then(api::send) {
        Ok(answer) => wharf_sdk::log::warn(format!(
            "advertiser {advertiser}: report task {task} unfinished after {polls} looks; canceled (TikTok says `{}`)",
            answer.data["status"].as_str().unwrap_or("")
        )),
        // Waited out by the host (or the token is gone): look again later.
        Err(
            e @ (Error::RateLimited(_)
            | Error::Transient(_)
            | Error::AuthExpired(_)
            | Error::Auth(_)),
        ) => return Err(e),
        Err(e) => wharf_sdk::log::warn(format!(
            "advertiser {advertiser}: TikTok did not cancel report task {task}: {e}"
        )),
    }
    Ok(Status::Failed(format!(
        "unfinished after {polls} looks (over an hour), so this connector canceled it"
    )))
}

/// Download the task's CSV into a blob kept by the host.
pub fn download(config: &Config, advertiser: &str, task: &str) -> Result<Blob> {
    let response = api::send_response(
        api::get(config, "report/task/download/")
            .query("advertiser_id", advertiser)
            .query("task_id", task)
            .keep_body(),
    )?;
    let blob = response
        .blob
        .map(Blob)
        .ok_or_else(|| Error::Fatal("the host kept no blob of the report file".into()))?;
    // A JSON answer with code 0 is the `*_DOWNLOAD` form (a URL to fetch):
    // this connector asks for `CSV_STRING`, so it is not expected.
    if blob.read(0, 64)?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Err(Error::Fatal(format!(
            "TikTok answered the download of report task {task} with JSON instead of the CSV file"
        )));
    }
    Ok(blob)
}

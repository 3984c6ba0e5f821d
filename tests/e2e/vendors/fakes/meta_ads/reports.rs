//! The fake's async report runs: `POST /act_{id}/insights` checked as
//! Meta's insights reference describes its parameters, and the
//! `AdReportRun` polled until it completes (or fails, saying why as v25.0
//! does). Deleted objects are reported only when `filtering` on
//! `<level>.effective_status` asks for `DELETED`
//! (<https://developers.facebook.com/docs/marketing-api/best-practices/manage-your-ad-object-status>).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::data::{self, INSIGHTS_FIELDS, WINDOWS};
use super::{
    AD_STATUSES, ADSET_STATUSES, Answer, CAMPAIGN_STATUSES, Meta, Params, ReportRun, day_of, param,
    refuse, today,
};

/// An `AdReportRun`'s fields, and what a failed one says from v25.0 on.
const RUN_FIELDS: &str = "id account_id time_ref time_completed async_status \
    async_percent_completion date_start date_stop is_running";
const RUN_ERROR_FIELDS: &str =
    "error_code error_message error_subcode error_user_title error_user_msg";

/// The statuses an insights `filtering` keeps: the fake models one filter,
/// `[{"field": "<level>.effective_status", "operator": "IN", "value":
/// [<statuses of the level's objects>]}]`; anything else is refused.
fn status_filter(level: &str, filtering: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let Some(text) = filtering else {
        return Ok(None);
    };
    let filters: Vec<Value> = serde_json::from_str(text)
        .map_err(|_| format!("filtering must be a JSON array of filters, not {text}"))?;
    let valid = match level {
        "campaign" => CAMPAIGN_STATUSES,
        "adset" => ADSET_STATUSES,
        "ad" => AD_STATUSES,
        _ => "",
    };
    let mut kept: Option<Vec<String>> = None;
    for f in &filters {
        let field = f["field"].as_str().unwrap_or_default();
        if field != format!("{level}.effective_status") || valid.is_empty() {
            return Err(format!(
                "Filtering field {field} is not modelled at level {level}"
            ));
        }
        if f["operator"] != "IN" {
            return Err(format!(
                "filtering operator {} is not modelled",
                f["operator"]
            ));
        }
        let values: Vec<String> = serde_json::from_value(f["value"].clone())
            .map_err(|_| format!("filtering value {} must be a list of statuses", f["value"]))?;
        if let Some(bad) = values.iter().find(|v| !valid.split(' ').any(|s| s == *v)) {
            return Err(format!(
                "Filtering field {field} with operation in and value {bad} is not supported"
            ));
        }
        kept = Some(values);
    }
    Ok(kept)
}

impl Meta {
    /// `POST /act_{id}/insights`: a report run.
    pub(super) fn create_run(&mut self, i: usize, p: &Params) -> Answer {
        let asked: BTreeMap<String, String> = p
            .iter()
            .filter(|(k, _)| k != "access_token")
            .cloned()
            .collect();
        let bad = |this: &mut Meta, why: String| -> Answer {
            this.violations.push(format!("insights: {why}"));
            Err(refuse(100, None, format!("(#100) {why}")))
        };
        let level = param(p, "level").unwrap_or("account");
        if !["account", "campaign", "adset", "ad"].contains(&level) {
            return bad(
                self,
                format!("level must be one of {{ad, adset, campaign, account}}, not {level}"),
            );
        }
        let fields: Vec<String> = param(p, "fields")
            .unwrap_or("spend")
            .split(',')
            .map(String::from)
            .collect();
        if let Some(f) = fields
            .iter()
            .find(|f| !INSIGHTS_FIELDS.split_whitespace().any(|k| k == *f))
        {
            return bad(
                self,
                format!(
                    "{f} is not valid for fields param. please check https://developers.facebook.com/docs/marketing-api/reference/ads-insights/"
                ),
            );
        }
        let range: Value = param(p, "time_range")
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        let (Some(since), Some(until)) = (
            range["since"].as_str().and_then(day_of),
            range["until"].as_str().and_then(day_of),
        ) else {
            return bad(
                self,
                format!("time_range {range} needs since and until as YYYY-MM-DD"),
            );
        };
        if since > until || until > today() + 1 {
            return bad(
                self,
                format!("time_range {range}: since after until, or until in the future"),
            );
        }
        if since < today() - 37 * 31 {
            self.violations.push(format!("insights: since {range}"));
            let m = "(#3018) The start date of the time range cannot be beyond 37 months from the current date";
            return Err(refuse(3018, None, m));
        }
        if param(p, "time_increment") != Some("1") {
            return bad(
                self,
                "the fake models daily rows (time_increment=1) only".into(),
            );
        }
        if param(p, "breakdowns").is_some_and(|b| !b.is_empty()) {
            return bad(self, "the fake does not model breakdowns".into());
        }
        let windows: Vec<String> = match param(p, "action_attribution_windows") {
            Some(w) => serde_json::from_str(w).unwrap_or_else(|_| vec![w.to_string()]),
            None => Vec::new(),
        };
        if let Some(w) = windows
            .iter()
            .find(|w| !WINDOWS.split(' ').any(|k| k == *w))
        {
            return bad(
                self,
                format!("action_attribution_windows: {w} is not available"),
            );
        }
        let statuses = match status_filter(level, param(p, "filtering")) {
            Ok(statuses) => statuses,
            Err(why) => return bad(self, why),
        };
        let days: Vec<String> = (since..=until)
            .map(|d| wharf_sdk::time::date(d * 86_400))
            .collect();
        let account = &self.accounts[i];
        let rows = data::rows(
            account,
            level,
            &days,
            &fields,
            &windows,
            &self.revised,
            statuses.as_deref(),
        );
        self.counter += 1;
        let id = format!("6{:016}", 1_044_697_365_143 + self.counter);
        let failed = self.fail_next_runs > 0;
        self.fail_next_runs = self.fail_next_runs.saturating_sub(1);
        let run = ReportRun {
            account: account.act(),
            params: asked.clone(),
            polls: 0,
            failed,
            rows,
        };
        self.runs.insert(id.clone(), run);
        self.report_requests.push(asked);
        Ok(json!({ "report_run_id": id }))
    }

    /// `GET /{report_run_id}`.
    pub(super) fn poll(&mut self, version: &str, id: &str, p: &Params) -> Answer {
        let done = self.polls_to_complete;
        let run = self.runs.get_mut(id).expect("routed by its id");
        run.polls += 1;
        let account = run.account.trim_start_matches("act_").to_string();
        let range: Value = run
            .params
            .get("time_range")
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default();
        let (status, percent) = match (run.failed, run.polls >= done) {
            (true, _) => ("Job Failed", 0),
            (false, true) => ("Job Completed", 100),
            (false, false) => ("Job Running", 100 * run.polls / done.max(1)),
        };
        let mut report = json!({"id": id, "account_id": account, "time_ref": 1_491_431_044,
            "async_status": status, "async_percent_completion": percent, "is_running": percent < 100 && !run.failed,
            "date_start": range["since"], "date_stop": range["until"]});
        if percent == 100 {
            report["time_completed"] = json!(1_491_431_104);
        }
        let v25 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            >= Some(25);
        if run.failed {
            let failure = json!({"error_code": -2, "error_subcode": 2_490_547, "error_message": "Report Failed",
                "error_user_title": "Report Failed", "error_user_msg": "Generating the report failed. Try again later."});
            for (k, v) in failure.as_object().into_iter().flatten() {
                report[k] = v.clone();
            }
        }
        let known = if v25 {
            format!("{RUN_FIELDS} {RUN_ERROR_FIELDS}")
        } else {
            RUN_FIELDS.into()
        };
        let fields = param(p, "fields").unwrap_or("id,async_status,async_percent_completion");
        if let Some(f) = fields
            .split(',')
            .find(|f| !known.split_whitespace().any(|k| k == *f))
        {
            return Err(refuse(
                100,
                None,
                format!(
                    "(#100) Tried accessing nonexisting field ({f}) on node type (AdReportRun)"
                ),
            ));
        }
        // Fields without a value (a run's error while it has none) are left out.
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        for f in fields.split(',') {
            if let Some(v) = report.get(f) {
                out.insert(f.into(), v.clone());
            }
        }
        Ok(Value::Object(out))
    }
}

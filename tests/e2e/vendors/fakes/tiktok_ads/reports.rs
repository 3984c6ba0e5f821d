//! The fake TikTok's reports: the synchronous basic report, and async
//! report tasks whose CSV files hold the same rows. The selection is
//! checked as TikTok's reference describes it (docs 1740302848100353 and
//! 1740302766489602); a task is canceled as doc 1803615367145537 says.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use super::data::{day_of, day_text, id_dimension, metric, metric_allowed, rows, title};
use super::{Answer, Refusal, Task, TikTok, arg, page_args, page_info};

const REPORT: &str = "/report/integrated/get/";
const CREATE: &str = "/report/task/create/";
const CANCEL: &str = "/report/task/cancel/";

/// What a report asks for.
struct Selection {
    advertiser: String,
    id: &'static str,
    metrics: Vec<String>,
    from: i64,
    to: i64,
}

/// A field of a task body as text (lists as their JSON).
fn body_field(body: &Value, name: &str) -> Option<String> {
    match &body[name] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn strings(text: Option<String>, name: &str) -> Result<Option<Vec<String>>, Refusal> {
    text.map(|t| {
        serde_json::from_str::<Vec<String>>(&t)
            .map_err(|_| (40002, format!("{name}: Invalid JSON array of strings.")))
    })
    .transpose()
}

/// A report day as TikTok writes it.
fn stat_time(day: i64) -> String {
    format!("{} 00:00:00", day_text(day))
}

impl TikTok {
    /// The selection of a report (`get` reads a field), checked.
    fn selection(
        &mut self,
        path: &str,
        get: &dyn Fn(&str) -> Option<String>,
        max_days: Option<i64>,
    ) -> Result<Selection, Refusal> {
        let advertiser = self.advertiser(get("advertiser_id").as_deref())?.id.clone();
        if get("report_type").as_deref() != Some("BASIC") {
            self.violations
                .push(format!("{path}: report_type other than BASIC"));
            return Err((40002, "report_type: only BASIC is modelled.".into()));
        }
        if get("service_type").is_some_and(|s| s != "AUCTION") {
            return Err((40002, "service_type: Invalid enum value.".into()));
        }
        let level = get("data_level").unwrap_or_default();
        let id = id_dimension(&level)
            .ok_or_else(|| (40002, format!("data_level: Invalid enum value {level}.")))?;
        let mut dims = strings(get("dimensions"), "dimensions")?.unwrap_or_default();
        dims.sort();
        let mut want = vec![id.to_string(), "stat_time_day".to_string()];
        want.sort();
        if dims != want {
            self.violations
                .push(format!("{path}: dimensions {dims:?} (modelled: {want:?})"));
            return Err((40002, "dimensions: Invalid dimensions.".into()));
        }
        let metrics = strings(get("metrics"), "metrics")?
            .unwrap_or_else(|| vec!["spend".into(), "impressions".into()]);
        if let Some(bad) = metrics.iter().find(|m| !metric_allowed(m, id)) {
            return Err((40002, format!("Invalid metric: {bad}.")));
        }
        let day = |k: &str| get(k).as_deref().and_then(day_of);
        let (Some(from), Some(to)) = (day("start_date"), day("end_date")) else {
            return Err((40002, "start_date and end_date: format YYYY-MM-DD.".into()));
        };
        if from > to {
            return Err((40002, "start_date must not be after end_date.".into()));
        }
        if max_days.is_some_and(|max| to - from + 1 > max) {
            return Err((
                40002,
                "max time span is 30 days when use stat_time_day".into(),
            ));
        }
        Ok(Selection {
            advertiser,
            id,
            metrics,
            from,
            to,
        })
    }

    /// A status filter of the synchronous report (`[{"field_name":
    /// "ad_status", "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"}]`).
    fn status_filter(&mut self, text: &str, id: &str) -> Result<(), Refusal> {
        let filters: Vec<Value> = serde_json::from_str(text)
            .map_err(|_| (40002, "filtering: Invalid JSON array.".to_string()))?;
        let field = format!("{}_status", id.trim_end_matches("_id"));
        for f in filters {
            let values = f["filter_value"]
                .as_str()
                .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok());
            let statuses = ["STATUS_ALL", "STATUS_NOT_DELETE", "STATUS_DELETE"];
            let ok = id != "advertiser_id"
                && f["field_name"] == field.as_str()
                && f["filter_type"] == "IN"
                && values.is_some_and(|v| v.iter().all(|s| statuses.contains(&s.as_str())));
            if !ok {
                self.violations.push(format!(
                    "{REPORT}: filter {f} (modelled: {field} IN a status list)"
                ));
                return Err((40002, "filtering: Invalid filter.".into()));
            }
        }
        Ok(())
    }

    pub(super) fn report(&mut self, query: &[(String, String)]) -> Result<Answer, Refusal> {
        let known = [
            "advertiser_id",
            "service_type",
            "report_type",
            "data_level",
            "dimensions",
            "metrics",
            "start_date",
            "end_date",
            "filtering",
            "page",
            "page_size",
        ];
        self.unmodelled(REPORT, query, &known);
        let get = |k: &str| arg(query, k).map(str::to_string);
        let sel = self.selection(REPORT, &get, Some(30))?;
        let (page, size) = page_args(query)?;
        if let Some(f) = arg(query, "filtering") {
            // The fake has no deleted ads: the filter is checked, and
            // changes nothing.
            self.status_filter(f, sel.id)?;
        }
        let adv = self.advertiser(Some(sel.advertiser.as_str()))?;
        let all = rows(adv, &self.stats, sel.id, sel.from, sel.to);
        let list: Vec<Value> = all
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|r| {
                let mut dims = Map::new();
                dims.insert(sel.id.into(), Value::String(r.id.clone()));
                dims.insert("stat_time_day".into(), Value::String(stat_time(r.day)));
                let metrics: Map<String, Value> = sel
                    .metrics
                    .iter()
                    .map(|m| (m.clone(), Value::String(metric(r, adv, m))))
                    .collect();
                json!({"dimensions": dims, "metrics": metrics})
            })
            .collect();
        let data = json!({"list": list, "page_info": page_info(page, size, all.len())});
        Ok(if self.truncate_reports {
            Answer::Truncated(data)
        } else {
            Answer::Data(data)
        })
    }

    /// Record a JSON body not sent as `application/json`.
    fn json_body(&mut self, path: &str, headers: &HeaderMap) {
        let json_body = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if !json_body {
            self.violations
                .push(format!("{path}: body not sent as application/json"));
        }
    }

    pub(super) fn task_create(
        &mut self,
        headers: &HeaderMap,
        body: &[u8],
        second: u64,
    ) -> Result<Answer, Refusal> {
        self.json_body(CREATE, headers);
        let b: Value = serde_json::from_slice(body)
            .map_err(|_| (40002, "The request body must be JSON.".to_string()))?;
        let known = [
            "advertiser_id",
            "service_type",
            "report_type",
            "data_level",
            "dimensions",
            "metrics",
            "start_date",
            "end_date",
            "output_format",
            "enable_report_title_translation",
        ];
        for k in b.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !known.contains(&k.as_str()) {
                self.violations
                    .push(format!("{CREATE}: field `{k}` is not modelled"));
            }
        }
        // "the rate limit for each app is 1 QPS"
        if second == self.last_task_second {
            return Err((
                40100,
                format!(
                    "App {} reaches the QPS limit 1, current QPS is 2.",
                    super::APP_ID
                ),
            ));
        }
        self.last_task_second = second;
        let get = |k: &str| body_field(&b, k);
        let sel = self.selection(CREATE, &get, None)?;
        let format = b["output_format"].as_str().unwrap_or("CSV_STRING");
        if format != "CSV_STRING" {
            self.violations
                .push(format!("{CREATE}: output_format {format} is not modelled"));
            return Err((40002, "output_format: only CSV_STRING is modelled.".into()));
        }
        self.counter += 1;
        let id = (7_400_000_000_000_000_000u64 + self.counter).to_string();
        let task = Task {
            advertiser: sel.advertiser,
            body: b.clone(),
            checks: 0,
            fails: self.fail_tasks,
            canceled: false,
        };
        self.tasks.insert(id.clone(), task);
        Ok(Answer::Data(json!({ "task_id": id })))
    }

    /// The task `task_id` of `advertiser_id`.
    fn task_of(&mut self, query: &[(String, String)], path: &str) -> Result<String, Refusal> {
        self.unmodelled(path, query, &["advertiser_id", "task_id"]);
        let advertiser = self.advertiser(arg(query, "advertiser_id"))?.id.clone();
        let id = arg(query, "task_id").unwrap_or_default().to_string();
        match self.tasks.get(&id) {
            Some(t) if t.advertiser == advertiser => Ok(id),
            _ => Err((40002, format!("task_id: Task {id} does not exist."))),
        }
    }

    pub(super) fn task_check(&mut self, query: &[(String, String)]) -> Result<Answer, Refusal> {
        let id = self.task_of(query, "/report/task/check/")?;
        let polls = self.task_polls;
        let task = self.tasks.get_mut(&id).expect("a task");
        task.checks += 1;
        let status = match task.checks {
            _ if task.canceled => "CANCELED",
            n if n > polls && task.fails => "FAILED",
            n if n > polls => "SUCCESS",
            1 => "QUEUING",
            _ => "PROCESSING",
        };
        // "This field is returned when `status` is `FAILED`."
        let message = if status == "FAILED" {
            "The report could not be generated. Please try again later."
        } else {
            ""
        };
        Ok(Answer::Data(json!({"status": status, "message": message})))
    }

    /// `POST /report/task/cancel/`: JSON `advertiser_id` and `task_id`, a
    /// task still QUEUING or PROCESSING.
    pub(super) fn task_cancel(
        &mut self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        self.json_body(CANCEL, headers);
        let b: Value = serde_json::from_slice(body)
            .map_err(|_| (40002, "The request body must be JSON.".to_string()))?;
        for k in b.as_object().into_iter().flatten().map(|(k, _)| k) {
            if k != "advertiser_id" && k != "task_id" {
                self.violations
                    .push(format!("{CANCEL}: field `{k}` is not modelled"));
            }
        }
        let advertiser = self.advertiser(b["advertiser_id"].as_str())?.id.clone();
        let id = b["task_id"].as_str().unwrap_or_default().to_string();
        let polls = self.task_polls;
        match self.tasks.get_mut(&id) {
            Some(t) if t.advertiser == advertiser && !t.canceled && t.checks <= polls => {
                t.canceled = true;
                Ok(Answer::Data(json!({"status": "CANCELED"})))
            }
            Some(t) if t.advertiser == advertiser => Err((
                40002,
                format!("task_id: Task {id} is not QUEUING or PROCESSING."),
            )),
            _ => Err((40002, format!("task_id: Task {id} does not exist."))),
        }
    }

    pub(super) fn task_download(&mut self, query: &[(String, String)]) -> Result<Answer, Refusal> {
        let id = self.task_of(query, "/report/task/download/")?;
        let task = self.tasks[&id].clone();
        if task.checks <= self.task_polls || task.fails || task.canceled {
            self.violations
                .push(format!("download of task {id} before it succeeded"));
            return Err((40002, "The task has not finished.".into()));
        }
        self.downloads += 1;
        let get = |k: &str| body_field(&task.body, k);
        let sel = self.selection(CREATE, &get, None)?;
        let translated = task.body["enable_report_title_translation"].as_bool() != Some(false);
        let mut fields = vec!["stat_time_day".to_string(), sel.id.to_string()];
        fields.extend(sel.metrics.iter().cloned());
        let header: Vec<String> = fields
            .iter()
            .map(|f| if translated { title(f) } else { f.clone() })
            .collect();
        let adv = self.advertiser(Some(sel.advertiser.as_str()))?;
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        w.write_record(&header).expect("csv");
        for r in rows(adv, &self.stats, sel.id, sel.from, sel.to) {
            let mut line = vec![stat_time(r.day), r.id.clone()];
            line.extend(sel.metrics.iter().map(|m| metric(&r, adv, m)));
            w.write_record(&line).expect("csv");
        }
        let bytes = w.into_inner().expect("csv");
        Ok(Answer::Csv(String::from_utf8(bytes).expect("utf-8")))
    }
}

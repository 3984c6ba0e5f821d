//! The fake's reads: SOQL (the subset the connector writes) through
//! `/query`, `/queryAll` and their `nextRecordsUrl` pages, and Bulk API 2.0
//! query jobs with their CSV result sets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::{Map, Value, json};

use super::{Call, Job, Salesforce, USER_ID, answer, error, not_found, now, secs, stamp};

/// A statement of the SOQL subset the fake reads.
struct Soql {
    object: String,
    fields: Vec<String>,
    filter: Option<(String, String, i64)>,
    order: Option<(String, bool)>,
}

fn malformed(q: &str, why: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "MALFORMED_QUERY",
        &format!("\n{q}\n^\nERROR at Row:1:Column:1\n{why}"),
    )
}

impl Salesforce {
    /// Parse and check a statement against the org's describes.
    fn soql(&mut self, q: &str) -> Result<Soql, Response> {
        let upper = q.to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("SELECT ").map(|_| &q[7..]) else {
            return Err(malformed(
                q,
                "unexpected token: the statement must begin with SELECT",
            ));
        };
        let Some(from) = rest.to_ascii_uppercase().find(" FROM ") else {
            return Err(malformed(q, "unexpected token: FROM is missing"));
        };
        let names: Vec<String> = rest[..from]
            .split(',')
            .map(|f| f.trim().to_string())
            .collect();
        let tokens: Vec<&str> = rest[from + 6..].split_whitespace().collect();
        let object_name = tokens.first().copied().unwrap_or_default();
        let Some(object) = self.object_named(object_name) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_TYPE",
                &format!(
                    "\n{q}\n^\nERROR at Row:1:Column:1\nsObject type '{object_name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ));
        };
        let mut fields = Vec::new();
        for name in &names {
            let canonical = self
                .describe_field(&object, name)
                .and_then(|f| f["name"].as_str())
                .map(str::to_string);
            let Some(canonical) = canonical else {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.violations
                        .push(format!("SOQL: `{name}` is not modelled"));
                }
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_FIELD",
                    &format!(
                        "\n{q}\n^\nERROR at Row:1:Column:8\nNo such column '{name}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                ));
            };
            if fields.contains(&canonical) {
                return Err(malformed(
                    q,
                    &format!("duplicate field selected: {canonical}"),
                ));
            }
            fields.push(canonical);
        }
        let mut i = 1;
        let word = |i: usize| {
            tokens
                .get(i)
                .map(|t| t.to_ascii_uppercase())
                .unwrap_or_default()
        };
        let mut filter = None;
        if word(i) == "WHERE" {
            let (f, op, lit) = (
                tokens.get(i + 1).copied().unwrap_or_default(),
                word(i + 2),
                tokens.get(i + 3).copied().unwrap_or_default(),
            );
            let kind = self
                .describe_field(&object, f)
                .and_then(|d| d["type"].as_str())
                .unwrap_or_default()
                .to_string();
            if kind != "datetime" || !matches!(op.as_str(), ">" | ">=" | "<" | "<=" | "=") {
                self.violations
                    .push(format!("SOQL: the filter `{f} {op} {lit}` is not modelled"));
                return Err(malformed(q, "unexpected token in WHERE"));
            }
            if lit.starts_with('\'') {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    &format!(
                        "value of filter criterion for field '{f}' must be of type dateTime and should not be enclosed in quotes"
                    ),
                ));
            }
            let Some(at) = secs(lit) else {
                return Err(malformed(
                    q,
                    &format!(
                        "line 1:{}: no viable alternative at character '{lit}'",
                        from
                    ),
                ));
            };
            filter = Some((
                self.describe_field(&object, f)
                    .and_then(|d| d["name"].as_str())
                    .unwrap_or(f)
                    .to_string(),
                op,
                at,
            ));
            i += 4;
        }
        let mut order = None;
        if word(i) == "ORDER" && word(i + 1) == "BY" {
            let f = tokens.get(i + 2).copied().unwrap_or_default();
            let Some(name) = self
                .describe_field(&object, f)
                .and_then(|d| d["name"].as_str())
                .map(str::to_string)
            else {
                return Err(malformed(q, &format!("unknown ORDER BY field {f}")));
            };
            i += 3;
            let desc = word(i) == "DESC";
            if matches!(word(i).as_str(), "ASC" | "DESC") {
                i += 1;
            }
            order = Some((name, desc));
        }
        if let Some(extra) = tokens.get(i) {
            self.violations
                .push(format!("SOQL: `{extra}` and what follows are not modelled"));
            return Err(malformed(q, &format!("unexpected token: '{extra}'")));
        }
        Ok(Soql {
            object,
            fields,
            filter,
            order,
        })
    }

    /// The rows a statement selects, in its order, as `(field, value)` lists.
    fn rows(&self, s: &Soql, all: bool) -> Vec<Vec<(String, Value)>> {
        fn when(r: &Map<String, Value>, f: &str) -> Option<i64> {
            r.get(f).and_then(Value::as_str).and_then(secs)
        }
        let mut rows: Vec<&Map<String, Value>> = self.objects[&s.object]
            .rows
            .iter()
            .filter(|r| all || r.get("IsDeleted") != Some(&json!(true)))
            .filter(|r| match &s.filter {
                None => true,
                Some((f, op, at)) => when(r, f).is_some_and(|v| match op.as_str() {
                    ">" => v > *at,
                    ">=" => v >= *at,
                    "<" => v < *at,
                    "<=" => v <= *at,
                    _ => v == *at,
                }),
            })
            .collect();
        if let Some((f, desc)) = &s.order {
            rows.sort_by_key(|r| when(r, f).unwrap_or(i64::MIN));
            if *desc {
                rows.reverse();
            }
        }
        rows.into_iter()
            .map(|r| {
                s.fields
                    .iter()
                    .map(|f| (f.clone(), r.get(f).cloned().unwrap_or(Value::Null)))
                    .collect()
            })
            .collect()
    }

    pub(super) fn query(&mut self, c: &Call, version: &str, all: bool) -> Response {
        let q = c.param("q").unwrap_or_default().to_string();
        self.soql
            .push((if all { "queryAll" } else { "query" }.into(), q.clone()));
        let s = match self.soql(&q) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let mut batch = 2000;
        if let Some(opts) = c.header("sforce-query-options") {
            match opts
                .trim()
                .strip_prefix("batchSize=")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) if (200..=2000).contains(&n) => batch = n,
                _ => self.violations.push(format!(
                    "Sforce-Query-Options `{opts}`: batchSize is 200 to 2000"
                )),
            }
        }
        let records: Vec<Value> = self
            .rows(&s, all)
            .into_iter()
            .map(|fields| {
                let id = fields
                    .iter()
                    .find(|(f, _)| f == "Id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                let url = format!(
                    "/services/data/v{version}/sobjects/{}/{}",
                    s.object,
                    id.as_str().unwrap_or_default()
                );
                let mut m = Map::new();
                m.insert("attributes".into(), json!({"type": s.object, "url": url}));
                m.extend(fields);
                Value::Object(m)
            })
            .collect();
        self.counter += 1;
        let locator = format!("01g5e00000{:05}AAW", self.counter);
        let page = batch.min(self.batch).max(1);
        self.cursors.insert(locator.clone(), records);
        self.page(version, &locator, 0, page)
    }

    fn page(&mut self, version: &str, locator: &str, from: usize, size: usize) -> Response {
        let records = &self.cursors[locator];
        let total = records.len();
        let end = (from + size).min(total);
        let mut body = json!({"totalSize": total, "done": end >= total, "records": records[from.min(total)..end]});
        if end < total {
            body["nextRecordsUrl"] =
                json!(format!("/services/data/v{version}/query/{locator}-{end}"));
        }
        answer(StatusCode::OK, &body)
    }

    pub(super) fn more(&mut self, version: &str, next: &str) -> Response {
        let parsed = next
            .rsplit_once('-')
            .and_then(|(l, n)| Some((l.to_string(), n.parse::<usize>().ok()?)));
        match parsed.filter(|(l, _)| self.cursors.contains_key(l)) {
            Some((locator, from)) => {
                let size = self.batch.max(1);
                self.page(version, &locator, from, size)
            }
            None => error(
                StatusCode::BAD_REQUEST,
                "INVALID_QUERY_LOCATOR",
                "invalid query locator",
            ),
        }
    }

    pub(super) fn create_job(&mut self, c: &Call, version: &str) -> Response {
        let Ok(body) = serde_json::from_slice::<Value>(c.body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "the request body is not JSON",
            );
        };
        let operation = body["operation"].as_str().unwrap_or_default().to_string();
        let q = body["query"].as_str().unwrap_or_default().to_string();
        for (k, allowed) in [
            ("contentType", "CSV"),
            ("columnDelimiter", "COMMA"),
            ("lineEnding", "LF"),
        ] {
            if body.get(k).is_some_and(|v| v != allowed) {
                self.violations
                    .push(format!("jobs/query: {k} {} is not modelled", body[k]));
            }
        }
        if !matches!(operation.as_str(), "query" | "queryAll") {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOB",
                &format!("Invalid operation: {operation}"),
            );
        }
        self.soql.push(("bulk".into(), q.clone()));
        let s = match self.soql(&q) {
            Ok(s) => s,
            Err(r) => return r,
        };
        self.counter += 1;
        let id = format!("7505e00000{:05}AAA", self.counter);
        let compound = s.fields.iter().any(|f| {
            let kind = self
                .describe_field(&s.object, f)
                .and_then(|d| d["type"].as_str())
                .unwrap_or_default();
            matches!(kind, "address" | "location")
        });
        let mut csv = Vec::new();
        for row in self.rows(&s, operation == "queryAll") {
            csv.push(
                row.iter()
                    .map(|(_, v)| quoted(v))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        let header = s
            .fields
            .iter()
            .map(|f| quoted(&json!(f)))
            .collect::<Vec<_>>()
            .join(",");
        let created = stamp(now());
        let mut info = json!({"id": id, "operation": operation, "object": s.object, "createdById": USER_ID,
            "createdDate": created, "systemModstamp": created, "state": "UploadComplete", "concurrencyMode": "Parallel",
            "contentType": "CSV", "apiVersion": version.parse::<f64>().unwrap_or(62.0), "jobType": "V2Query",
            "lineEnding": "LF", "columnDelimiter": "COMMA", "numberRecordsProcessed": csv.len(), "retries": 0,
            "totalProcessingTime": 312});
        let answer_info = info.clone();
        if compound {
            info["state"] = json!("Failed");
            info["errorMessage"] =
                json!("FeatureNotEnabled : Compound data not supported in Bulk Query");
        }
        self.jobs.insert(
            id,
            Job {
                info,
                polls: 0,
                csv,
                header,
            },
        );
        answer(StatusCode::OK, &answer_info)
    }

    pub(super) fn results(&mut self, c: &Call, id: &str) -> Response {
        let Some(job) = self.jobs.get(id) else {
            return not_found();
        };
        if job.info["state"] != "JobComplete" {
            self.violations
                .push(format!("results of job {id} asked before JobComplete"));
            return error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOBSTATE",
                "Job is not in a valid state to get results",
            );
        }
        if !c
            .header("accept")
            .is_some_and(|a| a.contains("text/csv") || a.contains("*/*"))
        {
            self.violations
                .push(format!("results of job {id}: Accept is not text/csv"));
        }
        let max = match c.param("maxRecords").map(str::parse::<usize>) {
            None => 10_000,
            Some(Ok(n)) if n > 0 => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDPARAMETER",
                    "maxRecords must be a positive integer",
                );
            }
        };
        let from = match c.param("locator") {
            None => 0,
            Some(l) => match STANDARD_NO_PAD
                .decode(l)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.parse::<usize>().ok())
            {
                Some(n) => n,
                None => return error(StatusCode::BAD_REQUEST, "INVALIDLOCATOR", "Invalid locator"),
            },
        };
        let end = (from + max).min(job.csv.len());
        let mut text = format!("{}\n", job.header);
        for line in &job.csv[from.min(end)..end] {
            text.push_str(line);
            text.push('\n');
        }
        let locator = if end < job.csv.len() {
            STANDARD_NO_PAD.encode(end.to_string())
        } else {
            "null".into()
        };
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv")], text).into_response();
        let h = r.headers_mut();
        h.insert(
            "sforce-locator",
            HeaderValue::from_str(&locator).expect("ascii"),
        );
        h.insert("sforce-numberofrecords", (end - from.min(end)).into());
        r
    }
}

/// A value as Bulk API 2.0 writes it: quoted, datetimes in `Z`, null empty.
fn quoted(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) if secs(s).is_some() && s.ends_with("+0000") => {
            format!("{}Z", &s[..s.len() - 5])
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

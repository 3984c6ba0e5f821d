//! `GetCostAndUsage`: the request (identical on every page of a pass but
//! for `NextPageToken`), its answer as records, and Cost Explorer's
//! errors.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;
use wharf_sdk::time::{date, days};

use crate::Config;

/// Where a pass stands: its period (days since the epoch, `end`
/// exclusive) and the next page's token.
#[derive(Serialize, Deserialize, Default, Debug)]
struct Cursor {
    /// The first day of the current pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The day after the current pass (exclusive), fixed for its pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The end of the last finished pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_until: Option<String>,
}

/// Days since the epoch of `YYYY-MM-DD`.
fn day_of(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(days(i64::from(y), m, d))
}

/// The request body for the days `[from, end)`.
pub fn body(config: &Config, from: i64, end: i64, token: Option<&str>) -> Value {
    let day = |d: i64| date(d * 86_400);
    let mut body = json!({
        "TimePeriod": {"Start": day(from), "End": day(end)},
        "Granularity": config.granularity,
        "Metrics": config.metrics,
    });
    if !config.group_by.is_empty() {
        body["GroupBy"] = config
            .group_by
            .iter()
            .map(|g| json!({"Type": g.kind, "Key": g.key}))
            .collect();
    }
    if let Some(f) = &config.filter {
        body["Filter"] = f.clone();
    }
    if let Some(t) = token {
        body["NextPageToken"] = json!(t);
    }
    body
}

/// What an error answer means, by Cost Explorer's `__type`.
enum Refusal {
    Error(Error),
    /// The page token is stale: start the pass again.
    Restart,
    /// No data for the period (an account without Cost Explorer data yet).
    NoData,
}

/// Send one `GetCostAndUsage`, signed by the host with the `aws` key.
pub fn send(config: &Config, body: &Value) -> Result<Value> {
    match call(config, body)? {
        Ok(v) => Ok(v),
        Err(Refusal::Error(e)) => Err(e),
        Err(Refusal::Restart) => Err(Error::Transient(
            "Cost Explorer refused the page token".into(),
        )),
        Err(Refusal::NoData) => Ok(json!({"ResultsByTime": []})),
    }
}

fn call(config: &Config, body: &Value) -> Result<std::result::Result<Value, Refusal>> {
    let response = Request::post(format!("{}/", config.base()))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "AWSInsightsIndexService.GetCostAndUsage")
        .body(serde_json::to_vec(body).map_err(Error::fatal)?)
        .sign("aws")
        .send()?;
    if response.is_success() {
        return Ok(Ok(response.json()?));
    }
    let v: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    // `__type` may carry a namespace (`com.amazon…#LimitExceededException`).
    let kind = v["__type"]
        .as_str()
        .unwrap_or("")
        .rsplit('#')
        .next()
        .unwrap_or("")
        .to_string();
    let message = v["message"]
        .as_str()
        .or(v["Message"].as_str())
        .unwrap_or("")
        .to_string();
    let said = format!("Cost Explorer: {kind}: {message}");
    Ok(Err(match (response.status, kind.as_str()) {
        (_, "LimitExceededException" | "ThrottlingException") | (429, _) => {
            Refusal::Error(Error::RateLimited(response.retry_after().unwrap_or(5)))
        }
        (_, "InvalidNextTokenException" | "RequestChangedException") => Refusal::Restart,
        (_, "DataUnavailableException") => Refusal::NoData,
        (
            _,
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "AccessDeniedException"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException",
        ) => Refusal::Error(Error::Auth(said)),
        (_, "ValidationException" | "BillExpirationException") => {
            Refusal::Error(Error::Config(said))
        }
        (s, _) if s >= 500 => Refusal::Error(Error::Transient(said)),
        _ => Refusal::Error(Error::Fatal(said)),
    }))
}

/// One page of the `costs` stream.
pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor is not this connector's: {e}")))?,
        None => Cursor::default(),
    };
    let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
    // Today is included (its costs estimated so far).
    let (from, end) = match (
        at.from.as_deref().and_then(day_of),
        at.end.as_deref().and_then(day_of),
    ) {
        (Some(f), Some(e)) => (f, e),
        _ => {
            let from = match at.done_until.as_deref().and_then(day_of) {
                Some(until) => until - config.settle_days.max(1),
                None => today - config.lookback_days,
            };
            (from.min(today), today + 1)
        }
    };
    let body = body(config, from, end, at.token.as_deref());
    let answer = match call(config, &body)? {
        Ok(v) => v,
        Err(Refusal::Restart) => {
            // Start this pass again from its first page.
            let again = Cursor {
                from: Some(date(from * 86_400)),
                end: Some(date(end * 86_400)),
                token: None,
                done_until: at.done_until,
            };
            return Ok(Page::new(Vec::new(), Some(to_text(&again)?), true));
        }
        Err(Refusal::NoData) => json!({"ResultsByTime": []}),
        Err(Refusal::Error(e)) => return Err(e),
    };
    let records = records(config, &answer)?;
    let next = answer["NextPageToken"].as_str().filter(|t| !t.is_empty());
    let cursor = match next {
        Some(token) => Cursor {
            from: Some(date(from * 86_400)),
            end: Some(date(end * 86_400)),
            token: Some(token.to_string()),
            done_until: at.done_until,
        },
        None => Cursor {
            done_until: Some(date(end * 86_400)),
            ..Cursor::default()
        },
    };
    Ok(Page::new(records, Some(to_text(&cursor)?), next.is_some()))
}

fn to_text(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor).map_err(Error::fatal)
}

/// The records of an answer: per period, one per group (or one with the
/// totals when nothing is grouped).
fn records(config: &Config, answer: &Value) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for period in answer["ResultsByTime"].as_array().into_iter().flatten() {
        let start = period["TimePeriod"]["Start"].as_str().unwrap_or_default();
        let end = period["TimePeriod"]["End"].as_str().unwrap_or_default();
        let estimated = period["Estimated"].as_bool().unwrap_or(false);
        let groups: Vec<(Vec<&str>, &Value)> = match period["Groups"].as_array() {
            Some(groups) if !config.group_by.is_empty() => groups
                .iter()
                .map(|g| {
                    let keys = g["Keys"].as_array().into_iter().flatten();
                    (keys.filter_map(Value::as_str).collect(), &g["Metrics"])
                })
                .collect(),
            _ => vec![(Vec::new(), &period["Total"])],
        };
        for (keys, metrics) in groups {
            let mut data = Map::new();
            let mut id = start.to_string();
            data.insert("date".into(), json!(start));
            data.insert("end".into(), json!(end));
            for (group, value) in config.group_by.iter().zip(&keys) {
                // Tags come back as `key$value`, cost categories likewise.
                let value = match group.kind.as_str() {
                    "TAG" | "COST_CATEGORY" => value.split_once('$').map_or(*value, |(_, v)| v),
                    _ => value,
                };
                data.insert(group.key.clone(), json!(value));
                id.push('|');
                id.push_str(value);
            }
            for metric in &config.metrics {
                let m = &metrics[metric.as_str()];
                let amount = m["Amount"].as_str().and_then(|a| a.parse::<f64>().ok());
                data.insert(metric.clone(), amount.map_or(Value::Null, |a| json!(a)));
                data.insert(format!("{metric}_unit"), m["Unit"].clone());
            }
            data.insert("estimated".into(), json!(estimated));
            data.insert("id".into(), json!(id));
            out.push(Record::upsert("costs", data).with_key(id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn groups_and_tags_become_fields() {
        let c = config(
            json!({"group_by": [{"type": "DIMENSION", "key": "SERVICE"}, {"type": "TAG", "key": "team"}]}),
        );
        let answer = json!({"ResultsByTime": [{"TimePeriod": {"Start": "2024-05-01", "End": "2024-05-02"}, "Total": {},
            "Groups": [{"Keys": ["AWS Lambda", "team$data"], "Metrics": {"UnblendedCost": {"Amount": "1.2345", "Unit": "USD"}}},
                       {"Keys": ["AWS Lambda", "team$"], "Metrics": {"UnblendedCost": {"Amount": "0.5", "Unit": "USD"}}}],
            "Estimated": true}]});
        let r = records(&c, &answer).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].key.as_deref(), Some("2024-05-01|AWS Lambda|data"));
        assert_eq!(r[0].get("team"), Some(&json!("data")));
        assert_eq!(r[0].get("UnblendedCost"), Some(&json!(1.2345)));
        assert_eq!(r[1].get("team"), Some(&json!("")));
        assert_eq!(r[1].get("estimated"), Some(&json!(true)));
    }

    #[test]
    fn bodies_keep_the_period_and_add_the_token() {
        let c = config(json!({}));
        let from = day_of("2024-05-01").unwrap();
        let b = body(&c, from, from + 7, Some("t1"));
        assert_eq!(
            b["TimePeriod"],
            json!({"Start": "2024-05-01", "End": "2024-05-08"})
        );
        assert_eq!(
            b["GroupBy"],
            json!([{"Type": "DIMENSION", "Key": "SERVICE"}])
        );
        assert_eq!(b["NextPageToken"], "t1");
        assert_eq!(day_of("nope"), None);
    }
}

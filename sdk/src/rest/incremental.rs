//! Incremental streams: a field that grows (`updated_at`, `modified`, an
//! id), the parameter that asks for records after a value, and a lookback
//! window that asks again for the last few minutes, because servers commit
//! records out of order and stamp them late. Records seen twice land as
//! "unchanged" in the records store.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::Request;

/// An incremental field and how a request asks for what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incremental {
    /// The field (a name, or a JSON pointer starting with `/`).
    pub field: String,
    /// The query parameter that takes the lower bound (`updated_at_min`).
    pub param: String,
    /// Seconds the lower bound is moved back.
    pub lookback_secs: i64,
    /// The parameter's value around the bound (`{bound}` stands for it),
    /// for APIs that take a filter expression rather than a value.
    pub template: Option<String>,
}

impl Incremental {
    /// Records after `field`'s last value, asked with `param`.
    pub fn new(field: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            param: param.into(),
            lookback_secs: 0,
            template: None,
        }
    }

    /// Send the bound inside an expression: Frappe's
    /// `filters=[["modified",">=","{bound}"]]`. The bound is escaped as a
    /// JSON string's content.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Ask again for the last `secs` seconds before the bound.
    pub fn lookback_secs(mut self, secs: i64) -> Self {
        self.lookback_secs = secs;
        self
    }

    /// The lower bound this run asks from: the window's start, moved back.
    pub fn bound(&self, window: &Window) -> Option<String> {
        window
            .since
            .as_deref()
            .map(|s| step_back(s, self.lookback_secs))
    }

    /// `request` restricted to records from the bound on (an empty
    /// `param`: the API cannot be asked; the window is only remembered).
    pub fn apply(&self, request: Request, window: &Window) -> Request {
        match self.bound(window) {
            Some(bound) if !self.param.is_empty() => {
                let value = match &self.template {
                    Some(t) => {
                        let quoted = serde_json::to_string(&bound).unwrap_or_default();
                        t.replace("{bound}", &quoted[1..quoted.len() - 1])
                    }
                    None => bound,
                };
                request.query(&self.param, value)
            }
            _ => request,
        }
    }

    /// The field's value in a record, as text.
    pub fn value_in(&self, record: &Value) -> Option<String> {
        let v = if self.field.starts_with('/') {
            record.pointer(&self.field)
        } else {
            record.get(&self.field)
        }?;
        watermark(v)
    }

    /// [`value_in`](Self::value_in) of a record kept as text.
    pub fn value_in_raw(&self, record: &crate::raw::RawRecord) -> Option<String> {
        let v = if self.field.starts_with('/') {
            record.pointer(&self.field)
        } else {
            record.get(&self.field)
        }?;
        watermark(&v)
    }
}

/// The text of a field's value that can move a window.
fn watermark(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Where an incremental stream stands: where this run started, and the
/// highest value seen in it. Kept in the fetch cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The lower bound of this run (the last run's highest value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The highest value seen so far in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

impl Window {
    /// Note a value seen.
    pub fn observe(&mut self, value: &str) {
        if self
            .max
            .as_deref()
            .is_none_or(|m| compare(value, m) == std::cmp::Ordering::Greater)
        {
            self.max = Some(value.to_string());
        }
    }

    /// The run is complete: the next one starts from the highest value
    /// seen (or where this one started, if nothing was new).
    pub fn close(&mut self) {
        self.since = self.max.take().or(self.since.take());
    }
}

/// Numbers compare as numbers; anything else (ISO 8601 times) as text.
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// `value` moved back by `secs`: a whole number as Unix seconds (or
/// milliseconds, when it is that large); a date-time (`2024-05-01T10:00:00`
/// with any fraction and offset, or Frappe's `2024-05-01 10:00:00.123456`)
/// keeps its shape; a date moves back whole days. Anything else is kept.
fn step_back(value: &str, secs: i64) -> String {
    if secs <= 0 {
        return value.to_string();
    }
    if let Ok(n) = value.parse::<i64>() {
        let step = if n > 100_000_000_000 {
            secs * 1000
        } else {
            secs
        };
        return (n - step).to_string();
    }
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        value
            .get(r.clone())?
            .parse()
            .ok()
            .filter(|_| r.clone().all(|i| b[i].is_ascii_digit()))
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return value.to_string();
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return value.to_string();
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        let (y, m, d) = civil_from_days(days - (secs + 86_399) / 86_400);
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let (Some(hh), Some(mm), Some(ss)) = (digits(11..13), digits(14..16), digits(17..19)) else {
        return value.to_string();
    };
    let t = days * 86_400 + hh * 3600 + mm * 60 + ss - secs;
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}{}{:02}:{:02}:{:02}{}",
        b[10] as char,
        s / 3600,
        s % 3600 / 60,
        s % 60,
        &value[19..]
    )
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_lookback_keeps_each_format() {
        assert_eq!(
            step_back("2024-03-01T00:04:00Z", 300),
            "2024-02-29T23:59:00Z"
        );
        assert_eq!(
            step_back("2024-05-01T10:00:00.250+02:00", 60),
            "2024-05-01T09:59:00.250+02:00"
        );
        assert_eq!(
            step_back("2024-01-01 00:00:30.123456", 60),
            "2023-12-31 23:59:30.123456"
        );
        assert_eq!(step_back("2024-03-01", 1), "2024-02-29");
        assert_eq!(step_back("1700000000", 60), "1699999940");
        assert_eq!(step_back("1700000000000", 60), "1699999940000");
        assert_eq!(step_back("not a time", 60), "not a time");
        assert_eq!(step_back("2024-05-01T10:00:00Z", 0), "2024-05-01T10:00:00Z");
        for days in [-800_000, -1, 0, 19_782, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn a_window_moves_to_the_highest_value_when_the_run_ends() {
        let inc = Incremental::new("updated_at", "updated_at_min").lookback_secs(60);
        let mut w = Window::default();
        let req = inc.apply(Request::get("https://s.test/orders.json"), &w);
        assert_eq!(
            req.url(),
            "https://s.test/orders.json",
            "the first run reads everything"
        );
        for r in [
            json!({"updated_at": "2024-05-01T10:00:00Z"}),
            json!({"updated_at": "2024-05-02T00:00:00Z"}),
            json!({"updated_at": null}),
        ] {
            if let Some(v) = inc.value_in(&r) {
                w.observe(&v);
            }
        }
        w.close();
        assert_eq!(w.since.as_deref(), Some("2024-05-02T00:00:00Z"));
        let req = inc.apply(Request::get("https://s.test/orders.json"), &w);
        assert_eq!(
            req.url(),
            "https://s.test/orders.json?updated_at_min=2024-05-01T23%3A59%3A00Z"
        );
        // Nothing new: the next run starts where this one did.
        w.close();
        assert_eq!(w.since.as_deref(), Some("2024-05-02T00:00:00Z"));
        let frappe = Incremental::new("modified", "filters")
            .template(r#"[["modified",">=","{bound}"]]"#)
            .lookback_secs(120);
        let w = Window {
            since: Some("2024-05-01 10:00:00.5".into()),
            max: None,
        };
        assert_eq!(
            frappe
                .apply(Request::get("https://erp.test/api/resource/Item"), &w)
                .url(),
            "https://erp.test/api/resource/Item?filters=%5B%5B%22modified%22%2C%22%3E%3D%22%2C%222024-05-01%2009%3A58%3A00.5%22%5D%5D"
        );
        let mut ids = Window::default();
        for v in ["9", "10", "2"] {
            ids.observe(v);
        }
        assert_eq!(ids.max.as_deref(), Some("10"), "numbers compare as numbers");
        assert_eq!(
            Incremental::new("/meta/seq", "after")
                .value_in(&json!({"meta": {"seq": 4}}))
                .as_deref(),
            Some("4")
        );
    }
}

//! Requests to the Graph API and what its answers mean: the token as
//! `Authorization: Bearer` (filled in by the host), Meta's error object in
//! its own words, and the usage headers that say how close the app, the
//! business and the ad account are to being throttled.
//!
//! Meta answers most refusals with HTTP 400 whatever they mean, so the
//! error's `code` (and `error_subcode`) decide, not the status:
//! <https://developers.facebook.com/docs/graph-api/guides/error-handling>,
//! <https://developers.facebook.com/docs/graph-api/overview/rate-limiting>,
//! <https://developers.facebook.com/documentation/ads-commerce/marketing-api/insights/error-codes>.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// The system user's (or a long-lived user's) access token.
pub const TOKEN: Secret = Secret::new("access_token");

/// Wait after a throttled answer that names no time (Meta: "wait a bit").
const DEFAULT_THROTTLE_WAIT: u32 = 60;
/// Never wait longer than this on one answer's word; the host turns a long
/// wait into a retried run instead of holding a worker.
const MAX_WAIT: u32 = 3600;

/// `GET {base}/{version}/{path}`.
pub fn get(config: &Config, path: &str) -> Request {
    Request::get(config.url(path))
        .bearer(&TOKEN)
        .header("Accept", "application/json")
}

/// `POST {base}/{version}/{path}` with a form body, as Meta's SDKs send.
pub fn post(config: &Config, path: &str, form: &[(&str, &str)]) -> Request {
    Request::post(config.url(path))
        .bearer(&TOKEN)
        .header("Accept", "application/json")
        .form(form)
}

/// A served answer: its body and what the usage headers said.
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub usage: Usage,
}

/// Meta's error object (`{"error": {...}}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphError {
    pub status: u16,
    pub message: String,
    pub kind: String,
    pub code: i64,
    pub subcode: Option<i64>,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    pub trace: Option<String>,
    pub transient: bool,
}

impl GraphError {
    fn parse(status: u16, body: &Value) -> Option<Self> {
        let e = body.get("error")?.as_object()?;
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            status,
            message: text("message").unwrap_or_default(),
            kind: text("type").unwrap_or_default(),
            code: e.get("code").and_then(number).map_or(0, |n| n as i64),
            subcode: e.get("error_subcode").and_then(number).map(|n| n as i64),
            user_title: text("error_user_title").filter(|t| !t.is_empty()),
            user_msg: text("error_user_msg").filter(|t| !t.is_empty()),
            trace: text("fbtrace_id"),
            transient: e.get("is_transient").and_then(Value::as_bool) == Some(true),
        })
    }

    /// The message with its codes, as a person reports it to Meta.
    pub fn describe(&self) -> String {
        let mut text = format!("Meta: {} (code {}", self.message, self.code);
        if let Some(s) = self.subcode {
            text.push_str(&format!(", subcode {s}"));
        }
        if let Some(t) = &self.trace {
            text.push_str(&format!(", fbtrace_id {t}"));
        }
        text.push(')');
        if let Some(m) = &self.user_msg {
            let title = self.user_title.as_deref().unwrap_or("details");
            text.push_str(&format!("; {title}: {m}"));
        }
        text
    }

    /// Whether Meta says "too many calls": the app (4), the user (17),
    /// the ad account (613) or a business use case (80000 to 80014).
    pub fn throttled(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 613 | 80_000..=80_014)
            || matches!(
                self.subcode,
                Some(2_446_079 | 1_487_742 | 1_504_022 | 1_504_039)
            )
    }

    /// The object asked for does not exist (or the token cannot see it).
    pub fn missing(&self) -> bool {
        self.code == 100 && self.subcode == Some(33)
    }
}

/// A number, or a number written as text.
fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Send `request`; Meta's refusal comes back as the error it means.
pub fn send(request: Request) -> Result<Answer> {
    match try_send(request)? {
        Ok(answer) => Ok(answer),
        Err((e, usage)) => Err(refused(&e, &usage)),
    }
}

/// [`error_of`], with a throttle's numbers in the run's log.
pub fn refused(e: &GraphError, usage: &Usage) -> Error {
    let error = error_of(e, usage);
    if let Error::RateLimited(wait) = error {
        wharf_sdk::log::warn(format!(
            "{}; waiting {wait} s ({})",
            e.describe(),
            usage.explain()
        ));
    }
    error
}

/// Send `request`; a refusal in Meta's words, for callers that handle
/// some of them (an expired report run is made again).
pub fn try_send(request: Request) -> Result<Result<Answer, (GraphError, Usage)>> {
    // Once: Meta says how long to wait in headers of its own, which
    // `send` would not read.
    let response = request.send_once()?;
    let usage = Usage::of(&response);
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if response.status < 400 && body.get("error").is_none() {
        if body.is_null() {
            return Err(Error::Transient(format!(
                "Meta answered HTTP {} with a body that is not JSON",
                response.status
            )));
        }
        return Ok(Ok(Answer { body, usage }));
    }
    match GraphError::parse(response.status, &body) {
        Some(e) => Ok(Err((e, usage))),
        // Not Graph's error object (a proxy's page): by its status.
        None => Err(ErrorMap::new()
            .check(response)
            .err()
            .unwrap_or_else(|| Error::fatal("Meta answered with an error without details"))),
    }
}

/// The error a refusal means for the host.
pub fn error_of(e: &GraphError, usage: &Usage) -> Error {
    let said = e.describe();
    if e.throttled() {
        return Error::RateLimited(usage.throttled_wait());
    }
    match (e.code, e.subcode) {
        // The token expired, was revoked or is not one: only a person can
        // make a new one.
        (190 | 102 | 104 | 2500, _) => Error::Auth(format!(
            "{said}. Make a new access token (a system user's, with ads_read) and set the `access_token` secret"
        )),
        (10 | 200..=299, _) => Error::Auth(format!(
            "{said}. The token needs the ads_read permission and access to the ad account"
        )),
        (2635, _) => Error::Config(format!(
            "{said}. Set `api_version` to a version Meta still serves"
        )),
        (1, Some(99)) | (2, Some(1_504_041 | 1_504_042)) => Error::Config(said),
        (100, Some(1_504_018)) => Error::Transient(said),
        (100, Some(33)) => Error::Config(format!(
            "{said}. Check the ad account ids: the token's user must have a role on each"
        )),
        (100, _) => Error::Config(said),
        (-3, _) => Error::Fatal(format!(
            "{said}. The report is too large: lower `days_per_report` or drop breakdowns"
        )),
        (1 | 2 | -1 | -2 | 341, _) => Error::Transient(said),
        _ if e.transient || e.status >= 500 => Error::Transient(said),
        _ => Error::Fatal(said),
    }
}

/// What Meta's usage headers say: `X-Business-Use-Case-Usage` (per
/// business or ad account id, a list of use cases with `call_count`,
/// `total_cputime`, `total_time` in percent and
/// `estimated_time_to_regain_access` in minutes), `X-Ad-Account-Usage`
/// (`acc_id_util_pct`, `reset_time_duration` in seconds), `X-App-Usage`
/// (percentages) and, on insights, `X-FB-Ads-Insights-Throttle`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// The highest percentage any header reports.
    pub pct: f64,
    /// Which header (and use case) reported it.
    pub what: String,
    /// Seconds until a throttled business use case is served again.
    pub regain_secs: u32,
    /// The ad account's own percentage and seconds until it resets.
    pub account_pct: f64,
    pub reset_secs: u32,
}

impl Usage {
    pub fn of(response: &Response) -> Self {
        let mut u = Self::default();
        let header = |name: &str| {
            response
                .header(name)
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
        };
        if let Some(Value::Object(ids)) = header("x-business-use-case-usage") {
            for (id, cases) in ids {
                for case in cases.as_array().into_iter().flatten() {
                    let kind = case["type"].as_str().unwrap_or("use case");
                    for k in ["call_count", "total_cputime", "total_time"] {
                        u.note(number(&case[k]), || format!("{kind} of {id} ({k})"));
                    }
                    let minutes = number(&case["estimated_time_to_regain_access"]).unwrap_or(0.0);
                    let secs = (minutes.max(0.0) * 60.0).ceil().min(f64::from(MAX_WAIT)) as u32;
                    u.regain_secs = u.regain_secs.max(secs);
                }
            }
        }
        if let Some(account) = header("x-ad-account-usage") {
            let pct = number(&account["acc_id_util_pct"]);
            u.account_pct = pct.unwrap_or(0.0);
            u.note(pct, || "the ad account".into());
            let reset = number(&account["reset_time_duration"]).unwrap_or(0.0);
            u.reset_secs = reset.max(0.0).ceil().min(f64::from(MAX_WAIT)) as u32;
        }
        if let Some(app) = header("x-app-usage") {
            for k in ["call_count", "total_cputime", "total_time"] {
                u.note(number(&app[k]), || format!("the app ({k})"));
            }
        }
        if let Some(t) = header("x-fb-ads-insights-throttle") {
            u.note(number(&t["app_id_util_pct"]), || {
                "insights of the app".into()
            });
            let pct = number(&t["acc_id_util_pct"]);
            u.account_pct = u.account_pct.max(pct.unwrap_or(0.0));
            u.note(pct, || "insights of the ad account".into());
        }
        u
    }

    fn note(&mut self, pct: Option<f64>, what: impl FnOnce() -> String) {
        if let Some(p) = pct.filter(|p| p.is_finite() && *p > self.pct) {
            self.pct = p;
            self.what = what();
        }
    }

    /// After a throttled answer: Meta's estimate for the business use
    /// case, or the ad account's reset, or a minute when it names neither.
    pub fn throttled_wait(&self) -> u32 {
        match self.regain_secs.max(self.reset_secs) {
            0 => DEFAULT_THROTTLE_WAIT,
            w => w.min(MAX_WAIT),
        }
    }

    /// After a served answer whose usage is at `threshold` percent or
    /// more: how long to pause before the next call, so the sync slows
    /// down before Meta blocks it (and, with it, every other app of the
    /// business).
    pub fn pause(&self, threshold: f64) -> Option<u32> {
        if self.pct < threshold {
            return None;
        }
        let mut wait = self.regain_secs;
        if self.account_pct >= threshold {
            wait = wait.max(self.reset_secs);
        }
        let wait = if wait == 0 {
            DEFAULT_THROTTLE_WAIT
        } else {
            wait
        };
        Some(wait.min(MAX_WAIT))
    }

    /// [`pause`](Self::pause), said in the run's log.
    pub fn pace(&self, threshold: f64) -> Option<u32> {
        let wait = self.pause(threshold)?;
        wharf_sdk::log::warn(format!(
            "Meta's usage is at {:.0}% ({}): pausing {wait} s before the next call",
            self.pct, self.what
        ));
        Some(wait)
    }

    /// The numbers behind a wait, for the log.
    pub fn explain(&self) -> String {
        format!(
            "usage {:.0}% ({}), estimated_time_to_regain_access {} min, ad account resets in {} s",
            self.pct,
            if self.what.is_empty() {
                "no usage header"
            } else {
                &self.what
            },
            self.regain_secs / 60,
            self.reset_secs
        )
    }
}

/// The next page of a Graph list: `paging.cursors.after`, while Meta says
/// there is a `next` page.
pub fn after(body: &Value) -> Option<String> {
    body["paging"]["next"].as_str()?;
    body["paging"]["cursors"]["after"]
        .as_str()
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// The `data` of a Graph list.
pub fn data(body: &mut Value) -> Vec<Value> {
    match body.get_mut("data").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Response::new(200, headers, Vec::new())
    }

    #[test]
    fn usage_headers_as_meta_documents_them() {
        let buc = r#"{"1234567890": [{"type": "ads_insights", "call_count": 28, "total_cputime": 97, "total_time": 25, "estimated_time_to_regain_access": 19, "ads_api_access_tier": "standard_access"}],
            "66782684": [{"type": "ads_management", "call_count": 95, "total_cputime": 20, "total_time": 20, "estimated_time_to_regain_access": 0}]}"#;
        let account = r#"{"acc_id_util_pct": 9.67, "reset_time_duration": 100, "ads_api_access_tier": "standard_access"}"#;
        let u = Usage::of(&response(&[
            ("x-business-use-case-usage", buc),
            ("X-Ad-Account-Usage", account),
            (
                "x-app-usage",
                r#"{"call_count": 5, "total_time": 3, "total_cputime": 1}"#,
            ),
        ]));
        assert_eq!(u.pct, 97.0);
        assert_eq!(u.what, "ads_insights of 1234567890 (total_cputime)");
        assert_eq!(u.regain_secs, 19 * 60, "minutes");
        assert_eq!((u.account_pct, u.reset_secs), (9.67, 100));
        assert_eq!(u.throttled_wait(), 19 * 60);
        assert_eq!(u.pause(90.0), Some(19 * 60));
        assert_eq!(u.pause(98.0), None);

        let quiet = Usage::of(&response(&[]));
        assert_eq!(quiet.throttled_wait(), 60, "no estimate: a minute");
        let account_only = Usage::of(&response(&[(
            "x-ad-account-usage",
            r#"{"acc_id_util_pct": 100, "reset_time_duration": 2}"#,
        )]));
        assert_eq!(account_only.throttled_wait(), 2);
        assert_eq!(account_only.pause(90.0), Some(2));
        let garbled = Usage::of(&response(&[("x-app-usage", "not json")]));
        assert_eq!(garbled, Usage::default());
    }

    #[test]
    fn graph_errors_by_code() {
        let error = |body: Value| GraphError::parse(400, &body).unwrap();
        let usage = Usage {
            reset_secs: 2,
            ..Usage::default()
        };
        let throttled = error(
            json!({"error": {"message": "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
            "type": "OAuthException", "code": 80004, "error_subcode": 2446079, "fbtrace_id": "AFm-w0VSqFxoRyuKXJgg48H"}}),
        );
        assert!(throttled.throttled());
        assert_eq!(error_of(&throttled, &usage), Error::RateLimited(2));
        let expired = error(
            json!({"error": {"message": "Message describing the error", "type": "OAuthException",
            "code": 190, "error_subcode": 460, "error_user_title": "A title", "error_user_msg": "A message", "fbtrace_id": "EJplcsCHuLu"}}),
        );
        let Error::Auth(m) = error_of(&expired, &usage) else {
            panic!("190 is an auth error");
        };
        assert!(
            m.starts_with("Meta: Message describing the error (code 190, subcode 460, fbtrace_id EJplcsCHuLu); A title: A message."),
            "{m}"
        );
        let field = error(
            json!({"error": {"message": "(#100) Tried accessing nonexisting field (spendd)", "code": 100}}),
        );
        assert!(matches!(error_of(&field, &usage), Error::Config(_)));
        let flaky = error(
            json!({"error": {"message": "Please retry", "code": 2, "error_subcode": 1504043}}),
        );
        assert!(matches!(error_of(&flaky, &usage), Error::Transient(_)));
        let missing = error(
            json!({"error": {"message": "Unsupported get request.", "code": 100, "error_subcode": 33}}),
        );
        assert!(missing.missing());
        assert!(GraphError::parse(400, &json!({"data": []})).is_none());
    }

    #[test]
    fn paging_by_cursors_while_there_is_a_next_page() {
        let more = json!({"data": [], "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}, "next": "https://graph.facebook.com/v26.0/x?after=MjQZD"}});
        assert_eq!(after(&more).as_deref(), Some("MjQZD"));
        let last =
            json!({"data": [], "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}});
        assert_eq!(after(&last), None);
    }
}

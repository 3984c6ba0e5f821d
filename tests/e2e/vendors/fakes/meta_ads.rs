//! A fake Meta Marketing API (Graph API, `/v{N}.0/…`), from Meta's
//! documentation (details and sources in `docs/vendors/ads.md` §1):
//!
//! - **Tokens** (<https://developers.facebook.com/docs/graph-api/guides/error-handling>):
//!   `Authorization: Bearer` (an `access_token` parameter works too, and is
//!   a violation here: a token in a URL ends up in logs). None: code 104
//!   (2500 on `/me`); unknown: 190 "Invalid OAuth access token"; revoked
//!   ([`Meta::revoke`]): 190, subcode 460. Errors are HTTP 400 with
//!   `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
//! - **Versions** (<https://developers.facebook.com/docs/graph-api/changelog/versions/>):
//!   [`VERSIONS`]; older ones answer code 2635.
//! - **Token check**: `GET /me`, `/me/permissions` (`ads_read` granted),
//!   `/me/adaccounts`
//!   (<https://developers.facebook.com/docs/marketing-api/reference/user/adaccounts/>).
//! - **Objects** (<https://developers.facebook.com/docs/marketing-api/reference/ad-account/campaigns/>,
//!   `…/adsets/`, `…/ads/`): only the `fields` asked (an unknown one: code
//!   100 "Tried accessing nonexisting field"), `effective_status` (values
//!   of the object's kind; absent: all but `ARCHIVED` and `DELETED`),
//!   `filtering` on `updated_time` (`GREATER_THAN`, Unix seconds), cursor
//!   paging (`limit`, default 25; `paging.cursors.after`, `paging.next`)
//!   as <https://developers.facebook.com/docs/graph-api/results> shows.
//! - **Async insights** (<https://developers.facebook.com/docs/marketing-api/insights/best-practices>,
//!   <https://developers.facebook.com/docs/marketing-api/reference/ad-report-run/>):
//!   `POST /act_{id}/insights` checks `level`, `fields`, `time_range`
//!   (37 months back at most: code 3018), `time_increment=1` and
//!   `action_attribution_windows` (7d_view and 28d_view are gone since 12
//!   January 2026) and `filtering` on `<level>.effective_status` (`IN`
//!   the level's statuses: deleted objects, [`Meta::delete_ad`], are
//!   reported only when it asks for `DELETED`, as
//!   <https://developers.facebook.com/docs/marketing-api/best-practices/manage-your-ad-object-status>
//!   says) and answers `{"report_run_id"}`; `GET /{id}` says `Job
//!   Running` until [`Meta::polls_to_complete`] polls, then `Job Completed`
//!   and 100; [`Meta::fail_next_runs`] say `Job Failed` with v25's
//!   `error_code`/`error_message` (code -2, subcode 2490547, as
//!   <https://developers.facebook.com/documentation/ads-commerce/marketing-api/insights/error-codes>
//!   lists). `GET /{id}/insights` pages the rows, shaped as the insights
//!   page's example (metrics as strings, `date_start`/`date_stop`).
//! - **Usage** (<https://developers.facebook.com/docs/graph-api/overview/rate-limiting>):
//!   `x-app-usage` on every answer; `x-business-use-case-usage` and
//!   `x-ad-account-usage` on ad account calls, `x-fb-ads-insights-throttle`
//!   on insights. [`Meta::throttle_next`] answers code 80004, subcode
//!   2446079 (the message as Meta sends it, per airbytehq/airbyte#8773),
//!   with `estimated_time_to_regain_access` and `reset_time_duration`; an
//!   ad account call before that wait is over is a violation.

mod data;
mod graph;
mod reports;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use data::{Account, base};
use graph::select;

use crate::support::Upstream;

/// A system user's token (Business Settings → System users → Generate).
pub const ACCESS_TOKEN: &str = "EAAJZBxE7pY0cBO3yZCtqKgWqKZAkV8J2m4ZBkFZAZCcD7vNxq0T4wZDZD";
pub const SYSTEM_USER_ID: &str = "122101234567890123";
pub const VERSIONS: [&str; 4] = ["v23.0", "v24.0", "v25.0", "v26.0"];
const CAMPAIGN_STATUSES: &str = "ACTIVE PAUSED DELETED ARCHIVED IN_PROCESS WITH_ISSUES";
const ADSET_STATUSES: &str =
    "ACTIVE PAUSED DELETED CAMPAIGN_PAUSED ARCHIVED IN_PROCESS WITH_ISSUES";
const AD_STATUSES: &str = "ACTIVE PAUSED DELETED PENDING_REVIEW DISAPPROVED PREAPPROVED \
    PENDING_BILLING_INFO CAMPAIGN_PAUSED ARCHIVED ADSET_PAUSED IN_PROCESS WITH_ISSUES";

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Without the version.
    pub path: String,
    pub version: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub at: Instant,
    /// The token came as `Authorization: Bearer`.
    pub bearer: bool,
}

/// An async report run: what was asked, and its rows.
pub struct ReportRun {
    pub account: String,
    pub params: BTreeMap<String, String>,
    pub polls: u32,
    pub failed: bool,
    rows: Vec<Value>,
}

pub struct Meta {
    pub accounts: Vec<Account>,
    /// Tokens the API takes; [`Meta::revoke`] moves one to `revoked`.
    pub tokens: Vec<String>,
    pub revoked: Vec<String>,
    /// Polls a report run answers before `Job Completed` (the last one).
    pub polls_to_complete: u32,
    /// The next this many report runs fail.
    pub fail_next_runs: u32,
    /// Answer the next this many ad account calls code 80004.
    pub throttle_next: u32,
    /// What a throttled answer says: minutes and seconds to wait.
    pub regain_minutes: u32,
    pub reset_secs: u32,
    /// The percentage every usage header reports.
    pub usage_pct: u32,
    /// (day, ad id) → spend in cents, replacing the drawn one.
    pub revised: BTreeMap<(String, String), i64>,
    pub runs: BTreeMap<String, ReportRun>,
    /// The parameters of every report run asked for, oldest first.
    pub report_requests: Vec<BTreeMap<String, String>>,
    pub seen: Vec<Seen>,
    /// `code` or `code/subcode` of every refusal.
    pub refused: Vec<String>,
    /// Requests Meta's documentation does not allow, and what the fake
    /// does not model.
    pub violations: Vec<String>,
    pub throttled_at: Vec<Instant>,
    origin: String,
    counter: u64,
}

pub type Shared = Arc<Mutex<Meta>>;

fn lock(s: &Shared) -> MutexGuard<'_, Meta> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Meta's error: code, subcode, message.
pub struct Refusal(i64, Option<i64>, String);

fn refuse(code: i64, subcode: Option<i64>, message: impl Into<String>) -> Refusal {
    Refusal(code, subcode, message.into())
}

fn missing(id: &str) -> Refusal {
    let m = format!(
        "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    );
    refuse(100, Some(33), m)
}

type Answer = Result<Value, Refusal>;
type Params = [(String, String)];

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn today() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(86_400_000)
}

fn day_of(text: &str) -> Option<i64> {
    let secs = wharf_sdk::time::from_rfc3339_utc(&format!("{text}T00:00:00Z"))?;
    (wharf_sdk::time::date(secs) == text).then_some(secs.div_euclid(86_400))
}

impl Meta {
    /// The demo business: two ad accounts, a token that works, runs done
    /// on their second poll.
    pub fn demo() -> Meta {
        Meta {
            accounts: data::demo(),
            tokens: vec![ACCESS_TOKEN.into()],
            revoked: Vec::new(),
            polls_to_complete: 2,
            fail_next_runs: 0,
            throttle_next: 0,
            regain_minutes: 0,
            reset_secs: 2,
            usage_pct: 7,
            revised: BTreeMap::new(),
            runs: BTreeMap::new(),
            report_requests: Vec::new(),
            seen: Vec::new(),
            refused: Vec::new(),
            violations: Vec::new(),
            throttled_at: Vec::new(),
            origin: String::new(),
            counter: 0,
        }
    }

    pub fn revoke(&mut self, token: &str) {
        self.tokens.retain(|t| t != token);
        self.revoked.push(token.into());
    }

    /// Attribution revised an ad's day: its spend is now `cents`.
    pub fn revise(&mut self, day: &str, ad: &str, cents: i64) {
        self.revised.insert((day.into(), ad.into()), cents);
    }

    /// The spend of `ad` on `day`, as a number.
    pub fn spend(&self, day: &str, ad: &str) -> f64 {
        let key = (day.to_string(), ad.to_string());
        let cents = self.revised.get(&key).copied();
        cents.unwrap_or_else(|| base(day, ad).spend_cents) as f64 / 100.0
    }

    /// Rename a campaign now (its `updated_time` moves).
    pub fn rename_campaign(&mut self, account: usize, index: usize, name: &str) {
        let a = &mut self.accounts[account];
        let offset = a.fields["timezone_offset_hours_utc"].as_i64().unwrap_or(0);
        let now = wharf_sdk::time::now_ms().div_euclid(1000);
        let campaign = &mut a.campaigns[index];
        campaign["name"] = json!(name);
        campaign["updated_time"] = json!(data::stamp(now, offset));
    }

    /// Delete an ad now (`DELETED`, its `updated_time` moves); its id.
    pub fn delete_ad(&mut self, account: usize, index: usize) -> String {
        let a = &mut self.accounts[account];
        let offset = a.fields["timezone_offset_hours_utc"].as_i64().unwrap_or(0);
        let now = wharf_sdk::time::now_ms().div_euclid(1000);
        let ad = &mut a.ads[index];
        for field in ["status", "configured_status", "effective_status"] {
            ad[field] = json!("DELETED");
        }
        ad["updated_time"] = json!(data::stamp(now, offset));
        ad["id"].as_str().unwrap_or_default().to_string()
    }

    /// How long a throttled answer asks to wait.
    pub fn throttle_wait(&self) -> Duration {
        let secs = u64::from(self.regain_minutes) * 60;
        Duration::from_secs(secs.max(u64::from(self.reset_secs)))
    }

    /// The `time_range` of each report run asked for: (since, until).
    pub fn time_ranges(&self) -> Vec<(String, String)> {
        let range = |p: &BTreeMap<String, String>| {
            let r: Value = serde_json::from_str(p.get("time_range")?).ok()?;
            Some((
                r["since"].as_str()?.to_string(),
                r["until"].as_str()?.to_string(),
            ))
        };
        self.report_requests.iter().filter_map(range).collect()
    }

    fn trace(&mut self) -> String {
        self.counter += 1;
        format!("A{:x}Gq7Zk-fQ", 0x5eed_0000 + self.counter)
    }
}

pub async fn start(meta: Meta) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(meta));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    let up = Upstream::start(app).await;
    lock(&shared).origin = up.origin();
    (up, shared)
}

async fn serve(State(s): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let full = request.uri().path().to_string();
    let raw = request.uri().query().unwrap_or_default().to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await;
    let body = body.unwrap_or_default();
    let mut params: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    if method == "POST" {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        params.extend(form);
    }
    let rest = full.trim_start_matches('/');
    let (version, path) = rest.split_once('/').unwrap_or((rest, ""));
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut f = lock(&s);
    let scoped =
        path.starts_with("act_") || f.runs.contains_key(path.split('/').next().unwrap_or(""));
    let mut throttled = false;
    let answer = f.authorize(version, path, bearer.as_deref(), &params).and_then(|()| {
        if scoped && f.throttle_next > 0 {
            f.throttle_next -= 1;
            f.throttled_at.push(Instant::now());
            throttled = true;
            let m = "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.";
            return Err(refuse(80_004, Some(2_446_079), m));
        }
        if scoped && let Some(last) = f.throttled_at.last() {
            let (waited, wait) = (last.elapsed(), f.throttle_wait());
            if waited < wait {
                let v = format!("{method} {path} {waited:?} after a throttle that asked for {wait:?}");
                f.violations.push(v);
            }
        }
        f.route(&method, version, path, &params)
    });
    let insights = path.ends_with("insights");
    let mut out = f.usage(scoped, insights, throttled);
    let (status, value) = match answer {
        Ok(v) => (200, v),
        Err(Refusal(code, subcode, message)) => {
            let kind = if code == 100 && subcode == Some(33) {
                "GraphMethodException"
            } else {
                "OAuthException"
            };
            let mut e =
                json!({"message": message, "type": kind, "code": code, "fbtrace_id": f.trace()});
            if let Some(s) = subcode {
                e["error_subcode"] = json!(s);
            }
            if code == 190 {
                let challenge =
                    format!("OAuth \"Facebook Platform\" \"invalid_token\" \"{message}\"");
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    out.insert("www-authenticate", v);
                }
            }
            let code_text = subcode.map_or(code.to_string(), |s| format!("{code}/{s}"));
            f.refused.push(code_text);
            (400, json!({ "error": e }))
        }
    };
    let seen = Seen {
        method,
        path: path.to_string(),
        version: version.to_string(),
        params,
        status,
        at: Instant::now(),
        bearer: bearer.is_some(),
    };
    f.seen.push(seen);
    out.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, out, value.to_string()).into_response()
}

impl Meta {
    /// The version and the token.
    fn authorize(
        &mut self,
        version: &str,
        path: &str,
        bearer: Option<&str>,
        p: &Params,
    ) -> Result<(), Refusal> {
        if !VERSIONS.contains(&version) {
            self.violations
                .push(format!("version {version} (of {path})"));
            let latest = VERSIONS[VERSIONS.len() - 1];
            let m = format!(
                "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: {latest}."
            );
            return Err(refuse(2635, None, m));
        }
        if param(p, "access_token").is_some() {
            self.violations
                .push(format!("{path}: the token in the query string or body"));
        }
        let Some(token) = bearer.or_else(|| param(p, "access_token")) else {
            if path.starts_with("me") {
                let m = "An active access token must be used to query information about the current user.";
                return Err(refuse(2500, None, m));
            }
            return Err(refuse(
                104,
                None,
                "An access token is required to request this resource.",
            ));
        };
        if self.revoked.iter().any(|t| t == token) {
            let m = "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.";
            return Err(refuse(190, Some(460), m));
        }
        if !self.tokens.iter().any(|t| t == token) {
            return Err(refuse(
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            ));
        }
        Ok(())
    }

    fn route(&mut self, method: &str, version: &str, path: &str, p: &Params) -> Answer {
        let segments: Vec<&str> = path.split('/').collect();
        let account = |id: &str| self.accounts.iter().position(|a| a.act() == id);
        // Slice patterns bind `&&str`; each arm derefs once.
        match (method, segments.as_slice()) {
            ("GET", ["me"]) => {
                let me = json!({"id": SYSTEM_USER_ID, "name": "Wharf Reporting"});
                select(&me, param(p, "fields"), "User")
            }
            ("GET", ["me", "permissions"]) => Ok(json!({"data": [
                {"permission": "ads_read", "status": "granted"},
                {"permission": "read_insights", "status": "granted"},
                {"permission": "public_profile", "status": "granted"}]})),
            ("GET", ["me", "adaccounts"]) => {
                let fields = param(p, "fields").unwrap_or("account_id,id");
                let mut items = Vec::new();
                for a in &self.accounts {
                    items.push(select(
                        &Value::Object(a.fields.clone()),
                        Some(fields),
                        "AdAccount",
                    )?);
                }
                self.list(version, path, items, p)
            }
            ("GET", [id]) if id.starts_with("act_") => match account(id) {
                Some(i) => select(
                    &Value::Object(self.accounts[i].fields.clone()),
                    param(p, "fields"),
                    "AdAccount",
                ),
                None => Err(missing(id)),
            },
            ("GET", [id, edge @ ("campaigns" | "adsets" | "ads")]) if id.starts_with("act_") => {
                let i = account(id).ok_or_else(|| missing(id))?;
                self.objects(version, i, edge, path, p)
            }
            ("POST", [id, "insights"]) if id.starts_with("act_") => {
                let i = account(id).ok_or_else(|| missing(id))?;
                self.create_run(i, p)
            }
            ("GET", [id]) if self.runs.contains_key(*id) => self.poll(version, id, p),
            ("GET", [id, "insights"]) if self.runs.contains_key(*id) => {
                let run = &self.runs[*id];
                if run.failed || run.polls < self.polls_to_complete {
                    self.violations
                        .push(format!("rows of report run {id} read before it completed"));
                    return Err(refuse(100, None, "(#100) The report is not ready yet"));
                }
                let rows = run.rows.clone();
                self.list(version, path, rows, p)
            }
            _ => {
                self.violations
                    .push(format!("{method} {path}: not modelled"));
                Err(missing(segments[0]))
            }
        }
    }

    /// Campaigns, ad sets or ads of account `i`.
    fn objects(&mut self, version: &str, i: usize, edge: &str, path: &str, p: &Params) -> Answer {
        let (node, prefix, valid) = match edge {
            "campaigns" => ("Campaign", "campaign", CAMPAIGN_STATUSES),
            "adsets" => ("AdSet", "adset", ADSET_STATUSES),
            _ => ("Ad", "ad", AD_STATUSES),
        };
        let statuses: Vec<String> = match param(p, "effective_status") {
            Some(list) => serde_json::from_str(list).unwrap_or_default(),
            None => valid
                .split(' ')
                .filter(|s| !matches!(*s, "ARCHIVED" | "DELETED"))
                .map(String::from)
                .collect(),
        };
        if let Some(bad) = statuses.iter().find(|s| !valid.split(' ').any(|v| v == *s)) {
            self.violations
                .push(format!("{path}: effective_status {bad}"));
            let m = format!(
                "(#100) param effective_status must be one of {{{}}}",
                valid.replace(' ', ", ")
            );
            return Err(refuse(100, None, m));
        }
        let mut after: Option<i64> = None;
        let filters: Vec<Value> = match param(p, "filtering") {
            Some(f) => serde_json::from_str(f).unwrap_or_else(|_| vec![json!(f)]),
            None => Vec::new(),
        };
        for filter in filters {
            let field = filter["field"].as_str().unwrap_or_default();
            let on_time = field == "updated_time" || field == format!("{prefix}.updated_time");
            match (
                on_time,
                filter["operator"].as_str(),
                filter["value"].as_i64(),
            ) {
                (true, Some("GREATER_THAN"), Some(v)) => after = Some(v),
                _ => {
                    self.violations.push(format!("{path}: filtering {filter}"));
                    return Err(refuse(
                        100,
                        None,
                        format!("(#100) Filtering field {field} is invalid"),
                    ));
                }
            }
        }
        let list = match edge {
            "campaigns" => &self.accounts[i].campaigns,
            "adsets" => &self.accounts[i].adsets,
            _ => &self.accounts[i].ads,
        };
        let mut items = Vec::new();
        for o in list {
            let status = o["effective_status"].as_str().unwrap_or_default();
            let updated = o["updated_time"]
                .as_str()
                .and_then(data::unix_of)
                .unwrap_or(0);
            if statuses.iter().any(|s| s == status) && after.is_none_or(|a| updated > a) {
                items.push(select(o, param(p, "fields"), node)?);
            }
        }
        self.list(version, path, items, p)
    }
}

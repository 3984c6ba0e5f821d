//! A fake TikTok API for Business (Marketing API v1.3) on one loopback
//! origin, from TikTok's API reference (`docs/vendors/ads.md` §2; doc ids
//! are those of <https://business-api.tiktok.com/portal/docs?id=…>):
//!
//! - **Envelope**: every answer is HTTP 200 with `{"code", "message",
//!   "request_id", "data"}`; `code` 0 is success. Refusals answered:
//!   `40100` "App … reaches the QPS limit 10, current QPS is 11." (over
//!   [`TikTok::qps_limit`] calls in one wall-clock second, or forced by
//!   [`TikTok::throttle_next`]), `40105` "Access token is incorrect or has
//!   been revoked." (unknown, revoked or `Bearer `-prefixed token), `40104`
//!   (no `Access-Token`), `40001` (an advertiser the app is not authorized
//!   for), `40002` (a parameter TikTok refuses: "max time span is 30 days
//!   when use stat_time_day", an unknown metric, `page_size` over 1,000).
//!   Codes and messages as integrations record them (Airbyte's
//!   source-tiktok-marketing tests, TikTok's Python SDK docs).
//! - **Auth** (doc 1738373164380162; `AuthenticationApi.md` and
//!   `Oauth2AccessTokenBody.md` of <https://github.com/tiktok/tiktok-business-api-sdk>):
//!   `GET /portal/auth?app_id&state&redirect_uri` redirects with
//!   `auth_code` and `state`; `POST /open_api/v1.3/oauth2/access_token/`
//!   takes JSON `{app_id, secret, auth_code}` (a code is good once, for an
//!   hour) and answers `data.access_token`, `advertiser_ids`, `scope`.
//!   Every other call needs the token in `Access-Token`.
//! - **Reports**: `GET /report/integrated/get/` (doc 1740302848100353):
//!   `report_type` BASIC, `data_level` AUCTION_*, `dimensions`
//!   `[<level>_id, "stat_time_day"]`, `metrics`, dates ≤ 30 days apart,
//!   `filtering` by status, `page`/`page_size` with `page_info`; rows as
//!   `{"dimensions": {...}, "metrics": {...}}`, numbers as strings.
//!   Over 20,000 ids TikTok truncates the answer and says so in the
//!   `X-Tt-Ads-Throttle` header ([`TikTok::truncate_reports`]).
//!   Async tasks: `POST /report/task/create/` (doc 1740302766489602; one a
//!   second), `GET /report/task/check/` (doc 1740302781443073: QUEUING,
//!   PROCESSING, then SUCCESS after [`TikTok::task_polls`] checks, or
//!   FAILED with a `message` when [`TikTok::fail_tasks`]), `GET
//!   /report/task/download/` (doc 1740302808815618: the CSV stream for
//!   `CSV_STRING`, titles translated unless
//!   `enable_report_title_translation` is false), `POST
//!   /report/task/cancel/` (doc 1803615367145537: JSON `advertiser_id` and
//!   `task_id` of a QUEUING or PROCESSING task; `data.status` CANCELED,
//!   an error for a task past that).
//! - **Lists**: `/campaign/get/` (doc 1739315828649986), `/adgroup/get/`,
//!   `/ad/get/` by `page`/`page_size`, newest id first, deleted objects only
//!   with the `*_STATUS_ALL` secondary status filter; `/advertiser/info/`
//!   by a JSON array of `advertiser_ids`. Data in `tiktok_ads/data.rs`.
//! - Parameters the fake does not model, or TikTok would not take, are
//!   recorded in [`TikTok::violations`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::Upstream;

mod data;
mod reports;
pub use data::{ADVERTISERS, QUOTED_NAME, Row, Stats, day_text, today};
use data::{Advertiser, id_dimension, now_text, rows};

pub const APP_ID: &str = "7312345678901234567";
pub const APP_SECRET: &str = "8c1f3b2e9d7a4c6e5f0a1b2c3d4e5f6a7b8c9d0e";
const PREFIX: &str = "/open_api/v1.3";
/// How long an `auth_code` is good for.
const CODE_LIFETIME_SECS: u64 = 3600;

/// One API call as it came and was answered.
#[derive(Clone, Debug)]
pub struct Call {
    /// The path after `/open_api/v1.3`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub at: Instant,
    /// The envelope's code.
    pub code: i64,
}

/// A report task.
#[derive(Clone, Debug)]
pub struct Task {
    pub advertiser: String,
    pub body: Value,
    pub checks: u32,
    /// Ends FAILED instead of SUCCESS.
    pub fails: bool,
    /// Canceled by `/report/task/cancel/`.
    pub canceled: bool,
}

pub struct TikTok {
    advertisers: Vec<Advertiser>,
    /// Ad-level numbers by (ad id, day).
    stats: BTreeMap<(String, i64), Stats>,
    /// Access tokens that work.
    pub tokens: Vec<String>,
    /// Every token issued, for leak checks.
    pub issued: Vec<String>,
    /// Answer the next this many calls `40100`.
    pub throttle_next: u32,
    /// Calls the app may make in one wall-clock second (TikTok's basic tier).
    pub qps_limit: usize,
    /// Checks of a task answered QUEUING / PROCESSING before SUCCESS.
    pub task_polls: u32,
    /// Tasks created from now on end FAILED (after the same checks).
    pub fail_tasks: bool,
    /// Synchronous reports carry `X-Tt-Ads-Throttle`, as over 20,000 ids.
    pub truncate_reports: bool,
    pub tasks: BTreeMap<String, Task>,
    pub downloads: u32,
    pub calls: Vec<Call>,
    /// Every non-zero code answered, in order.
    pub refused: Vec<i64>,
    pub violations: Vec<String>,
    codes: BTreeMap<String, Instant>,
    seconds: BTreeMap<u64, usize>,
    last_task_second: u64,
    counter: u64,
}

pub type Shared = Arc<Mutex<TikTok>>;

impl Default for TikTok {
    fn default() -> Self {
        let (advertisers, stats) = data::demo();
        Self {
            advertisers,
            stats,
            tokens: Vec::new(),
            issued: Vec::new(),
            throttle_next: 0,
            qps_limit: 10,
            task_polls: 2,
            fail_tasks: false,
            truncate_reports: false,
            tasks: BTreeMap::new(),
            downloads: 0,
            calls: Vec::new(),
            refused: Vec::new(),
            violations: Vec::new(),
            codes: BTreeMap::new(),
            seconds: BTreeMap::new(),
            last_task_second: 0,
            counter: 0,
        }
    }
}

impl TikTok {
    /// The advertiser revokes the app: every token stops working.
    pub fn revoke(&mut self) {
        self.tokens.clear();
    }

    /// The rows a report of `advertiser` at `data_level` has for the days.
    pub fn expected(&self, advertiser: &str, data_level: &str, from: i64, to: i64) -> Vec<Row> {
        let adv = self
            .advertisers
            .iter()
            .find(|a| a.id == advertiser)
            .expect("an advertiser");
        rows(
            adv,
            &self.stats,
            id_dimension(data_level).expect("a level"),
            from,
            to,
        )
    }

    /// TikTok attributes `extra` more conversions to a past day of an ad.
    pub fn revise(&mut self, ad_id: &str, day: i64, extra: i64) {
        let s = self
            .stats
            .get_mut(&(ad_id.to_string(), day))
            .expect("an ad's day");
        s.conversions += extra;
    }

    /// Rename a campaign now (its `modify_time` becomes now).
    pub fn rename_campaign(&mut self, adv: usize, campaign: usize, name: &str) -> String {
        let c = &mut self.advertisers[adv].campaigns[campaign];
        c["campaign_name"] = json!(name);
        c["modify_time"] = json!(now_text());
        c["campaign_id"].as_str().unwrap_or_default().to_string()
    }

    /// Reports asked for: (advertiser, start_date, end_date, page).
    pub fn report_queries(&self) -> Vec<(String, String, String, String)> {
        let get = |c: &Call, k: &str| {
            c.query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        self.calls
            .iter()
            .filter(|c| c.path == "/report/integrated/get/" && c.code == 0)
            .map(|c| {
                (
                    get(c, "advertiser_id"),
                    get(c, "start_date"),
                    get(c, "end_date"),
                    get(c, "page"),
                )
            })
            .collect()
    }

    /// The most calls answered in one wall-clock second.
    pub fn max_per_second(&self) -> usize {
        self.seconds.values().copied().max().unwrap_or(0)
    }

    fn request_id(&mut self) -> String {
        self.counter += 1;
        format!("2026061015295501023{:013}", self.counter)
    }

    fn ok(&mut self, data: Value) -> Value {
        json!({"code": 0, "message": "OK", "request_id": self.request_id(), "data": data})
    }

    fn refuse(&mut self, code: i64, message: &str) -> Value {
        self.refused.push(code);
        json!({"code": code, "message": message, "request_id": self.request_id(), "data": {}})
    }
}

pub async fn start(state: TikTok) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A refusal as TikTok answers it: the code and its message.
type Refusal = (i64, String);

/// What an API call answers: JSON data, or a CSV file.
enum Answer {
    Data(Value),
    /// A synchronous report TikTok truncated (the `X-Tt-Ads-Throttle`
    /// header with its data).
    Truncated(Value),
    Csv(String),
}

/// `X-Tt-Ads-Throttle` of a truncated synchronous report, as TikTok's
/// reference quotes it (doc 1740302848100353).
pub const TRUNCATED: &str = "\"Number of ad ids is equal or more than 20k, only return the top 20k id's results, sorting by create time desc order.\"";

async fn serve(State(tt): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    let mut s = tt.lock().unwrap_or_else(PoisonError::into_inner);
    if path == "/portal/auth" {
        return s.authorize(&query);
    }
    let Some(api_path) = path.strip_prefix(PREFIX).map(str::to_string) else {
        s.violations
            .push(format!("{} {path}: not under {PREFIX}", parts.method));
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    };
    let method = parts.method.as_str();
    let answer = if api_path == "/oauth2/access_token/" && method == "POST" {
        s.exchange(&parts.headers, &body)
    } else {
        s.api(method, &api_path, &query, &parts.headers, &body)
    };
    let code = match &answer {
        Ok(_) => 0,
        Err((code, _)) => *code,
    };
    s.calls.push(Call {
        path: api_path,
        query,
        at: Instant::now(),
        code,
    });
    match answer {
        Ok(Answer::Data(data)) => axum::Json(s.ok(data)).into_response(),
        Ok(Answer::Truncated(data)) => {
            ([("x-tt-ads-throttle", TRUNCATED)], axum::Json(s.ok(data))).into_response()
        }
        Ok(Answer::Csv(text)) => {
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response()
        }
        Err((code, message)) => axum::Json(s.refuse(code, &message)).into_response(),
    }
}

/// The query's value of `name`.
fn arg<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A JSON array of strings in the query (TikTok's way of passing lists).
fn list_arg(query: &[(String, String)], name: &str) -> Result<Option<Vec<String>>, Refusal> {
    let Some(text) = arg(query, name) else {
        return Ok(None);
    };
    serde_json::from_str::<Vec<String>>(text)
        .map(Some)
        .map_err(|_| (40002, format!("{name}: Invalid JSON array of strings.")))
}

fn page_args(query: &[(String, String)]) -> Result<(usize, usize), Refusal> {
    let page = arg(query, "page").map_or(Ok(1), str::parse::<usize>);
    let size = arg(query, "page_size").map_or(Ok(10), str::parse::<usize>);
    match (page, size) {
        (Ok(p), Ok(s)) if p >= 1 && (1..=1000).contains(&s) => Ok((p, s)),
        _ => Err((
            40002,
            "page_size: Value range is 1-1000; page must be at least 1.".into(),
        )),
    }
}

fn page_info(page: usize, size: usize, total: usize) -> Value {
    json!({"page": page, "page_size": size, "total_number": total, "total_page": total.div_ceil(size)})
}

impl TikTok {
    fn authorize(&mut self, query: &[(String, String)]) -> Response {
        let (Some(app), Some(redirect)) = (arg(query, "app_id"), arg(query, "redirect_uri")) else {
            return (
                StatusCode::BAD_REQUEST,
                "app_id and redirect_uri are required",
            )
                .into_response();
        };
        if app != APP_ID {
            return (StatusCode::BAD_REQUEST, "unknown app").into_response();
        }
        self.counter += 1;
        let code =
            hex::encode(sha2::Sha256::digest(format!("code-{}", self.counter)))[..40].to_string();
        self.codes.insert(code.clone(), Instant::now());
        let state = arg(query, "state").unwrap_or_default();
        let sep = if redirect.contains('?') { '&' } else { '?' };
        let to = format!(
            "{redirect}{sep}auth_code={code}&state={}",
            crate::vendors::encode(state)
        );
        (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
    }

    /// `POST /oauth2/access_token/`: the `auth_code` for a long-term token.
    fn exchange(&mut self, headers: &HeaderMap, body: &[u8]) -> Result<Answer, Refusal> {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if !json || !b.is_object() {
            return Err((40002, "The request body must be JSON.".into()));
        }
        if b["app_id"] != APP_ID || b["secret"] != APP_SECRET {
            return Err((40101, "Invalid app_id or secret.".into()));
        }
        let code = b["auth_code"].as_str().unwrap_or_default();
        let fresh = self
            .codes
            .remove(code)
            .is_some_and(|at| at.elapsed().as_secs() < CODE_LIFETIME_SECS);
        if !fresh {
            return Err((
                40110,
                "auth_code is invalid, expired or already used.".into(),
            ));
        }
        self.counter += 1;
        let token =
            hex::encode(sha2::Sha256::digest(format!("token-{}", self.counter)))[..40].to_string();
        self.tokens.push(token.clone());
        self.issued.push(token.clone());
        Ok(Answer::Data(
            json!({"access_token": token, "advertiser_ids": ADVERTISERS, "scope": [4, 5, 6]}),
        ))
    }

    /// An API call after the token and the limits are checked.
    fn api(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        if headers.contains_key(header::AUTHORIZATION) {
            self.violations.push(format!(
                "{path}: Authorization header (TikTok reads Access-Token)"
            ));
        }
        let token = headers.get("access-token").and_then(|v| v.to_str().ok());
        let Some(token) = token else {
            return Err((40104, "Access-Token is required in the header.".into()));
        };
        if token.starts_with("Bearer ") {
            self.violations
                .push(format!("{path}: `Bearer ` before the Access-Token"));
        }
        if !self.tokens.iter().any(|t| t == token) {
            return Err((
                40105,
                "Access token is incorrect or has been revoked.".into(),
            ));
        }
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let count = self.seconds.entry(second).or_default();
        *count += 1;
        let over = *count > self.qps_limit;
        if over || self.throttle_next > 0 {
            self.throttle_next = self.throttle_next.saturating_sub(1);
            let qps = if over { *count } else { self.qps_limit + 1 };
            return Err((
                40100,
                format!(
                    "App {APP_ID} reaches the QPS limit {}, current QPS is {qps}.",
                    self.qps_limit
                ),
            ));
        }
        match (method, path) {
            ("GET", "/advertiser/info/") => self.advertiser_info(query),
            ("GET", "/campaign/get/") => self.list(query, "campaigns", "CAMPAIGN_STATUS_ALL"),
            ("GET", "/adgroup/get/") => self.list(query, "adgroups", "ADGROUP_STATUS_ALL"),
            ("GET", "/ad/get/") => self.list(query, "ads", "AD_STATUS_ALL"),
            ("GET", "/report/integrated/get/") => self.report(query),
            ("POST", "/report/task/create/") => self.task_create(headers, body, second),
            ("GET", "/report/task/check/") => self.task_check(query),
            ("GET", "/report/task/download/") => self.task_download(query),
            ("POST", "/report/task/cancel/") => self.task_cancel(headers, body),
            _ => {
                self.violations
                    .push(format!("{method} {path}: not an endpoint the fake models"));
                Err((40002, format!("{method} {path} is not supported.")))
            }
        }
    }

    fn advertiser(&self, id: Option<&str>) -> Result<&Advertiser, Refusal> {
        let id = id.ok_or((
            40002,
            "advertiser_id: Missing data for required field.".to_string(),
        ))?;
        self.advertisers
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| (40001, format!("No permission to operate advertiser {id}.")))
    }

    fn unmodelled(&mut self, path: &str, query: &[(String, String)], known: &[&str]) {
        for (k, _) in query {
            if !known.contains(&k.as_str()) {
                self.violations
                    .push(format!("{path}: parameter `{k}` is not modelled"));
            }
        }
    }

    fn advertiser_info(&mut self, query: &[(String, String)]) -> Result<Answer, Refusal> {
        self.unmodelled("/advertiser/info/", query, &["advertiser_ids", "fields"]);
        let ids = list_arg(query, "advertiser_ids")?.ok_or((
            40002,
            "advertiser_ids: Missing data for required field.".to_string(),
        ))?;
        let fields = list_arg(query, "fields")?;
        let mut list = Vec::new();
        for id in &ids {
            let info = self.advertiser(Some(id.as_str()))?.info.clone();
            let info = match &fields {
                Some(f) => {
                    let kept = info
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| f.contains(k));
                    Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect())
                }
                None => info,
            };
            list.push(info);
        }
        Ok(Answer::Data(json!({ "list": list })))
    }

    fn list(
        &mut self,
        query: &[(String, String)],
        what: &str,
        all: &str,
    ) -> Result<Answer, Refusal> {
        let path = format!("/{what}");
        self.unmodelled(
            &path,
            query,
            &["advertiser_id", "page", "page_size", "filtering", "fields"],
        );
        let (page, size) = page_args(query)?;
        let filtering: Value = match arg(query, "filtering") {
            Some(f) => serde_json::from_str(f)
                .map_err(|_| (40002, "filtering: Invalid JSON.".to_string()))?,
            None => json!({}),
        };
        let status = filtering["secondary_status"].as_str();
        if filtering
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k != "secondary_status"))
        {
            self.violations
                .push(format!("{path}: a filter other than secondary_status"));
        }
        let adv = self.advertiser(arg(query, "advertiser_id"))?;
        let items = match what {
            "campaigns" => &adv.campaigns,
            "adgroups" => &adv.adgroups,
            _ => &adv.ads,
        };
        let mut items: Vec<Value> = items
            .iter()
            .filter(|i| {
                status == Some(all)
                    || !i["secondary_status"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with("_DELETE")
            })
            .cloned()
            .collect();
        // "sorted by ID in reverse order by default"
        let key = format!("{}_id", what.trim_end_matches('s'));
        items.sort_by(|a, b| b[&key].as_str().cmp(&a[&key].as_str()));
        let total = items.len();
        let list: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
        Ok(Answer::Data(
            json!({"list": list, "page_info": page_info(page, size, total)}),
        ))
    }
}

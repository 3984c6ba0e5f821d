//! A fake AWS Cost Explorer, `GetCostAndUsage` only, from AWS's documentation
//! (details and sources in `docs/vendors/cloud-cost.md` §1):
//!
//! - **Wire** (<https://docs.aws.amazon.com/cost-management/latest/userguide/ce-api.html>):
//!   AWS JSON 1.1, `POST /`, `Content-Type: application/x-amz-json-1.1`,
//!   `X-Amz-Target: AWSInsightsIndexService.GetCostAndUsage`; else 400
//!   `UnknownOperationException` (the fake's choice).
//! - **SigV4** (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>),
//!   [`verify`], tested on AWS's test suite: scope `us-east-1`/`ce`, `X-Amz-Date`
//!   within 5 minutes. No `Authorization`: 403 `MissingAuthenticationTokenException`;
//!   malformed: 400 `IncompleteSignatureException`; a key id not [`ACCESS_KEY_ID`],
//!   or a session token (it is a long-term key): 403 `UnrecognizedClientException`;
//!   else 400 `InvalidSignatureException`. Stricter than AWS: `X-Amz-Date` (not
//!   `Date`), `content-type` and `x-amz-target` signed, a sent
//!   `x-amz-content-sha256` right.
//! - **Request** (<https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html>):
//!   `TimePeriod` `YYYY-MM-DD`, `Start` before `End` (exclusive); `DAILY` or
//!   `MONTHLY` (`HOURLY` needs an opt-in); `Metrics` of the documented seven;
//!   at most 2 `GroupBy` of `DIMENSION` (documented keys and `REGION`), `TAG`,
//!   `COST_CATEGORY`. Else 400 `ValidationException`, as for a `Filter` (unmodelled).
//! - **Response** (<https://hackage.haskell.org/package/amazonka-cost-explorer-2.0/docs/Amazonka-CostExplorer-GetCostAndUsage.html>):
//!   a result per day or calendar month, `Amount` strings summed from
//!   [`amount`] over [`SERVICES`] × [`ACCOUNTS`] × [`TEAMS`] (all `us-east-1`);
//!   `Total` without `GroupBy`, else `Groups` (`team$data`, untagged `team$`);
//!   `Estimated` from yesterday on. Usage metrics are 3 × the cost.
//! - **Paging, errors, price** (<https://docs.rs/rusoto_ce/latest/rusoto_ce/enum.GetCostAndUsageError.html>,
//!   <https://docs.aws.amazon.com/botocore/latest/reference/services/ce/client/exceptions/LimitExceededException.html>,
//!   <https://aws.amazon.com/aws-cost-management/aws-cost-explorer/faqs>):
//!   [`CostExplorer::days_per_page`] results an answer; a `NextPageToken` must
//!   repeat its request, else 400 `RequestChangedException` (unknown:
//!   `InvalidNextTokenException`). Throttling is 400 `LimitExceededException`,
//!   not 429. The service's own errors spell `Message` as botocore's shapes
//!   do. $0.01 a request, each page one ([`CostExplorer::requests`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::Upstream;

/// AWS's documented example key pair (that of the SigV4 test suite).
pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const TARGET: &str = "AWSInsightsIndexService.GetCostAndUsage";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const SERVICES: [&str; 4] = [
    "Amazon Elastic Compute Cloud - Compute",
    "Amazon Simple Storage Service",
    "AWS Lambda",
    "Amazon Relational Database Service",
];
pub const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
/// Values of the `team` tag; `""` is untagged.
pub const TEAMS: [&str; 3] = ["data", "web", ""];
const COSTS: &str = "AmortizedCost BlendedCost NetAmortizedCost NetUnblendedCost UnblendedCost";
const USAGE: &str = "NormalizedUsageAmount UsageQuantity";
const DIMENSIONS: &str = "AZ INSTANCE_TYPE INVOICING_ENTITY LEGAL_ENTITY_NAME LINKED_ACCOUNT \
    OPERATION PLATFORM PURCHASE_TYPE RECORD_TYPE REGION SERVICE TENANCY USAGE_TYPE";
const BUT_ALNUM_DASHES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');
/// What URI encoding encodes: all but `A-Za-z0-9-_.~`.
const ENCODED: &AsciiSet = &BUT_ALNUM_DASHES.remove(b'.').remove(b'~');
const CHANGED: &str = "Your request parameters changed between pages. Try again with the old \
    parameters or without a pagination token.";
const BAD_TOKEN: &str = "The pagination token is invalid. Try again without a pagination token.";
/// Refusals that mean the client broke the operation's model.
const VIOLATIONS: &str = "UnknownOperationException SerializationException ValidationException \
    RequestChangedException InvalidNextTokenException";

/// A signature's region and service, and the headers it must cover besides
/// `host`, `x-amz-date` and a sent `x-amz-security-token`.
pub type Scope = (&'static str, &'static str, &'static [&'static str]);

pub const CE: Scope = ("us-east-1", "ce", &["content-type", "x-amz-target"]);

/// A refusal: the HTTP status and the AWS JSON error.
pub type Refusal = (u16, Value);
type CallResult = Result<Value, Refusal>;

pub struct CostExplorer {
    /// At most this many `ResultsByTime` an answer, then a `NextPageToken`.
    pub days_per_page: usize,
    /// Answer the next this many calls 400 `LimitExceededException`.
    pub throttle_next: u32,
    /// `GetCostAndUsage` calls answered, each page one: $0.01 each.
    pub requests: u32,
    /// The `__type` of each refusal, oldest first.
    pub refused: Vec<String>,
    /// Every answered request's body.
    pub bodies: Vec<Value>,
    /// Refusals for requests outside the operation's model, and for tokens
    /// not from an identical earlier request: `__type: message`.
    pub violations: Vec<String>,
    /// `YYYY-MM-DD`: results ending after yesterday are `Estimated`.
    pub today: String,
    /// Tokens handed out: the request without its token, the next result.
    pages: BTreeMap<String, (Value, usize)>,
}

pub type Shared = Arc<Mutex<CostExplorer>>;

impl Default for CostExplorer {
    fn default() -> Self {
        CostExplorer {
            days_per_page: 7,
            throttle_next: 0,
            requests: 0,
            refused: Vec::new(),
            bodies: Vec::new(),
            violations: Vec::new(),
            today: wharf_sdk::time::date(unix_now()),
            pages: BTreeMap::new(),
        }
    }
}

pub async fn start(state: CostExplorer) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn unix_now() -> i64 {
    wharf_sdk::time::now_ms().div_euclid(1000)
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// An error of AWS's front end (signing, validation), with `message`.
fn refusal(status: u16, kind: &str, message: impl Into<String>) -> Refusal {
    (status, json!({"__type": kind, "message": message.into()}))
}

/// An error of Cost Explorer's model, with `Message`.
fn modeled(kind: &str, message: &str) -> Refusal {
    (400, json!({"__type": kind, "Message": message}))
}

async fn serve(State(ce): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await;
    let body = body.unwrap_or_default();
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let (method, headers) = (parts.method.as_str(), &parts.headers);
    let mut s = ce.lock().unwrap_or_else(PoisonError::into_inner);
    let checked = verify(method, path, query, headers, &body, unix_now());
    let (status, value) = match checked.and_then(|()| s.call(method, path, headers, &body)) {
        Ok(value) => (200, value),
        Err((status, refusal)) => {
            let kind = refusal["__type"].as_str().unwrap_or_default().to_string();
            if VIOLATIONS.split(' ').any(|v| v == kind) {
                let said = |k: &str| refusal[k].as_str().unwrap_or_default().to_string();
                s.violations
                    .push(format!("{kind}: {}{}", said("message"), said("Message")));
            }
            s.refused.push(kind);
            (status, refusal)
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let json = [(header::CONTENT_TYPE, CONTENT_TYPE)];
    (status, json, value.to_string()).into_response()
}

/// Whether a request to Cost Explorer is signed as SigV4 asks (see the
/// module doc); `path` and `query` as they came, `now` in Unix seconds.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    verify_scoped(CE, method, path, query, headers, body, now)
}

/// [`verify`] for any scope (AWS's test suite signs for service `service`).
pub fn verify_scoped(
    (region, service, must_sign): Scope,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    let invalid = |why: String| refusal(400, "InvalidSignatureException", why);
    let Some(auth) = headers.get(header::AUTHORIZATION).map(text) else {
        let why = "Missing Authentication Token";
        return Err(refusal(403, "MissingAuthenticationTokenException", why));
    };
    let amz_date = headers.get("x-amz-date").map(text).unwrap_or_default();
    let parsed = (parse_authorization(&auth), parse_amz_date(&amz_date));
    let (Some((key, asked, signed, signature)), Some(signed_at)) = parsed else {
        let why = "Authorization needs Credential, SignedHeaders, Signature, and X-Amz-Date.";
        return Err(refusal(400, "IncompleteSignatureException", why));
    };
    let (wanted, scope) = ([&amz_date[..8], region, service], asked.join("/"));
    if asked != wanted {
        let why = format!("Credential should be scoped to {wanted:?}, not {scope}.");
        return Err(invalid(why));
    }
    if (now - signed_at).abs() > 300 {
        let now = amz(now);
        let why = format!("Signature expired: {amz_date} is now earlier than {now} - 5 min.");
        return Err(invalid(why));
    }
    let unrecognized = "The security token included in the request is invalid.";
    if key != ACCESS_KEY_ID {
        return Err(refusal(403, "UnrecognizedClientException", unrecognized));
    }
    let token = headers.contains_key("x-amz-security-token");
    let mut required = vec!["host", "x-amz-date"];
    required.extend(must_sign);
    required.extend(token.then_some("x-amz-security-token"));
    let sorted = signed.windows(2).all(|w| w[0] < w[1]);
    let lower = signed.iter().all(|n| n.to_ascii_lowercase() == *n);
    if !sorted || !lower || required.iter().any(|n| !signed.contains(n)) {
        let why = format!("SignedHeaders must be lowercase, sorted, and cover {required:?}.");
        return Err(invalid(why));
    }
    if token {
        return Err(refusal(403, "UnrecognizedClientException", unrecognized));
    }
    let payload = hex_sha256(body);
    let claimed = headers.get("x-amz-content-sha256");
    if claimed.is_some_and(|c| *c != payload) {
        let why = "The provided 'x-amz-content-sha256' header does not match what was computed.";
        return Err(invalid(why.into()));
    }
    let mut canonical = vec![method.into(), canonical_uri(path), canonical_query(query)];
    for name in &signed {
        let values: Vec<String> = headers.get_all(*name).iter().map(text).collect();
        canonical.push(format!("{name}:{}", values.join(",")));
    }
    canonical.extend([String::new(), signed.join(";"), payload]);
    let canonical = canonical.join("\n");
    let hashed = hex_sha256(canonical.as_bytes());
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}/aws4_request\n{hashed}");
    let secret = format!("AWS4{SECRET_ACCESS_KEY}").into_bytes();
    let signing = asked.iter().fold(secret, |key, part| hmac(&key, part));
    let signing = hmac(&signing, "aws4_request");
    let mut mac = Hmac::<Sha256>::new_from_slice(&signing).expect("any key");
    mac.update(to_sign.as_bytes());
    let provided = hex::decode(signature).unwrap_or_default();
    mac.verify_slice(&provided).map_err(|_| {
        invalid(format!(
            "The request signature we calculated does not match the signature you provided.\n\n\
             The Canonical String for this request should have been\n'{canonical}'\n\n\
             The String-to-Sign should have been\n'{to_sign}'\n"
        ))
    })
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`: the key
/// id, the scope's date, region and service, the signed headers, signature.
type Authorization<'a> = (&'a str, [&'a str; 3], Vec<&'a str>, &'a str);

fn parse_authorization(text: &str) -> Option<Authorization<'_>> {
    let fields = text.strip_prefix("AWS4-HMAC-SHA256 ")?.split(',');
    let fields: BTreeMap<&str, &str> = fields.filter_map(|f| f.trim().split_once('=')).collect();
    let credential: Vec<&str> = fields.get("Credential")?.split('/').collect();
    let &[key, date, region, service, "aws4_request"] = credential.as_slice() else {
        return None;
    };
    let signed = fields.get("SignedHeaders")?.split(';').collect();
    let signature = fields.get("Signature")?;
    Some((key, [date, region, service], signed, signature))
}

/// Unix seconds of `20150830T123600Z`.
fn parse_amz_date(t: &str) -> Option<i64> {
    let (y, m, d) = (t.get(..4)?, t.get(4..6)?, t.get(6..8)?);
    let (h, mi, s) = (t.get(9..11)?, t.get(11..13)?, t.get(13..15)?);
    let secs = wharf_sdk::time::from_rfc3339_utc(&format!("{y}-{m}-{d}T{h}:{mi}:{s}Z"))?;
    (amz(secs) == t).then_some(secs)
}

/// `20150830T123600Z` of Unix seconds.
fn amz(secs: i64) -> String {
    wharf_sdk::time::rfc3339(secs).replace(['-', ':'], "")
}

/// A header's value, trimmed, each run of spaces made one.
fn text(value: &HeaderValue) -> String {
    let text = String::from_utf8_lossy(value.as_bytes());
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX`.
fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, ENCODED).to_string()
}

/// The path's segments encoded again (it came encoded once; services but
/// S3 encode twice), without empty or `.` ones (a `..` will not match).
fn canonical_uri(path: &str) -> String {
    let segments = path.split('/').filter(|s| !s.is_empty() && *s != ".");
    let encoded: Vec<String> = segments.map(|s| encode(s.as_bytes())).collect();
    let trailing = path.ends_with('/') && !encoded.is_empty();
    format!("/{}{}", encoded.join("/"), if trailing { "/" } else { "" })
}

/// The parameters decoded, encoded again, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let again = |s: &str| encode(&percent_decode_str(s).collect::<Vec<_>>());
    let pairs = query.split('&').filter(|p| !p.is_empty());
    let pairs = pairs.map(|p| p.split_once('=').unwrap_or((p, "")));
    let mut pairs: Vec<String> = pairs.map(|(k, v)| again(k) + "=" + &again(v)).collect();
    pairs.sort();
    pairs.join("&")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The cost of a service in an account for a `team` on a day
/// (`YYYY-MM-DD`), in USD: 0 to 99.9999 from a hash of the four.
pub fn amount(day: &str, service: &str, account: &str, team: &str) -> f64 {
    ten_thousandths(day, [service, account, team]) as f64 / 10_000.0
}

fn ten_thousandths(day: &str, [service, account, team]: [&str; 3]) -> u64 {
    let digest = Sha256::digest(format!("{day}|{service}|{account}|{team}"));
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 1_000_000
}

/// `YYYY-MM-DD` as a day number, if it is a real date.
fn day_number(text: &str) -> Option<i64> {
    let secs = wharf_sdk::time::from_rfc3339_utc(&format!("{text}T00:00:00Z"))?;
    (wharf_sdk::time::date(secs) == text).then_some(secs.div_euclid(86_400))
}

fn day_text(day: i64) -> String {
    wharf_sdk::time::date(day * 86_400)
}

/// A line of the catalogue: service, account, team.
type Cell = [&'static str; 3];

fn cells() -> impl Iterator<Item = Cell> {
    let accounts = |s| ACCOUNTS.map(|a| (s, a));
    let pairs = SERVICES.into_iter().flat_map(accounts);
    pairs.flat_map(|(s, a)| TEAMS.map(|t| [s, a, t]))
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A valid request: days `start..end`, metrics, `(Type, Key)` groups.
struct Query {
    start: i64,
    end: i64,
    monthly: bool,
    metrics: Vec<String>,
    groups: Vec<(String, String)>,
}

impl Query {
    fn parse(b: &Value) -> Result<Query, String> {
        let period = &b["TimePeriod"];
        let date = |k: &str| period[k].as_str().and_then(day_number);
        let (Some(start), Some(end)) = (date("Start"), date("End")) else {
            return Err(format!("TimePeriod {period}: Start, End not YYYY-MM-DD"));
        };
        if start >= end {
            return Err("Start date (and hour) should be before end date (and hour)".into());
        }
        let monthly = match b["Granularity"].as_str() {
            Some("DAILY") => false,
            Some("MONTHLY") => true,
            g => return Err(format!("Granularity {g:?}: not DAILY nor MONTHLY")),
        };
        let name = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let metrics: Vec<String> = list(&b["Metrics"]).iter().map(name).collect();
        let known = |m: &String| COSTS.split(' ').chain(USAGE.split(' ')).any(|k| k == m);
        if metrics.is_empty() || !metrics.iter().all(known) {
            return Err(format!("Metrics {metrics:?}: some of {COSTS} {USAGE}"));
        }
        let group = |g: &Value| (name(&g["Type"]), name(&g["Key"]));
        let groups: Vec<(String, String)> = list(&b["GroupBy"]).iter().map(group).collect();
        let valid = |(t, k): &(String, String)| match t.as_str() {
            "DIMENSION" => DIMENSIONS.split(' ').any(|d| d == k),
            "TAG" | "COST_CATEGORY" => !k.is_empty(),
            _ => false,
        };
        if groups.len() > 2 || !groups.iter().all(valid) {
            let why = "at most 2 of DIMENSION (a known key), TAG or COST_CATEGORY";
            return Err(format!("GroupBy {groups:?}: {why}"));
        }
        if !b["Filter"].is_null() {
            return Err("Filter: this fake does not model it".into());
        }
        Ok(Query {
            start,
            end,
            monthly,
            metrics,
            groups,
        })
    }

    /// The results' periods, by day or calendar month, within the asked one.
    fn periods(&self) -> Vec<(i64, i64)> {
        let mut periods = vec![];
        let mut from = self.start;
        while from < self.end {
            let (y, m, _) = wharf_sdk::time::civil(from);
            let next_month = wharf_sdk::time::days(y + i64::from(m / 12), m % 12 + 1, 1);
            let to = (if self.monthly { next_month } else { from + 1 }).min(self.end);
            periods.push((from, to));
            from = to;
        }
        periods
    }

    fn metrics(&self, n: u64) -> Value {
        let each = self.metrics.iter().map(|m| {
            let usage = USAGE.contains(m.as_str());
            let (n, unit) = if usage { (3 * n, "N/A") } else { (n, "USD") };
            let amount = format!("{}.{:04}", n / 10_000, n % 10_000);
            (m.clone(), json!({"Amount": amount, "Unit": unit}))
        });
        Value::Object(each.collect())
    }

    fn result(&self, (from, to): (i64, i64), today: i64) -> Value {
        let mut sums = BTreeMap::<Vec<String>, u64>::new();
        for day in (from..to).map(day_text) {
            for cell @ [service, account, team] in cells() {
                // The cell's value of a dimension, tag or cost category.
                let key = |(t, k): &(String, String)| match (t.as_str(), k.as_str()) {
                    ("DIMENSION", "SERVICE") => service.to_string(),
                    ("DIMENSION", "LINKED_ACCOUNT") => account.to_string(),
                    ("DIMENSION", "REGION") => "us-east-1".to_string(),
                    ("DIMENSION", "RECORD_TYPE") => "Usage".to_string(),
                    ("DIMENSION", _) => String::new(),
                    ("TAG", "team") => format!("team${team}"),
                    (_, k) => format!("{k}$"),
                };
                let keys = self.groups.iter().map(key).collect();
                *sums.entry(keys).or_default() += ten_thousandths(&day, cell);
            }
        }
        let group = |(keys, n)| json!({"Keys": keys, "Metrics": self.metrics(n)});
        let (total, groups): (Value, Vec<Value>) = if self.groups.is_empty() {
            (self.metrics(sums.values().sum()), vec![])
        } else {
            (json!({}), sums.into_iter().map(group).collect())
        };
        json!({"TimePeriod": {"Start": day_text(from), "End": day_text(to)}, "Total": total,
            "Groups": groups, "Estimated": to >= today})
    }
}

impl CostExplorer {
    /// A call whose signature passed.
    fn call(&mut self, method: &str, path: &str, h: &HeaderMap, body: &[u8]) -> CallResult {
        let media = h.get(header::CONTENT_TYPE).map(text).unwrap_or_default();
        let media = media.split(';').next().unwrap_or_default().trim();
        let target = h.get("x-amz-target").map(text).unwrap_or_default();
        if (method, path, target.as_str(), media) != ("POST", "/", TARGET, CONTENT_TYPE) {
            let what = format!("{method} {path}, {media:?}, {target:?}: not GetCostAndUsage");
            return Err(refusal(400, "UnknownOperationException", what));
        }
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Err(modeled("LimitExceededException", "Rate exceeded"));
        }
        let Ok(asked @ Value::Object(_)) = serde_json::from_slice(body) else {
            return Err(refusal(400, "SerializationException", "Not a JSON object"));
        };
        let query = Query::parse(&asked);
        let query = query.map_err(|why| refusal(400, "ValidationException", why))?;
        let mut same = asked.clone();
        let token = same.as_object_mut().and_then(|m| m.remove("NextPageToken"));
        let token = token.filter(|t| !t.is_null());
        let page = token.map(|t| self.pages.get(t.as_str().unwrap_or_default()));
        let offset = match page {
            None => 0,
            Some(Some((first, offset))) if *first == same => *offset,
            Some(Some(_)) => return Err(modeled("RequestChangedException", CHANGED)),
            Some(None) => return Err(modeled("InvalidNextTokenException", BAD_TOKEN)),
        };
        let periods = query.periods();
        let end = (offset + self.days_per_page.max(1)).min(periods.len());
        let today = day_number(&self.today).unwrap_or_else(|| unix_now().div_euclid(86_400));
        let page = periods[offset.min(end)..end].iter();
        let results: Vec<Value> = page.map(|p| query.result(*p, today)).collect();
        let groups = query.groups.iter();
        let groups = groups.map(|(t, k)| json!({"Type": t, "Key": k}));
        let mut answer = json!({"GroupDefinitions": groups.collect::<Vec<_>>(),
            "ResultsByTime": results, "DimensionValueAttributes": []});
        if end < periods.len() {
            let token = hex_sha256(format!("{}:{same}:{end}", self.pages.len()).as_bytes());
            answer["NextPageToken"] = json!(token);
            self.pages.insert(token, (same, end));
        }
        self.requests += 1;
        self.bodies.push(asked);
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal of a request of AWS's SigV4 test suite (for `service`, at
    /// 2015-08-30T12:36:00Z) checked `late` seconds on; a POST is a form.
    fn suite(line: &str, sig: &str, body: &str, late: i64) -> Option<Value> {
        let (method, query) = line.split_once(" /?").unwrap_or((line, ""));
        let form = method == "POST";
        let names = ["host;x-amz-date", "content-type;host;x-amz-date"][usize::from(form)];
        let scope = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
        let auth = format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, ");
        let auth = format!("{auth}Signature={sig}");
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        if form {
            let form = HeaderValue::from_static("application/x-www-form-urlencoded");
            h.insert(header::CONTENT_TYPE, form);
        }
        let (scope, now) = (("us-east-1", "service", &[][..]), 1_440_938_160 + late);
        let checked = verify_scoped(scope, method, "/", query, &h, body.as_bytes(), now);
        checked.err().map(|(_, v)| v["__type"].clone())
    }

    #[test]
    fn aws_sigv4_test_suite() {
        let vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert_eq!(suite("GET", vanilla, "", 0), None, "get-vanilla");
        let order = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
        let sorted = suite("GET /?Param2=value2&Param1=value1", order, "", 0);
        assert_eq!(sorted, None, "get-vanilla-query-order-key-case");
        let post = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a";
        let posted = |body| suite("POST", post, body, 0);
        assert_eq!(posted("Param1=value1"), None, "post-x-www-form-urlencoded");
        let invalid = Some(json!("InvalidSignatureException"));
        assert_eq!(posted("Param1=value0"), invalid, "a flipped body byte");
        assert_eq!(suite("GET", vanilla, "", 301), invalid, "expired");
        let none = verify("POST", "/", "", &HeaderMap::new(), b"", 0).unwrap_err();
        assert_eq!(none.1["__type"], "MissingAuthenticationTokenException");
    }

    #[test]
    fn pages_of_an_identical_request() {
        let today = "2024-05-10".into();
        let mut ce = CostExplorer {
            today,
            ..CostExplorer::default()
        };
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        h.insert("x-amz-target", HeaderValue::from_static(TARGET));
        let mut call = |body: &Value| ce.call("POST", "/", &h, body.to_string().as_bytes());
        let mut asked = json!({"TimePeriod": {"Start": "2024-05-01", "End": "2024-05-11"},
            "Granularity": "DAILY", "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": "team"}]});
        let first = call(&asked).unwrap();
        let results = first["ResultsByTime"].as_array().unwrap();
        assert_eq!(results.len(), 7);
        let data = cells().filter(|[.., team]| *team == "data");
        let data: f64 = data.map(|[s, a, t]| amount("2024-05-01", s, a, t)).sum();
        let group = &results[0]["Groups"][1];
        assert_eq!(group["Keys"], json!(["team$data"]));
        let got = &group["Metrics"]["UnblendedCost"]["Amount"];
        assert_eq!(*got, format!("{data:.4}"));
        asked["NextPageToken"] = first["NextPageToken"].clone();
        let second = call(&asked).unwrap();
        let results = second["ResultsByTime"].as_array().unwrap();
        let estimated: Vec<&Value> = results.iter().map(|r| &r["Estimated"]).collect();
        assert_eq!(estimated, [false, true, true]);
        assert_eq!(second.get("NextPageToken"), None);
        asked["Granularity"] = json!("MONTHLY");
        let changed = call(&asked).unwrap_err().1;
        assert_eq!(changed["__type"], "RequestChangedException");
        asked["NextPageToken"] = json!("made-up");
        let unknown = call(&asked).unwrap_err().1;
        assert_eq!(unknown["__type"], "InvalidNextTokenException");
        assert_eq!((ce.requests, ce.bodies.len()), (2, 2));
    }
}

//! Graph's common shapes in the fake: a list's page (`limit`, `after`,
//! `paging.cursors`, `paging.next`), an object's `fields`, and the usage
//! headers (<https://developers.facebook.com/docs/graph-api/results>,
//! <https://developers.facebook.com/docs/graph-api/overview/rate-limiting>).

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::data::{ACCOUNT_FIELDS, BUSINESS_ID};
use super::{Answer, Meta, Params, param, refuse};

impl Meta {
    /// A page of a Graph list: `limit` (25 unless asked) from the `after`
    /// cursor, `paging.cursors` and a `paging.next` URL while more follow.
    pub(super) fn list(
        &mut self,
        version: &str,
        path: &str,
        items: Vec<Value>,
        p: &Params,
    ) -> Answer {
        let limit: usize = match param(p, "limit").map(str::parse) {
            None => 25,
            Some(Ok(n)) if (1..=5000).contains(&n) => n,
            Some(_) => {
                return Err(refuse(
                    100,
                    None,
                    "(#100) param limit must be a number from 1 to 5000",
                ));
            }
        };
        let cursor = |n: usize| URL_SAFE_NO_PAD.encode(format!("offset:{n}"));
        let start: usize = match param(p, "after") {
            None => 0,
            Some(a) => {
                let decoded = URL_SAFE_NO_PAD
                    .decode(a)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                match decoded
                    .as_deref()
                    .and_then(|d| d.strip_prefix("offset:")?.parse().ok())
                {
                    Some(n) => n,
                    None => {
                        self.violations
                            .push(format!("{path}: a cursor the fake did not give ({a})"));
                        return Err(refuse(100, None, "(#100) Invalid cursor"));
                    }
                }
            }
        };
        let end = (start + limit).min(items.len());
        let data: Vec<Value> = items.get(start..end).unwrap_or_default().to_vec();
        let mut answer = json!({ "data": data });
        if start < end {
            answer["paging"] = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
            if end < items.len() {
                let next = format!(
                    "{}/{version}/{path}?limit={limit}&after={}",
                    self.origin,
                    cursor(end)
                );
                answer["paging"]["next"] = json!(next);
            }
        }
        Ok(answer)
    }

    /// The usage headers of an answer.
    pub(super) fn usage(&self, scoped: bool, insights: bool, throttled: bool) -> HeaderMap {
        let pct = if throttled { 100 } else { self.usage_pct };
        let regain = if throttled { self.regain_minutes } else { 0 };
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, v: Value| {
            if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
                h.insert(name, v);
            }
        };
        let p = self.usage_pct;
        put(
            "x-app-usage",
            json!({"call_count": p, "total_cputime": p, "total_time": p}),
        );
        if scoped {
            let kind = if insights {
                "ads_insights"
            } else {
                "ads_management"
            };
            put(
                "x-business-use-case-usage",
                json!({BUSINESS_ID: [{"type": kind, "call_count": pct,
                "total_cputime": p, "total_time": p, "estimated_time_to_regain_access": regain,
                "ads_api_access_tier": "standard_access"}]}),
            );
            put(
                "x-ad-account-usage",
                json!({"acc_id_util_pct": pct,
                "reset_time_duration": self.reset_secs, "ads_api_access_tier": "standard_access"}),
            );
        }
        if insights {
            put(
                "x-fb-ads-insights-throttle",
                json!({"app_id_util_pct": p, "acc_id_util_pct": p,
                "ads_api_access_tier": "standard_access"}),
            );
        }
        h
    }
}

/// `id` and the `fields` asked of `object` (Graph's default: `id`); a
/// field the node does not have is refused.
pub(super) fn select(object: &Value, fields: Option<&str>, node: &str) -> Answer {
    let mut out = Map::new();
    out.insert("id".into(), object["id"].clone());
    for f in fields.unwrap_or("id").split(',').filter(|f| !f.is_empty()) {
        match object.get(f) {
            Some(v) => {
                out.insert(f.into(), v.clone());
            }
            None if node == "AdAccount" && ACCOUNT_FIELDS.split_whitespace().any(|k| k == f) => {}
            None => {
                let m =
                    format!("(#100) Tried accessing nonexisting field ({f}) on node type ({node})");
                return Err(refuse(100, None, m));
            }
        }
    }
    Ok(Value::Object(out))
}

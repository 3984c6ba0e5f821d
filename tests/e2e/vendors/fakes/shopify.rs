//! A fake Shopify store, from shopify.dev (details and sources in
//! `docs/vendors/shopify.md`):
//!
//! - Tokens by the client credentials grant, `POST /admin/oauth/access_token`
//!   (<https://shopify.dev/docs/apps/build/authentication-authorization/client-secrets>);
//!   every Admin API call needs `X-Shopify-Access-Token`, else `401
//!   {"errors": "[API] Invalid API key or access token (unrecognized login
//!   or wrong password)"}` (<https://shopify.dev/docs/api/usage/response-codes>).
//! - REST lists `/admin/api/2026-01/{orders,products,customers,locations,
//!   inventory_levels}.json` with `limit` (≤ 250, default 50), `status`
//!   (orders default to `open`), `updated_at_min`, and the `Link` header's
//!   `page_info` pages, beside which only `limit` and `fields` may be sent
//!   (<https://shopify.dev/docs/api/usage/pagination-rest>);
//!   `inventory_levels` needs `location_ids` or `inventory_item_ids`.
//! - `X-Shopify-Shop-Api-Call-Limit` on every answer and `429` with
//!   `Retry-After: 2.0` when the bucket is full
//!   (<https://shopify.dev/docs/api/admin-rest/usage/rate-limits>).
//! - GraphQL `POST /admin/api/2026-01/graphql.json`: cost in
//!   `extensions.cost`, `THROTTLED` with HTTP 200; `bulkOperationRunQuery`,
//!   `node(id:)` polling through `CREATED`, `RUNNING`, `COMPLETED`, and the
//!   JSONL result at a signed URL on another origin (Google Cloud Storage
//!   in production) (<https://shopify.dev/docs/api/usage/bulk-operations/queries>).
//!
//! Payloads are the documentation's examples (order #1001, the iPod Nano,
//! Bob Norman, the Rideau Street location).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: &str = "3d0c5b8e2f1a4c6d";
pub const CLIENT_SECRET: &str = "shpss_5f2a9c1e7b3d";
const VERSION: &str = "2026-01";

#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub status: u16,
    pub token: Option<String>,
    pub at: Instant,
}

#[derive(Default)]
pub struct Store {
    pub resources: BTreeMap<String, Vec<Value>>,
    pub tokens: Vec<String>,
    /// Tokens issued so far (expired ones included).
    pub issued: u32,
    pub seen: Vec<Seen>,
    /// Refuse the next this many REST calls with `429`.
    pub throttle: u32,
    /// Refuse the next this many GraphQL calls with `THROTTLED`.
    pub gql_throttle: u32,
    /// Polls a bulk operation takes to complete.
    pub bulk_polls: u32,
    pub bulk: Option<(String, u32)>,
    pub bulk_result: String,
    pub storage_origin: String,
    pub storage_seen: Vec<HeaderMap>,
}

pub type Shared = Arc<Mutex<Store>>;

impl Store {
    /// Every token issued so far stops working, as after 24 hours.
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }
}

pub fn order(id: u64, updated_at: &str, status: &str) -> Value {
    json!({"id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"), "name": format!("#{}", id % 10_000),
        "order_number": id % 10_000, "created_at": "2008-01-10T11:00:00-05:00", "updated_at": updated_at,
        "cancelled_at": null, "closed_at": if status == "closed" { json!("2008-01-11T11:00:00-05:00") } else { Value::Null },
        "currency": "USD", "total_price": "598.94", "financial_status": "partially_refunded", "fulfillment_status": null,
        "test": false, "customer": {"id": 207119551, "admin_graphql_api_id": "gid://shopify/Customer/207119551"},
        "line_items": [{"id": 466157049, "product_id": 632910392, "variant_id": 39072856, "quantity": 1, "price": "199.00"}]})
}

/// The documentation's store: orders (one closed), the iPod Nano, Bob
/// Norman, one location and its level.
pub fn store() -> Store {
    let mut resources = BTreeMap::new();
    let orders: Vec<Value> = (0..7)
        .map(|i| {
            order(
                450789469 + i,
                &format!("2024-05-0{}T10:00:00-05:00", 1 + i),
                if i == 3 { "closed" } else { "open" },
            )
        })
        .collect();
    resources.insert("orders".into(), orders);
    resources.insert("products".into(), vec![json!({"id": 632910392, "title": "IPod Nano - 8GB", "handle": "ipod-nano",
        "vendor": "Apple", "status": "active", "created_at": "2025-04-02T11:29:59-05:00", "updated_at": "2025-04-02T11:29:59-05:00",
        "admin_graphql_api_id": "gid://shopify/Product/632910392",
        "variants": [{"id": 808950810, "product_id": 632910392, "sku": "IPOD2008PINK", "price": "199.00",
            "inventory_item_id": 808950810, "inventory_quantity": 10}]})]);
    resources.insert("customers".into(), vec![json!({"id": 207119551, "email": "bob.norman@mail.example.com",
        "first_name": "Bob", "last_name": "Norman", "state": "disabled", "created_at": "2025-01-02T11:26:48-05:00",
        "updated_at": "2025-01-02T11:26:48-05:00", "tags": "L\u{e9}on, No\u{eb}l",
        "admin_graphql_api_id": "gid://shopify/Customer/207119551"})]);
    resources.insert("locations".into(), vec![json!({"id": 655441491, "name": "50 Rideau Street", "active": true,
        "legacy": false, "updated_at": "2025-01-02T11:09:43-05:00", "admin_graphql_api_id": "gid://shopify/Location/655441491"})]);
    resources.insert("inventory_levels".into(), vec![json!({"inventory_item_id": 808950810, "location_id": 655441491,
        "available": 2, "updated_at": "2025-01-02T11:29:59-05:00",
        "admin_graphql_api_id": "gid://shopify/InventoryLevel/655441491?inventory_item_id=808950810"})]);
    let bulk_result = [
        r#"{"id":"gid://shopify/Product/1921569226808","title":"Sneaker"}"#,
        r#"{"id":"gid://shopify/ProductVariant/19435458986123","title":"52","__parentId":"gid://shopify/Product/1921569226808"}"#,
        r#"{"id":"gid://shopify/ProductVariant/19435458986040","title":"70","__parentId":"gid://shopify/Product/1921569226808"}"#,
        r#"{"id":"gid://shopify/Product/1921569259576","title":"Boot"}"#,
    ]
    .join("\n")
        + "\n";
    Store {
        resources,
        bulk_polls: 2,
        bulk_result,
        ..Store::default()
    }
}

/// The store, and the storage origin its bulk results are served from.
pub async fn start(store: Store) -> (Upstream, Upstream, Shared) {
    let shared = Arc::new(Mutex::new(store));
    let storage = Upstream::start(
        Router::new()
            .route("/shopify/{file}", get(storage_file))
            .with_state(shared.clone()),
    )
    .await;
    shared.lock().unwrap().storage_origin = storage.origin();
    let app = Router::new()
        .route("/admin/oauth/access_token", post(token))
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .route("/admin/api/{version}/{resource}", get(list))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), log))
        .with_state(shared.clone());
    (Upstream::start(app).await, storage, shared)
}

async fn log(
    State(s): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri().to_string();
    let token = request
        .headers()
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    s.lock().unwrap().seen.push(Seen {
        uri,
        status: response.status().as_u16(),
        token,
        at: Instant::now(),
    });
    response
}

async fn token(State(s): State<Shared>, body: String) -> Response {
    let form: BTreeMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_client",
            "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}))).into_response();
    }
    let mut s = s.lock().unwrap();
    let token = format!(
        "shpat_{:032x}",
        0x5eed_u128 * (u128::from(s.issued) + 7) * 0x9e37_79b9_7f4a_7c15
    );
    s.issued += 1;
    s.tokens.push(token.clone());
    axum::Json(json!({"access_token": token, "scope": "read_orders,read_products,read_customers,read_inventory,read_locations", "expires_in": 86399})).into_response()
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}))).into_response();
    r.headers_mut().insert(
        "www-authenticate",
        "Basic Realm=\"Shopify API Authentication\""
            .parse()
            .unwrap(),
    );
    r
}

fn authorized(s: &Store, headers: &HeaderMap) -> bool {
    headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| s.tokens.iter().any(|k| k == t))
}

fn call_limit(mut r: Response, used: u32) -> Response {
    r.headers_mut().insert(
        "x-shopify-shop-api-call-limit",
        format!("{used}/40").parse().unwrap(),
    );
    r
}

/// `2024-05-01T10:00:00-05:00` (or `Z`) as seconds since the epoch.
fn seconds(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (time, offset) = match rest.find(['+', '-', 'Z']) {
        Some(i) => rest.split_at(i),
        None => (rest, "Z"),
    };
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.split('.').next()?.parse().ok())
        .collect::<Option<_>>()?;
    let off = match offset {
        "Z" | "" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = wharf_sdk::time::days(d[0], u32::try_from(d[1]).ok()?, u32::try_from(d[2]).ok()?);
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t.get(2).copied().unwrap_or(0) - off)
}

async fn list(
    State(s): State<Shared>,
    Path((version, resource)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let mut store = s.lock().unwrap();
    if !authorized(&store, &headers) {
        return unauthorized();
    }
    if store.throttle > 0 {
        store.throttle -= 1;
        let r = (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "2.0")],
            axum::Json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}))).into_response();
        return call_limit(r, 40);
    }
    let Some(name) = resource.strip_suffix(".json") else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": "Not Found"})),
        )
            .into_response();
    };
    if name == "shop" {
        return call_limit(axum::Json(json!({"shop": {"id": 548380009, "name": "John Smith Test Store", "myshopify_domain": "jsmith.myshopify.com"}})).into_response(), 1);
    }
    let Some(all) = store.resources.get(name).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": "Not Found"})),
        )
            .into_response();
    };
    let mut p: BTreeMap<String, String> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let limit: usize = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    if limit > 250 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": {"limit": ["must be less than or equal to 250"]}})),
        )
            .into_response();
    }
    let mut after: u64 = 0;
    if let Some(info) = p.get("page_info").cloned() {
        if let Some(other) = p
            .keys()
            .find(|k| !["page_info", "limit", "fields"].contains(&k.as_str()))
        {
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": format!("{other} cannot be passed when page_info is present")}))).into_response();
        }
        let decoded: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&info)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        after = decoded["last_id"].as_u64().unwrap_or(0);
        if let Some(filters) = decoded["filters"].as_object() {
            for (k, v) in filters {
                p.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
    }
    if name == "inventory_levels"
        && !p.contains_key("location_ids")
        && !p.contains_key("inventory_item_ids")
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"errors": "location_ids or inventory_item_ids is required"})),
        )
            .into_response();
    }
    let since = p.get("updated_at_min").map(|m| seconds(m));
    if let Some(None) = since {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": {"updated_at_min": ["is invalid"]}})),
        )
            .into_response();
    }
    let status = p.get("status").cloned().unwrap_or_else(|| "open".into());
    let id_of = |r: &Value| {
        r["id"]
            .as_u64()
            .or_else(|| r["inventory_item_id"].as_u64())
            .unwrap_or(0)
    };
    let mut matching: Vec<Value> = all
        .into_iter()
        .filter(|r| {
            since.flatten().is_none_or(|m| {
                r["updated_at"]
                    .as_str()
                    .and_then(seconds)
                    .is_some_and(|u| u >= m)
            })
        })
        .filter(|r| {
            name != "orders" || status == "any" || (status == "open") == r["closed_at"].is_null()
        })
        .filter(|r| {
            name != "inventory_levels"
                || p.get("location_ids").is_some_and(|ids| {
                    ids.split(',')
                        .any(|i| i.parse::<u64>().ok() == r["location_id"].as_u64())
                })
        })
        .collect();
    matching.sort_by_key(id_of);
    let rest: Vec<Value> = matching.into_iter().filter(|r| id_of(r) > after).collect();
    let page: Vec<Value> = rest.iter().take(limit).cloned().collect();
    let mut response = axum::Json(json!({ name: page })).into_response();
    if rest.len() > limit {
        let filters: BTreeMap<&str, &String> = p
            .iter()
            .filter(|(k, _)| !["page_info", "limit", "fields"].contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let info = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"direction": "next", "last_id": id_of(page.last().unwrap()), "filters": filters}).to_string());
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let link = format!(
            "<http://{host}/admin/api/{version}/{resource}?limit={limit}&page_info={info}>; rel=\"next\""
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    call_limit(response, 1)
}

fn cost(requested: u32, available: u32) -> Value {
    json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": if available >= requested { json!(requested) } else { Value::Null },
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}})
}

async fn graphql(
    State(s): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut store = s.lock().unwrap();
    if !authorized(&store, &headers) {
        return unauthorized();
    }
    if version != VERSION {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": "Not Found"})),
        )
            .into_response();
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let query = request["query"].as_str().unwrap_or_default();
    if store.gql_throttle > 0 {
        store.gql_throttle -= 1;
        return axum::Json(json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
            "documentation": "https://shopify.dev/api/usage/rate-limits"}}], "extensions": cost(250, 50)})).into_response();
    }
    if query.contains("bulkOperationRunQuery(") {
        let inner = request["variables"]["query"].as_str().unwrap_or_default();
        if !inner.trim_start().starts_with('{') || inner.contains("node(") {
            return axum::Json(json!({"data": {"bulkOperationRunQuery": {"bulkOperation": null,
                "userErrors": [{"field": ["query"], "message": "Invalid bulk query", "code": "INVALID"}]}}, "extensions": cost(10, 1990)})).into_response();
        }
        if let Some((id, _)) = &store.bulk {
            let message = format!(
                "A bulk query operation for this app and shop is already in progress: {id}."
            );
            return axum::Json(json!({"data": {"bulkOperationRunQuery": {"bulkOperation": null,
                "userErrors": [{"field": null, "message": message, "code": "OPERATION_IN_PROGRESS"}]}}, "extensions": cost(10, 1990)})).into_response();
        }
        let id = "gid://shopify/BulkOperation/720918".to_string();
        store.bulk = Some((id.clone(), 0));
        return axum::Json(json!({"data": {"bulkOperationRunQuery": {"bulkOperation": {"id": id, "status": "CREATED"}, "userErrors": []}},
            "extensions": cost(10, 1990)})).into_response();
    }
    if query.contains("node(id:") {
        let asked = request["variables"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let polls_needed = store.bulk_polls;
        let origin = store.storage_origin.clone();
        let size = store.bulk_result.len();
        let Some((id, polls)) = store.bulk.as_mut().filter(|(id, _)| *id == asked) else {
            return axum::Json(json!({"data": {"node": null}, "extensions": cost(1, 1999)}))
                .into_response();
        };
        *polls += 1;
        let done = *polls > polls_needed;
        let node = if done {
            json!({"id": id, "status": "COMPLETED", "errorCode": null, "objectCount": "4", "fileSize": size.to_string(),
                "url": format!("{origin}/shopify/dyfkl3g72empyyoenvmtidlm9o4g?GoogleAccessId=x&Expires=1&Signature=abc%3D"), "partialDataUrl": null})
        } else {
            json!({"id": id, "status": if *polls == 1 { "CREATED" } else { "RUNNING" }, "errorCode": null, "objectCount": "0", "url": null, "partialDataUrl": null})
        };
        if done {
            store.bulk = None;
        }
        return axum::Json(json!({"data": {"node": node}, "extensions": cost(1, 1999)}))
            .into_response();
    }
    axum::Json(json!({"errors": [{"message": "this fake knows bulk operations only", "extensions": {"code": "undefinedField"}}]})).into_response()
}

async fn storage_file(
    State(s): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let mut store = s.lock().unwrap();
    store.storage_seen.push(headers);
    if file != "dyfkl3g72empyyoenvmtidlm9o4g" || !q.unwrap_or_default().contains("Signature=abc%3D")
    {
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>SignatureDoesNotMatch</Code></Error>",
        )
            .into_response();
    }
    (
        [("content-type", "application/jsonl")],
        store.bulk_result.clone(),
    )
        .into_response()
}

//! A fake Trendyol seller API (production base `/integration`), from
//! developers.trendyol.com (details and sources in
//! `docs/vendors/trendyol.md`):
//!
//! - Basic auth with the API key and secret; a wrong pair is `401
//!   {"exception": "ClientApiAuthenticationException"}`; a request without
//!   `User-Agent` is blocked with `403`
//!   (<https://developers.trendyol.com/en/docs/authorization>).
//! - `GET /order/sellers/{id}/orders/stream`: `size` ≤ 200,
//!   `lastModifiedStartDate`/`lastModifiedEndDate` in epoch ms at most 14
//!   days apart, `nextCursor`; `{content, size, hasMore, nextCursor}`
//!   newest first; changing the filters under a cursor is `400`
//!   (<https://developers.trendyol.com/v2.0/docs/getshipmentpackagesstream>).
//! - `GET /order/sellers/{id}/claims`: `startDate`/`endDate`, `page` from 0,
//!   `size` ≤ 200; `{page, size, totalPages, totalElements, content}`
//!   (<https://developers.trendyol.com/en/docs/claim-integration>).
//! - `GET /product/sellers/{id}/products/approved`: `size` ≤ 100, `page`,
//!   `dateQueryType`, `startDate`/`endDate`; content-grouped with
//!   `variants` (<https://developers.trendyol.com/reference/filterapprovedproducts>;
//!   the variant field names here are ours, the vendor's full schema was
//!   not available).
//! - At most 50 requests per endpoint in 10 seconds; the 51st is `429`
//!   `too.many.requests`, without `Retry-After`. Whether Trendyol counts a
//!   sliding window or windows of the clock is not documented; this fake
//!   counts windows of the clock, as gateway counters keyed by window do.
//! - Errors as `{"errors": [{"key", "message", "errorCode"}]}`.
//!
//! Payloads follow the documentation's samples (a delivered package with
//! its lines and history; a claim with its items).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::Upstream;

pub const SELLER: &str = "4321";
pub const KEY: &str = "ty-api-key-8";
pub const SECRET: &str = "ty-api-secret-9";
pub const DAY_MS: i64 = 86_400_000;

/// A request the fake served.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub user_agent: Option<String>,
    pub status: u16,
    pub at: Instant,
    /// Wall-clock time, epoch ms.
    pub epoch_ms: i64,
}

#[derive(Default)]
pub struct Seller {
    pub orders: Vec<Value>,
    pub claims: Vec<Value>,
    pub products: Vec<Value>,
    pub seen: Vec<Seen>,
    /// Answer the next this many requests with `429`.
    pub throttle: u32,
}

pub type Shared = Arc<Mutex<Seller>>;

pub fn order(package: u64, modified: i64) -> Value {
    json!({
        "id": package, "shipmentPackageId": package, "orderNumber": format!("1108165{package:04}"),
        "orderDate": modified - 3_600_000, "status": "Delivered", "shipmentPackageStatus": "Delivered",
        "lastModifiedDate": modified, "grossAmount": 816.36, "packageGrossAmount": 816.36,
        "totalDiscount": 57.15, "totalPrice": 759.21, "currencyCode": "TRY", "customerId": 29401393,
        "customerFirstName": "Trendyol", "customerLastName": "Müşterisi",
        "cargoProviderName": "Trendyol Express Marketplace", "cargoTrackingNumber": 7330031444426443_i64,
        "shipmentAddress": {"city": "İstanbul", "district": "Şişli", "countryCode": "TR", "fullName": "Trendyol Müşterisi"},
        "packageHistories": [{"createdDate": modified - 7_200_000, "status": "Created"}],
        "lines": [{"id": package * 10, "lineId": package * 10, "quantity": 1, "barcode": "MDH01800",
            "merchantSku": "MDH01800", "stockCode": "MDH01800", "productName": "Çay bardağı",
            "amount": 816.36, "lineGrossAmount": 816.36, "price": 759.21, "lineUnitPrice": 759.21,
            "vatRate": 10, "orderLineItemStatusName": "Delivered", "currencyCode": "TRY"}]
    })
}

pub fn claim(id: &str, modified: i64) -> Value {
    json!({
        "id": id, "claimId": id, "orderNumber": "65745805", "orderDate": modified - 9 * DAY_MS,
        "claimDate": modified - DAY_MS, "lastModifiedDate": modified,
        "cargoProviderName": "Aras Kargo Marketplace", "orderShipmentPackageId": 3853354,
        "items": [{"orderLine": {"id": 28717254, "productName": "Gömlek", "barcode": "99999999999", "price": 12.95},
            "claimItems": [{"id": format!("{id}-1"), "orderLineItemId": 29815493,
                "customerClaimItemReason": {"name": "Beden uymama", "externalReasonId": 23, "code": "UNFIT"},
                "claimItemStatus": {"name": "Created"}, "resolved": false, "autoAccepted": false}]}]
    })
}

pub fn product(content: u64, barcodes: &[&str], modified: i64) -> Value {
    json!({
        "contentId": content, "productMainId": format!("PRO-{content}"), "title": "Çay bardağı seti",
        "brand": "Paşabahçe", "categoryName": "Bardak",
        "variants": barcodes.iter().map(|b| json!({"barcode": b, "stockCode": format!("SKU-{b}"),
            "quantity": 6, "salePrice": 129.9, "listPrice": 149.9, "onSale": true,
            "lastModifiedDate": modified})).collect::<Vec<_>>()
    })
}

pub async fn start(seller: Seller) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(seller));
    let app = Router::new()
        .route(
            "/integration/order/sellers/{seller}/orders/stream",
            get(orders),
        )
        .route("/integration/order/sellers/{seller}/claims", get(claims))
        .route(
            "/integration/product/sellers/{seller}/products/approved",
            get(products),
        )
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn error(status: StatusCode, key: &str, message: &str) -> Response {
    let body = json!({"errors": [{"key": key, "message": message, "errorCode": status.as_u16().to_string()}]});
    (status, axum::Json(body)).into_response()
}

async fn gate(
    State(seller): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).unwrap_or_default();
    let headers = request.headers().clone();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let now = Instant::now();
    let epoch_ms = now_ms();
    let limited = {
        let mut s = seller.lock().unwrap();
        // Counted per endpoint in 10-second windows of the clock, as a
        // gateway's counter keyed by window does.
        let window = epoch_ms / 10_000;
        let recent = s
            .seen
            .iter()
            // Only the seller's authenticated requests count.
            .filter(|r| {
                r.path == path
                    && ![401, 403, 429].contains(&r.status)
                    && r.epoch_ms / 10_000 == window
            })
            .count();
        if s.throttle > 0 {
            s.throttle -= 1;
            true
        } else {
            recent >= 50
        }
    };
    let response = if user_agent.is_none() {
        (StatusCode::FORBIDDEN, "Forbidden").into_response()
    } else if !authorized(&headers) {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"exception": "ClientApiAuthenticationException"})),
        )
            .into_response()
    } else if limited {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests",
            "too.many.requests",
        )
    } else {
        next.run(request).await
    };
    let status = response.status().as_u16();
    seller.lock().unwrap().seen.push(Seen {
        path,
        query,
        user_agent,
        status,
        at: now,
        epoch_ms,
    });
    response
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

type Params = Query<BTreeMap<String, String>>;

fn number(p: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, Response> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid.parameter",
                &format!("{name} must be a number"),
            )
        }),
    }
}

/// `size` within `max`, and a date range within 14 days.
fn limits(
    p: &BTreeMap<String, String>,
    max: i64,
    from: &str,
    to: &str,
    now: i64,
) -> Result<(i64, i64, i64), Response> {
    let size = number(p, "size")?.unwrap_or(50);
    if !(1..=max).contains(&size) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid.size",
            &format!("size must be between 1 and {max}"),
        ));
    }
    let end = number(p, to)?.unwrap_or(now);
    let start = number(p, from)?.unwrap_or(end - 14 * DAY_MS);
    if end < start || end - start > 14 * DAY_MS {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "date.range.exceeded",
            "the date range may be at most 14 days",
        ));
    }
    Ok((size, start, end))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn seller_ok(id: &str) -> Result<(), Response> {
    if id == SELLER {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "seller.mismatch",
            "the key belongs to another seller",
        ))
    }
}

async fn orders(State(s): State<Shared>, Path(id): Path<String>, Query(p): Params) -> Response {
    if let Err(r) = seller_ok(&id) {
        return r;
    }
    let (size, start, end) = match limits(
        &p,
        200,
        "lastModifiedStartDate",
        "lastModifiedEndDate",
        now_ms(),
    ) {
        Ok(l) => l,
        Err(r) => return r,
    };
    // The cursor is the offset and the filters it was made for.
    let offset = match p.get("nextCursor") {
        None => 0,
        Some(c) => {
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            match decoded.split(':').collect::<Vec<_>>().as_slice() {
                [o, a, b] if *a == start.to_string() && *b == end.to_string() => {
                    o.parse().unwrap_or(0)
                }
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid.cursor",
                        "the cursor does not belong to these filters",
                    );
                }
            }
        }
    };
    let s = s.lock().unwrap();
    let mut matching: Vec<&Value> = s
        .orders
        .iter()
        .filter(|o| (start..=end).contains(&o["lastModifiedDate"].as_i64().unwrap_or(0)))
        .collect();
    matching.sort_by_key(|o| std::cmp::Reverse(o["lastModifiedDate"].as_i64()));
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size as usize)
        .map(|o| (*o).clone())
        .collect();
    let has_more = offset + page.len() < matching.len();
    let next = has_more.then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{start}:{end}", offset + page.len()))
    });
    axum::Json(json!({"content": page, "size": size, "hasMore": has_more, "nextCursor": next}))
        .into_response()
}

fn paged(items: Vec<Value>, page: i64, size: i64) -> Response {
    let total = items.len() as i64;
    let content: Vec<Value> = items
        .into_iter()
        .skip((page * size) as usize)
        .take(size as usize)
        .collect();
    axum::Json(
        json!({"page": page, "size": size, "totalPages": (total + size - 1) / size,
        "totalElements": total, "content": content}),
    )
    .into_response()
}

async fn claims(State(s): State<Shared>, Path(id): Path<String>, Query(p): Params) -> Response {
    if let Err(r) = seller_ok(&id) {
        return r;
    }
    let (size, start, end) = match limits(&p, 200, "startDate", "endDate", now_ms()) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let page = match number(&p, "page") {
        Ok(n) => n.unwrap_or(0),
        Err(r) => return r,
    };
    let s = s.lock().unwrap();
    let mut items: Vec<Value> = s
        .claims
        .iter()
        .filter(|c| (start..=end).contains(&c["lastModifiedDate"].as_i64().unwrap_or(0)))
        .cloned()
        .collect();
    items.sort_by_key(|c| c["lastModifiedDate"].as_i64());
    paged(items, page, size)
}

async fn products(State(s): State<Shared>, Path(id): Path<String>, Query(p): Params) -> Response {
    if let Err(r) = seller_ok(&id) {
        return r;
    }
    let size = match number(&p, "size") {
        Ok(n) => n.unwrap_or(50),
        Err(r) => return r,
    };
    if !(1..=100).contains(&size) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid.size",
            "size must be between 1 and 100",
        );
    }
    let (page, start, end) = match (
        number(&p, "page"),
        number(&p, "startDate"),
        number(&p, "endDate"),
    ) {
        (Ok(page), Ok(start), Ok(end)) => (page.unwrap_or(0), start, end),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid.parameter",
                "page, startDate and endDate are numbers",
            );
        }
    };
    if (start.is_some() || end.is_some())
        && p.get("dateQueryType").map(String::as_str) != Some("VARIANT_MODIFIED_DATE")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid.dateQueryType",
            "dateQueryType is required with dates",
        );
    }
    let s = s.lock().unwrap();
    let items: Vec<Value> = s
        .products
        .iter()
        .filter(|c| {
            c["variants"].as_array().into_iter().flatten().any(|v| {
                let m = v["lastModifiedDate"].as_i64().unwrap_or(0);
                start.is_none_or(|a| m >= a) && end.is_none_or(|b| m <= b)
            })
        })
        .cloned()
        .collect();
    paged(items, page, size)
}

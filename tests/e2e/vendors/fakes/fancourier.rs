//! A fake FAN Courier API v2.0 (`https://api.fancourier.ro`), from the
//! API documentation as FAN's published client libraries quote it
//! (details, gaps and sources in `docs/vendors/fancourier.md`;
//! <https://github.com/FAN-Courier/API-Docs>):
//!
//! - `POST /login` with `username` and `password` (query or form):
//!   `{"status": "success", "data": {"token": "<id>|<40 chars>",
//!   "expiresAt": "Y-m-d H:i:s"}}`; other routes need `Authorization:
//!   Bearer`, else `401 {"message": "Unauthenticated."}` (the body of a
//!   failed login and of a 401 are not documented; these are the shapes
//!   clients handle).
//! - `POST /intern-awb`: `{clientId, shipments: [...]}` answered `200` with
//!   `{"response": [...]}` in order: `awbNumber` (13 digits) and `tariff`
//!   for a booked shipment, `awbNumber: null`, `success: false` and
//!   `errors` for a refused one (a parcel or envelope is required; a
//!   10-digit Romanian phone; `streetNo` as text).
//! - `GET /reports/awb/tracking?clientId=&awb[]=…&language=`: `{"status":
//!   "success", "data": [...]}`, events in order, `message` for an AWB with
//!   no scans yet.
//! - `GET /reports/services`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: u64 = 7032158;
pub const USERNAME: &str = "clienttest";
pub const PASSWORD: &str = "testing-fan-4";

#[derive(Default)]
pub struct Fan {
    pub tokens: Vec<String>,
    pub logins: u32,
    /// Every `intern-awb` request's shipments.
    pub awb_requests: Vec<Vec<Value>>,
    /// Booked AWBs: number, shipment, scan events.
    pub awbs: Vec<(u64, Value, Vec<Value>)>,
    /// Answer the next `intern-awb` with a 502 after booking it.
    pub fail_after_booking: bool,
    pub unauthorized: u32,
}

pub type Shared = Arc<Mutex<Fan>>;

pub async fn start() -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(Fan::default()));
    let app = Router::new()
        .route("/login", post(login))
        .route("/intern-awb", post(intern_awb))
        .route("/reports/awb/tracking", get(tracking))
        .route("/reports/services", get(services))
        .with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

impl Fan {
    /// Every session ends, as after 24 hours.
    pub fn expire(&mut self) {
        self.tokens.clear();
    }

    /// A scan of `awb`.
    pub fn scan(&mut self, awb: u64, id: &str, name: &str, location: &str) {
        let entry = self
            .awbs
            .iter_mut()
            .find(|(n, _, _)| *n == awb)
            .expect("a booked AWB");
        let date = format!("2026-12-0{} 09:17:00", 1 + entry.2.len());
        entry
            .2
            .push(json!({"id": id, "name": name, "location": location, "date": date}));
    }
}

async fn login(State(fan): State<Shared>, RawQuery(q): RawQuery, body: String) -> Response {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .ok()
        .filter(|p: &Vec<(String, String)>| !p.is_empty())
        .or_else(|| serde_urlencoded::from_str(&body).ok())
        .unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("username") != Some(USERNAME) || get("password") != Some(PASSWORD) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"status": "fail", "message": "Invalid credentials"})),
        )
            .into_response();
    }
    let mut f = fan.lock().unwrap();
    f.logins += 1;
    let token = format!(
        "{}|{:040}",
        48944740 + f.logins,
        u128::from(f.logins) * 7_919_000_000_000_000_007
    );
    f.tokens.push(token.clone());
    axum::Json(
        json!({"status": "success", "data": {"token": token, "expiresAt": "2026-12-06 07:23:53"}}),
    )
    .into_response()
}

fn signed_in(fan: &mut Fan, headers: &HeaderMap) -> bool {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| fan.tokens.iter().any(|k| k == t));
    if !ok {
        fan.unauthorized += 1;
    }
    ok
}

fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"message": "Unauthenticated."})),
    )
        .into_response()
}

async fn services(State(fan): State<Shared>, headers: HeaderMap) -> Response {
    if !signed_in(&mut fan.lock().unwrap(), &headers) {
        return unauthenticated();
    }
    axum::Json(json!({"status": "success", "data": [{"id": 1, "name": "Standard"}, {"id": 2, "name": "Cont Colector"}, {"id": 27, "name": "FANbox"}]})).into_response()
}

/// What FAN refuses in a shipment, as its `errors` map.
fn refusal(s: &Value) -> Option<Value> {
    let packages = &s["info"]["packages"];
    if packages["parcel"].as_u64().unwrap_or(0) + packages["envelope"].as_u64().unwrap_or(0) == 0 {
        return Some(json!({"info.parcels": "At least one envelope or parcel is required"}));
    }
    let phone = s["recipient"]["phone"].as_str().unwrap_or("");
    let valid = phone.len() == 10
        && phone.starts_with('0')
        && phone.bytes().all(|b| b.is_ascii_digit())
        && matches!(phone.as_bytes()[1], b'2' | b'3' | b'7');
    if !valid {
        return Some(json!({"recipient.phone": ["phoneInvalid"]}));
    }
    let address = &s["recipient"]["address"];
    for field in ["county", "locality", "street"] {
        if address[field].as_str().is_none_or(str::is_empty) {
            return Some(
                json!({ format!("recipient.address.{field}"): format!("The recipient.address.{field} field is required.") }),
            );
        }
    }
    if !address["streetNo"].is_string() && !address["streetNo"].is_null() {
        return Some(
            json!({"recipient.address.streetNo": "The recipient.address.street no must be a string."}),
        );
    }
    None
}

async fn intern_awb(State(fan): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut f = fan.lock().unwrap();
    if !signed_in(&mut f, &headers) {
        return unauthenticated();
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if request["clientId"].as_u64() != Some(CLIENT_ID) {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"message": "The selected client id is invalid.", "errors": {"clientId": ["The selected client id is invalid."]}}))).into_response();
    }
    let shipments = request["shipments"].as_array().cloned().unwrap_or_default();
    f.awb_requests.push(shipments.clone());
    let mut results = Vec::new();
    for s in shipments {
        if let Some(errors) = refusal(&s) {
            results.push(json!({"awbNumber": null, "success": false, "errors": errors}));
            continue;
        }
        let number = 2_332_300_120_218 + f.awbs.len() as u64;
        f.awbs.push((number, s, Vec::new()));
        results.push(json!({"awbNumber": number, "tariff": 30.53, "vat": 5.64, "packages": 1, "letter": "B",
            "routingCode": "0200", "office": "Bucuresti", "visualCode": "02-01-01", "estimatedDeliveryTime": 24, "errors": null}));
    }
    if f.fail_after_booking {
        f.fail_after_booking = false;
        return (
            StatusCode::BAD_GATEWAY,
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response();
    }
    axum::Json(json!({"response": results})).into_response()
}

async fn tracking(
    State(fan): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let mut f = fan.lock().unwrap();
    if !signed_in(&mut f, &headers) {
        return unauthenticated();
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    if !pairs
        .iter()
        .any(|(k, v)| k == "clientId" && *v == CLIENT_ID.to_string())
    {
        return axum::Json(json!({"status": "fail", "message": "clientId is required"}))
            .into_response();
    }
    let data: Vec<Value> = pairs
        .iter()
        .filter(|(k, _)| k == "awb[]")
        .map(|(_, awb)| {
            let found = f.awbs.iter().find(|(n, _, _)| n.to_string() == *awb);
            match found {
                Some((_, shipment, events)) if !events.is_empty() => json!({"awbNumber": awb,
                    "content": shipment["info"]["content"], "date": "2026-12-01 00:00:00", "paymentDate": "",
                    "returnAwbNumber": "", "redirectionAwbNumber": "", "reimbursementAwbNumber": "", "oPODAwbNumber": "",
                    "confirmation": {"name": "", "date": ""}, "OTD": "24H", "events": events}),
                _ => json!({"awbNumber": awb, "content": "", "message": "The AWB has been registerd by sender"}),
            }
        })
        .collect();
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

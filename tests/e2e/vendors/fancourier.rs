//! The `fancourier` connector through `wharf serve`: shop orders (served
//! by a plain JSON endpoint, read by `http-json`) booked as AWBs, FAN's
//! refusal of one shipment a rejection with its field and code, the host's
//! login session reused and renewed after FAN's 401, a batch whose outcome
//! is unknown never sent twice, and the booked AWBs tracked as a source.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::fancourier::{self, CLIENT_ID, PASSWORD, USERNAME};
use crate::support::Upstream;

fn shipment(order: &str, phone: &str, parcels: u32) -> Value {
    json!({"orderId": order,
        "info": {"service": "Standard", "packages": {"parcel": parcels, "envelope": 0}, "weight": 1,
            "payment": "recipient", "cod": 199.99, "declaredValue": 199.99, "content": format!("Order {order}"),
            "observation": "", "options": ["X"], "dimensions": {"length": 10, "height": 1, "width": 5}},
        "recipient": {"name": "John Ivy", "contactPerson": "John Ivy", "phone": phone, "email": "",
            "address": {"county": "Arad", "locality": "Aciuta", "street": "Str Lunga", "streetNo": 1, "zipCode": ""}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fancourier_books_and_tracks_awbs() {
    let (api, fan) = fancourier::start().await;
    let orders = vec![
        shipment("1001", "0723456789", 1),
        shipment("1002", "+40723456789", 1),
        shipment("1003", "0212345678", 2),
    ];
    let shop = Upstream::start(
        Router::new().route("/shipments", get(move || async move { axum::Json(orders) })),
    )
    .await;
    let wharf = Wharf::start().await;
    let http_json = wharf.upload("http-json").await;
    let connector = wharf.upload("fancourier").await;
    let config = json!({"client_id": CLIENT_ID, "base_url": api.origin(), "language": "ro"});

    let wrong = wharf
        .connection(
            "fan-wrong",
            &connector,
            config.clone(),
            json!({"username": USERNAME, "password": "nope-123"}),
        )
        .await;
    let a = wharf.check(&wrong).await;
    let text = a.json.to_string();
    assert_eq!(a.json["kind"], "auth", "{text}");
    assert!(text.contains("Invalid credentials"), "FAN's words: {text}");
    assert!(!text.contains("nope-123"), "{text}");

    let conn = wharf
        .connection(
            "fan",
            &connector,
            config,
            json!({"username": USERNAME, "password": PASSWORD}),
        )
        .await;
    assert_eq!(wharf.check(&conn).await.json["ok"], true);
    let source = wharf
        .connection("shop", &http_json,
            json!({"base_url": shop.origin(), "streams": {"shipments": {"path": "/shipments", "key": "orderId"}}}), json!({}))
        .await;
    let book = wharf
        .sync(
            json!({"name": "book-awbs", "source": source, "streams": ["shipments"], "mode": "full",
            "destination": conn, "error_threshold": 5}),
        )
        .await;
    let run = wharf.run(&book).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 2, "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], "1002");
    assert_eq!(rejected[0]["field"], "recipient.phone");
    assert_eq!(rejected[0]["message"], "recipient.phone: phoneInvalid");
    {
        let f = fan.lock().unwrap();
        assert_eq!(f.logins, 1, "one login for the check and the run");
        assert_eq!(f.awb_requests.len(), 1, "one batch");
        assert_eq!(
            f.awbs[0].1["recipient"]["address"]["streetNo"], "1",
            "streetNo sent as text"
        );
    }

    // Tracking what was booked; the session expired in between.
    let (first, second) = {
        let mut f = fan.lock().unwrap();
        f.expire();
        let (a, b) = (f.awbs[0].0, f.awbs[1].0);
        f.scan(a, "C0", "Expeditie ridicata", "Bucuresti");
        f.scan(a, "S2", "Livrat", "Arad");
        (a, b)
    };
    let track = wharf
        .sync(json!({"name": "track-awbs", "source": conn, "streams": ["tracking"], "mode": "full", "destination": "records"}))
        .await;
    let run = wharf.run(&track).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let tracked = wharf.records(&track, "tracking").await;
    assert_eq!(tracked.len(), 2);
    let delivered = tracked
        .iter()
        .find(|t| t["key"].as_str() == Some(first.to_string().as_str()))
        .unwrap();
    assert_eq!(delivered["data"]["delivered"], true);
    assert_eq!(delivered["data"]["status"]["id"], "S2");
    let waiting = tracked
        .iter()
        .find(|t| t["key"].as_str() == Some(second.to_string().as_str()))
        .unwrap();
    assert_eq!(waiting["data"]["delivered"], false);
    assert_eq!(
        waiting["data"]["message"],
        "The AWB has been registerd by sender"
    );
    {
        let f = fan.lock().unwrap();
        assert_eq!(f.logins, 2, "logged in again after FAN's 401");
        assert!(f.unauthorized >= 1);
    }

    // FAN booked the batch but the answer was lost: the run fails and
    // nothing is sent twice.
    fan.lock().unwrap().fail_after_booking = true;
    let run = wharf.run(&book).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.contains("may have been booked"), "{error}");
    assert_eq!(
        fan.lock().unwrap().awb_requests.len(),
        2,
        "the lost batch was not sent again"
    );
    let again = wharf.get(&format!("/api/v1/syncs/{book}/runs")).await;
    let attempts = again.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "queued")
        .count();
    assert_eq!(attempts, 0, "a fatal failure is not retried");
}

//! The `trendyol` connector through `wharf serve` against the fake seller
//! API: the User-Agent rule, a wrong key as `auth`, orders read by 14-day
//! windows with the stream cursor, claims and products by page, the
//! declared 50-per-10-seconds budget kept by the host (the fake never has
//! to refuse), a `429` waited out for a whole window, and incremental runs
//! that start from the last run's end less the lookback.

use std::time::Duration;

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::trendyol::{self, DAY_MS, KEY, SECRET, SELLER, Seller, claim, order, product};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config(api: &crate::support::Upstream) -> Value {
    json!({"seller_id": SELLER, "base_url": api.url("/integration"), "page_size": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trendyol_orders_products_and_claims() {
    let now = now_ms();
    // 56 packages changed over the last 28 days, one older than the first
    // sync reads.
    let mut orders: Vec<Value> = (1..=56)
        .map(|i| order(3717432700 + i, now - i as i64 * DAY_MS / 2))
        .collect();
    orders.push(order(3717432699, now - 45 * DAY_MS));
    let seller = Seller {
        orders,
        claims: vec![claim(
            "f9da2317-876b-4b86-b8f7-0535c3b65731",
            now - 3 * DAY_MS,
        )],
        products: vec![
            product(
                13622639,
                &["8690000000011", "8690000000012"],
                now - 200 * DAY_MS,
            ),
            product(13622640, &["8690000000021"], now - 100 * DAY_MS),
        ],
        ..Seller::default()
    };
    let (api, state) = trendyol::start(seller).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("trendyol").await;

    let wrong = wharf
        .connection(
            "ty-wrong",
            &connector,
            config(&api),
            json!({"api_key": KEY, "api_secret": "nope"}),
        )
        .await;
    let a = wharf.check(&wrong).await;
    assert_eq!(a.json["kind"], "auth", "{:?}", a.json);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("ClientApiAuthenticationException"),
        "{:?}",
        a.json
    );

    let ty = wharf
        .connection(
            "ty",
            &connector,
            config(&api),
            json!({"api_key": KEY, "api_secret": SECRET}),
        )
        .await;
    assert_eq!(wharf.check(&ty).await.json["ok"], true);
    let sync = wharf
        .sync(
            json!({"name": "ty-records", "source": ty, "streams": ["orders", "claims", "products"],
            "mode": "incremental", "destination": "records"}),
        )
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let orders = wharf.records(&sync, "orders").await;
    assert_eq!(orders.len(), 56, "the first sync reads 30 days back");
    assert!(
        orders
            .iter()
            .all(|o| o["key"].as_str().unwrap().starts_with("37174327"))
    );
    assert_eq!(orders[0]["data"]["lines"][0]["barcode"], "MDH01800");
    assert_eq!(wharf.records(&sync, "claims").await.len(), 1);
    let products = wharf.records(&sync, "products").await;
    let barcodes: Vec<&str> = products
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        barcodes,
        ["8690000000011", "8690000000012", "8690000000021"]
    );
    assert_eq!(products[0]["data"]["content"]["brand"], "Paşabahçe");
    {
        let s = state.lock().unwrap();
        assert!(
            s.seen
                .iter()
                .all(|r| r.user_agent.as_deref() == Some("4321 - SelfIntegration"))
        );
        assert!(
            s.seen.iter().all(|r| r.status != 429),
            "the host kept the declared budget"
        );
        let stream: Vec<_> = s
            .seen
            .iter()
            .filter(|r| r.path.ends_with("/orders/stream") && r.status == 200)
            .collect();
        assert!(stream.len() > 50, "{} requests", stream.len());
        let mut per_window = std::collections::BTreeMap::new();
        for r in &stream {
            *per_window.entry(r.epoch_ms / 10_000).or_insert(0) += 1;
        }
        assert!(per_window.values().all(|n| *n <= 50), "{per_window:?}");
        for r in &stream {
            let from: i64 = r.query["lastModifiedStartDate"].parse().unwrap();
            let to: i64 = r.query["lastModifiedEndDate"].parse().unwrap();
            assert!(to - from <= 14 * DAY_MS, "{:?}", r.query);
        }
        assert!(
            s.seen
                .iter()
                .filter(|r| r.path.ends_with("/products/approved"))
                .all(|r| !r.query.contains_key("startDate")),
            "a first sync reads every product"
        );
    }

    // Incremental, with one refusal by the rate limiter on the way.
    let changed = {
        let mut s = state.lock().unwrap();
        s.seen.clear();
        s.throttle = 1;
        let at = now_ms();
        s.orders[5]["lastModifiedDate"] = json!(at);
        s.orders[5]["status"] = json!("Returned");
        s.claims
            .push(claim("0b3c9e55-a1a2-4d6f-9d71-bb0c6c1c2a10", at));
        s.products[1]["variants"][0]["lastModifiedDate"] = json!(at);
        s.products[1]["variants"][0]["quantity"] = json!(0);
        s.orders[5]["shipmentPackageId"].clone()
    };
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let orders = wharf.records(&sync, "orders").await;
    let returned = orders
        .iter()
        .find(|o| o["data"]["shipmentPackageId"] == changed)
        .unwrap();
    assert_eq!(returned["data"]["status"], "Returned");
    assert_eq!(wharf.records(&sync, "claims").await.len(), 2);
    let products = wharf.records(&sync, "products").await;
    assert_eq!(
        products
            .iter()
            .find(|p| p["key"] == "8690000000021")
            .unwrap()["data"]["quantity"],
        0
    );
    let s = state.lock().unwrap();
    let refused = s
        .seen
        .iter()
        .position(|r| r.status == 429)
        .expect("the forced 429");
    assert!(
        s.seen[refused + 1].at - s.seen[refused].at >= Duration::from_millis(9_500),
        "a 429 without Retry-After waits the whole 10-second window"
    );
    let first = s
        .seen
        .iter()
        .find(|r| r.path.ends_with("/orders/stream") && r.status == 200)
        .unwrap();
    let from: i64 = first.query["lastModifiedStartDate"].parse().unwrap();
    assert!(
        now - from < 2 * 3_600_000 && now - from > 3_000_000,
        "from the last run's end less an hour: {from}"
    );
    assert!(run["counters"]["fetched"].as_i64().unwrap() < 10, "{run}");
}

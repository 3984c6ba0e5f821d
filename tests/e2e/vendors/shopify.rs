//! The `shopify` connector through `wharf serve` against a fake store: the
//! token by the client credentials grant (a wrong secret refused in
//! Shopify's words; an expired token renewed on its 401), REST streams by
//! `page_info` links with `updated_at_min` incremental and `status=any`,
//! a 429 with `Retry-After: 2.0` waited out, a bulk export started, polled
//! through GraphQL throttling and read from the storage origin without
//! the shop's token, and webhooks verified and turned into records.

use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::shopify::{self, CLIENT_ID, CLIENT_SECRET, order};

fn hmac(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_rest_bulk_and_webhooks() {
    let (shop, storage, state) = shopify::start(shopify::store()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("shopify").await;
    let config = json!({"shop_url": shop.origin(), "bulk_download_origin": storage.origin(), "page_size": 2});
    let secrets = |secret: &str| json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": secret, "webhook_secret": CLIENT_SECRET});

    let wrong = wharf
        .connection(
            "shop-wrong",
            &connector,
            config.clone(),
            secrets("shpss_guess"),
        )
        .await;
    let a = wharf.check(&wrong).await;
    let text = a.json.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("shpss_guess"), "{text}");

    let conn = wharf
        .connection("shop", &connector, config, secrets(CLIENT_SECRET))
        .await;
    assert_eq!(wharf.check(&conn).await.json["ok"], true);
    state.lock().unwrap().throttle = 1;
    let sync = wharf
        .sync(json!({"name": "shop-records", "source": conn, "mode": "incremental", "destination": "records",
            "streams": ["orders", "products", "customers", "locations", "inventory_levels"]}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let orders = wharf.records(&sync, "orders").await;
    assert_eq!(orders.len(), 7, "status=any includes the closed order");
    assert_eq!(orders[0]["key"], "450789469");
    assert_eq!(
        wharf.records(&sync, "products").await[0]["data"]["variants"][0]["sku"],
        "IPOD2008PINK"
    );
    assert_eq!(
        wharf.records(&sync, "customers").await[0]["data"]["last_name"],
        "Norman"
    );
    let levels = wharf.records(&sync, "inventory_levels").await;
    assert_eq!(levels[0]["key"], "808950810:655441491");
    {
        let s = state.lock().unwrap();
        let pages: Vec<&str> = s
            .seen
            .iter()
            .filter(|r| r.uri.contains("/orders.json") && r.status == 200)
            .map(|r| r.uri.as_str())
            .collect();
        assert_eq!(pages.len(), 4, "{pages:?}");
        assert!(
            pages[0].contains("status=any") && pages[0].contains("limit=2"),
            "{}",
            pages[0]
        );
        assert!(
            pages[1..]
                .iter()
                .all(|p| p.contains("page_info=") && !p.contains("status=")),
            "{pages:?}"
        );
        let limited = s.seen.iter().position(|r| r.status == 429).expect("a 429");
        assert!(
            s.seen[limited + 1].at - s.seen[limited].at >= Duration::from_millis(1_900),
            "Retry-After: 2.0 was waited"
        );
        assert!(s.seen.iter().filter(|r| r.status == 401).count() == 0);
    }

    // Incremental, after the token expired: the host gets a new one.
    {
        let mut s = state.lock().unwrap();
        s.expire_tokens();
        s.seen.clear();
        let orders = s.resources.get_mut("orders").unwrap();
        orders[1] = order(450789470, "2024-06-01T09:00:00-05:00", "open");
        orders.push(order(450789480, "2024-06-02T09:00:00-05:00", "open"));
    }
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(wharf.records(&sync, "orders").await.len(), 8);
    {
        let s = state.lock().unwrap();
        let refused = s
            .seen
            .iter()
            .find(|r| r.status == 401)
            .expect("the old token was refused once");
        let later = s
            .seen
            .iter()
            .rev()
            .find(|r| r.status == 200 && r.token.is_some())
            .unwrap();
        assert_ne!(refused.token, later.token, "a new token");
        assert!(
            s.seen
                .iter()
                .any(|r| r.uri.contains("/admin/oauth/access_token")),
            "and renewed"
        );
        let first = s
            .seen
            .iter()
            .find(|r| r.uri.contains("/orders.json") && r.status == 200)
            .unwrap();
        let decoded = percent_encoding::percent_decode_str(&first.uri)
            .decode_utf8_lossy()
            .to_string();
        assert!(
            decoded.contains("updated_at_min=2024-05-07T09:55:00-05:00"),
            "the last updated_at less the lookback: {decoded}"
        );
    }

    // The bulk export: started, polled (once throttled), read from storage.
    state.lock().unwrap().gql_throttle = 1;
    let bulk = wharf
        .sync(json!({"name": "shop-bulk", "source": conn, "mode": "full", "destination": "records", "streams": ["bulk"]}))
        .await;
    let run = wharf.run(&bulk).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let lines = wharf.records(&bulk, "bulk").await;
    assert_eq!(lines.len(), 4);
    let variant = lines
        .iter()
        .find(|l| l["key"] == "gid://shopify/ProductVariant/19435458986040")
        .unwrap();
    assert_eq!(
        variant["data"]["__parentId"],
        "gid://shopify/Product/1921569226808"
    );
    {
        let s = state.lock().unwrap();
        assert_eq!(s.storage_seen.len(), 1);
        assert!(
            s.storage_seen[0].get("x-shopify-access-token").is_none(),
            "the token stays with the shop"
        );
    }

    // Webhooks: verified by the host, records by topic.
    let hook = wharf.webhook(&conn).await;
    let body = order(450789490, "2024-06-03T09:00:00-05:00", "open").to_string();
    let headers = |topic: &str, body: &str, id: &str| {
        vec![
            ("x-shopify-topic", topic.to_string()),
            ("x-shopify-hmac-sha256", hmac(body.as_bytes())),
            ("x-shopify-shop-domain", "jsmith.myshopify.com".to_string()),
            ("x-shopify-api-version", "2026-01".to_string()),
            ("x-shopify-webhook-id", id.to_string()),
            ("content-type", "application/json".to_string()),
        ]
    };
    let a = wharf
        .deliver(
            &hook,
            &headers(
                "orders/create",
                &body,
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
            body.as_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    assert!(
        wharf
            .records(&sync, "orders")
            .await
            .iter()
            .any(|o| o["key"] == "450789490")
    );
    let mut forged = headers(
        "orders/create",
        &body,
        "c0ffee00-0000-4000-8000-000000000001",
    );
    forged[1].1 = hmac(b"something else");
    let a = wharf.deliver(&hook, &forged, body.as_bytes()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let gone = json!({"id": 450789490}).to_string();
    let a = wharf
        .deliver(
            &hook,
            &headers(
                "orders/delete",
                &gone,
                "d1e2f3a4-0000-4000-8000-000000000002",
            ),
            gone.as_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    let orders: Vec<Value> = wharf.records(&sync, "orders").await;
    assert!(orders.iter().all(|o| o["key"] != "450789490"));
}

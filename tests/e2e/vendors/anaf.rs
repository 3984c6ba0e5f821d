//! The `anaf` connector through `wharf serve` against a fake ANAF:
//! connected by ANAF's OAuth2 flow; customers' CUIs looked up in the VAT
//! registry by the mapper; invoices uploaded to e-Factura, one accepted
//! and one refused with the errors of ANAF's report; the messages read
//! back, and a received invoice downloaded, unzipped and read; expired
//! tokens refreshed with the rotated refresh token.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::anaf::{self, CIF, CLIENT_ID, CLIENT_SECRET, invoice};
use crate::support::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anaf_lookup_efactura_upload_and_messages() {
    let (api, state) = anaf::start().await;
    state.lock().unwrap().received(invoice(
        "FZ-2026-771",
        "Furnizor SA",
        "8000000000",
        CIF,
        "605.00",
    ));
    let good = invoice("WH-0001", "Seller SRL", CIF, "76543210", "121.00");
    let bad = invoice("WH-FAIL-2", "Seller SRL", CIF, "76543210", "121.00");
    let data = json!({
        "customers": [{"id": "c1", "cui": "RO1590082"}, {"id": "c2", "cui": "99999999"}, {"id": "c3", "cui": "not a cui"}],
        "invoices": [{"id": "WH-0001", "xml": good}, {"id": "WH-FAIL-2", "xml": bad}],
    });
    let shop = Upstream::start(Router::new().route(
        "/{what}",
        get(
            move |axum::extract::Path(what): axum::extract::Path<String>| {
                let data = data.clone();
                async move { axum::Json(data[what].clone()) }
            },
        ),
    ))
    .await;

    let wharf = Wharf::start().await;
    let connector = wharf.upload("anaf").await;
    let http_json = wharf.upload("http-json").await;
    let config = json!({"cif": CIF, "environment": "test", "api_url": api.origin(), "public_url": api.origin(),
        "auth_url": api.origin(), "poll_secs": 4});
    let conn = wharf
        .connection(
            "anaf",
            &connector,
            config,
            json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET}),
        )
        .await;
    wharf.connect_oauth(&conn).await;
    assert_eq!(wharf.check(&conn).await.json["ok"], true);
    let source = wharf
        .connection("erp", &http_json, json!({"base_url": shop.origin(), "streams": {
            "customers": {"path": "/customers", "key": "id"}, "invoices": {"path": "/invoices", "key": "id"}}}), json!({}))
        .await;

    // The VAT registry as a mapper.
    let lookup = wharf
        .sync(json!({"name": "vat-lookup", "source": source, "streams": ["customers"], "mode": "full", "mapper": conn, "destination": "records"}))
        .await;
    let run = wharf.run(&lookup).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let customers = wharf.records(&lookup, "customers").await;
    let by = |k: &str| customers.iter().find(|c| c["key"] == k).unwrap()["data"]["anaf"].clone();
    assert_eq!(by("c1")["date_generale"]["denumire"], "OMV PETROM S.A.");
    assert_eq!(by("c1")["inregistrare_scop_Tva"]["scpTVA"], true);
    assert_eq!(by("c2"), json!({"found": false, "cui": 99999999}));
    assert!(by("c3")["error"].as_str().unwrap().contains("not a CUI"));
    assert_eq!(
        state.lock().unwrap().lookups.last(),
        Some(&2),
        "one request for the two CUIs (check's aside)"
    );

    // Invoices uploaded: one accepted, one refused with ANAF's report.
    let send = wharf
        .sync(json!({"name": "e-factura", "source": source, "streams": ["invoices"], "mode": "full", "destination": conn, "error_threshold": 5}))
        .await;
    let run = wharf.run(&send).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 1, "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], "WH-FAIL-2");
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .contains("[BR-CO-09]"),
        "{rejected:?}"
    );

    // An expired access token: refreshed, with the rotated refresh token.
    state.lock().unwrap().expire();
    let messages = wharf
        .sync(json!({"name": "anaf-messages", "source": conn, "streams": ["messages", "invoices"], "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let listed = wharf.records(&messages, "messages").await;
    let kinds: Vec<&str> = listed
        .iter()
        .map(|m| m["data"]["tip"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "{kinds:?}");
    for kind in ["FACTURA PRIMITA", "FACTURA TRIMISA", "ERORI FACTURA"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let invoices = wharf.records(&messages, "invoices").await;
    assert_eq!(invoices.len(), 1, "received invoices only (filter P)");
    let received: &Value = &invoices[0]["data"];
    assert_eq!(received["number"], "FZ-2026-771");
    assert_eq!(received["supplier"]["name"], "Furnizor SA");
    assert_eq!(received["payable"], 605.0);
    assert_eq!(received["lines"][0]["name"], "Servicii consultanta");
    assert_eq!(received["signed"], true);
    let s = state.lock().unwrap();
    assert_eq!(
        s.refresh.len(),
        1,
        "the old refresh token was used up, a new one issued"
    );
}

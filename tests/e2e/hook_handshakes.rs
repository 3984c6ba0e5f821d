//! Webhook spec v2 through the `hook-handshakes` component: Xero's
//! signature (`x-xero-signature`, base64 HMAC-SHA256 of the body) and its
//! intent-to-receive replies (200 with no body when valid, 401 when not),
//! and Meta's `hub.challenge` by GET against the connection's
//! `webhook_verify_token`. Payloads are the examples of Xero's "Webhooks"
//! guide (developer.xero.com/documentation/guides/webhooks) and Meta's
//! "Getting started" (developers.facebook.com/docs/graph-api/webhooks).

use axum::http::{Method, StatusCode};
use base64::Engine;
use hmac::Mac;
use serde_json::json;

use crate::api_support::{App, Db};
use crate::hooks::deliver;
use crate::support::guest;

const XERO_KEY: &str = "xero-webhook-key-3f9a1c";
const VERIFY_TOKEN: &str = "meatyhamhock";

fn xero_signature(key: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero_replies_and_meta_handshake() {
    let app = App::new(Db::Sqlite).await;
    let _workers = app.start_workers();
    let a = app.upload(guest("hook-handshakes")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = app
        .post(
            "/api/v1/connections",
            json!({"name": "xero", "connector": "hook-handshakes@0.1.0", "config": {},
                   "secrets": {"webhook_secret": XERO_KEY, "webhook_verify_token": VERIFY_TOKEN}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let conn = a.json["id"].as_str().unwrap().to_string();
    let a = app
        .post(&format!("/api/v1/connections/{conn}/webhook"), json!(null))
        .await;
    let path = a.json["path"].as_str().unwrap().to_string();
    let sync = app
        .sync(json!({"name": "xero-events", "source": conn, "streams": ["events"]}))
        .await;

    // Meta: the challenge comes back as text only with the verify token.
    let handshake = |token: &str| {
        format!("{path}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}")
    };
    let a = app
        .raw_with(Method::GET, &handshake(VERIFY_TOKEN), &[])
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.text, "1158201444");
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let a = app.raw_with(Method::GET, &handshake("guess"), &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(!a.text.contains("1158201444"));
    // A GET that is no handshake, and a wrong URL token.
    let a = app.raw_with(Method::GET, &path, &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let wrong = format!(
        "{}x/?hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}",
        &path[..path.len() - 1]
    );
    let a = app.raw_with(Method::GET, &wrong, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);

    // Xero's intent to receive: an invalid signature gets 401 with no body,
    // a valid one 200 with no body.
    let intent = r#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}"#;
    let bad = xero_signature("not-the-key", intent);
    let a = deliver(&app, &path, &[("x-xero-signature", bad)], intent.into()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.text, "");
    let a = deliver(&app, &path, &[], intent.into()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "no signature at all");
    let good = xero_signature(XERO_KEY, intent);
    let a = deliver(&app, &path, &[("x-xero-signature", good)], intent.into()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.text, "");

    // An event: verified, handed to `receive` with its method and query,
    // and landed as a record.
    let event = r#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2017-06-21T01:15:39.902","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"YSXCMKAQBJOEMGUZEPFZ"}"#;
    let sig = xero_signature(XERO_KEY, event);
    let a = deliver(
        &app,
        &format!("{path}?source=xero"),
        &[("x-xero-signature", sig.clone())],
        event.into(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.text, "");
    // The same delivery again: a duplicate, answered the same way.
    let a = deliver(&app, &path, &[("x-xero-signature", sig)], event.into()).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = app
        .get(&format!(
            "/api/v1/syncs/{sync}/records/export?stream=events&format=json"
        ))
        .await;
    let rows: serde_json::Value = serde_json::from_str(&a.text).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", a.text);
    let row = &rows[0];
    let data = if row.get("data").is_some() {
        &row["data"]
    } else {
        row
    };
    assert_eq!(data["eventCategory"], "CONTACT", "{row}");
    assert_eq!(data["via"], "POST");
    assert_eq!(data["query"], json!([["source", "xero"]]));
}

//! Graph's side of change notifications
//! (<https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks>,
//! <https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/changenotification>):
//!
//! - creating a subscription, Graph first POSTs to the notification URL
//!   with `?validationToken=<URL-encoded token>` and `Content-Type:
//!   text/plain`, and wants within 10 seconds `200 OK`, `Content-Type:
//!   text/plain` and the token, decoded, as the body; otherwise the create
//!   fails with 400 "Subscription validation request failed…";
//! - a notification is a POST of `{"value": [changeNotification]}` with
//!   the subscription's `clientState` in each item (no signature header);
//!   Graph wants a 2xx within 3 seconds (the fake waits 10, so that a busy
//!   test machine does not fail it).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Shared, TENANT_ID, USER_ID, lock};

/// A subscription Graph created.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: String,
    pub notification_url: String,
    pub client_state: String,
    pub resource: String,
    pub expiration: String,
}

/// What the validation request got back.
#[derive(Clone, Debug)]
pub struct Validation {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub token: String,
}

/// `POST /subscriptions` for the Inbox's messages: Graph validates the
/// notification URL first. The subscription, or Graph's refusal with
/// what the endpoint answered.
pub async fn subscribe(
    g: &Shared,
    notification_url: &str,
    client_state: &str,
) -> Result<(Subscription, Validation), (String, Validation)> {
    let token = "Validation: Testing client application reachability for subscription Request-Id: 7d2a5c1b-3e4f-4a6b-8c9d-0e1f2a3b4c5d";
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let separator = if notification_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{notification_url}{separator}validationToken={encoded}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let answer = http
        .post(&url)
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await;
    let validation = match answer {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = r.text().await.unwrap_or_default();
            Validation {
                status,
                content_type,
                body,
                token: token.to_string(),
            }
        }
        Err(e) => Validation {
            status: 0,
            content_type: String::new(),
            body: e.to_string(),
            token: token.to_string(),
        },
    };
    let good = validation.status == 200
        && validation.content_type.starts_with("text/plain")
        && validation.body == token;
    if !good {
        let why = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
        return Err((why.to_string(), validation));
    }
    let mut s = lock(g);
    let id = s.fresh("7f105c7d-2dc5-4530-97cd-4e7ae6534c07-");
    let subscription = Subscription {
        id,
        notification_url: notification_url.to_string(),
        client_state: client_state.to_string(),
        resource: "me/mailFolders('inbox')/messages".into(),
        expiration: "2026-01-08T09:00:00.0000000Z".into(),
    };
    s.subscriptions.push(subscription.clone());
    Ok((subscription, validation))
}

/// The notification Graph posts for a change of one message, carrying
/// `client_state` (the subscription's, or a forger's guess).
pub fn notification(
    sub: &Subscription,
    change: &str,
    message_id: &str,
    client_state: &str,
) -> Vec<u8> {
    let resource = format!("Users/{USER_ID}/Messages/{message_id}");
    json!({"value": [{"subscriptionId": sub.id, "subscriptionExpirationDateTime": sub.expiration,
        "changeType": change, "resource": resource,
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource,
            "@odata.etag": "W/\"CQAAABYAAAAiIsqMbYjsT5e-T7KzowPTAAAB0001\"", "id": message_id},
        "clientState": client_state, "tenantId": TENANT_ID}]})
    .to_string()
    .into_bytes()
}

/// POST a notification as Graph does (plus `extra` headers); status and
/// body of the answer.
pub async fn post(sub: &Subscription, body: Vec<u8>, extra: &[(&str, String)]) -> (u16, Value) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut request = http
        .post(&sub.notification_url)
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    for (k, v) in extra {
        request = request.header(*k, v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

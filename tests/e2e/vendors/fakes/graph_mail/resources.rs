//! Graph's mail resources as JSON: messages and attachments with the
//! properties of the v1.0 resources
//! (<https://learn.microsoft.com/en-us/graph/api/resources/message>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/fileattachment>),
//! and `$select`, which must name properties of the resource.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Attachment, Graph, Message};

pub(super) fn select_of(query: &[(String, String)]) -> Option<Vec<String>> {
    query
        .iter()
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.split(',').map(|p| p.trim().to_string()).collect())
}

/// A `$select` must name properties of the resource.
pub(super) fn check_select(s: &mut Graph, path: &str, query: &[(String, String)], known: &str) {
    for (k, _) in query {
        if k != "$select" && k != "$top" {
            s.violations
                .push(format!("GET {path}: query option `{k}` not modelled"));
        }
    }
    for p in select_of(query).unwrap_or_default() {
        if !known.split_whitespace().any(|k| k == p) {
            s.violations
                .push(format!("GET {path}: `$select` names `{p}`, not a property"));
        }
    }
}

/// Only the selected properties (and `id`, and the annotations).
pub(super) fn select(mut item: Value, select: Option<Vec<String>>) -> Value {
    if let (Some(select), Value::Object(fields)) = (select, &mut item) {
        fields.retain(|k, _| k == "id" || k.starts_with('@') || select.iter().any(|s| s == k));
    }
    item
}

pub(super) fn address((name, address): &(String, String)) -> Value {
    json!({"emailAddress": {"name": name, "address": address}})
}

pub(super) fn message_json(m: &Message, html: bool) -> Value {
    let body = if html {
        json!({"contentType": "html", "content": format!("<html><head></head><body><p>{}</p></body></html>", m.text)})
    } else {
        json!({"contentType": "text", "content": m.text})
    };
    let preview: String = m.text.chars().take(255).collect();
    json!({"@odata.type": "#microsoft.graph.message", "@odata.etag": format!("W/\"CQAAABYAAAAiIsqMbYjsT5e-T7KzowPTAAAB{:04}\"", m.version),
        "id": m.id, "createdDateTime": m.received, "lastModifiedDateTime": m.received,
        "changeKey": format!("CQAAABYAAAAiIsqMbYjsT5e-T7KzowPTAAAB{:04}", m.version), "categories": [],
        "receivedDateTime": m.received, "sentDateTime": m.received,
        "hasAttachments": m.attachments.iter().any(|a| !a.inline),
        "internetMessageId": format!("<{}@contoso.com>", &m.id[m.id.len() - 14..m.id.len() - 4]),
        "subject": m.subject, "bodyPreview": preview, "importance": "normal", "parentFolderId": m.folder,
        "conversationId": "AAQkAGI2TG93AAAQAOtPGxHqpCFKsHRvqyL3BEo=", "isDeliveryReceiptRequested": false,
        "isReadReceiptRequested": false, "isRead": m.read, "isDraft": false,
        "webLink": format!("https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem", m.id),
        "inferenceClassification": "focused", "body": body, "sender": address(&m.from), "from": address(&m.from),
        "toRecipients": m.to.iter().map(address).collect::<Vec<_>>(), "ccRecipients": [], "bccRecipients": [],
        "replyTo": [], "flag": {"flagStatus": "notFlagged"}})
}

pub(super) fn attachment_json(a: &Attachment) -> Value {
    if a.item {
        return json!({"@odata.type": "#microsoft.graph.itemAttachment", "id": a.id,
            "lastModifiedDateTime": "2026-01-05T09:00:00Z", "name": a.name, "contentType": null,
            "size": 2473, "isInline": false});
    }
    json!({"@odata.type": "#microsoft.graph.fileAttachment", "@odata.mediaContentType": a.content_type,
        "id": a.id, "lastModifiedDateTime": "2026-01-05T09:00:00Z", "name": a.name,
        "contentType": a.content_type, "size": a.bytes.len(), "isInline": a.inline,
        "contentId": if a.inline { json!("logo@01DC0") } else { Value::Null }, "contentLocation": null,
        "contentBytes": base64::engine::general_purpose::STANDARD.encode(&a.bytes)})
}

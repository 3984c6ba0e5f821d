//! A Gmail message read with `format=full`, made a record: the headers a
//! person reads (From, To, Cc, Subject, Date, Message-ID…), the first
//! text/plain and text/html bodies decoded from base64url, and the
//! attachments found in the MIME tree (`payload.parts`, at any depth).

use wharf_sdk::prelude::*;

use crate::attachment::Attachment;
use crate::{MESSAGES, b64};

/// Headers kept, and the field each becomes.
const HEADERS: &[(&str, &str)] = &[
    ("From", "from"),
    ("To", "to"),
    ("Cc", "cc"),
    ("Bcc", "bcc"),
    ("Reply-To", "reply_to"),
    ("Subject", "subject"),
    ("Date", "date"),
    ("Message-ID", "message_id"),
    ("In-Reply-To", "in_reply_to"),
];

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// In the message (`body.data`, small parts).
    Inline(String),
    /// To read with `messages.attachments.get`.
    Remote(String),
}

/// A header's value (names compare without case).
fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_array()?
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|h| h["value"].as_str())
}

/// The bodies and attachments of a MIME tree.
#[derive(Default)]
struct Walk<'a> {
    text: Option<String>,
    html: Option<String>,
    files: Vec<&'a Value>,
}

impl<'a> Walk<'a> {
    fn part(&mut self, part: &'a Value) {
        let filename = part["filename"].as_str().unwrap_or_default();
        let mime = part["mimeType"].as_str().unwrap_or_default();
        let body = &part["body"];
        if !filename.is_empty()
            && (body.get("attachmentId").is_some() || body.get("data").is_some())
        {
            self.files.push(part);
        } else if mime.eq_ignore_ascii_case("text/plain") && self.text.is_none() {
            self.text = decoded(body);
        } else if mime.eq_ignore_ascii_case("text/html") && self.html.is_none() {
            self.html = decoded(body);
        }
        for child in part["parts"].as_array().into_iter().flatten() {
            self.part(child);
        }
    }
}

/// A part body's text (its bytes as UTF-8, replacing what is not).
fn decoded(body: &Value) -> Option<String> {
    let data = body["data"].as_str()?;
    let bytes = b64::decode(data)?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// RFC 3339 of Gmail's `internalDate` (epoch milliseconds, as a string).
pub fn received_at(message: &Value) -> Option<String> {
    let ms: i64 = match &message["internalDate"] {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    Some(wharf_sdk::time::rfc3339(ms.div_euclid(1000)))
}

/// The `messages` record of a full message.
pub fn record(message: &Value) -> Result<Record> {
    let id = message["id"]
        .as_str()
        .ok_or_else(|| Error::fatal("a Gmail message without an id"))?;
    let payload = &message["payload"];
    let mut data = json!({
        "id": id,
        "threadId": message["threadId"],
        "labelIds": message["labelIds"],
        "snippet": message["snippet"],
        "historyId": message["historyId"],
        "internalDate": message["internalDate"],
        "sizeEstimate": message["sizeEstimate"],
        "received_at": received_at(message),
    });
    for (name, field) in HEADERS {
        if let Some(v) = header(&payload["headers"], name) {
            data[*field] = json!(v);
        }
    }
    let mut walk = Walk::default();
    walk.part(payload);
    data["body_text"] = json!(walk.text);
    data["body_html"] = json!(walk.html);
    data["attachments"] = walk
        .files
        .iter()
        .map(|p| {
            json!({"part_id": p["partId"], "filename": p["filename"], "mime_type": p["mimeType"],
                "size": p["body"]["size"]})
        })
        .collect();
    Ok(Record::from_value(MESSAGES, data)?.with_key(id))
}

/// The attachments of a full message and where each one's bytes are.
pub fn attachments(message: &Value) -> Vec<(Attachment, Content)> {
    let id = message["id"].as_str().unwrap_or_default();
    let payload = &message["payload"];
    let subject = header(&payload["headers"], "Subject").map(str::to_string);
    let received = received_at(message);
    let mut walk = Walk::default();
    walk.part(payload);
    walk.files
        .into_iter()
        .filter_map(|p| {
            let body = &p["body"];
            let content = match (body["attachmentId"].as_str(), body["data"].as_str()) {
                (Some(a), _) => Content::Remote(a.to_string()),
                (None, Some(d)) => Content::Inline(d.to_string()),
                (None, None) => return None,
            };
            let disposition = header(&p["headers"], "Content-Disposition").unwrap_or_default();
            let a = Attachment {
                message_id: id.to_string(),
                // Part ids ("1", "1.2") do not change; attachment ids do.
                attachment_id: p["partId"].as_str().unwrap_or_default().to_string(),
                name: p["filename"].as_str().unwrap_or_default().to_string(),
                content_type: p["mimeType"]
                    .as_str()
                    .unwrap_or("application/octet-stream")
                    .to_string(),
                size: body["size"].as_u64(),
                is_inline: disposition
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("inline"),
                received_at: received.clone(),
                subject: subject.clone(),
            };
            Some((a, content))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Gmail's `format=full` answer (users.messages.get
    /// reference): a multipart/mixed with an alternative body and a PDF.
    fn sample() -> Value {
        json!({"id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5", "labelIds": ["INBOX", "UNREAD"],
            "snippet": "Please find the invoice attached", "historyId": "9876", "internalDate": "1767261600000",
            "sizeEstimate": 5120,
            "payload": {"partId": "", "mimeType": "multipart/mixed", "filename": "",
                "headers": [{"name": "From", "value": "Ana <ana@example.com>"}, {"name": "To", "value": "me@example.com"},
                    {"name": "Subject", "value": "Invoice"}, {"name": "Date", "value": "Thu, 1 Jan 2026 10:00:00 +0000"},
                    {"name": "Message-ID", "value": "<abc@example.com>"}],
                "body": {"size": 0},
                "parts": [
                    {"partId": "0", "mimeType": "multipart/alternative", "filename": "", "headers": [], "body": {"size": 0},
                     "parts": [
                        {"partId": "0.0", "mimeType": "text/plain", "filename": "", "headers": [], "body": {"size": 32, "data": "UGxlYXNlIGZpbmQgdGhlIGludm9pY2UgYXR0YWNoZWQ"}},
                        {"partId": "0.1", "mimeType": "text/html", "filename": "", "headers": [], "body": {"size": 10, "data": "PHA-aGk8L3A-"}}]},
                    {"partId": "1", "mimeType": "application/pdf", "filename": "invoice.pdf",
                     "headers": [{"name": "Content-Disposition", "value": "attachment; filename=\"invoice.pdf\""}],
                     "body": {"size": 52341, "attachmentId": "ANGjdJ8wXyz"}},
                    {"partId": "2", "mimeType": "image/png", "filename": "logo.png",
                     "headers": [{"name": "Content-Disposition", "value": "inline; filename=\"logo.png\""}],
                     "body": {"size": 3, "data": "iVBO"}}]}})
    }

    #[test]
    fn headers_bodies_and_attachments() {
        let r = record(&sample()).unwrap();
        assert_eq!(r.key.as_deref(), Some("18c2f0a1b2c3d4e5"));
        assert_eq!(r.data["from"], "Ana <ana@example.com>");
        assert_eq!(r.data["subject"], "Invoice");
        assert_eq!(r.data["message_id"], "<abc@example.com>");
        assert_eq!(r.data["body_text"], "Please find the invoice attached");
        assert_eq!(r.data["body_html"], "<p>hi</p>");
        assert_eq!(r.data["received_at"], "2026-01-01T10:00:00Z");
        assert_eq!(r.data["attachments"].as_array().unwrap().len(), 2);
        let files = attachments(&sample());
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0.attachment_id, "1");
        assert_eq!(files[0].0.size, Some(52341));
        assert!(!files[0].0.is_inline);
        assert_eq!(files[0].1, Content::Remote("ANGjdJ8wXyz".into()));
        assert!(files[1].0.is_inline);
        assert_eq!(files[1].1, Content::Inline("iVBO".into()));
    }
}

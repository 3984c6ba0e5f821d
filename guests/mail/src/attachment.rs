//! The `attachments` stream's records, the same for both providers: one
//! record per file attachment, keyed `{message id}/{attachment id}` (so a
//! destination finds a message's attachments by that prefix), its content
//! as the record's blob, or the reason it was left out.

use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;

use crate::{ATTACHMENTS, Config};

/// What is known of an attachment before its content is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub message_id: String,
    /// Graph's attachment id; Gmail's part id (Gmail's attachment ids
    /// change from one read of a message to the next, part ids do not).
    pub attachment_id: String,
    pub name: String,
    pub content_type: String,
    /// Size in bytes, as the provider states it.
    pub size: Option<u64>,
    pub is_inline: bool,
    /// The message's received time (RFC 3339) and subject, so a record
    /// says where it came from without a join.
    pub received_at: Option<String>,
    pub subject: Option<String>,
}

impl Attachment {
    /// Why this attachment's content is not read under `config`, if not.
    pub fn skip_reason(&self, config: &Config) -> Option<String> {
        if config.max_attachment_bytes == 0 {
            return Some("max_attachment_bytes is 0: content is not downloaded".into());
        }
        match self.size {
            Some(size) if size > config.max_attachment_bytes => Some(format!(
                "{size} bytes, larger than max_attachment_bytes ({})",
                config.max_attachment_bytes
            )),
            _ => None,
        }
    }

    /// Whether the config leaves this attachment out altogether.
    pub fn excluded(&self, config: &Config) -> bool {
        self.is_inline && !config.include_inline
    }

    /// The record, with the content's blob or the reason there is none.
    pub fn record(&self, content: Result<Blob, String>) -> Result<Record> {
        let mut data = json!({
            "message_id": self.message_id,
            "attachment_id": self.attachment_id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "is_inline": self.is_inline,
            "received_at": self.received_at,
            "subject": self.subject,
        });
        let blob = match content {
            Ok(blob) => Some(blob),
            Err(why) => {
                data["content_skipped"] = json!(why);
                None
            }
        };
        let key = format!("{}/{}", self.message_id, self.attachment_id);
        let mut record = Record::from_value(ATTACHMENTS, data)?.with_key(key);
        if let Some(b) = &blob {
            record = record.with_blob(b);
        }
        Ok(record)
    }
}

/// Bytes the connector decoded (Gmail's base64url) kept as a blob of the
/// run, written in chunks so the host's per-call limits hold.
pub fn blob_of(bytes: &[u8]) -> Result<Blob> {
    let blob = Blob::create()?;
    for chunk in bytes.chunks(1 << 20) {
        blob.append(chunk)?;
    }
    Ok(blob)
}

/// A blob the run may not keep (its `blob_bytes` quota is spent) is an
/// attachment left out, not a failed run: the host refuses it as a denied
/// request or a blob error naming `blob_bytes`.
pub fn quota_spent(e: &Error) -> bool {
    matches!(e, Error::Config(m) | Error::Fatal(m) if m.contains("blob_bytes") || m.contains("blob quota"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn size_cap_and_inline_rule() {
        let a = Attachment {
            message_id: "m1".into(),
            attachment_id: "a1".into(),
            name: "report.pdf".into(),
            content_type: "application/pdf".into(),
            size: Some(2048),
            is_inline: false,
            received_at: None,
            subject: None,
        };
        assert_eq!(a.skip_reason(&config(json!({}))), None);
        assert!(
            a.skip_reason(&config(json!({"max_attachment_bytes": 1000})))
                .unwrap()
                .contains("2048 bytes")
        );
        assert!(
            a.skip_reason(&config(json!({"max_attachment_bytes": 0})))
                .is_some()
        );
        let inline = Attachment {
            is_inline: true,
            ..a.clone()
        };
        assert!(inline.excluded(&config(json!({}))));
        assert!(!inline.excluded(&config(json!({"include_inline": true}))));
        assert!(quota_spent(&Error::Config(
            "request refused by the host: the run's blobs would hold 9 bytes; the limit is 1 (blob_bytes)".into()
        )));
        assert!(!quota_spent(&Error::Fatal("HTTP 500".into())));
    }
}

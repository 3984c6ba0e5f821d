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

/// What became of one attachment.
#[derive(Debug)]
pub enum Kept {
    /// Its record: with the content's blob, or with why there is none.
    Record(Record),
    /// The message or the attachment went away since it was listed.
    Gone,
    /// The run's blob space is spent: this attachment and the rest wait in
    /// the cursor for the next run, which has space of its own.
    NoRoom(String),
}

impl Attachment {
    /// The attachment after reading or keeping its content failed with
    /// `e`. A response the host does not take (larger than its cap) is a
    /// record without content; the run's blob space spent waits for the
    /// next run, unless the file is larger than a whole run's space, which
    /// no run would keep; any other error stops the call.
    pub fn failed(&self, e: Error) -> Result<Kept> {
        if too_large(&e) {
            wharf_sdk::log::warn(format!(
                "{} of message {} was not downloaded: {e}",
                self.name, self.message_id
            ));
            return Ok(Kept::Record(self.record(Err(format!(
                "the host does not take a response this large ({e})"
            )))?));
        }
        if !quota_spent(&e) {
            return Err(e);
        }
        if let (Some(size), Some(limit)) = (self.size, quota_limit(&e))
            && size > limit
        {
            return Ok(Kept::Record(self.record(Err(format!(
                "{size} bytes, more than a run may keep ({limit} bytes, the host's blob_bytes)"
            )))?));
        }
        Ok(Kept::NoRoom(e.to_string()))
    }
}

/// A blob the run may not keep (its `blob_bytes` quota is spent): the host
/// refuses it as a denied request (a kept body) or a blob error (a blob the
/// connector writes), naming `blob_bytes` or the number of blobs a run has.
pub fn quota_spent(e: &Error) -> bool {
    matches!(e, Error::Config(m) | Error::Fatal(m)
        if m.contains("blob_bytes") || m.contains("blob quota") || m.contains("blobs per run"))
}

/// The run's blob space a quota error names ("… the limit is N
/// (blob_bytes)"), if it names one.
pub fn quota_limit(e: &Error) -> Option<u64> {
    let (Error::Config(m) | Error::Fatal(m)) = e else {
        return None;
    };
    let (_, rest) = m.split_once("the limit is ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The host refused a response as larger than it takes (16 MiB by
/// default, more for a body kept as a blob).
pub fn too_large(e: &Error) -> bool {
    matches!(e, Error::Fatal(m) if m.contains("larger than the host allows"))
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
        let spent = Error::Fatal(
            "blob quota: the run's blobs would hold 9000 bytes; the limit is 8192 (blob_bytes)"
                .into(),
        );
        assert!(quota_spent(&spent));
        assert_eq!(quota_limit(&spent), Some(8192));
        assert!(matches!(a.failed(spent), Ok(Kept::NoRoom(_))));
        let small = Error::Fatal(
            "blob quota: the run's blobs would hold 3000 bytes; the limit is 1024 (blob_bytes)"
                .into(),
        );
        match a.failed(small).unwrap() {
            Kept::Record(r) => assert!(
                r.data["content_skipped"]
                    .as_str()
                    .unwrap()
                    .contains("2048 bytes")
            ),
            other => panic!("{other:?}"),
        }
        assert!(too_large(&Error::Fatal(
            "response larger than the host allows".into()
        )));
        assert!(a.failed(Error::Transient("reset".into())).is_err());
    }
}

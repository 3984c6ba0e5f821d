//! Graph's delta query over the configured folder
//! (`GET /me/mailFolders/{folder}/messages/delta`), for both streams.
//!
//! A round is pages linked by `@odata.nextLink`; its last page carries
//! `@odata.deltaLink`, kept as the cursor and read at the next run for
//! what changed since. Query options go on the first request only (Graph
//! encodes them into the links). `@removed` entries (deleted, or moved out
//! of the folder) become deletes. An expired delta or next link (410 Gone,
//! `syncStateNotFound`, `resyncRequired`) starts a new round from the
//! first request, in the same call.
//!
//! The attachments stream reads the same delta with fewer properties, and
//! for each new or changed message that has attachments lists them and
//! downloads each file attachment's raw bytes (`/attachments/{id}/$value`)
//! into a blob. Graph's `hasAttachments` leaves inline attachments out, so
//! with `include_inline` every message is listed. A page's messages wait
//! in the cursor and are read a few a call, so one call stays short
//! whatever the page holds. When the run's blob space is spent, the run's
//! page ends there: the message it ran out in stays in the cursor (with
//! the attachments already written) for the next run, which has space of
//! its own.

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::Blob;
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;

use crate::attachment::{Attachment, Kept};
use crate::graph::{self, ATTACHMENT_MESSAGE_FIELDS, MESSAGE_FIELDS};
use crate::{ATTACHMENTS, Config, MESSAGES};

/// Messages whose attachments one call reads.
const MESSAGES_PER_CALL: usize = 5;

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    /// The next page of the current round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// Where the next round starts (the last round's deltaLink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delta: Option<String>,
    /// Attachments stream: messages of the page read whose attachments are
    /// still to be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Pending>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Pending {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received: Option<String>,
    /// Ids of this message's attachments already written, when the run's
    /// blob space ran out in the middle of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<String>,
}

/// What a delta request found.
enum Read {
    Page(Value),
    /// The link is no longer good: start a new round.
    Expired(String),
}

/// One page of `stream`.
pub fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let mut at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor of `{stream}` is not Graph's: {e}")))?,
        None => Cursor::default(),
    };
    if stream == ATTACHMENTS && !at.pending.is_empty() {
        let (records, no_room) = pending_attachments(config, &mut at)?;
        return page(records, at, no_room);
    }
    let link = at.next.clone().or_else(|| at.delta.clone());
    let body = match link {
        Some(url) => match read(config, &url)? {
            Read::Page(body) => body,
            Read::Expired(why) => {
                wharf_sdk::log::warn(format!(
                    "the delta link is no longer valid ({why}): reading the folder again from the start"
                ));
                at = Cursor::default();
                first(config, stream)?
            }
        },
        None => first(config, stream)?,
    };
    let items = body["value"].as_array().cloned().unwrap_or_default();
    match (
        body["@odata.nextLink"].as_str(),
        body["@odata.deltaLink"].as_str(),
    ) {
        (Some(next), _) => at.next = Some(next.to_string()),
        (None, Some(delta)) => {
            at.next = None;
            at.delta = Some(delta.to_string());
        }
        (None, None) => {
            return Err(Error::Fatal(
                "Graph's delta answer has neither @odata.nextLink nor @odata.deltaLink".into(),
            ));
        }
    }
    let (records, no_room) = if stream == MESSAGES {
        let records = items
            .into_iter()
            .map(message_or_delete)
            .collect::<Result<Vec<_>>>()?;
        (records, false)
    } else {
        at.pending = items
            .iter()
            .filter(|m| m.get("@removed").is_none())
            // `hasAttachments` "doesn't include inline attachments"
            // (https://learn.microsoft.com/graph/api/resources/message):
            // a message whose only attachments are inline says false, so
            // when those are read every message is listed.
            .filter(|m| config.include_inline || m["hasAttachments"] == true)
            .filter_map(|m| {
                Some(Pending {
                    id: m["id"].as_str()?.to_string(),
                    subject: m["subject"].as_str().map(str::to_string),
                    received: m["receivedDateTime"].as_str().map(str::to_string),
                    done: Vec::new(),
                })
            })
            .collect();
        pending_attachments(config, &mut at)?
    };
    page(records, at, no_room)
}

/// The page; `no_room`: the run's blob space is spent, so this run stops
/// here and the next goes on from the cursor.
fn page(records: Vec<Record>, at: Cursor, no_room: bool) -> Result<Page> {
    let more = !no_room && (at.next.is_some() || !at.pending.is_empty());
    let cursor = serde_json::to_string(&at).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), more))
}

/// The round's first request: the folder's delta with the stream's
/// properties.
fn first(config: &Config, stream: &str) -> Result<Value> {
    let fields = if stream == MESSAGES {
        MESSAGE_FIELDS
    } else {
        ATTACHMENT_MESSAGE_FIELDS
    };
    let url = Request::get(format!(
        "{}/v1.0/{}/messages/delta",
        config.base(),
        graph::folder_path(config)
    ))
    .query("$select", fields)
    .url()
    .to_string();
    match read(config, &url)? {
        Read::Page(body) => Ok(body),
        Read::Expired(why) => Err(Error::Fatal(format!(
            "Graph refused a new delta round: {why}"
        ))),
    }
}

/// GET a delta URL: the first request, or a link Graph gave.
fn read(config: &Config, url: &str) -> Result<Read> {
    // Links come back from Graph; one on another origin (the config's
    // base_url changed since) is not followed but starts a new round.
    if !url.starts_with(&format!("{}/", config.base())) {
        return Ok(Read::Expired(format!(
            "the link is not on {}",
            config.base()
        )));
    }
    let request = graph::prefer(config, Request::get(url), Some(config.page()));
    let response = request.send()?;
    let code = graph::code(&response).unwrap_or_default();
    let resync = ["syncstatenotfound", "syncstateinvalid", "resyncrequired"]
        .contains(&code.to_ascii_lowercase().as_str());
    if response.status == 410 || (response.status == 400 && resync) {
        return Ok(Read::Expired(graph::errors().message(&response)));
    }
    if response.status == 404 {
        return Err(Error::Config(format!(
            "the mailbox has no folder `{}`: {}",
            config.folder,
            graph::errors().message(&response)
        )));
    }
    Ok(Read::Page(graph::errors().check(response)?.json()?))
}

/// A delta entry as a record: `@removed` ones as deletes.
fn message_or_delete(item: Value) -> Result<Record> {
    if let Some(removed) = item.get("@removed") {
        let id = item["id"]
            .as_str()
            .ok_or_else(|| Error::fatal("a removed entry without an id"))?;
        let mut r = Record::delete(MESSAGES, id);
        r.data.insert("id".into(), json!(id));
        if let Some(reason) = removed["reason"].as_str() {
            r.data.insert("removed_reason".into(), json!(reason));
        }
        return Ok(r);
    }
    graph::message_record(item)
}

/// The attachments of the next few pending messages, and whether the
/// run's blob space ran out (the message it ran out in stays first in the
/// cursor, its attachments written so far noted).
fn pending_attachments(config: &Config, at: &mut Cursor) -> Result<(Vec<Record>, bool)> {
    let mut records = Vec::new();
    for _ in 0..MESSAGES_PER_CALL {
        let Some(message) = at.pending.first_mut() else {
            break;
        };
        if !attachments_of(config, message, &mut records)? {
            return Ok((records, true));
        }
        at.pending.remove(0);
    }
    Ok((records, false))
}

/// The file attachments of one message not yet written, each with its
/// content, into `records`; `false` when the run's blob space ran out
/// before the rest.
fn attachments_of(
    config: &Config,
    message: &mut Pending,
    records: &mut Vec<Record>,
) -> Result<bool> {
    let base = format!("me/messages/{}/attachments", encode(&message.id));
    let mut url = graph::get(config, &base)
        .query(
            "$select",
            "id,name,contentType,size,isInline,lastModifiedDateTime",
        )
        .url()
        .to_string();
    loop {
        let response = graph::prefer(config, Request::get(&url), None).send()?;
        if response.status == 404 {
            // Deleted since the delta listed it: its delete comes with the
            // messages stream.
            return Ok(true);
        }
        let body: Value = graph::errors().check(response)?.json()?;
        for item in body["value"].as_array().into_iter().flatten() {
            if item["@odata.type"] != "#microsoft.graph.fileAttachment" {
                // Attached messages and events (itemAttachment) and links
                // (referenceAttachment) have no file to read.
                wharf_sdk::log::debug(format!(
                    "skipped a {} attachment of message {}",
                    item["@odata.type"].as_str().unwrap_or("?"),
                    message.id
                ));
                continue;
            }
            let Some(id) = item["id"].as_str() else {
                continue;
            };
            if message.done.iter().any(|d| d == id) {
                continue;
            }
            let a = Attachment {
                message_id: message.id.clone(),
                attachment_id: id.to_string(),
                name: item["name"].as_str().unwrap_or_default().to_string(),
                content_type: item["contentType"]
                    .as_str()
                    .unwrap_or("application/octet-stream")
                    .to_string(),
                size: item["size"].as_u64(),
                is_inline: item["isInline"] == true,
                received_at: message.received.clone(),
                subject: message.subject.clone(),
            };
            if a.excluded(config) {
                continue;
            }
            if let Some(why) = a.skip_reason(config) {
                records.push(a.record(Err(why))?);
                message.done.push(id.to_string());
                continue;
            }
            let kept = match content(config, &base, id) {
                Ok(Some(blob)) => Kept::Record(a.record(Ok(blob))?),
                Ok(None) => Kept::Gone,
                Err(e) => a.failed(e)?,
            };
            match kept {
                Kept::Record(r) => records.push(r),
                Kept::Gone => {}
                Kept::NoRoom(why) => {
                    wharf_sdk::log::warn(format!(
                        "the run's space for files is spent ({why}): {} of message {} and what follows wait for the next run",
                        a.name, message.id
                    ));
                    return Ok(false);
                }
            }
            message.done.push(id.to_string());
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) if next.starts_with(&format!("{}/", config.base())) => {
                url = next.to_string();
            }
            _ => return Ok(true),
        }
    }
}

/// The raw bytes of a file attachment, kept in the host as a blob;
/// `None` if it is gone.
fn content(config: &Config, base: &str, id: &str) -> Result<Option<Blob>> {
    // The raw bytes, not JSON: no `Accept: application/json` here.
    let url = format!("{}/v1.0/{base}/{}/$value", config.base(), encode(id));
    let request = Request::get(url)
        .header("Prefer", "IdType=\"ImmutableId\"")
        .oauth_bearer()
        .keep_body();
    let response = request.send()?;
    if response.status == 404 {
        return Ok(None);
    }
    let response = graph::errors().check(response)?;
    match response.blob {
        Some(b) => Ok(Some(Blob(b))),
        None => Err(Error::Fatal(
            "the host kept no blob for an attachment's content".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_entries_become_deletes() {
        let r = message_or_delete(json!({"@odata.type": "#microsoft.graph.message", "id": "AAMk9", "@removed": {"reason": "deleted"}})).unwrap();
        assert_eq!(r.op, Op::Delete);
        assert_eq!(r.key.as_deref(), Some("AAMk9"));
        assert_eq!(r.data["removed_reason"], "deleted");
        let r = message_or_delete(json!({"id": "AAMk1", "subject": "Hi"})).unwrap();
        assert_eq!(r.op, Op::Upsert);
    }

    #[test]
    fn cursors_round_trip_and_say_whether_more_follows() {
        let at = Cursor {
            next: None,
            delta: Some("https://graph.microsoft.com/v1.0/me/mailFolders('inbox')/messages/delta?$deltatoken=x".into()),
            pending: Vec::new(),
        };
        let p = page(Vec::new(), at, false).unwrap();
        assert!(!p.more);
        let back: Cursor = serde_json::from_str(p.cursor.as_deref().unwrap()).unwrap();
        assert!(back.delta.is_some());
        let at = Cursor {
            pending: vec![Pending {
                id: "m".into(),
                subject: None,
                received: None,
                done: vec!["a1".into()],
            }],
            ..Cursor::default()
        };
        assert!(page(Vec::new(), at, false).unwrap().more);
        // The blob space spent: the run stops, the message kept for the
        // next one with what of it was written.
        let at = Cursor {
            next: Some("https://graph.microsoft.com/v1.0/me/mailFolders('inbox')/messages/delta?$skiptoken=y".into()),
            pending: vec![Pending {
                id: "m".into(),
                subject: None,
                received: None,
                done: vec!["a1".into()],
            }],
            ..Cursor::default()
        };
        let p = page(Vec::new(), at, true).unwrap();
        assert!(!p.more);
        let back: Cursor = serde_json::from_str(p.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(back.pending[0].done, ["a1"]);
        assert!(back.next.is_some());
    }
}

//! Gmail's full and partial synchronization, as Google's sync guide
//! describes them, for both streams.
//!
//! - First pass: the mailbox's `historyId` from `users.getProfile`, taken
//!   before listing (a message that arrives during a long pass lies after
//!   it, so the next pass finds it), then `users.messages.list` (label,
//!   search query) page by page, each message read with `format=full`.
//! - Later passes: `users.history.list` from that `historyId`
//!   (`messageAdded`, `messageDeleted`, and with a label its
//!   `labelAdded`/`labelRemoved`), page by page; the last page's
//!   `historyId` is where the next pass starts. Added messages are read,
//!   deleted ones (and ones taken out of the label) become deletes.
//! - A 404 for `startHistoryId` (too old, typically after a week) starts a
//!   first pass again, in the same call.
//!
//! A page's message ids wait in the cursor and are read a few a call
//! (the host gives a call 30 s, whatever `page_size` lists). When the run's
//! blob space is spent, the attachments stream ends the run's page there:
//! the message whose attachment had no room stays in the cursor (with the
//! attachments already written) for the next run, which has space of its
//! own.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::attachment::{Attachment, Kept, blob_of};
use crate::gmail::{self, message_path};
use crate::gmail_message::{self, Content};
use crate::{ATTACHMENTS, Config, MESSAGES, b64};

/// Messages whose attachments one call reads.
const ATTACHMENT_MESSAGES_PER_CALL: usize = 5;
/// Messages one call reads (`messages.get` one after another), whatever
/// `page_size` lists: a call must end within the host's 30 s.
const MESSAGES_PER_CALL: usize = 20;
/// Largest base64url text of an attachment asked for: `attachments.get`
/// answers the file base64url-encoded in JSON (about 4/3 of its size), and
/// the host takes a response of at most 16 MiB.
const ENCODED_BYTES: u64 = 15 << 20;

#[derive(Serialize, Deserialize, Default, Debug, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// Nothing read yet.
    #[default]
    Start,
    /// The first pass (`messages.list`).
    Full,
    /// A pass over the history.
    History,
}

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cursor {
    #[serde(default)]
    phase: Phase,
    /// First pass: the `historyId` taken before it, where the history
    /// starts. History: this pass's `startHistoryId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    history_id: Option<String>,
    /// The next page of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    /// This pass's last page has been read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    listed: bool,
    /// History: the `historyId` the last page returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest: Option<String>,
    /// Messages of the page read, still to be read themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Change>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Change {
    id: String,
    /// Deleted, or taken out of the label.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    gone: bool,
    /// Attachments stream: part ids of this message's attachments already
    /// written, when the run's blob space ran out in the middle of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<String>,
}

/// One page of `stream`.
pub fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
    let mut at: Cursor = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::Config(format!("the cursor of `{stream}` is not Gmail's: {e}")))?,
        None => Cursor::default(),
    };
    if at.phase == Phase::Start {
        begin(config, &mut at)?;
    }
    if at.pending.is_empty() && !at.listed {
        if at.phase != Phase::History {
            list_page(config, stream, &mut at)?;
        } else if !history_page(config, &mut at)? {
            wharf_sdk::log::warn(
                "Gmail no longer has the mailbox history from the last run (404 for startHistoryId): reading the label again in full",
            );
            begin(config, &mut at)?;
            list_page(config, stream, &mut at)?;
        }
    }
    let (records, no_room) = if stream == MESSAGES {
        (messages(config, &mut at)?, false)
    } else {
        attachments(config, &mut at)?
    };
    let more = if no_room {
        // The run's blob space is spent: this run ends here, and the next
        // one (with space of its own) goes on from the cursor's messages.
        false
    } else if at.pending.is_empty() && at.listed {
        // The pass is over: the next one reads the history from where
        // this one ends.
        if at.phase == Phase::History {
            at.history_id = at.latest.take().or(at.history_id.take());
        }
        at.phase = Phase::History;
        at.page = None;
        at.listed = false;
        false
    } else {
        true
    };
    let cursor = serde_json::to_string(&at).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), more))
}

/// A first pass: note the mailbox's `historyId` before listing.
fn begin(config: &Config, at: &mut Cursor) -> Result<()> {
    let profile: Value = gmail::send(gmail::get(config, "profile"))?.json()?;
    let id = text_of(&profile["historyId"])
        .ok_or_else(|| Error::fatal("Gmail's profile has no historyId"))?;
    *at = Cursor {
        phase: Phase::Full,
        history_id: Some(id),
        ..Cursor::default()
    };
    Ok(())
}

/// A decimal id Gmail writes as a string (or, leniently, a number).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The next page of `messages.list`.
fn list_page(config: &Config, stream: &str, at: &mut Cursor) -> Result<()> {
    let mut request = gmail::get(config, "messages").query("maxResults", config.page());
    let label = config.label.trim();
    if !label.is_empty() {
        request = request.query("labelIds", label);
    }
    let mut query = config.query.clone().unwrap_or_default().trim().to_string();
    if stream == ATTACHMENTS {
        // Only messages with attachments need reading for this stream.
        query = format!("{query} has:attachment").trim().to_string();
    }
    if !query.is_empty() {
        request = request.query("q", query);
    }
    if config.include_spam_trash {
        request = request.query("includeSpamTrash", "true");
    }
    if let Some(p) = &at.page {
        request = request.query("pageToken", p);
    }
    let body: Value = gmail::send(request)?.json()?;
    // `messages` is absent, not empty, when there are none.
    at.pending = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str())
        .map(|id| Change {
            id: id.to_string(),
            gone: false,
            done: Vec::new(),
        })
        .collect();
    next_page(at, &body);
    Ok(())
}

fn next_page(at: &mut Cursor, body: &Value) {
    match body["nextPageToken"].as_str() {
        Some(t) if !t.is_empty() => at.page = Some(t.to_string()),
        _ => {
            at.page = None;
            at.listed = true;
        }
    }
}

/// The next page of `history.list`; `false` if the start is too old.
fn history_page(config: &Config, at: &mut Cursor) -> Result<bool> {
    let start = at
        .history_id
        .clone()
        .ok_or_else(|| Error::fatal("a history pass without a start"))?;
    let label = config.label.trim();
    let mut request = gmail::get(config, "history")
        .query("startHistoryId", &start)
        .query("historyTypes", "messageAdded")
        .query("historyTypes", "messageDeleted")
        .query("maxResults", config.page());
    if !label.is_empty() {
        request = request
            .query("historyTypes", "labelAdded")
            .query("historyTypes", "labelRemoved")
            .query("labelId", label);
    }
    if let Some(p) = &at.page {
        request = request.query("pageToken", p);
    }
    let response = request.send()?;
    if response.status == 404 {
        return Ok(false);
    }
    let body: Value = gmail::checked(response)?.json()?;
    at.pending = changes(&body, label);
    next_page(at, &body);
    if at.listed {
        at.latest = text_of(&body["historyId"]).or(Some(start));
    }
    Ok(true)
}

/// The messages a history page changed, each once, its last change
/// deciding, in the order first seen.
fn changes(body: &Value, label: &str) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut note = |id: Option<&str>, gone: bool| {
        let Some(id) = id else { return };
        match out.iter_mut().find(|c| c.id == id) {
            Some(c) => c.gone = gone,
            None => out.push(Change {
                id: id.to_string(),
                gone,
                done: Vec::new(),
            }),
        }
    };
    let ours = |labels: &Value| {
        label.is_empty()
            || labels
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x == label))
    };
    for h in body["history"].as_array().into_iter().flatten() {
        for a in h["messagesAdded"].as_array().into_iter().flatten() {
            note(a["message"]["id"].as_str(), false);
        }
        for d in h["messagesDeleted"].as_array().into_iter().flatten() {
            note(d["message"]["id"].as_str(), true);
        }
        for a in h["labelsAdded"].as_array().into_iter().flatten() {
            if !label.is_empty() && ours(&a["labelIds"]) {
                note(a["message"]["id"].as_str(), false);
            }
        }
        for r in h["labelsRemoved"].as_array().into_iter().flatten() {
            if !label.is_empty() && ours(&r["labelIds"]) {
                note(r["message"]["id"].as_str(), true);
            }
        }
    }
    out
}

/// `messages.get?format=full`; `None` if the message is gone.
fn full_message(config: &Config, id: &str) -> Result<Option<Value>> {
    let response = gmail::get(config, &message_path(id))
        .query("format", "full")
        .send()?;
    if response.status == 404 {
        return Ok(None);
    }
    Ok(Some(gmail::checked(response)?.json()?))
}

fn deleted(id: &str) -> Record {
    let mut r = Record::delete(MESSAGES, id);
    r.data.insert("id".into(), json!(id));
    r
}

/// The `messages` records of the next pending messages: at most
/// [`MESSAGES_PER_CALL`] read, the rest left in the cursor.
fn messages(config: &Config, at: &mut Cursor) -> Result<Vec<Record>> {
    let mut reads = 0;
    let take = at
        .pending
        .iter()
        .take_while(|c| {
            // A delete needs no request.
            reads += usize::from(!c.gone);
            reads <= MESSAGES_PER_CALL
        })
        .count();
    let mut records = Vec::with_capacity(take);
    for change in at.pending.drain(..take) {
        if change.gone {
            records.push(deleted(&change.id));
            continue;
        }
        match full_message(config, &change.id)? {
            Some(m) => records.push(gmail_message::record(&m)?),
            // Added, then deleted before this read.
            None => records.push(deleted(&change.id)),
        }
    }
    Ok(records)
}

/// The `attachments` records of the next pending messages, and whether
/// the run's blob space ran out (the message it ran out in stays first in
/// the cursor, its attachments written so far noted). Deletes are the
/// messages stream's: an attachment's key starts with its message id.
fn attachments(config: &Config, at: &mut Cursor) -> Result<(Vec<Record>, bool)> {
    let mut records = Vec::new();
    let mut read = 0;
    while read < ATTACHMENT_MESSAGES_PER_CALL {
        let Some(change) = at.pending.first_mut() else {
            break;
        };
        if !change.gone {
            read += 1;
            if let Some(message) = full_message(config, &change.id)?
                && !of_message(config, change, &message, &mut records)?
            {
                return Ok((records, true));
            }
        }
        at.pending.remove(0);
    }
    Ok((records, false))
}

/// A message's attachments not yet written, into `records`; `false` when
/// the run's blob space ran out before the rest.
fn of_message(
    config: &Config,
    change: &mut Change,
    message: &Value,
    records: &mut Vec<Record>,
) -> Result<bool> {
    for (a, content) in gmail_message::attachments(message) {
        if a.excluded(config) || change.done.contains(&a.attachment_id) {
            continue;
        }
        match attachment(config, &a, content)? {
            Kept::Record(r) => records.push(r),
            Kept::Gone => {}
            Kept::NoRoom(why) => {
                wharf_sdk::log::warn(format!(
                    "the run's space for files is spent ({why}): {} of message {} and what follows wait for the next run",
                    a.name, a.message_id
                ));
                return Ok(false);
            }
        }
        change.done.push(a.attachment_id.clone());
    }
    Ok(true)
}

/// One attachment: its content read (from the message, or by
/// `attachments.get`) and kept as a blob.
fn attachment(config: &Config, a: &Attachment, content: Content) -> Result<Kept> {
    if let Some(why) = a.skip_reason(config) {
        return Ok(Kept::Record(a.record(Err(why))?));
    }
    let data = match content {
        Content::Inline(data) => data,
        Content::Remote(attachment) => {
            if let Some(size) = a.size.filter(|s| s.saturating_mul(4) / 3 > ENCODED_BYTES) {
                wharf_sdk::log::warn(format!(
                    "{} of message {} ({size} bytes) is too large to download through Gmail's API here",
                    a.name, a.message_id
                ));
                return Ok(Kept::Record(a.record(Err(format!(
                    "{size} bytes: Gmail sends an attachment base64url-encoded in JSON (about {} bytes), more than the host takes in one response (16 MiB)",
                    size.saturating_mul(4) / 3
                )))?));
            }
            let path = format!(
                "{}/attachments/{}",
                message_path(&a.message_id),
                wharf_sdk::http::encode(&attachment)
            );
            // A response the host does not take fails the send itself.
            let response = match gmail::get(config, &path).send() {
                Ok(r) => r,
                Err(e) => return a.failed(e),
            };
            if response.status == 404 {
                return Ok(Kept::Gone);
            }
            let body: Value = gmail::checked(response)?.json()?;
            body["data"].as_str().unwrap_or_default().to_string()
        }
    };
    let bytes = b64::decode(&data).ok_or_else(|| {
        Error::Fatal(format!(
            "attachment {} of message {} is not base64url",
            a.attachment_id, a.message_id
        ))
    })?;
    drop(data);
    match blob_of(&bytes) {
        Ok(blob) => Ok(Kept::Record(a.record(Ok(blob))?)),
        Err(e) => a.failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_changes_collapse_per_message() {
        let body = json!({"history": [
            {"id": "101", "messages": [{"id": "a"}], "messagesAdded": [{"message": {"id": "a", "labelIds": ["INBOX"]}}]},
            {"id": "102", "messagesAdded": [{"message": {"id": "b", "labelIds": ["INBOX"]}}]},
            {"id": "103", "messagesDeleted": [{"message": {"id": "a"}}]},
            {"id": "104", "labelsRemoved": [{"message": {"id": "c"}, "labelIds": ["INBOX"]}]},
            {"id": "105", "labelsRemoved": [{"message": {"id": "d"}, "labelIds": ["UNREAD"]}]},
            {"id": "106", "labelsAdded": [{"message": {"id": "e"}, "labelIds": ["INBOX"]}]}
        ], "historyId": "106"});
        let c = changes(&body, "INBOX");
        let got: Vec<(&str, bool)> = c.iter().map(|c| (c.id.as_str(), c.gone)).collect();
        assert_eq!(
            got,
            vec![("a", true), ("b", false), ("c", true), ("e", false)]
        );
        assert!(changes(&json!({"historyId": "9"}), "INBOX").is_empty());
    }

    #[test]
    fn cursor_is_compact() {
        let at = Cursor {
            phase: Phase::History,
            history_id: Some("9876".into()),
            ..Cursor::default()
        };
        assert_eq!(
            serde_json::to_string(&at).unwrap(),
            r#"{"phase":"history","history_id":"9876"}"#
        );
        assert_eq!(text_of(&json!(12)).as_deref(), Some("12"));
        assert_eq!(text_of(&json!("")), None);
    }
}

//! ERPNext as a destination: each record is a document of the DocType its
//! stream names, upserted by name. A record with a name is updated in place
//! (`PUT`, which Frappe applies like a PATCH) and inserted with that name
//! when the site has none (`404` → `POST`); one without a name is inserted
//! and named by the DocType's naming rule. Deletes remove the document
//! (one already gone counts as deleted).
//!
//! A document Frappe refuses (a validation error, a missing link, a
//! duplicate, no permission for that DocType) is rejected with Frappe's own
//! message and the rest of the batch goes on; a wrong key, the site's rate
//! limiter and server errors stop the batch, so the host can renew, wait or
//! retry it. Retrying is safe for named documents; an unnamed one written
//! before the stop may be inserted twice, so give documents names where the
//! DocType allows it.

use wharf_sdk::http::Response;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::frappe::{errors, request, resource_url};

/// Fields the server keeps: sending an old `modified` back makes Frappe
/// refuse the save ("Document has been modified after you have opened
/// it"), and the others are not the client's to set.
const SERVER_KEPT: &[&str] = &["modified", "creation", "owner", "modified_by", "doctype"];

enum Written {
    Created,
    Updated,
    Deleted,
    Refused(String),
}

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    for (index, record) in records.iter().enumerate() {
        match write(config, record)? {
            Written::Created => result.created += 1,
            Written::Updated => result.updated += 1,
            Written::Deleted => result.deleted += 1,
            Written::Refused(message) => result.reject(index, None, message),
        }
    }
    Ok(result)
}

fn write(config: &Config, record: &Record) -> Result<Written> {
    let doctype = record.stream.as_str();
    let name = record
        .key
        .clone()
        .or_else(|| {
            record
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|n| !n.is_empty());
    let base = &config.base_url;
    if record.op == Op::Delete {
        let Some(name) = name else {
            return Ok(Written::Refused(
                "a delete needs the document's name as its key".into(),
            ));
        };
        let response = request("DELETE", resource_url(base, doctype, Some(&name))).send()?;
        return Ok(match refusal(response)? {
            None => Written::Deleted,
            Some((404, _)) => Written::Deleted,
            Some((_, message)) => Written::Refused(message),
        });
    }
    let mut body = record.data.clone();
    for field in SERVER_KEPT {
        body.remove(*field);
    }
    if let Some(name) = &name {
        body.remove("name");
        let update = request("PUT", resource_url(base, doctype, Some(name))).json_data(&body)?;
        match refusal(update.send()?)? {
            None => return Ok(Written::Updated),
            Some((404, _)) => {}
            Some((_, message)) => return Ok(Written::Refused(message)),
        }
        body.insert("name".into(), Value::String(name.clone()));
    }
    let insert = request("POST", resource_url(base, doctype, None)).json_data(&body)?;
    Ok(match refusal(insert.send()?)? {
        None => Written::Created,
        Some((_, message)) => Written::Refused(message),
    })
}

/// `None` when Frappe took the write; the status and message when it
/// refused this document; an error when the whole batch must stop.
fn refusal(response: Response) -> Result<Option<(u16, String)>> {
    let status = response.status;
    match status {
        200..=299 => Ok(None),
        401 | 408 | 429 | 500..=599 => Err(errors()
            .check(response)
            .err()
            .unwrap_or_else(|| Error::fatal(format!("HTTP {status}")))),
        _ => Ok(Some((status, errors().message(&response)))),
    }
}

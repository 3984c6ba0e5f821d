//! Nextcloud as a destination: each record is a file at `path` (or
//! `name`) under the target folder, its content the record's blob (a file
//! another connector read) or its `content` text. Missing folders are
//! created one level at a time (`MKCOL` is not recursive: `405` means the
//! folder exists, `409` that its parent does not); `PUT` answers `201` for
//! a new file and `204` for a replaced one; `X-OC-MTime` keeps the
//! source's modification time. A delete removes the file (one already gone
//! counts). A file the server refuses (no permission, no space, a blocked
//! name) is rejected with Sabre's message; a lock or an outage stops the
//! batch for the host to retry (a `PUT` is safe to repeat).

use std::collections::BTreeSet;

use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::dav;

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    let mut made: BTreeSet<String> = BTreeSet::new();
    for (index, record) in records.iter().enumerate() {
        let Some(relative) = record
            .get("path")
            .or_else(|| record.get("name"))
            .and_then(Value::as_str)
            .map(|p| p.trim_start_matches('/').to_string())
            .filter(|p| !p.is_empty() && !p.split('/').any(|s| s == ".." || s == "."))
        else {
            result.reject(
                index,
                Some("path"),
                "a file needs a `path` (or `name`) without `..`",
            );
            continue;
        };
        let path = format!("{}/{relative}", config.target_folder.trim_end_matches('/'));
        if record.op == Op::Delete {
            let r = dav::request("DELETE", &config.base_url, &path).send()?;
            match r.status {
                200..=299 | 404 => result.deleted += 1,
                _ => match dav::error(&r) {
                    e @ (Error::Auth(_) | Error::Transient(_) | Error::RateLimited(_)) => {
                        return Err(e);
                    }
                    e => result.reject(index, None, e.to_string()),
                },
            }
            continue;
        }
        let mut request = dav::request("PUT", &config.base_url, &path);
        request = match (&record.blob, record.get("content").and_then(Value::as_str)) {
            (Some(blob), _) => request.body_blob(&Blob(blob.clone())),
            (None, Some(text)) => request.body(text.as_bytes().to_vec()),
            (None, None) => {
                result.reject(
                    index,
                    Some("content"),
                    "the record carries no file (blob) and no `content`",
                );
                continue;
            }
        };
        if let Some(content_type) = record.get("content_type").and_then(Value::as_str) {
            request = request.header("Content-Type", content_type);
        }
        if let Some(mtime) = record
            .get("modified")
            .and_then(Value::as_str)
            .and_then(wharf_sdk::time::from_rfc3339_utc)
        {
            request = request.header("X-OC-MTime", mtime.to_string());
        }
        if let Err(e) = folders(config, &path, &mut made) {
            match e {
                Error::Auth(_) | Error::Transient(_) | Error::RateLimited(_) => return Err(e),
                e => {
                    result.reject(index, Some("path"), e.to_string());
                    continue;
                }
            }
        }
        let r = request.send()?;
        match r.status {
            201 => result.created += 1,
            200 | 204 => result.updated += 1,
            _ => match dav::error(&r) {
                e @ (Error::Auth(_) | Error::Transient(_) | Error::RateLimited(_)) => {
                    return Err(e);
                }
                e => result.reject(index, None, e.to_string()),
            },
        }
    }
    Ok(result)
}

/// Create the folders above `path` that this push has not seen yet.
fn folders(config: &Config, path: &str, made: &mut BTreeSet<String>) -> Result<()> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut at = String::new();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push('/');
        at.push_str(part);
        if made.contains(&at) {
            continue;
        }
        let r = dav::request("MKCOL", &config.base_url, &at).send()?;
        match r.status {
            // Created, or it was there already.
            201 | 405 => {
                made.insert(at.clone());
            }
            _ => return Err(dav::error(&r)),
        }
    }
    Ok(())
}

//! Drive as a destination: each record is a file named by its `name` (or
//! the last part of its `path`) in the target folder, replaced when one of
//! that name is there (`files.update`, a `PATCH`) and created otherwise.
//! A record's blob (a file another connector read) goes up by a resumable
//! upload (the session URI from `Location`, then one `PUT` of the bytes);
//! a record's `content` text by one `multipart/related` request (the
//! metadata part first, then the media). A file Drive refuses (no
//! permission, no space) is rejected with Google's reason.

use wharf_sdk::blob::Blob;
use wharf_sdk::http::{Request, encode};
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api;

const BOUNDARY: &str = "wharf_drive_upload_5c1f0a7e";

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    for (index, record) in records.iter().enumerate() {
        let Some(name) = record
            .get("name")
            .or_else(|| record.get("path"))
            .and_then(Value::as_str)
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
            .filter(|n| !n.is_empty())
        else {
            result.reject(index, Some("name"), "a file needs a `name` (or `path`)");
            continue;
        };
        let existing = find(config, &name)?;
        if record.op == Op::Delete {
            if let Some(id) = existing {
                let r = Request::delete(format!("{}/drive/v3/{}", config.base(), api::file(&id)))
                    .oauth_bearer()
                    .query("supportsAllDrives", "true")
                    .send()?;
                if r.status != 404 {
                    refuse_or_stop(api::check(r), index, &mut result)?;
                }
            }
            result.deleted += 1;
            continue;
        }
        let mime = ["exported_as", "content_type", "mimeType"]
            .iter()
            .find_map(|f| record.get(f).and_then(Value::as_str))
            .filter(|m| !m.starts_with("application/vnd.google-apps."))
            .unwrap_or("application/octet-stream")
            .to_string();
        let outcome = match (&record.blob, record.get("content").and_then(Value::as_str)) {
            (Some(blob), _) => resumable(
                config,
                &name,
                &mime,
                existing.as_deref(),
                &Blob(blob.clone()),
            ),
            (None, Some(text)) => {
                multipart(config, &name, &mime, existing.as_deref(), text.as_bytes())
            }
            (None, None) => {
                result.reject(
                    index,
                    Some("content"),
                    "the record carries no file (blob) and no `content`",
                );
                continue;
            }
        };
        if refuse_or_stop(outcome.map(|_| ()), index, &mut result)? {
            if existing.is_some() {
                result.updated += 1;
            } else {
                result.created += 1;
            }
        }
    }
    Ok(result)
}

/// `Ok(true)` when written; a refusal of this file rejects it; anything
/// else stops the batch.
fn refuse_or_stop<T>(outcome: Result<T>, index: usize, result: &mut PushResult) -> Result<bool> {
    match outcome {
        Ok(_) => Ok(true),
        Err(Error::Auth(m) | Error::Fatal(m)) => {
            result.reject(index, None, m);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The id of the file named `name` in the target folder, if any.
fn find(config: &Config, name: &str) -> Result<Option<String>> {
    let q = format!(
        "name = '{}' and '{}' in parents and trashed = false",
        name.replace('\\', "\\\\").replace('\'', "\\'"),
        config.target_folder_id.replace('\'', "\\'")
    );
    let body: Value = api::send(
        api::all_drives(api::get(config, "files"))
            .query("q", q)
            .query("fields", "files(id)")
            .query("pageSize", 1)
            .query("includeItemsFromAllDrives", "true"),
    )?
    .json()?;
    Ok(body["files"][0]["id"].as_str().map(str::to_string))
}

/// The upload URL: create (`POST …/files`) or update (`PATCH
/// …/files/{id}`).
fn upload_request(config: &Config, existing: Option<&str>, upload_type: &str) -> Request {
    let (method, path) = match existing {
        Some(id) => ("PATCH", format!("files/{}", encode(id))),
        None => ("POST", "files".to_string()),
    };
    Request::new(method, format!("{}/upload/drive/v3/{path}", config.base()))
        .oauth_bearer()
        .query("uploadType", upload_type)
        .query("supportsAllDrives", "true")
        .query("fields", "id,name,size,md5Checksum")
}

/// New files go into the target folder; an update keeps its place.
fn metadata(config: &Config, name: &str, mime: &str, existing: Option<&str>) -> Value {
    match existing {
        Some(_) => json!({"name": name, "mimeType": mime}),
        None => json!({"name": name, "mimeType": mime, "parents": [config.target_folder_id]}),
    }
}

fn resumable(
    config: &Config,
    name: &str,
    mime: &str,
    existing: Option<&str>,
    blob: &Blob,
) -> Result<Value> {
    let start = upload_request(config, existing, "resumable")
        .header("X-Upload-Content-Type", mime)
        .header("X-Upload-Content-Length", blob.size()?.to_string())
        .json_data(&metadata(config, name, mime, existing))?;
    let session = api::send(start)?;
    let location = session
        .header("location")
        .ok_or_else(|| Error::fatal("Drive started no upload session (no Location)"))?
        .to_string();
    let put = Request::put(location)
        .header("Content-Type", mime)
        .body_blob(blob);
    api::send(put)?.json()
}

fn multipart(
    config: &Config,
    name: &str,
    mime: &str,
    existing: Option<&str>,
    bytes: &[u8],
) -> Result<Value> {
    let meta = metadata(config, name, mime, existing).to_string();
    let mut body = Vec::with_capacity(bytes.len() + meta.len() + 200);
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Type: {mime}\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let request = upload_request(config, existing, "multipart")
        .header(
            "Content-Type",
            format!("multipart/related; boundary={BOUNDARY}"),
        )
        .body(body);
    api::send(request)?.json()
}

//! `nextcloud`: files in a Nextcloud (or ownCloud) folder as a source, each
//! a record with its content as a blob, and a destination that uploads
//! files, over WebDAV with an app password.
//!
//! - The source walks the folder one level at a time (`PROPFIND`, `Depth:
//!   1`; Nextcloud allows `infinity` but advises against it), a few folders
//!   per call, and downloads files into blobs of the run. Incremental runs
//!   read only files modified since the last run (less a lookback).
//! - The destination creates missing folders (`MKCOL`) and `PUT`s each
//!   record's blob (a file another connector read) or `content` at its
//!   `path` under the target folder, with its modification time.
//! - A self-hosted server with its own CA: add the CA to the connection's
//!   grants (`tls_ca`); nothing in the connector changes.
//!
//! Built from Nextcloud's WebDAV documentation and server source; see
//! `docs/vendors/nextcloud.md`.

mod dav;
mod upload;

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::Blob;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

use dav::Entry;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server, with its install folder if any.
    base_url: String,
    /// The folder a source reads.
    #[serde(default = "root")]
    folder: String,
    #[serde(default = "yes")]
    recursive: bool,
    /// Download each file's content as a blob.
    #[serde(default = "yes")]
    download: bool,
    #[serde(default = "default_lookback")]
    lookback_secs: i64,
    /// The folder a destination writes into.
    #[serde(default = "root")]
    target_folder: String,
}

fn root() -> String {
    "/".into()
}

fn yes() -> bool {
    true
}

fn default_lookback() -> i64 {
    300
}

/// Files downloaded per call.
const FILES_PER_PAGE: usize = 10;
/// Folders listed per call at most.
const FOLDERS_PER_CALL: usize = 20;

/// Where a walk stands.
#[derive(Default, Serialize, Deserialize)]
struct Walk {
    /// Folders still to list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queue: Vec<String>,
    /// Files listed, not yet read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<Entry>,
    #[serde(default)]
    walking: bool,
    /// Files modified from here on are read (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The newest modification seen in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    /// Files with a higher id than this are new since the last run, even
    /// if their modification time is old (clients keep a file's own
    /// mtime when they upload it; file ids only grow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since_id: Option<u64>,
    /// The highest file id seen in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_id: Option<u64>,
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0082c9"/><circle cx="32" cy="32" r="9" fill="none" stroke="#fff" stroke-width="5"/><circle cx="14" cy="32" r="5" fill="none" stroke="#fff" stroke-width="4"/><circle cx="50" cy="32" r="5" fill="none" stroke="#fff" stroke-width="4"/></svg>"##;

pub struct Nextcloud;

impl Connector for Nextcloud {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("nextcloud", env!("CARGO_PKG_VERSION"))
            .description("Nextcloud files over WebDAV: a folder's files as records with their content, and uploads into a folder.")
            .role(Role::Source)
            .role(Role::Destination)
            .stream(
                StreamSpec::new("files")
                    .description("Files of the folder and its subfolders: path (in the folder), location (in the account), name, size, type, etag, modified; the content as a blob")
                    .key_field("file_id")
                    .cursor_field("modified"),
            )
            .config_schema(config_schema())
            .host("{config.base_url}")
            .secret(SecretSpec::new("username").description("Your Nextcloud login").host("{config.base_url}"))
            .secret(
                SecretSpec::new("app_password")
                    .description("An app password (Settings → Security → Devices & sessions → Create new app password)")
                    .host("{config.base_url}"),
            )
            .catalog(
                Catalog::new("Nextcloud")
                    .category(Category::Files)
                    .icon_svg(ICON)
                    .documentation_url("https://docs.nextcloud.com/server/latest/developer_manual/client_apis/WebDAV/basic.html")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let entries = dav::list(&config.base_url, &config.folder)?;
        match entries.first() {
            Some(e) if e.folder => Ok(()),
            _ => Err(Error::Config(format!(
                "`{}` is not a folder",
                config.folder
            ))),
        }
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "files" {
            return Err(Error::Config(format!("unknown stream `{stream}` (files)")));
        }
        let mut walk: Walk = cursor
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::Fatal(format!("unreadable cursor: {e}")))?
            .unwrap_or_default();
        if !walk.walking {
            walk.walking = true;
            walk.queue = vec![config.folder.clone()];
        }
        let from = walk.since.map(|s| s - config.lookback_secs.max(0));
        let mut listed = 0;
        while walk.files.is_empty() && listed < FOLDERS_PER_CALL {
            let Some(folder) = (!walk.queue.is_empty()).then(|| walk.queue.remove(0)) else {
                break;
            };
            listed += 1;
            let self_path = dav::path_of(&dav::url("", &folder));
            for entry in dav::list(&config.base_url, &folder)? {
                if entry.path == self_path || entry.path == folder.trim_end_matches('/') {
                    continue;
                }
                if entry.folder {
                    if config.recursive {
                        walk.queue.push(entry.path);
                    }
                } else if is_new(&entry, from, walk.since_id) {
                    walk.files.push(entry);
                }
            }
        }
        let take = walk.files.len().min(FILES_PER_PAGE);
        let mut records = Vec::with_capacity(take);
        for entry in walk.files.drain(..take).collect::<Vec<_>>() {
            if let Some(m) = entry.modified {
                walk.max = Some(walk.max.map_or(m, |x| x.max(m)));
            }
            if let Some(id) = entry.file_id.as_deref().and_then(|i| i.parse::<u64>().ok()) {
                walk.max_id = Some(walk.max_id.map_or(id, |x| x.max(id)));
            }
            records.push(record(config, entry)?);
        }
        let more = !walk.files.is_empty() || !walk.queue.is_empty();
        if !more {
            walk = Walk {
                since: walk.max.or(walk.since),
                since_id: walk.max_id.max(walk.since_id),
                ..Walk::default()
            };
        }
        let cursor = serde_json::to_string(&walk).map_err(Error::fatal)?;
        Ok(Page::new(records, Some(cursor), more))
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        upload::push(config, records)
    }
}

/// Whether an incremental run reads `entry`: modified after the last
/// run's newest modification (less the lookback), or a file id above the
/// last run's highest (a new upload that kept an old mtime). A first run
/// reads everything.
fn is_new(entry: &Entry, from: Option<i64>, since_id: Option<u64>) -> bool {
    let Some(from) = from else {
        return true;
    };
    let modified = entry.modified.is_some_and(|m| m > from);
    let id = entry.file_id.as_deref().and_then(|i| i.parse::<u64>().ok());
    modified || matches!((id, since_id), (Some(i), Some(s)) if i > s)
}

/// A file as a record, its content downloaded into a blob.
fn record(config: &Config, entry: Entry) -> Result<Record> {
    let name = entry
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // Relative to the folder read, so a destination rebuilds the tree
    // under its own folder.
    let folder = format!("{}/", config.folder.trim_end_matches('/'));
    let relative = entry
        .path
        .strip_prefix(&folder)
        .unwrap_or(&entry.path)
        .trim_start_matches('/')
        .to_string();
    let mut data = json!({
        "path": relative, "location": entry.path, "name": name, "size": entry.size, "content_type": entry.content_type,
        "etag": entry.etag, "file_id": entry.file_id, "permissions": entry.permissions,
        "modified": entry.modified.map(wharf_sdk::time::rfc3339),
    });
    let key = entry.file_id.clone().unwrap_or_else(|| entry.path.clone());
    let mut blob = None;
    if config.download {
        let response = dav::request("GET", &config.base_url, &entry.path)
            .keep_body()
            .send();
        match response {
            Ok(r) if r.is_success() => blob = r.blob.map(Blob),
            Ok(r) => return Err(dav::error(&r)),
            Err(Error::Fatal(m)) if m.contains("larger than the host allows") => {
                wharf_sdk::log::warn(format!(
                    "{} is larger than a run may keep; listed without its content",
                    entry.path
                ));
                data["content_skipped"] = json!(true);
            }
            Err(e) => return Err(e),
        }
    }
    let mut record = Record::from_value("files", data)?.with_key(key);
    if let Some(b) = &blob {
        record = record.with_blob(b);
    }
    Ok(record)
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "base_url": {"type": "string", "format": "uri", "title": "Server URL", "description": "Your Nextcloud, with its install folder if any, e.g. https://cloud.example.com or https://example.com/nextcloud"},
            "folder": {"type": "string", "default": "/", "title": "Folder to read", "description": "Path of the folder a sync reads, e.g. /Documents/Invoices"},
            "recursive": {"type": "boolean", "default": true, "title": "Include subfolders", "description": "Also read the folders inside the folder, level by level"},
            "download": {"type": "boolean", "default": true, "title": "Download contents", "description": "Read each file's content (for a destination or a file parser); off lists metadata only"},
            "lookback_secs": {"type": "integer", "minimum": 0, "default": 300, "title": "Lookback (seconds)", "description": "An incremental sync also reads files modified this long before the last one seen"},
            "target_folder": {"type": "string", "default": "/", "title": "Folder to write into", "description": "As a destination: records are written under this folder, at their `path` (or `name`)"}
        }
    })
}

export_connector!(Nextcloud);

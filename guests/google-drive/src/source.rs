//! Drive as a source. A first run walks the folder tree (`files.list` with
//! `'{folder}' in parents and trashed = false`, folder by folder, page by
//! page) after taking a changes start token; later runs read
//! `changes.list` from the token the last run ended with
//! (`newStartPageToken`), keeping the changes to files inside the tree:
//! new and changed files with their content, trashed or removed ones as
//! deletes. Content is downloaded (`alt=media`) or, for Google Docs,
//! Sheets, Slides and Drawings, exported to the configured format.

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::Blob;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api::{self, FILE_FIELDS};

const FOLDER: &str = "application/vnd.google-apps.folder";
/// Files per page (each downloaded in the call).
const PAGE_SIZE: u32 = 25;

#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Where the next `changes.list` reads from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changes: Option<String>,
    /// The folders of the tree read (ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    folders: Vec<String>,
    /// A first run's walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    walk: Option<Walk>,
}

#[derive(Default, Serialize, Deserialize)]
struct Walk {
    queue: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    /// The changes token taken before the walk began.
    start: String,
}

pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let mut state: State = cursor
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Error::Fatal(format!("unreadable cursor: {e}")))?
        .unwrap_or_default();
    if state.changes.is_none() && state.walk.is_none() {
        begin(config, &mut state)?;
    }
    let (records, more) = if state.walk.is_some() {
        walk(config, &mut state)?
    } else {
        changes(config, &mut state)?
    };
    let cursor = serde_json::to_string(&state).map_err(Error::fatal)?;
    Ok(Page::new(records, Some(cursor), more))
}

/// The folder's id (`root` is an alias) and a changes token, taken before
/// the walk so nothing changed during it is missed.
fn begin(config: &Config, state: &mut State) -> Result<()> {
    let folder: Value = api::send(
        api::all_drives(api::get(config, &api::file(&config.folder_id)))
            .query("fields", "id,mimeType"),
    )?
    .json()?;
    if folder["mimeType"] != FOLDER {
        return Err(Error::Config(format!(
            "`{}` is not a folder",
            config.folder_id
        )));
    }
    let id = folder["id"]
        .as_str()
        .unwrap_or(&config.folder_id)
        .to_string();
    let token: Value =
        api::send(api::all_drives(api::get(config, "changes/startPageToken")))?.json()?;
    let start = token["startPageToken"]
        .as_str()
        .ok_or_else(|| Error::fatal("no startPageToken in the answer"))?
        .to_string();
    state.folders = vec![id.clone()];
    state.walk = Some(Walk {
        queue: vec![id],
        current: None,
        page: None,
        start,
    });
    Ok(())
}

fn walk(config: &Config, state: &mut State) -> Result<(Vec<Record>, bool)> {
    let w = state.walk.as_mut().expect("a walk");
    let folder = match w.current.clone() {
        Some(f) => f,
        None if w.queue.is_empty() => return Ok((Vec::new(), finish(state))),
        None => {
            let f = w.queue.remove(0);
            w.current = Some(f.clone());
            f
        }
    };
    let mut request = api::all_drives(api::get(config, "files"))
        .query(
            "q",
            format!(
                "'{}' in parents and trashed = false",
                folder.replace('\'', "\\'")
            ),
        )
        .query("fields", format!("nextPageToken,files({FILE_FIELDS})"))
        .query("pageSize", PAGE_SIZE)
        .query("includeItemsFromAllDrives", "true");
    if let Some(p) = &w.page {
        request = request.query("pageToken", p);
    }
    let body: Value = api::send(request)?.json()?;
    let mut records = Vec::new();
    for f in body["files"].as_array().into_iter().flatten() {
        let id = f["id"].as_str().unwrap_or_default().to_string();
        if f["mimeType"] == FOLDER {
            state.folders.push(id.clone());
            if config.recursive {
                state.walk.as_mut().expect("a walk").queue.push(id);
            }
            continue;
        }
        records.push(record(config, f)?);
    }
    let w = state.walk.as_mut().expect("a walk");
    match body["nextPageToken"].as_str() {
        Some(t) if !t.is_empty() => w.page = Some(t.to_string()),
        _ => {
            w.page = None;
            w.current = None;
        }
    }
    let done = w.current.is_none() && w.queue.is_empty();
    Ok((records, if done { finish(state) } else { true }))
}

/// The walk is over: the next run reads changes from its start token.
fn finish(state: &mut State) -> bool {
    if let Some(w) = state.walk.take() {
        state.changes = Some(w.start);
    }
    false
}

fn changes(config: &Config, state: &mut State) -> Result<(Vec<Record>, bool)> {
    let token = state
        .changes
        .clone()
        .ok_or_else(|| Error::fatal("no changes token"))?;
    let request = api::all_drives(api::get(config, "changes"))
        .query("pageToken", &token)
        .query("pageSize", PAGE_SIZE)
        .query("includeItemsFromAllDrives", "true")
        .query("fields", format!("nextPageToken,newStartPageToken,changes(fileId,removed,time,changeType,file({FILE_FIELDS}))"));
    let body: Value = api::send(request)?.json()?;
    let mut records = Vec::new();
    for change in body["changes"].as_array().into_iter().flatten() {
        if change["changeType"].as_str().is_some_and(|t| t != "file") {
            continue;
        }
        let Some(id) = change["fileId"].as_str() else {
            continue;
        };
        let file = &change["file"];
        let inside = file["parents"].as_array().is_some_and(|ps| {
            ps.iter().any(|p| {
                p.as_str()
                    .is_some_and(|p| state.folders.iter().any(|f| f == p))
            })
        });
        if change["removed"] == true || (inside && file["trashed"] == true) {
            // Gone, trashed, or no longer shared with us; the name (when
            // Drive still says it) lets a destination find its copy.
            let mut gone = Record::delete("files", id);
            if let Some(name) = file["name"].as_str() {
                gone.data.insert("name".into(), json!(name));
            }
            records.push(gone);
            continue;
        }
        if !inside {
            continue;
        }
        if file["mimeType"] == FOLDER {
            if !state.folders.iter().any(|f| f == id) {
                state.folders.push(id.to_string());
            }
            continue;
        }
        records.push(record(config, file)?);
    }
    let more = match (
        body["nextPageToken"].as_str(),
        body["newStartPageToken"].as_str(),
    ) {
        (Some(next), _) if !next.is_empty() => {
            state.changes = Some(next.to_string());
            true
        }
        (_, Some(new)) => {
            state.changes = Some(new.to_string());
            false
        }
        _ => false,
    };
    Ok((records, more))
}

/// A file's metadata as a record, with its content (downloaded or
/// exported) as a blob.
fn record(config: &Config, file: &Value) -> Result<Record> {
    let id = file["id"]
        .as_str()
        .ok_or_else(|| Error::fatal("a file without an id"))?;
    let mime = file["mimeType"].as_str().unwrap_or_default();
    let mut data = file.clone();
    let content = if let Some(kind) = mime.strip_prefix("application/vnd.google-apps.") {
        match config.export_format(kind) {
            Some(target) => {
                data["exported_as"] = json!(target);
                let request = api::get(config, &format!("{}/export", api::file(id)))
                    .query("mimeType", target);
                Some(request)
            }
            // Forms, sites, shortcuts, maps: nothing to download.
            None => None,
        }
    } else {
        Some(api::all_drives(api::get(config, &api::file(id))).query("alt", "media"))
    };
    let mut blob = None;
    if let (true, Some(request)) = (config.download, content) {
        match api::send(request.keep_body()) {
            Ok(r) => blob = r.blob.map(Blob),
            Err(Error::Fatal(m))
                if m.contains("exportSizeLimitExceeded")
                    || m.contains("larger than the host allows") =>
            {
                wharf_sdk::log::warn(format!("{} ({id}) was not downloaded: {m}", file["name"]));
                data["content_skipped"] = json!(m);
            }
            Err(Error::Auth(m)) if m.contains("exportSizeLimitExceeded") => {
                wharf_sdk::log::warn(format!(
                    "{} ({id}) is too large to export: {m}",
                    file["name"]
                ));
                data["content_skipped"] = json!(m);
            }
            Err(e) => return Err(e),
        }
    }
    let mut r = Record::from_value("files", data)?.with_key(id);
    if let Some(b) = &blob {
        r = r.with_blob(b);
    }
    Ok(r)
}

//! The Data Management tree, one listing per task: `GET project/v1/hubs`,
//! `…/hubs/{hub}/projects`, `…/projects/{project}/topFolders`, then
//! `data/v1/projects/{project}/folders/{folder}/contents` (folders and
//! items, each item's tip version in `included`) and
//! `…/items/{item}/versions`, each paged by `page[limit]` (at most 200) and
//! `links.next.href`. A listing of one folder or item the user may not see
//! (`403`) or that went away (`404`) is skipped with a warning.

use std::collections::BTreeMap;

use wharf_sdk::prelude::*;

use crate::api::{self, ms_at, seg};
use crate::download;
use crate::records::{self, Place, id_of, join, name_of};
use crate::walk::{Kind, Task, Walk, stack};

/// A BIM 360 / Autodesk Construction Cloud account's hub type (the others
/// are Fusion team hubs and A360 personal hubs).
const ACC_HUB: &str = "hubs:autodesk.bim360:Account";

/// `GET` a Data Management listing: the first page of `path` with
/// `first_page` parameters, or a later page the last answer named.
fn listing(
    w: &mut Walk,
    path: String,
    next: Option<String>,
    first_page: &[(&str, String)],
    what: &str,
) -> Result<Option<Value>> {
    let request = match next {
        Some(next) => api::dm(w.config, &next),
        None => first_page
            .iter()
            .fold(api::dm(w.config, &path), |r, (k, v)| r.query(k, v)),
    };
    w.calls += 1;
    match api::send_or_skip(request, what)? {
        Some(response) => response.json().map(Some),
        None => Ok(None),
    }
}

fn data(body: &Value) -> &[Value] {
    body["data"].as_array().map_or(&[], Vec::as_slice)
}

/// The hubs the user can reach (and the config names).
pub fn hubs(w: &mut Walk, next: Option<String>) -> Result<Vec<Task>> {
    let request = api::dm(w.config, next.as_deref().unwrap_or("/project/v1/hubs"));
    w.calls += 1;
    let body: Value = api::send(request)?.json()?;
    if w.kind == Kind::Hubs {
        for warning in api::warnings(&body) {
            wharf_sdk::log::warn(format!("APS could not list every hub: {warning}"));
        }
    }
    let mut children = Vec::new();
    for hub in data(&body) {
        let Some(id) = id_of(hub) else { continue };
        if !w.config.wants_hub(id) {
            continue;
        }
        if w.kind == Kind::Hubs {
            w.records.push(records::hub(hub));
            continue;
        }
        let acc = hub
            .pointer("/attributes/extension/type")
            .and_then(Value::as_str)
            == Some(ACC_HUB);
        if w.kind == Kind::Issues && !acc {
            continue;
        }
        let region = hub
            .pointer("/attributes/region")
            .and_then(Value::as_str)
            .map(str::to_string);
        let at = Place {
            hub: id.to_string(),
            region,
            ..Place::default()
        };
        children.push(Task::Projects {
            at,
            acc,
            next: None,
        });
    }
    let more = api::next_page(&body).map(|n| Task::Hubs { next: Some(n) });
    Ok(stack(more, children))
}

/// A hub's projects (only active ones are listed).
pub fn projects(w: &mut Walk, at: Place, acc: bool, next: Option<String>) -> Result<Vec<Task>> {
    let path = format!("/project/v1/hubs/{}/projects", seg(&at.hub));
    let limit = [("page[limit]", w.config.page_limit().to_string())];
    let what = format!("the projects of hub {}", at.hub);
    let Some(body) = listing(w, path, next, &limit, &what)? else {
        return Ok(Vec::new());
    };
    let mut children = Vec::new();
    for project in data(&body) {
        let Some(id) = id_of(project) else { continue };
        if !w.config.wants_project(id) {
            continue;
        }
        let place = Place {
            project: id.to_string(),
            path: name_of(project),
            folder: None,
            ..at.clone()
        };
        match w.kind {
            Kind::Projects => w.records.push(records::project(project, &at.hub)),
            Kind::Issues if acc => children.push(Task::Issues {
                at: place,
                offset: 0,
                deleted: false,
            }),
            Kind::Folders | Kind::Items | Kind::Versions => children.push(Task::Top { at: place }),
            _ => {}
        }
    }
    let more = api::next_page(&body).map(|n| Task::Projects {
        at,
        acc,
        next: Some(n),
    });
    Ok(stack(more, children))
}

/// A project's top folders: for a user who may see only some folders,
/// the highest ones they may see, with the folders above them in
/// `folderParents` (which the path includes).
pub fn top(w: &mut Walk, at: Place) -> Result<Vec<Task>> {
    let path = format!(
        "/project/v1/hubs/{}/projects/{}/topFolders",
        seg(&at.hub),
        seg(&at.project)
    );
    let what = format!("the top folders of project {}", at.path);
    let Some(body) = listing(w, path, None, &[], &what)? else {
        return Ok(Vec::new());
    };
    let mut children = Vec::new();
    for folder in data(&body) {
        let parents = folder
            .pointer("/attributes/extension/data/folderParents")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let above = parents
            .iter()
            .filter_map(|p| p["title"].as_str())
            .fold(at.path.clone(), |path, title| join(&path, title));
        let path = join(&above, &name_of(folder));
        children.extend(folder_entry(w, folder, &at, path));
    }
    Ok(stack(None, children))
}

/// A folder's contents: subfolders and items, with hidden (deleted) ones,
/// which become deletes.
pub fn contents(w: &mut Walk, at: Place, next: Option<String>) -> Result<Vec<Task>> {
    let Some(folder) = at.folder.clone() else {
        return Err(Error::fatal("a folder listing without its folder"));
    };
    let path = format!(
        "/data/v1/projects/{}/folders/{}/contents",
        seg(&at.project),
        seg(&folder)
    );
    let first = [
        ("page[limit]", w.config.page_limit().to_string()),
        ("includeHidden", "true".to_string()),
    ];
    let what = format!("folder {}", at.path);
    let Some(body) = listing(w, path, next, &first, &what)? else {
        return Ok(Vec::new());
    };
    // Each item's tip version, which the listing includes.
    let tips: BTreeMap<&str, &Value> = body["included"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "versions")
        .filter_map(|v| Some((id_of(v)?, v)))
        .collect();
    let mut children = Vec::new();
    for entry in data(&body) {
        match entry["type"].as_str() {
            Some("folders") => {
                let path = join(&at.path, &name_of(entry));
                children.extend(folder_entry(w, entry, &at, path));
            }
            Some("items") => {
                let tip =
                    records::related(entry, "tip").and_then(|t| tips.get(t.as_str()).copied());
                children.extend(item_entry(w, entry, tip, &at));
            }
            _ => {}
        }
    }
    let more = api::next_page(&body).map(|n| Task::Contents {
        at: at.clone(),
        next: Some(n),
    });
    Ok(stack(more, children))
}

/// A folder met in a listing: its record (folders stream), and the
/// listing of its contents unless nothing below it changed.
fn folder_entry(w: &mut Walk, folder: &Value, at: &Place, path: String) -> Option<Task> {
    let id = id_of(folder)?;
    let modified = ms_at(folder, "/attributes/lastModifiedTime");
    if records::hidden(folder) {
        if w.kind == Kind::Folders && w.after(modified) {
            w.note(modified);
            w.records.extend(records::gone("folders", folder, &path));
        }
        return None;
    }
    if w.kind == Kind::Folders && w.after(modified) {
        w.note(modified);
        w.records.push(records::folder(folder, at, &path));
    }
    let rollup = ms_at(folder, "/attributes/lastModifiedTimeRollup");
    let open = !w.config.prune_unchanged_folders || w.after(rollup);
    open.then(|| Task::Contents {
        at: Place {
            folder: Some(id.to_string()),
            path,
            ..at.clone()
        },
        next: None,
    })
}

/// An item met in a listing: its record with its tip (items stream), or
/// the listing of its versions (versions stream), when it changed.
fn item_entry(w: &mut Walk, item: &Value, tip: Option<&Value>, at: &Place) -> Option<Task> {
    let id = id_of(item)?;
    let modified = ms_at(item, "/attributes/lastModifiedTime")
        .max(tip.and_then(|t| ms_at(t, "/attributes/lastModifiedTime")));
    if !w.after(modified) {
        return None;
    }
    if records::hidden(item) {
        if w.kind == Kind::Items {
            w.note(modified);
            let name = tip.map_or_else(|| name_of(item), name_of);
            w.records
                .extend(records::gone("items", item, &join(&at.path, &name)));
        }
        return None;
    }
    match w.kind {
        Kind::Items => {
            w.note(modified);
            w.records.push(records::item(item, tip, at));
            None
        }
        Kind::Versions => Some(Task::Versions {
            at: at.clone(),
            item: id.to_string(),
            next: None,
        }),
        _ => None,
    }
}

/// An item's versions that changed, oldest first (a file destination then
/// keeps the newest at the item's path); model files become downloads.
/// APS lists versions newest first, so the first one at or before the
/// bound ends the listing.
pub fn versions(w: &mut Walk, at: Place, item: String, next: Option<String>) -> Result<Vec<Task>> {
    let path = format!(
        "/data/v1/projects/{}/items/{}/versions",
        seg(&at.project),
        seg(&item)
    );
    let limit = [("page[limit]", w.config.page_limit().to_string())];
    let what = format!("the versions of {item} in {}", at.path);
    let Some(body) = listing(w, path, next, &limit, &what)? else {
        return Ok(Vec::new());
    };
    let (fresh, older): (Vec<&Value>, Vec<&Value>) = data(&body)
        .iter()
        .partition(|v| w.after(ms_at(v, "/attributes/lastModifiedTime")));
    let mut children = Vec::new();
    for version in fresh.into_iter().rev() {
        w.note(ms_at(version, "/attributes/lastModifiedTime"));
        let mut record = records::version(version, &at, &item);
        if download::wanted(w.config, &mut record) {
            children.push(Task::Download { record });
        } else {
            w.records.push(download::record(record));
        }
    }
    let more = if older.is_empty() {
        api::next_page(&body).map(|n| Task::Versions {
            at,
            item,
            next: Some(n),
        })
    } else {
        None
    };
    Ok(stack(more, children))
}

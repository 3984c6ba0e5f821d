//! The fake's Data Management API: hubs, projects, top folders, folder
//! contents (each item's tip version in `included`) and item versions,
//! shaped as the examples of APS's reference pages, with JSON:API paging.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::account::{Account, BUCKET, Folder, Hub, Item, Project, Version};
use super::{Aps, Query, iso, jsonapi, jsonapi_error, param};

const USER: (&str, &str) = ("BW9RM76WZBGL", "John Doe");

/// Record the parameters a reference page does not list, and the ones it
/// lists that the fake does not model.
fn check(a: &mut Aps, what: &str, query: &Query, allowed: &[&str], modelled: &[&str]) {
    for (k, _) in query {
        if !allowed.contains(&k.as_str()) {
            a.violations
                .push(format!("{what}: APS does not document `{k}`"));
        } else if !modelled.contains(&k.as_str()) {
            a.violations
                .push(format!("{what}: the fake does not model `{k}`"));
        }
    }
}

fn bad_input(detail: &str) -> Response {
    let title = "One or more input values in the request were bad";
    jsonapi_error(StatusCode::BAD_REQUEST, "BAD_INPUT", title, detail)
}

fn not_found(what: &str) -> Response {
    let detail = format!("The specified {what} was not found.");
    jsonapi_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found", &detail)
}

/// One page of `all` (`page[number]` from 0, `page[limit]` 1–200), and its
/// links on `base`, the request's other parameters kept.
fn page<'t, T>(all: &'t [T], query: &Query, base: &str) -> Result<(&'t [T], Value), Response> {
    let number: usize = match param(query, "page[number]") {
        Some(n) => n
            .parse()
            .map_err(|_| bad_input("The page number is invalid."))?,
        None => 0,
    };
    let limit: usize = match param(query, "page[limit]") {
        Some(n) => n
            .parse()
            .map_err(|_| bad_input("The limit value is invalid."))?,
        None => 200,
    };
    if !(1..=200).contains(&limit) {
        return Err(bad_input("The limit value is invalid."));
    }
    let start = number.saturating_mul(limit).min(all.len());
    let end = (start + limit).min(all.len());
    let href = |n: usize| {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "page[number]")
            .cloned()
            .collect();
        pairs.push(("page[number]".into(), n.to_string()));
        let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        json!({"href": format!("{base}?{q}")})
    };
    let mut links = json!({"self": href(number), "first": href(0)});
    if number > 0 {
        links["prev"] = href(number - 1);
    }
    if end < all.len() {
        links["next"] = href(number + 1);
    }
    Ok((&all[start..end], links))
}

fn enc(id: &str) -> String {
    crate::vendors::encode(id)
}

fn extension(kind: &str, data: Value) -> Value {
    json!({"type": kind, "version": "1.0",
        "schema": {"href": format!("/schema/v1/versions/{}-1.0", enc(kind))}, "data": data})
}

fn hub_json(h: &Hub, origin: &str) -> Value {
    let base = format!("{origin}/project/v1/hubs/{}", h.id);
    json!({"type": "hubs", "id": h.id,
        "attributes": {"name": h.name, "extension": extension(h.kind, json!({})), "region": h.region},
        "links": {"self": {"href": base}},
        "relationships": {"projects": {"links": {"related": {"href": format!("{base}/projects")}}}}})
}

fn project_json(p: &Project, origin: &str) -> Value {
    let hub = format!("{origin}/project/v1/hubs/{}", p.hub);
    let (kind, data) = match p.project_type {
        Some(t) => (
            "projects:autodesk.bim360:Project",
            json!({"projectType": t}),
        ),
        None => ("projects:autodesk.core:Project", json!({})),
    };
    let uuid = p.id.trim_start_matches("b.");
    json!({"type": "projects", "id": p.id,
        "attributes": {"name": p.name, "scopes": ["global"], "extension": extension(kind, data)},
        "links": {"self": {"href": format!("{hub}/projects/{}", p.id)},
            "webView": {"href": format!("https://acc.autodesk.com/docs/files/projects/{uuid}")}},
        "relationships": {
            "hub": {"data": {"type": "hubs", "id": p.hub}, "links": {"related": {"href": hub}}},
            "rootFolder": {"data": {"type": "folders", "id": p.root},
                "meta": {"link": {"href": format!("{origin}/data/v1/projects/{}/folders/{}", p.id, p.root)}}},
            "topFolders": {"links": {"related": {"href": format!("{hub}/projects/{}/topFolders", p.id)}}}}})
}

fn folder_json(a: &Account, f: &Folder) -> Value {
    let project = format!("/data/v1/projects/{}", f.project);
    let self_href = format!("{project}/folders/{}", enc(&f.id));
    let count = a.folders.iter().filter(|x| x.parent == f.id).count()
        + a.items
            .iter()
            .filter(|i| i.folder == f.id && !i.hidden)
            .count();
    let data = json!({"allowedTypes": ["folders", "items:autodesk.bim360:File", "items:autodesk.bim360:Document"],
        "visibleTypes": ["folders", "items:autodesk.bim360:Document"], "namingStandardIds": []});
    json!({"type": "folders", "id": f.id,
        "attributes": {"name": f.name, "displayName": f.name, "createTime": iso(f.created),
            "createUserId": USER.0, "createUserName": USER.1, "lastModifiedTime": iso(f.modified),
            "lastModifiedUserId": USER.0, "lastModifiedUserName": USER.1,
            "lastModifiedTimeRollup": iso(a.rollup(f)), "objectCount": count, "hidden": f.hidden,
            "extension": extension("folders:autodesk.bim360:Folder", data)},
        "links": {"self": {"href": self_href},
            "webView": {"href": format!("https://acc.autodesk.com/docs/files/projects/{}?folderUrn={}", f.project.trim_start_matches("b."), enc(&f.id))}},
        "relationships": {
            "parent": {"links": {"related": {"href": format!("{project}/folders/{}", enc(&f.parent))}},
                "data": {"type": "folders", "id": f.parent}},
            "refs": {"links": {"self": {"href": format!("{self_href}/relationships/refs")}, "related": {"href": format!("{self_href}/refs")}}},
            "links": {"links": {"self": {"href": format!("{self_href}/relationships/links")}}},
            "contents": {"links": {"related": {"href": format!("{self_href}/contents")}}}}})
}

fn item_json(a: &Account, i: &Item) -> Value {
    let project = format!("/data/v1/projects/{}", i.project);
    let self_href = format!("{project}/items/{}", enc(&i.id));
    let tip = a.tip(&i.id);
    let name = tip.map_or("", |v| v.name.as_str());
    let modified = a.item_modified(i);
    json!({"type": "items", "id": i.id,
        "attributes": {"displayName": name, "createTime": iso(i.created), "createUserId": USER.0,
            "createUserName": USER.1, "lastModifiedTime": iso(modified), "lastModifiedUserId": USER.0,
            "lastModifiedUserName": USER.1, "lastModifiedTimeRollup": iso(modified), "hidden": i.hidden,
            "reserved": false, "extension": extension(i.kind, json!({}))},
        "links": {"self": {"href": self_href}},
        "relationships": {
            "tip": {"links": {"related": {"href": format!("{self_href}/tip")}},
                "data": {"type": "versions", "id": tip.map(|v| v.id.clone())}},
            "versions": {"links": {"related": {"href": format!("{self_href}/versions")}}},
            "parent": {"links": {"related": {"href": format!("{project}/folders/{}", enc(&i.folder))}},
                "data": {"type": "folders", "id": i.folder}}}})
}

fn version_json(a: &Account, v: &Version, project: &str) -> Value {
    let base = format!("/data/v1/projects/{project}");
    let item = a.items.iter().find(|i| i.id == v.item);
    let kind = match item.map(|i| i.kind) {
        Some("items:autodesk.bim360:Document") => "versions:autodesk.bim360:Document",
        _ => "versions:autodesk.bim360:File",
    };
    let urn = v
        .object
        .as_ref()
        .map(|k| format!("urn:adsk.objects:os.object:{BUCKET}/{k}"));
    let file_type = v
        .name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let data = json!({"tempUrn": null, "properties": {}, "storageUrn": urn, "storageType": "OSS",
        "conformingStatus": "NONE"});
    let mut body = json!({"type": "versions", "id": v.id,
        "attributes": {"name": v.name, "displayName": v.name, "createTime": iso(v.created),
            "createUserId": USER.0, "createUserName": USER.1, "lastModifiedTime": iso(v.modified),
            "lastModifiedUserId": USER.0, "lastModifiedUserName": USER.1, "versionNumber": v.number,
            "mimeType": v.mime, "fileType": file_type, "storageSize": v.size,
            "extension": extension(kind, data)},
        "links": {"self": {"href": format!("{base}/versions/{}", enc(&v.id))},
            "webView": {"href": format!("https://acc.autodesk.com/docs/files/projects/{}?entityId={}", project.trim_start_matches("b."), enc(&v.id))}},
        "relationships": {
            "item": {"links": {"related": {"href": format!("{base}/items/{}", enc(&v.item))}},
                "data": {"type": "items", "id": v.item}}}});
    if let (Some(urn), Some(key)) = (urn, &v.object) {
        let scopes = format!("b360project.{}", project.trim_start_matches("b."));
        body["relationships"]["storage"] = json!({
            "meta": {"link": {"href": format!("/oss/v2/buckets/{BUCKET}/objects/{key}?scopes={scopes},global")}},
            "data": {"type": "objects", "id": urn}});
    }
    body
}

pub fn hubs(a: &mut Aps, query: &Query, origin: &str) -> Response {
    let filters = ["filter[id]", "filter[name]", "filter[extension.type]"];
    check(a, "GET hubs", query, &filters, &[]);
    let data: Vec<Value> = a.account.hubs.iter().map(|h| hub_json(h, origin)).collect();
    let links = json!({"self": {"href": format!("{origin}/project/v1/hubs")}});
    jsonapi(json!({"jsonapi": {"version": "1.0"}, "links": links, "data": data}))
}

pub fn projects(a: &mut Aps, hub: &str, query: &Query, origin: &str) -> Response {
    let allowed = [
        "filter[id]",
        "filter[extension.type]",
        "page[number]",
        "page[limit]",
    ];
    check(
        a,
        "GET projects",
        query,
        &allowed,
        &["page[number]", "page[limit]"],
    );
    if !a.account.hubs.iter().any(|h| h.id == hub) {
        return not_found("hub");
    }
    let all: Vec<&Project> = a.account.projects.iter().filter(|p| p.hub == hub).collect();
    let base = format!("{origin}/project/v1/hubs/{hub}/projects");
    let (rows, links) = match page(&all, query, &base) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data: Vec<Value> = rows.iter().map(|p| project_json(p, origin)).collect();
    jsonapi(json!({"jsonapi": {"version": "1.0"}, "links": links, "data": data}))
}

pub fn top_folders(a: &mut Aps, hub: &str, project: &str, query: &Query, origin: &str) -> Response {
    check(
        a,
        "GET topFolders",
        query,
        &["excludeDeleted", "projectFilesOnly"],
        &[],
    );
    let Some(p) = a
        .account
        .projects
        .iter()
        .find(|p| p.id == project && p.hub == hub)
    else {
        return not_found("project");
    };
    let account = &a.account;
    let data: Vec<Value> = account
        .folders
        .iter()
        .filter(|f| f.parent == p.root)
        .map(|f| folder_json(account, f))
        .collect();
    let href = format!("{origin}/project/v1/hubs/{hub}/projects/{project}/topFolders");
    jsonapi(json!({"jsonapi": {"version": "1.0"}, "links": {"self": {"href": href}}, "data": data}))
}

pub fn contents(
    a: &mut Aps,
    project: &str,
    folder: &str,
    query: &Query,
    _origin: &str,
) -> Response {
    let allowed = [
        "filter[type]",
        "filter[id]",
        "filter[extension.type]",
        "filter[lastModifiedTimeRollup]",
        "page[number]",
        "page[limit]",
        "includeHidden",
    ];
    check(
        a,
        "GET contents",
        query,
        &allowed,
        &["page[number]", "page[limit]", "includeHidden"],
    );
    let hidden = match param(query, "includeHidden") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return bad_input("includeHidden must be true or false."),
    };
    let account = &a.account;
    if !account.projects.iter().any(|p| p.id == project) {
        return not_found("project");
    }
    let Some(f) = account
        .folders
        .iter()
        .find(|f| f.id == folder && f.project == project)
    else {
        return not_found("folder");
    };
    if f.locked {
        let detail = "You don't have permission to view the contents of this folder.";
        return jsonapi_error(StatusCode::FORBIDDEN, "BIM360DM_ERROR", "Forbidden", detail);
    }
    let mut folders: Vec<&Folder> = account
        .folders
        .iter()
        .filter(|x| x.parent == f.id && (hidden || !x.hidden))
        .collect();
    folders.sort_by(|x, y| x.name.cmp(&y.name));
    let name = |i: &Item| {
        account
            .tip(&i.id)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    };
    let mut items: Vec<&Item> = account
        .items
        .iter()
        .filter(|i| i.folder == f.id && (hidden || !i.hidden))
        .collect();
    items.sort_by_key(|i| name(i));
    let entries: Vec<Value> = folders
        .iter()
        .map(|x| folder_json(account, x))
        .chain(items.iter().map(|i| item_json(account, i)))
        .collect();
    let base = format!(
        "/data/v1/projects/{project}/folders/{}/contents",
        enc(folder)
    );
    let (rows, links) = match page(&entries, query, &base) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let included: Vec<Value> = rows
        .iter()
        .filter(|e| e["type"] == "items")
        .filter_map(|e| account.tip(e["id"].as_str()?))
        .map(|v| version_json(account, v, project))
        .collect();
    jsonapi(
        json!({"jsonapi": {"version": "1.0"}, "links": links, "data": rows, "included": included}),
    )
}

pub fn versions(a: &mut Aps, project: &str, item: &str, query: &Query, _origin: &str) -> Response {
    let allowed = [
        "filter[id]",
        "filter[extension.type]",
        "filter[versionNumber]",
        "page[number]",
        "page[limit]",
    ];
    check(
        a,
        "GET versions",
        query,
        &allowed,
        &["page[number]", "page[limit]"],
    );
    let account = &a.account;
    if !account
        .items
        .iter()
        .any(|i| i.id == item && i.project == project)
    {
        return not_found("item");
    }
    let mut all: Vec<&Version> = account.versions.iter().filter(|v| v.item == item).collect();
    all.sort_by_key(|v| std::cmp::Reverse(v.number));
    let base = format!("/data/v1/projects/{project}/items/{}/versions", enc(item));
    let (rows, links) = match page(&all, query, &base) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data: Vec<Value> = rows
        .iter()
        .map(|v| version_json(account, v, project))
        .collect();
    jsonapi(json!({"jsonapi": {"version": "1.0"}, "links": links, "data": data}))
}

//! APS resources as records. A JSON:API resource (`{type, id,
//! attributes, relationships, links}`) becomes one flat object: its id and
//! type, its attributes as they are (APS's camelCase names), the ids of the
//! resources it hangs from (`hub_id`, `project_id`, `folder_id`,
//! `item_id`), its place in the project (`path`) and its web link. Flat
//! records map directly onto tables, and onto a graph's nodes and the
//! relationships between them.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::api;

/// Where a resource sits: hub, project and folder, and its path from the
/// project down (`Tower A/Project Files/Models`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Place {
    pub hub: String,
    /// The hub's data centre (`US`, `EMEA`, …), for the Issues API's
    /// `x-ads-region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// The folder the resource is in (none for a project's top folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// `a/b`, without a leading `/` when `a` is empty.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// A resource's display name: `attributes.name` (what BIM 360 shows; its
/// `displayName` is reserved), else `displayName`.
pub fn name_of(resource: &Value) -> String {
    ["/attributes/name", "/attributes/displayName"]
        .iter()
        .find_map(|p| resource.pointer(p).and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .unwrap_or("(unnamed)")
        .to_string()
}

/// The id of a resource's relationship `name`.
pub fn related(resource: &Value, name: &str) -> Option<String> {
    resource
        .pointer(&format!("/relationships/{name}/data/id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A resource's `id`.
pub fn id_of(resource: &Value) -> Option<&str> {
    resource["id"].as_str().filter(|id| !id.is_empty())
}

/// Whether BIM 360 Docs hides the resource (deleted from the project; it
/// stays until restored).
pub fn hidden(resource: &Value) -> bool {
    resource.pointer("/attributes/hidden") == Some(&Value::Bool(true))
}

/// The resource flattened: `id`, `type`, its attributes and its web link.
pub fn flatten(resource: &Value) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("id".into(), resource["id"].clone());
    data.insert("type".into(), resource["type"].clone());
    if let Some(attributes) = resource["attributes"].as_object() {
        for (k, v) in attributes {
            data.insert(k.clone(), v.clone());
        }
    }
    if let Some(web) = resource.pointer("/links/webView/href") {
        data.insert("web_url".into(), web.clone());
    }
    data
}

fn insert(data: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    data.insert(key.into(), value.into());
}

fn keyed(stream: &str, data: Map<String, Value>) -> Record {
    let key = data["id"].as_str().map(str::to_string);
    let mut record = Record::upsert(stream, data);
    record.key = key;
    record
}

/// A hub (a BIM 360 / ACC account is `b.<account id>`).
pub fn hub(resource: &Value) -> Record {
    let mut data = flatten(resource);
    if let Some(kind) = resource.pointer("/attributes/extension/type") {
        insert(&mut data, "hub_type", kind.clone());
    }
    keyed("hubs", data)
}

/// A project of hub `hub`, with the id the Construction APIs know it by.
pub fn project(resource: &Value, hub: &str) -> Record {
    let mut data = flatten(resource);
    insert(&mut data, "hub_id", hub);
    if let Some(id) = id_of(resource) {
        insert(&mut data, "acc_project_id", api::acc_id(id));
    }
    if let Some(kind) = resource.pointer("/attributes/extension/data/projectType") {
        insert(&mut data, "project_type", kind.clone());
    }
    if let Some(root) = related(resource, "rootFolder") {
        insert(&mut data, "root_folder_id", root);
    }
    keyed("projects", data)
}

/// A folder at `place` (its own path included).
pub fn folder(resource: &Value, at: &Place, path: &str) -> Record {
    let mut data = flatten(resource);
    insert(&mut data, "hub_id", at.hub.as_str());
    insert(&mut data, "project_id", at.project.as_str());
    let parent = related(resource, "parent").or_else(|| at.folder.clone());
    insert(
        &mut data,
        "parent_id",
        parent.map_or(Value::Null, Value::String),
    );
    insert(&mut data, "path", path);
    keyed("folders", data)
}

/// An item (a document's lineage) in the folder `at`, with its tip
/// version (which the folder listing includes).
pub fn item(resource: &Value, tip: Option<&Value>, at: &Place) -> Record {
    let mut data = flatten(resource);
    insert(&mut data, "hub_id", at.hub.as_str());
    insert(&mut data, "project_id", at.project.as_str());
    insert(
        &mut data,
        "folder_id",
        at.folder.clone().map_or(Value::Null, Value::String),
    );
    let name = tip.map_or_else(|| name_of(resource), name_of);
    insert(&mut data, "path", join(&at.path, &name));
    let tip_id = related(resource, "tip").or_else(|| tip.and_then(id_of).map(str::to_string));
    insert(
        &mut data,
        "tip_version_id",
        tip_id.map_or(Value::Null, Value::String),
    );
    if let Some(tip) = tip {
        let mut tip_data = flatten(tip);
        add_file_facts(&mut tip_data, tip);
        insert(&mut data, "file_type", tip_data["file_type"].clone());
        insert(&mut data, "tip", Value::Object(tip_data));
    }
    keyed("items", data)
}

/// A version of item `item` in the folder `at`: the file's facts, and
/// where its content is stored.
pub fn version(resource: &Value, at: &Place, item: &str) -> Map<String, Value> {
    let mut data = flatten(resource);
    insert(&mut data, "hub_id", at.hub.as_str());
    insert(&mut data, "project_id", at.project.as_str());
    insert(
        &mut data,
        "folder_id",
        at.folder.clone().map_or(Value::Null, Value::String),
    );
    let item = related(resource, "item").unwrap_or_else(|| item.to_string());
    insert(&mut data, "item_id", item);
    insert(&mut data, "path", join(&at.path, &name_of(resource)));
    add_file_facts(&mut data, resource);
    data
}

/// `file_type` (lowercase; APS's `fileType`, else the name's extension),
/// `storage_urn` (where OSS keeps the content), `content_type` and
/// `modified`, the names file destinations read.
fn add_file_facts(data: &mut Map<String, Value>, resource: &Value) {
    let name = name_of(resource);
    let file_type = resource
        .pointer("/attributes/fileType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            name.rsplit_once('.')
                .map(|(_, ext)| ext.to_string())
                .filter(|ext| !ext.is_empty() && ext.len() <= 12)
        })
        .map(|t| t.to_ascii_lowercase());
    insert(
        data,
        "file_type",
        file_type.map_or(Value::Null, Value::String),
    );
    let storage = related(resource, "storage").or_else(|| {
        resource
            .pointer("/attributes/extension/data/storageUrn")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    insert(
        data,
        "storage_urn",
        storage.map_or(Value::Null, Value::String),
    );
    let mime = resource
        .pointer("/attributes/mimeType")
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream");
    insert(data, "content_type", mime);
    if let Some(modified) = resource.pointer("/attributes/lastModifiedTime") {
        insert(data, "modified", modified.clone());
    }
}

/// A delete of a resource BIM 360 Docs hides (deleted in the project),
/// with its path so a file destination can find its copy.
pub fn gone(stream: &str, resource: &Value, path: &str) -> Option<Record> {
    let id = id_of(resource)?;
    let mut record = Record::delete(stream, id);
    record.data.insert("path".into(), json!(path));
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_flattened_with_its_file_facts() {
        let v = json!({"type": "versions", "id": "urn:adsk.wipprod:fs.file:vf.b909?version=2",
            "attributes": {"name": "Tower.IFC", "versionNumber": 2, "storageSize": 42,
                "lastModifiedTime": "2024-03-01T10:00:00.000Z"},
            "links": {"webView": {"href": "https://acc.autodesk.com/x"}},
            "relationships": {"item": {"data": {"type": "items", "id": "urn:adsk.wipprod:dm.lineage:b909"}},
                "storage": {"data": {"type": "objects", "id": "urn:adsk.objects:os.object:wip.dm.prod/a.ifc"}}}});
        let at = Place {
            hub: "b.1".into(),
            project: "b.2".into(),
            folder: Some("f".into()),
            path: "Tower/Project Files".into(),
            region: None,
        };
        let data = version(&v, &at, "ignored");
        assert_eq!(data["item_id"], "urn:adsk.wipprod:dm.lineage:b909");
        assert_eq!(data["path"], "Tower/Project Files/Tower.IFC");
        assert_eq!(data["file_type"], "ifc");
        assert_eq!(
            data["storage_urn"],
            "urn:adsk.objects:os.object:wip.dm.prod/a.ifc"
        );
        assert_eq!(data["versionNumber"], 2);
        assert_eq!(data["web_url"], "https://acc.autodesk.com/x");
        assert_eq!(data["modified"], "2024-03-01T10:00:00.000Z");
    }
}

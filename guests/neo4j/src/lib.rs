//! `neo4j`: a destination that writes records as nodes and relationships
//! through Neo4j's HTTP Query API (`POST /db/{database}/query/v2`).
//!
//! Each mapped stream's records are upserted by key in one parameterised
//! statement per batch (`UNWIND $rows AS row MERGE (n:Label {key: row.key})
//! SET n += row.props`); relationships are merged between the nodes whose
//! keys a record's fields hold; deletes detach and delete the node. A
//! statement is one transaction: when Neo4j refuses a batch for its data
//! (a constraint, a type), the batch is written again record by record so
//! that only the records at fault are rejected, with Neo4j's message.
//!
//! Built from the Query API documentation; see `docs/vendors/neo4j.md`.

mod cypher;
mod query;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

use query::{Counters, Refused};

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server: `https://xxxxxxxx.databases.neo4j.io` or `http://host:7474`.
    base_url: String,
    #[serde(default = "default_database")]
    database: String,
    /// Streams written as nodes, by stream name.
    #[serde(default)]
    nodes: BTreeMap<String, NodeMap>,
    /// Relationships drawn from records' fields.
    #[serde(default)]
    relationships: Vec<RelationshipMap>,
    /// Records per statement.
    #[serde(default = "default_batch")]
    batch_size: usize,
}

/// How a stream's records become nodes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeMap {
    label: String,
    /// The property that identifies a node (and the record field holding it).
    #[serde(default = "default_key")]
    key: String,
    /// Fields written as properties (all when absent).
    #[serde(default)]
    properties: Option<Vec<String>>,
}

/// A relationship between two nodes whose keys a record holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipMap {
    /// The stream whose records draw it.
    stream: String,
    /// Relationship type, e.g. `PLACED`.
    #[serde(rename = "type")]
    kind: String,
    from: End,
    to: End,
    /// Record fields written as the relationship's properties.
    #[serde(default)]
    properties: Vec<String>,
}

/// One end of a relationship.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    label: String,
    #[serde(default = "default_key")]
    key: String,
    /// The record field holding this end's key.
    field: String,
}

fn default_database() -> String {
    "neo4j".into()
}

fn default_key() -> String {
    "id".into()
}

fn default_batch() -> usize {
    500
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#018bff"/><circle cx="22" cy="40" r="8" fill="#fff"/><circle cx="44" cy="22" r="7" fill="#fff"/><circle cx="46" cy="46" r="5" fill="#fff"/><path d="M22 40L44 22M22 40l24 6" stroke="#fff" stroke-width="3"/></svg>"##;

pub struct Neo4j;

impl Connector for Neo4j {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("neo4j", env!("CARGO_PKG_VERSION"))
            .description(
                "Neo4j as a destination: records merged as nodes by key, relationships from \
                 their fields, through the HTTP Query API in parameterised batches.",
            )
            .role(Role::Destination)
            .config_schema(config_schema())
            .host("{config.base_url}")
            .secret(
                SecretSpec::new("username")
                    .description("Database user (neo4j on a new server)")
                    .host("{config.base_url}"),
            )
            .secret(
                SecretSpec::new("password")
                    .description("The user's password")
                    .host("{config.base_url}"),
            )
            .catalog(
                Catalog::new("Neo4j")
                    .category(Category::Database)
                    .icon_svg(ICON)
                    .documentation_url("https://neo4j.com/docs/query-api/current/")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        query::run(config, "RETURN 1 AS ok", Vec::new()).map_err(Refused::into_error)?;
        Ok(())
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        let mut result = PushResult::default();
        let mut by_stream: BTreeMap<&str, Vec<(usize, &Record)>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            by_stream.entry(r.stream.as_str()).or_default().push((i, r));
        }
        for (stream, batch) in by_stream {
            let node = config.nodes.get(stream);
            let relationships: Vec<&RelationshipMap> = config
                .relationships
                .iter()
                .filter(|r| r.stream == stream)
                .collect();
            if node.is_none() && relationships.is_empty() {
                for (i, _) in &batch {
                    result.reject(
                        *i,
                        None,
                        format!("stream `{stream}` is not mapped to nodes or relationships"),
                    );
                }
                continue;
            }
            for chunk in batch.chunks(config.batch_size.max(1)) {
                write_chunk(config, node, &relationships, chunk, &mut result)?;
            }
        }
        Ok(result)
    }
}

/// A chunk of one stream: its nodes, then its relationships.
fn write_chunk(
    config: &Config,
    node: Option<&NodeMap>,
    relationships: &[&RelationshipMap],
    chunk: &[(usize, &Record)],
    result: &mut PushResult,
) -> Result<()> {
    let mut refused: BTreeMap<usize, String> = BTreeMap::new();
    if let Some(node) = node {
        let (upserts, deletes): (Vec<_>, Vec<_>) =
            chunk.iter().partition(|(_, r)| r.op == Op::Upsert);
        let batch = rows(&upserts, &mut refused, |r| node_row(node, r));
        let c = query::write(
            config,
            &cypher::merge_nodes(&node.label, &node.key),
            batch,
            &mut refused,
        )?;
        result.created += c.nodes_created;
        result.updated += c.rows.saturating_sub(c.nodes_created);
        let batch = rows(&deletes, &mut refused, |r| {
            key_of(r, &node.key).map(|k| json!({"key": k}))
        });
        let c = query::write(
            config,
            &cypher::delete_nodes(&node.label, &node.key),
            batch,
            &mut refused,
        )?;
        result.deleted += c.rows;
    }
    for rel in relationships {
        let from = (rel.from.label.as_str(), rel.from.key.as_str());
        let to = (rel.to.label.as_str(), rel.to.key.as_str());
        let (upserts, deletes): (Vec<_>, Vec<_>) =
            chunk.iter().partition(|(_, r)| r.op == Op::Upsert);
        let make = |r: &Record| relationship_row(rel, r);
        let statement = cypher::merge_relationship(from, &rel.kind, to);
        let batch = rows(&upserts, &mut refused, make);
        let c: Counters = query::write(config, &statement, batch, &mut refused)?;
        if node.is_none() {
            result.created += c.relationships_created;
            result.updated += c.rows.saturating_sub(c.relationships_created);
        }
        let statement = cypher::delete_relationship(from, &rel.kind, to);
        let batch = rows(&deletes, &mut refused, make);
        let c = query::write(config, &statement, batch, &mut refused)?;
        if node.is_none() {
            result.deleted += c.rows;
        }
    }
    for (index, message) in refused {
        result.reject(index, None, message);
    }
    Ok(())
}

/// `(index, row)` for each record not refused yet that `make` can turn
/// into a row; the others are refused with its message.
fn rows(
    records: &[&(usize, &Record)],
    refused: &mut BTreeMap<usize, String>,
    make: impl Fn(&Record) -> std::result::Result<Value, String>,
) -> Vec<(usize, Value)> {
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records {
        if refused.contains_key(i) {
            continue;
        }
        match make(r) {
            Ok(row) => out.push((*i, row)),
            Err(message) => {
                refused.insert(*i, message);
            }
        }
    }
    out
}

/// The key of a record: the field's value as it is (a number stays a
/// number, so it matches nodes written by other tools), else the record key.
fn key_of(record: &Record, field: &str) -> std::result::Result<Value, String> {
    match record.get(field) {
        Some(v) if !v.is_null() && !v.is_object() && !v.is_array() => Ok(v.clone()),
        _ => record
            .key
            .clone()
            .map(Value::String)
            .ok_or_else(|| format!("no key: the record has no `{field}` and no record key")),
    }
}

fn node_row(node: &NodeMap, record: &Record) -> std::result::Result<Value, String> {
    let key = key_of(record, &node.key)?;
    let props = properties(record, node.properties.as_deref());
    Ok(json!({"key": key, "props": props}))
}

fn relationship_row(rel: &RelationshipMap, record: &Record) -> std::result::Result<Value, String> {
    let end = |e: &End| match record.get(&e.field) {
        Some(v) if !v.is_null() && !v.is_object() && !v.is_array() => Ok(v.clone()),
        _ => Err(format!(
            "no `{}` for the {} relationship",
            e.field, rel.kind
        )),
    };
    Ok(json!({
        "from": end(&rel.from)?,
        "to": end(&rel.to)?,
        "props": properties(record, Some(&rel.properties)),
    }))
}

/// Properties Neo4j can hold: scalars and arrays of scalars as they are;
/// objects and mixed arrays as JSON text (a property cannot be a map).
/// `null` removes the property on update, as `SET n += row.props` does.
fn properties(record: &Record, only: Option<&[String]>) -> Value {
    let mut out = Map::new();
    for (k, v) in &record.data {
        if only.is_some_and(|o| !o.iter().any(|f| f == k)) {
            continue;
        }
        out.insert(k.clone(), storable(v));
    }
    Value::Object(out)
}

fn storable(v: &Value) -> Value {
    match v {
        Value::Object(_) => Value::String(v.to_string()),
        Value::Array(items) => {
            let scalar = items
                .iter()
                .all(|i| !i.is_object() && !i.is_array() && !i.is_null());
            let same = items
                .windows(2)
                .all(|w| std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1]));
            if scalar && same {
                v.clone()
            } else {
                Value::String(v.to_string())
            }
        }
        other => other.clone(),
    }
}

fn config_schema() -> Value {
    let end = json!({
        "type": "object", "required": ["label", "field"], "additionalProperties": false,
        "properties": {
            "label": {"type": "string", "minLength": 1, "description": "Label of the node at this end"},
            "key": {"type": "string", "default": "id", "description": "Property identifying that node"},
            "field": {"type": "string", "minLength": 1, "description": "Record field holding that node's key"}
        }
    });
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "base_url": {"type": "string", "format": "uri", "title": "Server URL",
                "description": "Neo4j's HTTP endpoint: https://xxxxxxxx.databases.neo4j.io for AuraDB, http://host:7474 for a server of your own"},
            "database": {"type": "string", "default": "neo4j", "title": "Database", "description": "Database name"},
            "nodes": {"type": "object", "title": "Nodes by stream",
                "description": "For each stream written as nodes: its label, key property and properties",
                "additionalProperties": {
                    "type": "object", "required": ["label"], "additionalProperties": false,
                    "properties": {
                        "label": {"type": "string", "minLength": 1, "description": "Node label, e.g. Customer"},
                        "key": {"type": "string", "default": "id", "description": "Property (and record field) identifying a node"},
                        "properties": {"type": "array", "items": {"type": "string"}, "description": "Record fields written as properties; all when absent"}
                    }
                }},
            "relationships": {"type": "array", "title": "Relationships",
                "description": "Relationships drawn from a stream's records between two nodes whose keys the record holds",
                "items": {
                    "type": "object", "required": ["stream", "type", "from", "to"], "additionalProperties": false,
                    "properties": {
                        "stream": {"type": "string", "description": "Stream whose records draw it"},
                        "type": {"type": "string", "minLength": 1, "description": "Relationship type, e.g. PLACED"},
                        "from": end.clone(),
                        "to": end,
                        "properties": {"type": "array", "items": {"type": "string"}, "description": "Record fields written on the relationship"}
                    }
                }},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500, "title": "Batch size",
                "description": "Records per statement"}
        }
    })
}

export_connector!(Neo4j);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_neo4j_can_hold() {
        let record = Record::from_value(
            "Customer",
            json!({"name": "C1", "tags": ["a", "b"], "limits": [{"limit": 5}], "mixed": [1, "x"],
                "address": {"city": "Iasi"}, "gone": null, "age": 3}),
        )
        .unwrap();
        let props = properties(&record, None);
        assert_eq!(props["tags"], json!(["a", "b"]));
        assert_eq!(props["limits"], json!(r#"[{"limit":5}]"#));
        assert_eq!(props["mixed"], json!(r#"[1,"x"]"#));
        assert_eq!(props["address"], json!(r#"{"city":"Iasi"}"#));
        assert_eq!(props["gone"], Value::Null, "null removes the property");
        let only = properties(&record, Some(&["age".to_string()]));
        assert_eq!(only, json!({"age": 3}));
        assert_eq!(key_of(&record, "name"), Ok(json!("C1")));
        assert!(key_of(&record, "id").is_err());
    }
}

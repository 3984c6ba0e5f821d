//! XML: the elements at a record path (`Orders/Order`, local names) as
//! records (attributes and child elements as fields; repeated children as
//! lists; nested ones as objects), and Microsoft Project's XML (MSPDI) as
//! tasks, resources, assignments and relationships (each task's
//! `PredecessorLink`s).

use roxmltree::{Document, Node};
use wharf_sdk::prelude::*;

fn parse(text: &str) -> Result<Document<'_>> {
    Document::parse(text).map_err(|e| Error::Fatal(format!("the file is not XML: {e}")))
}

/// An element as a value: text for a leaf, an object of its attributes
/// and children otherwise.
fn value(node: Node) -> Value {
    let children: Vec<Node> = node.children().filter(Node::is_element).collect();
    if children.is_empty() && node.attributes().len() == 0 {
        return node.text().map(|t| json!(t.trim())).unwrap_or(Value::Null);
    }
    let mut map = Map::new();
    for a in node.attributes() {
        map.insert(a.name().to_string(), json!(a.value()));
    }
    for c in children {
        let name = c.tag_name().name().to_string();
        let v = value(c);
        match map.get_mut(&name) {
            Some(Value::Array(list)) => list.push(v),
            Some(existing) => *existing = json!([existing.take(), v]),
            None => {
                map.insert(name, v);
            }
        }
    }
    if let Some(t) = node.text().map(str::trim).filter(|t| !t.is_empty()) {
        map.insert("_text".into(), json!(t));
    }
    Value::Object(map)
}

/// The records at `path` (element names from the root's children down;
/// a leading `/` and the root's own name are optional).
pub fn records(text: &str, path: &str) -> Result<Vec<Map<String, Value>>> {
    let doc = parse(text)?;
    let root = doc.root_element();
    let mut steps: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if steps.first() == Some(&root.tag_name().name()) {
        steps.remove(0);
    }
    let mut level = vec![root];
    for step in steps {
        level = level
            .into_iter()
            .flat_map(|n| {
                n.children()
                    .filter(move |c| c.is_element() && c.tag_name().name() == step)
            })
            .collect();
    }
    Ok(level
        .into_iter()
        .map(|n| match value(n) {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                m
            }
        })
        .collect())
}

/// MSPDI's streams.
pub const MSPDI_STREAMS: &[&str] = &["tasks", "resources", "assignments", "relationships"];

/// A flat record of an element's leaf children (MSPDI's nested lists,
/// such as `ExtendedAttribute` or `Baseline`, are left out).
fn flat(node: Node) -> Map<String, Value> {
    let mut m = Map::new();
    for c in node.children().filter(|c| c.is_element()) {
        if c.children().any(|g| g.is_element()) {
            continue;
        }
        let text = c.text().unwrap_or("").trim();
        let v = match text.parse::<i64>() {
            Ok(n) if !text.starts_with('0') || text == "0" => json!(n),
            _ => json!(text),
        };
        m.insert(c.tag_name().name().to_string(), v);
    }
    m
}

/// Link types of `PredecessorLink/Type`.
fn link_type(code: &Value) -> &'static str {
    match code.as_i64() {
        Some(0) => "FF",
        Some(2) => "SF",
        Some(3) => "SS",
        _ => "FS",
    }
}

/// One stream of an MS Project XML file.
pub fn mspdi(text: &str, stream: &str) -> Result<Vec<Map<String, Value>>> {
    let doc = parse(text)?;
    let root = doc.root_element();
    if root.tag_name().name() != "Project" {
        return Err(Error::Config(
            "not an MS Project XML file (the root is not <Project>)".into(),
        ));
    }
    let list = |group: &str, item: &str| -> Vec<Node> {
        root.children()
            .filter(|c| c.tag_name().name() == group)
            .flat_map(|g| {
                g.children()
                    .filter(|c| c.tag_name().name() == item)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    Ok(match stream {
        "tasks" => list("Tasks", "Task").into_iter().map(flat).collect(),
        "resources" => list("Resources", "Resource")
            .into_iter()
            .map(flat)
            .collect(),
        "assignments" => list("Assignments", "Assignment")
            .into_iter()
            .map(flat)
            .collect(),
        "relationships" => list("Tasks", "Task")
            .into_iter()
            .flat_map(|task| {
                let uid = flat(task).get("UID").cloned().unwrap_or(Value::Null);
                task.children()
                    .filter(|c| c.tag_name().name() == "PredecessorLink")
                    .map(move |link| {
                        let l = flat(link);
                        let mut m = Map::new();
                        m.insert("TaskUID".into(), uid.clone());
                        m.insert(
                            "PredecessorUID".into(),
                            l.get("PredecessorUID").cloned().unwrap_or(Value::Null),
                        );
                        m.insert(
                            "Type".into(),
                            json!(link_type(l.get("Type").unwrap_or(&Value::Null))),
                        );
                        // LinkLag is in tenths of a minute.
                        m.insert(
                            "LagMinutes".into(),
                            l.get("LinkLag")
                                .and_then(Value::as_i64)
                                .map_or(Value::Null, |v| json!(v / 10)),
                        );
                        m
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        other => {
            return Err(Error::Config(format!(
                "an MS Project file has no stream `{other}` ({})",
                MSPDI_STREAMS.join(", ")
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_path_and_a_project() {
        let xml = r#"<Export><Orders><Order id="7"><Total>9.50</Total><Line>a</Line><Line>b</Line></Order><Order id="8"/></Orders></Export>"#;
        let r = records(xml, "/Export/Orders/Order").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["id"], "7");
        assert_eq!(r[0]["Line"], json!(["a", "b"]));
        let project = include_str!("../../../tests/fixtures/files/project.xml");
        let tasks = mspdi(project, "tasks").unwrap();
        assert_eq!(tasks.len(), 20);
        assert!(
            tasks
                .iter()
                .all(|t| t.contains_key("UID") && t.contains_key("Name"))
        );
        assert_eq!(mspdi(project, "resources").unwrap().len(), 3);
        assert_eq!(mspdi(project, "assignments").unwrap().len(), 17);
        let links = mspdi(project, "relationships").unwrap();
        assert_eq!(links.len(), 6);
        assert!(links.iter().any(|l| l["Type"] != "FS"));
    }
}

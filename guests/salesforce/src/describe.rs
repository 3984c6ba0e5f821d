//! What an org holds: `describeGlobal` (`GET /sobjects/`) lists the objects
//! the user can see, an object's `describe` its fields with their types and
//! what may be written. Streams, their JSON Schemas, the SELECT list and the
//! incremental field all come from these.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api::Api;

/// Objects past this many are offered without describing each (a
/// `discover` call has a time limit, and each describe is a request).
const DESCRIBED_AT_MOST: usize = 60;

/// Fields that order records by change, best first: `SystemModstamp` moves
/// on every change, system ones included, and is indexed.
const CURSOR_FIELDS: [&str; 3] = ["SystemModstamp", "LastModifiedDate", "CreatedDate"];

/// Field types a query cannot return as one value (compound address and
/// geolocation fields, whose parts are fields of their own) or returns
/// only as a link (binary bodies); Bulk API 2.0 refuses them too.
const NOT_SELECTED: [&str; 3] = ["address", "location", "base64"];

/// One object of `describeGlobal`.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct GlobalObject {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default)]
    pub deprecated_and_hidden: bool,
}

#[derive(Deserialize)]
struct Global {
    sobjects: Vec<GlobalObject>,
}

/// An object's `describe`.
#[derive(Deserialize, Debug, Clone)]
pub struct Described {
    pub name: String,
    #[serde(default)]
    pub label: String,
    pub fields: Vec<Field>,
}

/// One field of a `describe`.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub name: String,
    /// `id`, `string`, `boolean`, `int`, `double`, `currency`, `datetime`…
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub id_lookup: bool,
    /// For a lookup (`AccountId`): the relationship's name (`Account`).
    #[serde(default)]
    pub relationship_name: Option<String>,
}

/// The objects the user can see.
pub fn global(api: &Api) -> Result<Vec<GlobalObject>> {
    let response = api.send(api.request("GET", api.data("sobjects/")))?;
    Ok(response.json::<Global>()?.sobjects)
}

/// An object's fields; an object the org does not have is the config's
/// fault.
pub fn object(api: &Api, name: &str) -> Result<Described> {
    let url = api.data(&format!("sobjects/{name}/describe"));
    match api.send(api.request("GET", url)) {
        Err(Error::Config(m)) => Err(Error::Config(format!(
            "`{name}` is not an object this user can read in the org ({m})"
        ))),
        other => other?.json(),
    }
}

impl Described {
    /// A field by name (case-insensitive, as in SOQL).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The field incremental passes follow, if the object has one.
    pub fn cursor_field(&self) -> Option<&str> {
        CURSOR_FIELDS.iter().copied().find(|c| {
            self.field(c)
                .is_some_and(|f| f.kind == "datetime" && f.name == *c)
        })
    }

    /// The SELECT list: the configured fields (checked against the object)
    /// or every field a query returns as a value; always `Id`, the cursor
    /// field and, when deletes are read, `IsDeleted`.
    pub fn selected(&self, wanted: Option<&[String]>, deletes: bool) -> Result<Vec<String>> {
        fn add(name: &str, out: &mut Vec<String>) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                out.push(name.to_string());
            }
        }
        let mut out: Vec<String> = Vec::new();
        add("Id", &mut out);
        match wanted {
            Some(list) => {
                let unknown: Vec<&str> = list
                    .iter()
                    .map(String::as_str)
                    .filter(|f| self.field(f).is_none())
                    .collect();
                if !unknown.is_empty() {
                    return Err(Error::Config(format!(
                        "`{}` has no field {} (fields are API names, custom ones end in __c)",
                        self.name,
                        unknown.join(", ")
                    )));
                }
                for f in list {
                    let name = self.field(f).map_or(f.as_str(), |x| x.name.as_str());
                    add(name, &mut out);
                }
            }
            None => {
                for f in self
                    .fields
                    .iter()
                    .filter(|f| !NOT_SELECTED.contains(&f.kind.as_str()))
                {
                    add(&f.name, &mut out);
                }
            }
        }
        if let Some(c) = self.cursor_field() {
            add(c, &mut out);
        }
        if deletes && self.field("IsDeleted").is_some() {
            add("IsDeleted", &mut out);
        }
        Ok(out)
    }

    /// The JSON Schema of a record: every field but `Id` may be null (field
    /// security hides values, and queries return null for empty ones).
    pub fn schema(&self, selected: &[String]) -> Value {
        let mut props = Map::new();
        for name in selected {
            let Some(f) = self.field(name) else { continue };
            let mut p = json_type(&f.kind);
            if f.name != "Id"
                && let Some(t) = p.get("type").cloned()
            {
                p["type"] = json!([t, "null"]);
            }
            if !f.label.is_empty() {
                p["title"] = json!(f.label);
            }
            props.insert(f.name.clone(), p);
        }
        json!({"type": "object", "properties": props, "required": ["Id"]})
    }
}

/// A Salesforce field type as JSON Schema.
pub fn json_type(kind: &str) -> Value {
    match kind {
        "boolean" => json!({"type": "boolean"}),
        "int" => json!({"type": "integer"}),
        "double" | "currency" | "percent" => json!({"type": "number"}),
        "date" => json!({"type": "string", "format": "date"}),
        "datetime" => json!({"type": "string", "format": "date-time"}),
        "address" | "location" => json!({"type": "object"}),
        _ => json!({"type": "string"}),
    }
}

/// The streams of this connection: the configured objects the user can
/// query (every one for `*`), each with its fields' schema.
pub fn streams(config: &Config, api: &Api) -> Result<Vec<StreamSpec>> {
    let all = global(api)?;
    let offered: Vec<&GlobalObject> = all
        .iter()
        .filter(|o| o.queryable && !o.deprecated_and_hidden && config.offers(&o.name))
        .collect();
    let wildcard = config.objects.iter().any(|o| o == "*");
    let missing: Vec<&String> = config
        .objects
        .iter()
        .filter(|o| o.as_str() != "*" && !offered.iter().any(|g| g.name.eq_ignore_ascii_case(o)))
        .collect();
    if !missing.is_empty() {
        wharf_sdk::log::warn(format!(
            "not offered (absent, or not queryable by this user): {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let describe_each = !wildcard || offered.len() <= DESCRIBED_AT_MOST;
    let mut out = Vec::with_capacity(offered.len());
    for o in offered {
        let mut s = StreamSpec::new(&o.name).key_field("Id");
        if !describe_each {
            let label = format!("{} (fields known once read)", o.label);
            out.push(s.description(label));
            continue;
        }
        let d = object(api, &o.name)?;
        let selected = d.selected(config.fields_of(&o.name), config.include_deleted)?;
        s = s.description(d.label.clone()).schema(d.schema(&selected));
        if let Some(c) = d.cursor_field() {
            s = s.cursor_field(c);
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Described {
        serde_json::from_value(json!({"name": "Account", "label": "Account", "fields": [
            {"name": "Id", "type": "id", "label": "Account ID"},
            {"name": "IsDeleted", "type": "boolean"},
            {"name": "Name", "type": "string", "createable": true, "updateable": true},
            {"name": "BillingAddress", "type": "address"},
            {"name": "AnnualRevenue", "type": "currency"},
            {"name": "NumberOfEmployees", "type": "int"},
            {"name": "LastModifiedDate", "type": "datetime"},
            {"name": "SystemModstamp", "type": "datetime"}
        ]}))
        .unwrap()
    }

    #[test]
    fn fields_and_cursor() {
        let a = account();
        assert_eq!(a.cursor_field(), Some("SystemModstamp"));
        let all = a.selected(None, false).unwrap();
        assert!(!all.contains(&"BillingAddress".to_string()));
        assert_eq!(all[0], "Id");
        let some = a.selected(Some(&["name".into()]), true).unwrap();
        assert_eq!(some, ["Id", "Name", "SystemModstamp", "IsDeleted"]);
        assert!(matches!(
            a.selected(Some(&["Nope__c".into()]), false),
            Err(Error::Config(_))
        ));
        let schema = a.schema(&all);
        assert_eq!(
            schema["properties"]["AnnualRevenue"]["type"],
            json!(["number", "null"])
        );
        assert_eq!(schema["properties"]["Id"]["type"], "string");
        assert_eq!(
            schema["properties"]["SystemModstamp"]["format"],
            "date-time"
        );
    }
}

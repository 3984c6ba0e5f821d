//! A DocType's JSON Schema, from its `fields` (DocField rows): what a
//! stream's records look like, for the console, mappers and validation.
//!
//! List rows come straight from the database, so any column may be `null`;
//! layout fields (section and column breaks, HTML) hold no data and are
//! left out.

use wharf_sdk::{Map, Value, json};

/// Fields every document has, whatever its DocType.
const STANDARD: &[(&str, &str, &str)] = &[
    ("name", "string", "Document name (its key)"),
    ("owner", "string", "User who created it"),
    ("creation", "string", "Created at, site time zone"),
    ("modified", "string", "Last modified at, site time zone"),
    ("modified_by", "string", "User who last modified it"),
    ("docstatus", "integer", "0 draft, 1 submitted, 2 cancelled"),
    ("idx", "integer", "Position"),
];

/// Field types that lay out a form and hold no value.
const LAYOUT: &[&str] = &[
    "Section Break",
    "Column Break",
    "Tab Break",
    "HTML",
    "Heading",
    "Button",
    "Fold",
    "Image",
];

/// The schema of documents whose DocType has these `fields`.
pub fn of_fields(fields: &[Value]) -> Value {
    let mut properties = Map::new();
    for (name, ty, description) in STANDARD {
        properties.insert(
            (*name).into(),
            json!({"type": [*ty, "null"], "description": description}),
        );
    }
    for field in fields {
        let (Some(name), Some(fieldtype)) = (
            field.get("fieldname").and_then(Value::as_str),
            field.get("fieldtype").and_then(Value::as_str),
        ) else {
            continue;
        };
        if LAYOUT.contains(&fieldtype) {
            continue;
        }
        let mut property = property_for(fieldtype, field.get("options"));
        let label = field.get("label").and_then(Value::as_str).unwrap_or(name);
        let described = match field.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{label} ({fieldtype}): {d}"),
            _ => format!("{label} ({fieldtype})"),
        };
        property.insert("description".into(), described.into());
        properties.insert(name.into(), Value::Object(property));
    }
    json!({
        "type": "object",
        "required": ["name"],
        "properties": properties,
    })
}

/// The schema when a DocType's fields are not read (every DocType of a
/// site listed at once): the standard fields, anything else allowed.
pub fn generic() -> Value {
    of_fields(&[])
}

fn property_for(fieldtype: &str, options: Option<&Value>) -> Map<String, Value> {
    let value = match fieldtype {
        "Int" | "Check" => json!({"type": ["integer", "null"]}),
        "Float" | "Currency" | "Percent" | "Duration" | "Rating" => {
            json!({"type": ["number", "null"]})
        }
        "Table" | "Table MultiSelect" => {
            json!({"type": ["array", "null"], "items": {"type": "object"}})
        }
        "JSON" => json!({}),
        "Date" => json!({"type": ["string", "null"], "format": "date"}),
        "Select" => {
            let choices: Vec<Value> = options
                .and_then(Value::as_str)
                .map(|o| o.lines().map(|l| Value::from(l.trim())).collect())
                .unwrap_or_default();
            if choices.is_empty() {
                json!({"type": ["string", "null"]})
            } else {
                let mut with_null = choices;
                with_null.push(Value::Null);
                json!({"enum": with_null})
            }
        }
        _ => json!({"type": ["string", "null"]}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_fields_become_typed_properties() {
        let schema = of_fields(&[
            json!({"fieldname": "customer_name", "fieldtype": "Data", "label": "Customer Name", "reqd": 1}),
            json!({"fieldname": "customer_type", "fieldtype": "Select", "label": "Customer Type", "options": "Company\nIndividual\nPartnership"}),
            json!({"fieldname": "section_break_2", "fieldtype": "Section Break"}),
            json!({"fieldname": "disabled", "fieldtype": "Check", "label": "Disabled"}),
            json!({"fieldname": "credit_limits", "fieldtype": "Table", "options": "Customer Credit Limit"}),
        ]);
        let p = &schema["properties"];
        assert_eq!(p["customer_name"]["type"], json!(["string", "null"]));
        assert_eq!(p["customer_name"]["description"], "Customer Name (Data)");
        assert_eq!(
            p["customer_type"]["enum"],
            json!(["Company", "Individual", "Partnership", null])
        );
        assert_eq!(p["disabled"]["type"], json!(["integer", "null"]));
        assert_eq!(p["credit_limits"]["type"], json!(["array", "null"]));
        assert!(p.get("section_break_2").is_none());
        assert_eq!(p["modified"]["type"], json!(["string", "null"]));
    }
}

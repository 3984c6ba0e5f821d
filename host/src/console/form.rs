//! Forms generated from a connector's config JSON Schema, and the way back:
//! the submitted fields as the JSON value the API validates.
//!
//! Each property becomes an input named by its JSON pointer under a prefix
//! (`config/base_url`): strings (with `uri`, `email`, `date`, `date-time`
//! and `password` formats as the matching input types), numbers, integers,
//! booleans (checkboxes), enums (selects), arrays of scalars (one item per
//! line), nested objects (fieldsets); anything else is edited as JSON.
//! Nothing is validated here: the API's validator decides, and its errors
//! (by JSON pointer) are shown beside the inputs they name.

use std::collections::BTreeMap;

use maud::{Markup, html};
use serde_json::{Map, Value};

/// How a property is edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A line of text; the HTML input type.
    Text(&'static str),
    /// A number (`integer`: whole).
    Number { integer: bool },
    /// A checkbox.
    Boolean,
    /// One of these values.
    Choice(Vec<Value>),
    /// A list of scalars, one per line; the items' type.
    Lines(&'static str),
    /// Nested properties.
    Object(Vec<FormField>),
    /// Anything else, as JSON text.
    Json,
}

/// One input of a generated form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// JSON pointer under the form's prefix (`/auth/user`).
    pub pointer: String,
    /// Label: the schema's `title`, or the property name.
    pub label: String,
    /// The schema's `description`.
    pub description: Option<String>,
    /// Whether the schema requires it.
    pub required: bool,
    /// The schema's `default`.
    pub default: Option<Value>,
    /// How it is edited.
    pub kind: Kind,
}

/// The fields of an object schema, in the schema's order.
pub fn fields_of(schema: &Value) -> Vec<FormField> {
    fields_at(schema, "")
}

fn fields_at(schema: &Value, base: &str) -> Vec<FormField> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let pointer = format!("{base}/{}", escape_pointer(name));
            FormField {
                label: prop["title"].as_str().unwrap_or(name).to_string(),
                description: prop["description"].as_str().map(str::to_string),
                required: required.contains(&name.as_str()),
                default: prop.get("default").cloned(),
                kind: kind_of(prop, &pointer),
                pointer,
            }
        })
        .collect()
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The schema's type, ignoring `null` in a list of types.
fn type_of(prop: &Value) -> Option<&str> {
    match &prop["type"] {
        Value::String(t) => Some(t),
        Value::Array(list) => {
            let mut types = list
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null");
            let first = types.next();
            if types.next().is_some() { None } else { first }
        }
        _ => None,
    }
}

fn kind_of(prop: &Value, pointer: &str) -> Kind {
    if let Some(values) = prop["enum"].as_array() {
        return Kind::Choice(values.clone());
    }
    match type_of(prop) {
        Some("string") => Kind::Text(match prop["format"].as_str() {
            Some("uri" | "url" | "iri") => "url",
            Some("email") => "email",
            Some("date") => "date",
            Some("date-time") => "datetime-local",
            Some("password") => "password",
            _ if prop["writeOnly"] == Value::Bool(true) => "password",
            _ => "text",
        }),
        Some("integer") => Kind::Number { integer: true },
        Some("number") => Kind::Number { integer: false },
        Some("boolean") => Kind::Boolean,
        Some("array") => match type_of(&prop["items"]) {
            Some("string") => Kind::Lines("string"),
            Some("integer") => Kind::Lines("integer"),
            Some("number") => Kind::Lines("number"),
            _ => Kind::Json,
        },
        Some("object") if prop["properties"].is_object() => Kind::Object(fields_at(prop, pointer)),
        _ => Kind::Json,
    }
}

/// The value at `pointer` of `current`, or the field's default.
fn current_or_default<'a>(field: &'a FormField, current: &'a Value) -> Option<&'a Value> {
    current.pointer(&field.pointer).or(field.default.as_ref())
}

/// A value as an input shows it.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The inputs for `fields`, filled from `current` (or the defaults), each
/// with the error `errors` holds for its pointer (`{prefix}{pointer}`).
pub fn render(
    fields: &[FormField],
    prefix: &str,
    current: &Value,
    errors: &BTreeMap<String, String>,
) -> Markup {
    html! {
        @for f in fields {
            (render_field(f, prefix, current, errors))
        }
    }
}

fn render_field(
    f: &FormField,
    prefix: &str,
    current: &Value,
    errors: &BTreeMap<String, String>,
) -> Markup {
    let name = format!("{prefix}{}", f.pointer);
    let id = format!("f-{}", name.replace(['/', '~'], "-"));
    let error = errors.get(&format!("/{name}"));
    let value = current_or_default(f, current);
    let hint = html! {
        @if let Some(d) = &f.description { span.hint { (d) } }
    };
    let error_line = html! {
        @if let Some(e) = error { span.field-error id=(format!("{id}-error")) { (e) } }
    };
    let described = error.map(|_| format!("{id}-error"));
    let invalid = error.map(|_| "true");
    match &f.kind {
        Kind::Object(children) => html! {
            fieldset {
                legend { (f.label) }
                (hint)
                (error_line)
                (render(children, prefix, current, errors))
            }
        },
        Kind::Boolean => html! {
            div {
                label.check for=(id) {
                    input #(id) type="checkbox" name=(name) value="true"
                        checked[value == Some(&Value::Bool(true))]
                        aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                    (f.label)
                }
                (hint)
                (error_line)
            }
        },
        kind => html! {
            div.invalid[error.is_some()] {
                label for=(id) {
                    span.required[f.required] { (f.label) }
                    (hint)
                }
                @match kind {
                    Kind::Choice(options) => {
                        select #(id) name=(name) required[f.required]
                            aria-invalid=[invalid] aria-describedby=[described.as_deref()] {
                            @if !f.required { option value="" { "—" } }
                            @for o in options {
                                option value=(display(o)) selected[value == Some(o)] { (display(o)) }
                            }
                        }
                    }
                    Kind::Number { integer } => {
                        input #(id) type="number" name=(name) step=(if *integer { "1" } else { "any" })
                            value=[value.map(display)] required[f.required]
                            aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                    }
                    Kind::Lines(_) => {
                        textarea #(id) name=(name) rows="3" placeholder="one per line"
                            aria-invalid=[invalid] aria-describedby=[described.as_deref()] {
                            (value.and_then(Value::as_array).map(|items| items.iter().map(display).collect::<Vec<_>>().join("\n")).unwrap_or_default())
                        }
                    }
                    Kind::Json => {
                        textarea.mono #(id) name=(name) rows="4" placeholder="JSON"
                            aria-invalid=[invalid] aria-describedby=[described.as_deref()] {
                            (value.map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or_default())
                        }
                    }
                    Kind::Text(input_type) => {
                        input #(id) type=(input_type) name=(name) value=[value.map(display)]
                            required[f.required] autocomplete="off"
                            aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                    }
                    _ => {}
                }
                (error_line)
            }
        },
    }
}

/// The object the submitted `pairs` describe, for `fields` under `prefix`.
/// Empty inputs are left out (the schema's defaults and `required` then
/// apply); a number that does not parse is kept as text, so the validator
/// names it.
pub fn value_from_form(fields: &[FormField], prefix: &str, pairs: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let name = format!("{prefix}{}", f.pointer);
        let raw = pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str());
        let key = f.pointer.rsplit('/').next().unwrap_or_default();
        let key = key.replace("~1", "/").replace("~0", "~");
        let value = match (&f.kind, raw) {
            (Kind::Object(children), _) => {
                let inner = value_from_form(children, prefix, pairs);
                if inner.as_object().is_some_and(Map::is_empty) && !f.required {
                    continue;
                }
                inner
            }
            (Kind::Boolean, raw) => Value::Bool(raw == Some("true")),
            (_, None) => continue,
            (_, Some(raw)) if raw.trim().is_empty() => continue,
            (Kind::Number { integer }, Some(raw)) => {
                scalar(if *integer { "integer" } else { "number" }, raw.trim())
            }
            (Kind::Choice(options), Some(raw)) => options
                .iter()
                .find(|o| display(o) == raw)
                .cloned()
                .unwrap_or_else(|| Value::String(raw.to_string())),
            (Kind::Lines(item), Some(raw)) => Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| scalar(item, l))
                    .collect(),
            ),
            (Kind::Json, Some(raw)) => {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
            }
            (Kind::Text(_), Some(raw)) => Value::String(raw.to_string()),
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

/// `raw` as a JSON value of `type_name`; text when it does not parse.
fn scalar(type_name: &str, raw: &str) -> Value {
    let parsed = match type_name {
        "integer" => raw.parse::<i64>().ok().map(Value::from),
        "number" => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests;

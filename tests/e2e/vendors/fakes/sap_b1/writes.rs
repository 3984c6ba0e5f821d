//! Creating and updating entities, with the refusals SAP answers: a
//! property the entity type does not have, a business partner or item the
//! company does not have (SAP names the line table and column,
//! `[RDR1.ItemCode][line: 2]`), a key that exists already (`ODBC -2035`),
//! a key it does not have (`ODBC -2028`). SAP numbers documents
//! (`DocEntry`, `DocNum`), computes line and document totals and stamps
//! `UpdateDate`/`UpdateTime`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{B1, data};

/// A key or code as text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The number of a document or journal line.
fn line_no(line: &Value) -> Option<i64> {
    line.get("LineNum")
        .or_else(|| line.get("Line_ID"))
        .and_then(Value::as_i64)
}

/// Lines merged by number, as a `PATCH` without
/// `B1S-ReplaceCollectionsOnPatch` does: a line with a known number is
/// changed, any other is added.
fn merge_lines(lines: &mut Vec<Value>, new: Vec<Value>) {
    for line in new {
        let at = line_no(&line).and_then(|n| lines.iter().position(|l| line_no(l) == Some(n)));
        match at {
            Some(i) => {
                if let Value::Object(fields) = line {
                    for (k, v) in fields {
                        lines[i][k.as_str()] = v;
                    }
                }
            }
            None => {
                let mut line = line;
                if line_no(&line).is_none() {
                    line["LineNum"] = json!(lines.len());
                }
                lines.push(line);
            }
        }
    }
}

/// Line totals and the document total.
fn totals(document: &mut Value) {
    let mut total = 0.0;
    if let Some(lines) = document
        .get_mut("DocumentLines")
        .and_then(Value::as_array_mut)
    {
        for (n, line) in lines.iter_mut().enumerate() {
            if line.get("LineNum").is_none() {
                line["LineNum"] = json!(n);
            }
            let amount = line["Quantity"].as_f64().unwrap_or(0.0)
                * line["UnitPrice"].as_f64().unwrap_or(0.0);
            line["LineTotal"] = json!(amount);
            total += amount;
        }
    }
    document["DocTotal"] = json!(total);
}

impl B1 {
    /// A property the entity type (or its lines' type) does not have.
    fn unknown_property(entity_type: &str, body: &Map<String, Value>) -> Option<String> {
        if let Some(k) = body
            .keys()
            .find(|k| !data::properties(entity_type).contains(&k.as_str()))
        {
            return Some(format!("Property '{k}' of '{entity_type}' is invalid"));
        }
        let line_type = match entity_type {
            "Document" => "DocumentLine",
            "JournalEntry" => "JournalEntryLine",
            _ => return None,
        };
        let lines = body.values().filter_map(Value::as_array).flatten();
        for line in lines.filter_map(Value::as_object) {
            if let Some(k) = line
                .keys()
                .find(|k| !data::properties(line_type).contains(&k.as_str()))
            {
                return Some(format!("Property '{k}' of '{line_type}' is invalid"));
            }
        }
        None
    }

    /// What SAP refuses in a document: a business partner or an item the
    /// company does not have.
    fn document_refusal(
        &self,
        set: &str,
        document: &Map<String, Value>,
    ) -> Option<(&'static str, String)> {
        if let Some(card) = document.get("CardCode")
            && self.row("BusinessPartners", card).is_none()
        {
            return Some(("-10", format!("Invalid BP code '{}'", text(card))));
        }
        let lines = document.get("DocumentLines").and_then(Value::as_array);
        for (n, line) in lines.into_iter().flatten().enumerate() {
            let code = &line["ItemCode"];
            if !code.is_null() && self.row("Items", code).is_none() {
                let table = data::line_table(set);
                return Some((
                    "-10",
                    format!(
                        "Enter valid code [{table}.ItemCode][line: {}] , '{}'",
                        n + 1,
                        text(code)
                    ),
                ));
            }
        }
        None
    }

    /// `POST /{Set}`.
    pub(super) fn create(
        &mut self,
        set: &str,
        entity_type: &str,
        key_field: &str,
        body: &[u8],
    ) -> Response {
        let Ok(Value::Object(mut entity)) = serde_json::from_slice::<Value>(body) else {
            return self.refuse(
                StatusCode::BAD_REQUEST,
                "-1",
                "a creation whose body is not a JSON object",
            );
        };
        if let Some(message) = Self::unknown_property(entity_type, &entity) {
            return self.error(StatusCode::BAD_REQUEST, "-1000", &message);
        }
        let (day, time) = self.tick();
        let stamped = data::properties(entity_type).contains(&"UpdateDate");
        if key_field == "DocEntry" || key_field == "JdtNum" {
            if entity.contains_key(key_field) {
                let message =
                    format!("a new entity of {set} names its {key_field}; SAP numbers them");
                return self.refuse(StatusCode::BAD_REQUEST, "-1", &message);
            }
            if entity_type == "Document" {
                if entity
                    .get("DocumentLines")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    return self.error(
                        StatusCode::BAD_REQUEST,
                        "-5002",
                        "To create a document, add at least one line",
                    );
                }
                if let Some((code, message)) = self.document_refusal(set, &entity) {
                    return self.error(StatusCode::BAD_REQUEST, code, &message);
                }
            }
            let next = self
                .rows(set)
                .iter()
                .filter_map(|r| r[key_field].as_i64())
                .max()
                .unwrap_or(0)
                + 1;
            entity.insert(key_field.to_string(), json!(next));
            if entity_type == "Document" {
                let card = entity.get("CardCode").cloned().unwrap_or(Value::Null);
                let name = self
                    .row("BusinessPartners", &card)
                    .map(|bp| bp["CardName"].clone());
                let mut document = Value::Object(entity);
                document["DocNum"] = json!(next);
                document["CardName"] = name.unwrap_or(Value::Null);
                for (field, default) in [
                    ("DocType", json!("dDocument_Items")),
                    ("DocDate", day.clone()),
                    ("DocDueDate", day.clone()),
                    ("DocCurrency", json!("$")),
                    ("DocumentStatus", json!("bost_Open")),
                    ("Cancelled", json!("tNO")),
                    ("CreationDate", day.clone()),
                ] {
                    if document.get(field).is_none() {
                        document[field] = default;
                    }
                }
                totals(&mut document);
                let Value::Object(e) = document else {
                    unreachable!("a document is an object");
                };
                entity = e;
            }
        } else {
            let key = entity.get(key_field).cloned().unwrap_or(Value::Null);
            if key.as_str().is_none_or(str::is_empty) {
                let message = format!("Enter a value for {key_field}");
                return self.error(StatusCode::BAD_REQUEST, "-10", &message);
            }
            if self.row(set, &key).is_some() {
                let table = match set {
                    "BusinessPartners" => "OCRD",
                    "Items" => "OITM",
                    _ => "OACT",
                };
                let message = format!(
                    "This entry already exists in the following tables '{table}' (ODBC -2035)"
                );
                return self.error(StatusCode::BAD_REQUEST, "-2035", &message);
            }
            if stamped {
                entity.insert("CreateDate".into(), day.clone());
                entity.insert("CreateTime".into(), json!(time.clone()));
            }
        }
        if stamped {
            entity.insert("UpdateDate".into(), day);
            entity.insert("UpdateTime".into(), json!(time));
        }
        let mut answer = entity.clone();
        self.sets
            .entry(set.to_string())
            .or_default()
            .push(Value::Object(entity));
        let context = if self.version == "v1" {
            "odata.metadata"
        } else {
            "@odata.context"
        };
        answer.insert(context.into(), json!(format!("$metadata#{set}/$entity")));
        (StatusCode::CREATED, axum::Json(Value::Object(answer))).into_response()
    }

    /// `PATCH /{Set}({key})`: the fields sent, collections merged by line
    /// number unless `replace`.
    pub(super) fn update(
        &mut self,
        set: &str,
        entity_type: &str,
        key_field: &str,
        key: &Value,
        body: &[u8],
        replace: bool,
    ) -> Response {
        let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(body) else {
            return self.refuse(
                StatusCode::BAD_REQUEST,
                "-1",
                "an update whose body is not a JSON object",
            );
        };
        if self.row(set, key).is_none() {
            return self.error(
                StatusCode::NOT_FOUND,
                "-2028",
                "No matching records found (ODBC -2028)",
            );
        }
        if let Some(message) = Self::unknown_property(entity_type, &changes) {
            return self.error(StatusCode::BAD_REQUEST, "-1000", &message);
        }
        if changes.get(key_field).is_some_and(|k| k != key) {
            let message = format!(
                "an update of {set}({}) changes its key {key_field}",
                text(key)
            );
            return self.refuse(StatusCode::BAD_REQUEST, "-1", &message);
        }
        if entity_type == "Document"
            && let Some((code, message)) = self.document_refusal(set, &changes)
        {
            return self.error(StatusCode::BAD_REQUEST, code, &message);
        }
        let card_name = changes
            .get("CardCode")
            .and_then(|c| self.row("BusinessPartners", c))
            .map(|bp| bp["CardName"].clone());
        let (day, time) = self.tick();
        let stamped = data::properties(entity_type).contains(&"UpdateDate");
        let row = self
            .sets
            .get_mut(set)
            .and_then(|rows| rows.iter_mut().find(|r| &r[key_field] == key))
            .expect("the row found above");
        for (field, value) in changes {
            let merge =
                !replace && row.get(&field).is_some_and(Value::is_array) && value.is_array();
            if merge {
                if let (Some(Value::Array(lines)), Value::Array(new)) = (row.get_mut(&field), value)
                {
                    merge_lines(lines, new);
                }
            } else {
                row[field.as_str()] = value;
            }
        }
        if entity_type == "Document" {
            totals(row);
            if let Some(name) = card_name {
                row["CardName"] = name;
            }
        }
        if stamped {
            row["UpdateDate"] = day;
            row["UpdateTime"] = json!(time);
        }
        StatusCode::NO_CONTENT.into_response()
    }
}

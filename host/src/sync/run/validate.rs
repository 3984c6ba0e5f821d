//! Records against their stream's JSON Schema (the sync's schema for the
//! stream, else the source spec's): the invalid ones become rejections that
//! name the field.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::Run;
use crate::model::record::Record;
use crate::store::runs::RejectionRow;

impl Run<'_> {
    /// Split records into those that satisfy their stream's schema and
    /// rejections naming the field.
    ///
    /// Schemas come from the connectors' specs, so validation is guest
    /// input: patterns use a linear-time regex engine, and a page is
    /// checked on the blocking pool, never on an async worker.
    pub(super) async fn validate(&self, records: Vec<Record>) -> (Vec<Record>, Vec<RejectionRow>) {
        let validators = {
            let mut known = self.validators.lock().expect("validators lock");
            for record in &records {
                if known.contains_key(&record.stream) {
                    continue;
                }
                let validator = self
                    .sync
                    .schemas
                    .get(&record.stream)
                    .or_else(|| self.source_schemas.get(&record.stream))
                    .filter(|schema| {
                        !(schema.as_object().is_some_and(|o| o.is_empty())
                            || **schema == Value::Bool(true))
                    })
                    .and_then(|schema| crate::model::record::schema_validator(schema).ok())
                    .map(Arc::new);
                known.insert(record.stream.clone(), validator);
            }
            if !records
                .iter()
                .any(|r| known.get(&r.stream).is_some_and(Option::is_some))
            {
                return (records, Vec::new());
            }
            known.clone()
        };
        tokio::task::spawn_blocking(move || check_records(&validators, records))
            .await
            .expect("validation does not panic")
    }
}

/// Split records into those that satisfy their stream's schema and
/// rejections naming the field.
fn check_records(
    validators: &HashMap<String, Option<Arc<jsonschema::Validator>>>,
    records: Vec<Record>,
) -> (Vec<Record>, Vec<RejectionRow>) {
    let mut valid = Vec::with_capacity(records.len());
    let mut rejections = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let Some(Some(validator)) = validators.get(&record.stream) else {
            valid.push(record);
            continue;
        };
        let data: Value = serde_json::from_str(record.data.get()).unwrap_or(Value::Null);
        match validator.iter_errors(&data).next() {
            None => valid.push(record),
            Some(e) => {
                let path = e.instance_path.to_string();
                rejections.push(RejectionRow {
                    stream: record.stream.clone(),
                    index: index as i64,
                    key: record.key.clone(),
                    field: (!path.is_empty())
                        .then(|| path.clone())
                        .or_else(|| missing_field(&e.to_string())),
                    message: e.to_string(),
                });
            }
        }
    }
    (valid, rejections)
}

/// `"name" is a required property` → `/name`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix('"')?;
    let (name, tail) = rest.split_once('"')?;
    tail.contains("required").then(|| format!("/{name}"))
}

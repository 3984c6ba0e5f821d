//! The fake's writes: upserts and deletes by external id, refused as
//! Salesforce refuses them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Call, Salesforce, answer, error, field_error, not_found, now, stamp};

impl Salesforce {
    /// The object, and the canonical external id field, of a by-external-id URL.
    fn external(&self, object: &str, field: &str) -> Result<(String, String), Response> {
        let object = self.object_named(object).ok_or_else(not_found)?;
        let f = self
            .describe_field(&object, field)
            .filter(|f| f["externalId"] == true || f["type"] == "id");
        match f.and_then(|f| f["name"].as_str()) {
            Some(name) => Ok((object, name.to_string())),
            None => Err(error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("Provided external ID field does not exist or is not accessible: {field}"),
            )),
        }
    }

    fn matches(&self, object: &str, field: &str, value: &str) -> Vec<usize> {
        let rows = self.objects[object].rows.iter().enumerate();
        rows.filter(|(_, r)| r.get("IsDeleted") != Some(&json!(true)))
            .filter(|(_, r)| {
                r.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub(super) fn upsert(
        &mut self,
        c: &Call,
        version: &str,
        object: &str,
        field: &str,
        value: &str,
    ) -> Response {
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .to_string();
        let (object, field) = match self.external(object, field) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if !c
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON",
            );
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(c.body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "the body is not a JSON object",
            );
        };
        let found = self.matches(&object, &field, &value);
        let response = self.write(&object, &field, &value, body, &found, version);
        let status = response.status().as_u16();
        self.writes.push((object, value, status));
        response
    }

    fn write(
        &mut self,
        object: &str,
        field: &str,
        value: &str,
        body: Map<String, Value>,
        found: &[usize],
        version: &str,
    ) -> Response {
        for (k, v) in &body {
            let Some(f) = self.describe_field(object, k).cloned() else {
                self.violations
                    .push(format!("upsert {object}: unknown field {k}"));
                return field_error(
                    "INVALID_FIELD",
                    &format!("No such column '{k}' on sobject of type {object}"),
                    k,
                );
            };
            let name = f["name"].as_str().unwrap_or_default();
            let writable = if found.is_empty() {
                f["createable"] == true
            } else {
                f["updateable"] == true
            };
            if name == "Id" || name == field || !writable {
                self.violations
                    .push(format!("upsert {object}: {name} in the body"));
                return field_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    &format!(
                        "Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
                    ),
                    name,
                );
            }
            let restricted = f["restrictedPicklist"] == true;
            if let (true, Some(s)) = (restricted, v.as_str())
                && !f["picklistValues"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|x| x["value"] == s))
            {
                return field_error(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    &format!(
                        "{}: bad value for restricted picklist field: {s}",
                        f["label"].as_str().unwrap_or(name)
                    ),
                    name,
                );
            }
            let length = f["length"].as_u64().unwrap_or(0) as usize;
            if let Some(s) = v.as_str()
                && length > 0
                && s.chars().count() > length
            {
                return field_error(
                    "STRING_TOO_LONG",
                    &format!("{name}: data value too large: {s} (max length={length})"),
                    name,
                );
            }
        }
        match found {
            [] => {
                let required: Vec<String> = self.objects[object]
                    .fields
                    .iter()
                    .filter(|f| {
                        f["createable"] == true
                            && f["nillable"] == false
                            && f["defaultedOnCreate"] == false
                            && f["type"] != "boolean"
                    })
                    .filter_map(|f| f["name"].as_str().map(str::to_string))
                    .filter(|n| {
                        body.keys()
                            .all(|k| !k.eq_ignore_ascii_case(n) || body[k].is_null())
                    })
                    .collect();
                if let Some(first) = required.first() {
                    return field_error(
                        "REQUIRED_FIELD_MISSING",
                        &format!("Required fields are missing: [{}]", required.join(", ")),
                        first,
                    );
                }
                let mut data = body;
                data.insert(field.into(), json!(value));
                let id = self.insert(object, Value::Object(data), now());
                answer(
                    StatusCode::CREATED,
                    &json!({"id": id, "success": true, "errors": [], "created": true}),
                )
            }
            [one] => {
                let row = &mut self.objects.get_mut(object).expect("an object").rows[*one];
                row.extend(body);
                row.insert("LastModifiedDate".into(), json!(stamp(now())));
                row.insert("SystemModstamp".into(), json!(stamp(now())));
                answer(
                    StatusCode::OK,
                    &json!({"id": row["Id"], "success": true, "errors": [], "created": false}),
                )
            }
            many => {
                let urls: Vec<String> = many
                    .iter()
                    .map(|i| {
                        format!(
                            "/services/data/v{version}/sobjects/{object}/{}",
                            self.objects[object].rows[*i]["Id"]
                                .as_str()
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                answer(StatusCode::MULTIPLE_CHOICES, &json!(urls))
            }
        }
    }

    pub(super) fn remove(&mut self, object: &str, field: &str, value: &str) -> Response {
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .to_string();
        let (object, field) = match self.external(object, field) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let found = self.matches(&object, &field, &value);
        let response = match found.as_slice() {
            [] => not_found(),
            [one] => {
                let id = self.objects[&object].rows[*one]["Id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.delete(&object, &id);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => error(
                StatusCode::MULTIPLE_CHOICES,
                "MULTIPLE_CHOICES",
                "more than one record matches",
            ),
        };
        self.writes
            .push((object, value, response.status().as_u16()));
        response
    }
}

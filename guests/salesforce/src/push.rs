//! Writing records into the org: a record's stream is its object, and it
//! is upserted by the object's configured external id field,
//! `PATCH /sobjects/{object}/{field}/{value}` (201: created; 200, or 204
//! before API 46.0: updated; 300: the value matches several records). A
//! delete is `DELETE` on the same URL. Per-record refusals
//! (`[{"message", "errorCode", "fields"}]`) become rejections naming the
//! field; an expired session, a spent limit or an outage stops the batch
//! for the host to renew, wait or retry, which is safe as upserts repeat
//! harmlessly.
//!
//! The body keeps only fields the object's describe says may be written
//! (and, when configured, the object's `fields`): records read from another
//! org carry `Id`, system stamps and formula fields that Salesforce would
//! refuse. `Id` and the external id field never go in the body; Salesforce
//! refuses them there.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use crate::api::{self, Api};
use crate::describe::{self, Described};
use crate::{Config, is_api_name};

/// Fields named in one log line at most.
const NAMED: usize = 20;

/// Write a batch.
pub fn push(config: &Config, api: &Api, records: &[Record]) -> Result<PushResult> {
    let mut result = PushResult::default();
    let mut objects: BTreeMap<String, Described> = BTreeMap::new();
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let object = r.stream.as_str();
        if !is_api_name(object) {
            result.reject(i, None, format!("`{object}` is not an object API name"));
            continue;
        }
        let Some(ext) = config
            .external_ids
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(object))
            .map(|(_, v)| v.as_str())
        else {
            result.reject(
                i,
                None,
                format!(
                    "no external id field is configured for {object}: set external_ids.{object} \
                     (an External ID field such as External_Id__c)"
                ),
            );
            continue;
        };
        let lower = object.to_ascii_lowercase();
        if !objects.contains_key(&lower) {
            objects.insert(lower.clone(), describe::object(api, object)?);
        }
        let d = &objects[&lower];
        let field = match d.field(ext) {
            Some(f) if is_api_name(ext) && (f.external_id || f.id_lookup) => f.name.clone(),
            Some(_) => {
                return Err(Error::Config(format!(
                    "{}.{ext} is not an External ID field; mark it External ID in Setup or name another in external_ids",
                    d.name
                )));
            }
            None => {
                return Err(Error::Config(format!(
                    "{} has no field `{ext}` (external_ids.{object})",
                    d.name
                )));
            }
        };
        let value = r
            .data
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&field))
            .and_then(|(_, v)| scalar_text(v))
            .filter(|v| !v.is_empty())
            .or_else(|| r.key.clone())
            .filter(|v| !v.is_empty());
        let Some(value) = value else {
            result.reject(
                i,
                Some(&field),
                format!("the record has no `{field}` value and no key to upsert {object} by"),
            );
            continue;
        };
        let url = api.data(&format!(
            "sobjects/{}/{field}/{}",
            d.name,
            wharf_sdk::http::encode(&value)
        ));
        match r.op {
            Op::Delete => {
                let response = api.send_raw(api.request("DELETE", url))?;
                match response.status {
                    // Gone already: what a delete wants.
                    200 | 204 | 404 => result.deleted += 1,
                    _ => refuse(&mut result, i, &response)?,
                }
            }
            Op::Upsert => {
                let wanted = config.fields_of(object);
                let (body, left) = body(d, wanted, &field, &r.data);
                let seen = skipped.entry(d.name.clone()).or_default();
                for f in left {
                    if !seen.contains(&f) {
                        seen.push(f);
                    }
                }
                let request = api.request("PATCH", url).json_data(&Value::Object(body))?;
                let response = api.send_raw(request)?;
                match response.status {
                    201 => result.created += 1,
                    200 | 204 => {
                        let created = serde_json::from_slice::<Value>(&response.body)
                            .is_ok_and(|b| b["created"] == true);
                        if created {
                            result.created += 1;
                        } else {
                            result.updated += 1;
                        }
                    }
                    300 => result.reject(
                        i,
                        Some(&field),
                        format!("{field} `{value}` matches more than one {object}; make the field unique"),
                    ),
                    _ => refuse(&mut result, i, &response)?,
                }
            }
        }
    }
    for (object, fields) in skipped.into_iter().filter(|(_, f)| !f.is_empty()) {
        let more = fields.len().saturating_sub(NAMED);
        let mut names = fields
            .into_iter()
            .take(NAMED)
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            names.push_str(&format!(" and {more} more"));
        }
        wharf_sdk::log::info(format!(
            "{object}: not written (read-only, unknown, or not in `fields`): {names}"
        ));
    }
    Ok(result)
}

/// A refusal: the batch stops for what the host handles (session, limits,
/// outages, locks), else this record is rejected in Salesforce's words.
fn refuse(result: &mut PushResult, i: usize, response: &Response) -> Result<()> {
    let p = api::problem(response);
    let stop = matches!(response.status, 401 | 408 | 429)
        || response.status >= 500
        || p.code == "REQUEST_LIMIT_EXCEEDED"
        || matches!(
            p.code.as_str(),
            "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" | "API_DISABLED_FOR_ORG"
        );
    if stop {
        return Err(api::error(response));
    }
    let message = if p.code.is_empty() {
        p.message
    } else {
        format!("{}: {}", p.code, p.message)
    };
    result.reject(i, p.fields.first().map(String::as_str), message);
    Ok(())
}

/// The fields of `data` that may be written, and the names left out.
fn body(
    d: &Described,
    wanted: Option<&[String]>,
    external_id: &str,
    data: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let mut left = Vec::new();
    for (k, v) in data {
        let never = k == "attributes"
            || k.eq_ignore_ascii_case("Id")
            || k.eq_ignore_ascii_case(external_id);
        if never {
            continue;
        }
        if wanted.is_some_and(|w| !w.iter().any(|f| f.eq_ignore_ascii_case(k))) {
            left.push(k.clone());
            continue;
        }
        // A field, or a relationship set by the parent's external id
        // (`"Account": {"External_Id__c": "A-1"}`).
        let target = d.field(k).map(|f| (f, f.name.clone())).or_else(|| {
            d.fields
                .iter()
                .find(|f| {
                    v.is_object()
                        && f.relationship_name
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case(k))
                })
                .and_then(|f| Some((f, f.relationship_name.clone()?)))
        });
        match target {
            Some((f, name)) if f.createable || f.updateable => {
                out.insert(name, v.clone());
            }
            _ => left.push(k.clone()),
        }
    }
    (out, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_writable_fields_are_sent() {
        let d: Described = serde_json::from_value(json!({"name": "Contact", "fields": [
            {"name": "Id", "type": "id"},
            {"name": "LastName", "type": "string", "createable": true, "updateable": true},
            {"name": "Legacy_Id__c", "type": "string", "createable": true, "updateable": true, "externalId": true},
            {"name": "AccountId", "type": "reference", "createable": true, "updateable": true, "relationshipName": "Account"},
            {"name": "SystemModstamp", "type": "datetime"}
        ]}))
        .unwrap();
        let data = json!({"Id": "003", "attributes": {}, "LastName": "Gonzalez", "legacy_id__c": "x",
            "SystemModstamp": "2024-01-01T00:00:00Z", "Nope__c": 1, "Account": {"Legacy_Id__c": "A-1"}});
        let (b, left) = body(&d, None, "Legacy_Id__c", data.as_object().unwrap());
        assert_eq!(
            Value::Object(b),
            json!({"LastName": "Gonzalez", "Account": {"Legacy_Id__c": "A-1"}})
        );
        assert_eq!(left, ["Nope__c", "SystemModstamp"]);
        let only = ["LastName".to_string()];
        let (b, _) = body(&d, Some(&only), "Legacy_Id__c", data.as_object().unwrap());
        assert_eq!(Value::Object(b), json!({"LastName": "Gonzalez"}));
    }
}

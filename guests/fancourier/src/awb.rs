//! Creating AWBs (`POST /intern-awb`): a batch of shipments in one request,
//! answered `200` with one result per shipment in order; a shipment FAN
//! refuses carries `errors` (`{"field.path": "text"}` or
//! `{"field.path": ["code"]}`) and no `awbNumber`.
//!
//! FAN asks clients never to send `intern-awb` again on their own: a retry
//! can book the shipment twice. So a batch whose outcome is unknown (a
//! timeout, a server error) fails the run as `fatal`, naming the
//! shipments, instead of being retried by the host.

use wharf_sdk::prelude::*;

use crate::{Config, api, tracked};

/// Shipments per request.
const BATCH: usize = 25;

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    let indexed: Vec<(usize, &Record)> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            if r.op == Op::Delete {
                // Cancelling an AWB is a separate decision FAN bills for;
                // deletes are not sent.
                result.reject(
                    *i,
                    None,
                    "deleting shipments is not supported; cancel the AWB in FAN's selfAWB",
                );
                false
            } else {
                true
            }
        })
        .collect();
    for chunk in indexed.chunks(BATCH) {
        let shipments: Vec<Value> = chunk.iter().map(|(_, r)| shipment(r)).collect();
        let body = json!({"clientId": config.client_id, "shipments": shipments});
        let request = api(config, "POST", "intern-awb").json_data(&body)?;
        let response = match request.send() {
            Ok(r) => r,
            Err(Error::Transient(m)) => return Err(unknown(chunk, &m)),
            Err(e) => return Err(e),
        };
        if response.status >= 500 || response.status == 408 {
            return Err(unknown(chunk, &format!("HTTP {}", response.status)));
        }
        let answer: Value = crate::errors().check(response)?.json()?;
        let Some(items) = answer["response"].as_array() else {
            return Err(Error::Fatal(format!(
                "FAN refused the batch: {}",
                crate::message(&answer).unwrap_or_else(|| answer.to_string())
            )));
        };
        let mut created = Vec::new();
        for (n, (index, record)) in chunk.iter().enumerate() {
            let item = items.get(n).cloned().unwrap_or(Value::Null);
            let awb = wharf_sdk::scalar_text(&item["awbNumber"]).filter(|a| !a.is_empty());
            let refused = item["success"] == false || awb.is_none() || errors_of(&item).is_some();
            match (refused, awb) {
                (false, Some(awb)) => {
                    result.created += 1;
                    wharf_sdk::log::info(format!(
                        "record {} → AWB {awb} (tariff {})",
                        record.key.as_deref().unwrap_or("without key"),
                        item["tariff"]
                    ));
                    created.push(awb);
                }
                _ => {
                    let (field, message) = errors_of(&item)
                        .unwrap_or((None, "FAN created no AWB for this shipment".to_string()));
                    result.reject(*index, field.as_deref(), message);
                }
            }
        }
        tracked::remember(&created);
    }
    Ok(result)
}

/// A record as a shipment: the record is the shipment (`info`, `recipient`,
/// optional `sender`), in FAN's field names; `streetNo` must be text.
fn shipment(record: &Record) -> Value {
    let mut s = Value::Object(record.data.clone());
    if let Some(no) = s.pointer_mut("/recipient/address/streetNo")
        && let Some(n) = no.as_i64()
    {
        *no = Value::String(n.to_string());
    }
    s
}

/// The first refused field and every message, from `errors`.
fn errors_of(item: &Value) -> Option<(Option<String>, String)> {
    let errors = item["errors"].as_object().filter(|e| !e.is_empty())?;
    let field = errors.keys().next().cloned();
    let text: Vec<String> = errors
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            Value::Array(a) => format!(
                "{k}: {}",
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("{k}: {other}"),
        })
        .collect();
    Some((field, text.join("; ")))
}

fn unknown(chunk: &[(usize, &Record)], why: &str) -> Error {
    let keys: Vec<&str> = chunk
        .iter()
        .map(|(_, r)| r.key.as_deref().unwrap_or("?"))
        .collect();
    Error::Fatal(format!(
        "FAN did not answer for {} shipments ({why}); they may have been booked, so they are not sent again: check selfAWB for keys {}",
        chunk.len(),
        keys.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_read() {
        let text = json!({"awbNumber": null, "success": false, "errors": {"info.parcels": "At least one envelope or parcel is required"}});
        assert_eq!(
            errors_of(&text),
            Some((
                Some("info.parcels".into()),
                "info.parcels: At least one envelope or parcel is required".into()
            ))
        );
        let codes = json!({"errors": {"recipient.address.pickupLocation": ["awbGeneration.lockerInactive"]}});
        assert_eq!(
            errors_of(&codes).unwrap().1,
            "recipient.address.pickupLocation: awbGeneration.lockerInactive"
        );
        assert_eq!(errors_of(&json!({"errors": null})), None);
        let record = Record::from_value(
            "shipments",
            json!({"recipient": {"address": {"streetNo": 12}}}),
        )
        .unwrap();
        assert_eq!(shipment(&record)["recipient"]["address"]["streetNo"], "12");
    }
}

//! The public VAT registry lookup (`PlatitorTvaRest` v9) as a mapper: each
//! record's CUI is looked up (100 to a request, the service's limit) and
//! the registry's answer added to the record under `anaf`: name, address,
//! VAT registration and its periods, VAT on collection, inactive status,
//! split VAT, e-Factura registration. A CUI the registry does not know gets
//! `{"found": false}`; one that is not a CUI, `{"error": …}`.

use std::collections::BTreeMap;

use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

use crate::Config;

/// CUIs per request (v9; v8 allowed 500).
const BATCH: usize = 100;

/// The digits of a CUI (`RO 1590082` → 1590082), if it is one.
pub fn cui(value: &Value) -> Option<u64> {
    let text = wharf_sdk::scalar_text(value)?;
    let digits: String = text
        .trim()
        .trim_start_matches(['R', 'r'])
        .trim_start_matches(['O', 'o'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (!digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

pub fn map(config: &Config, mut records: Vec<Record>) -> Result<Vec<Record>> {
    let field = config.cui_field.as_str();
    let date = config.lookup_date.clone().unwrap_or_else(crate::today);
    let mut wanted: Vec<u64> = records
        .iter()
        .filter_map(|r| r.get(field).and_then(cui))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found: BTreeMap<u64, Value> = BTreeMap::new();
    for chunk in wanted.chunks(BATCH) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|c| json!({"cui": c, "data": date}))
            .collect();
        let response = Request::post(format!("{}/api/PlatitorTvaRest/v9/tva", config.public()))
            .header("Accept", "application/json")
            .json_data(&body)?
            .send()?;
        // A firewall in front of the service answers with an HTML page and
        // HTTP 200; the service itself may answer 404 with valid JSON.
        let answer: Value = match serde_json::from_slice(&response.body) {
            Ok(v) => v,
            Err(_) if response.status == 429 => {
                return Err(Error::RateLimited(response.retry_after().unwrap_or(2)));
            }
            Err(_) => {
                return Err(Error::Transient(format!(
                    "the VAT registry answered HTTP {} without JSON: {}",
                    response.status,
                    response.text().chars().take(120).collect::<String>()
                )));
            }
        };
        if answer.get("found").is_none() {
            let message = answer["message"]
                .as_str()
                .unwrap_or("no `found` in the answer");
            return Err(Error::Fatal(format!(
                "the VAT registry refused the request: {message}"
            )));
        }
        for item in answer["found"].as_array().into_iter().flatten() {
            if let Some(c) = item["date_generale"]["cui"].as_u64() {
                found.insert(c, item.clone());
            }
        }
    }
    for record in &mut records {
        let value = match record.get(field) {
            None => continue,
            Some(v) => match cui(v) {
                None => {
                    json!({"error": format!("`{}` is not a CUI", wharf_sdk::scalar_text(v).unwrap_or_default())})
                }
                Some(c) => match found.get(&c) {
                    Some(item) => {
                        let mut v = item.clone();
                        v["found"] = json!(true);
                        v
                    }
                    None => json!({"found": false, "cui": c}),
                },
            },
        };
        record.data.insert("anaf".into(), value);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuis_as_people_write_them() {
        assert_eq!(cui(&json!("RO1590082")), Some(1_590_082));
        assert_eq!(cui(&json!("ro 1590082")), Some(1_590_082));
        assert_eq!(cui(&json!(1590082)), Some(1_590_082));
        assert_eq!(cui(&json!("15900a")), None);
        assert_eq!(cui(&json!("")), None);
    }
}

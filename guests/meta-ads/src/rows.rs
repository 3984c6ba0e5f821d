//! Insights rows as records: keyed by day, level id and breakdown values
//! (so a revised day replaces itself), Meta's numbers-as-text as JSON
//! numbers, and the fields every record carries (`id`, `date`, `level`,
//! `ad_account_id`), shaped like the other ads connectors' insights.

use wharf_sdk::prelude::*;
use wharf_sdk::scalar_text;

use crate::Config;
use crate::insights::{LEVELS, STREAM, id_field};

/// The records of a page of rows.
pub fn records(config: &Config, account: &str, rows: Vec<Value>) -> Result<Vec<Record>> {
    let id = id_field(&config.level);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Value::Object(mut row) = row else {
            return Err(Error::fatal(
                "Meta sent an insights row that is not an object",
            ));
        };
        let day = row
            .get("date_start")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::fatal("Meta sent an insights row without date_start"))?;
        let mut key = format!(
            "{day}|{}",
            row.get(id).and_then(scalar_text).unwrap_or_default()
        );
        for b in &config.breakdowns {
            key.push('|');
            key.push_str(&row.get(b).and_then(scalar_text).unwrap_or_default());
        }
        numbers(config, &mut row);
        row.insert("id".into(), Value::String(key.clone()));
        row.insert("date".into(), Value::String(day));
        row.insert("level".into(), Value::String(config.level.clone()));
        row.insert("ad_account_id".into(), Value::String(account.to_string()));
        out.push(Record::upsert(STREAM, row).with_key(key));
    }
    Ok(out)
}

/// Meta writes every metric as text (`"spend": "12.34"`): metrics become
/// JSON numbers, as do the values of action lists (`value` and each
/// attribution window); ids, names, dates and breakdown values stay text.
fn numbers(config: &Config, row: &mut Map<String, Value>) {
    for (name, value) in row.iter_mut() {
        let text_field = name.ends_with("_id")
            || name.ends_with("_name")
            || name.starts_with("date_")
            || config.breakdowns.contains(name);
        match value {
            Value::String(_) if !text_field => to_number(value),
            Value::Array(items) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    for (k, v) in item.iter_mut() {
                        if k == "value" || config.action_attribution_windows.contains(k) {
                            to_number(v);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A decimal written as text, as a number; anything else unchanged.
fn to_number(value: &mut Value) {
    let Some(text) = value.as_str() else {
        return;
    };
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    if !plain {
        return;
    }
    if let Ok(n) = text.parse::<i64>() {
        *value = Value::from(n);
    } else if let Some(n) = text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        *value = Value::Number(n);
    }
}

/// The stream's schema: the fields every record has.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "date", "date_start", "level", "ad_account_id"],
        "properties": {
            "id": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "date_start": {"type": "string"},
            "date_stop": {"type": "string"},
            "level": {"type": "string", "enum": LEVELS},
            "ad_account_id": {"type": "string"},
            "spend": {"type": ["number", "string", "null"]},
            "impressions": {"type": ["integer", "string", "null"]},
            "clicks": {"type": ["integer", "string", "null"]},
            "actions": {"type": ["array", "null"]}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        serde_json::from_value(extra).unwrap()
    }

    #[test]
    fn rows_become_keyed_records_with_numbers() {
        let c = config(json!({"breakdowns": ["age"], "action_attribution_windows": ["7d_click"]}));
        let row = json!({"account_id": "1001", "ad_id": "23850001", "date_start": "2024-05-01", "date_stop": "2024-05-01",
            "age": "25-34", "spend": "5339.5", "impressions": "361324", "ad_name": "123",
            "actions": [{"action_type": "link_click", "value": "12", "7d_click": "10"}]});
        let r = &records(&c, "act_1001", vec![row]).unwrap()[0];
        assert_eq!(r.key.as_deref(), Some("2024-05-01|23850001|25-34"));
        assert_eq!(r.get("spend"), Some(&json!(5339.5)));
        assert_eq!(r.get("impressions"), Some(&json!(361_324)));
        assert_eq!(r.get("ad_name"), Some(&json!("123")));
        assert_eq!(r.get("age"), Some(&json!("25-34")));
        assert_eq!(r.pointer("/actions/0/7d_click"), Some(&json!(10)));
        assert_eq!(
            r.pointer("/actions/0/action_type"),
            Some(&json!("link_click"))
        );
        assert_eq!(r.get("date"), Some(&json!("2024-05-01")));
        let mut odd = json!("1.2.3");
        to_number(&mut odd);
        assert_eq!(odd, json!("1.2.3"));
    }
}

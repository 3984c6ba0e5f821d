//! BigQuery's typed rows as JSON objects. An answer carries
//! `schema.fields` (name, type, mode, nested fields) and `rows[].f[].v`,
//! every scalar as a string: numbers become numbers, booleans booleans,
//! TIMESTAMPs RFC 3339, RECORDs objects (their `v` is `{"f": […]}`) and
//! REPEATED fields arrays (of `{"v": …}`)
//! (<https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/getQueryResults>).

use wharf_sdk::prelude::*;

/// The rows of an answer, by its schema.
pub fn objects(answer: &Value) -> Result<Vec<Map<String, Value>>> {
    let rows = match answer.get("rows") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err(Error::fatal("BigQuery's `rows` is not an array")),
    };
    let fields = answer["schema"]["fields"]
        .as_array()
        .ok_or_else(|| Error::fatal("BigQuery sent rows without `schema.fields`"))?;
    rows.iter().map(|row| record(fields, row)).collect()
}

/// One `{"f": [{"v": …}, …]}` as an object, field by field.
fn record(fields: &[Value], row: &Value) -> Result<Map<String, Value>> {
    let cells = row["f"]
        .as_array()
        .ok_or_else(|| Error::fatal("a BigQuery row without `f`"))?;
    if cells.len() != fields.len() {
        return Err(Error::Fatal(format!(
            "a BigQuery row has {} cells for {} fields",
            cells.len(),
            fields.len()
        )));
    }
    let mut out = Map::new();
    for (field, cell) in fields.iter().zip(cells) {
        let name = field["name"].as_str().unwrap_or_default().to_string();
        out.insert(name, value(field, &cell["v"])?);
    }
    Ok(out)
}

/// A cell's value by its field (mode and type).
fn value(field: &Value, v: &Value) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if field["mode"] == "REPEATED" {
        let items = v
            .as_array()
            .ok_or_else(|| Error::fatal("a REPEATED BigQuery cell is not an array"))?;
        let single = {
            let mut f = field.clone();
            f["mode"] = json!("NULLABLE");
            f
        };
        return items
            .iter()
            .map(|item| value(&single, &item["v"]))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array);
    }
    let kind = field["type"].as_str().unwrap_or("STRING");
    if matches!(kind, "RECORD" | "STRUCT") {
        let sub = field["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        return record(sub, v).map(Value::Object);
    }
    let Some(text) = v.as_str() else {
        // Not a string: already JSON (a client asking for other formats).
        return Ok(v.clone());
    };
    Ok(scalar(kind, text))
}

/// A scalar from its text, by type; text that does not parse stays text.
fn scalar(kind: &str, text: &str) -> Value {
    let as_text = || Value::String(text.to_string());
    match kind {
        "INTEGER" | "INT64" => text.parse::<i64>().map_or_else(|_| as_text(), Value::from),
        // BIGNUMERIC has more digits than a float keeps: it stays text.
        "FLOAT" | "FLOAT64" | "NUMERIC" => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => json!(f),
            _ => as_text(),
        },
        "BOOLEAN" | "BOOL" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => as_text(),
        },
        "TIMESTAMP" => timestamp(text).map_or_else(as_text, Value::String),
        "JSON" => serde_json::from_str(text).unwrap_or_else(|_| as_text()),
        _ => as_text(),
    }
}

/// RFC 3339 (UTC) of a TIMESTAMP: microseconds since the epoch (asked for
/// with `useInt64Timestamp`), or seconds as a float (`1.7146512E9`, the
/// default format).
fn timestamp(text: &str) -> Option<String> {
    let micros = match text.parse::<i64>() {
        Ok(m) => m,
        Err(_) => {
            let secs = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
            (secs * 1e6).round() as i64
        }
    };
    let secs = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let mut out = wharf_sdk::time::rfc3339(secs);
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.insert_str(out.len() - 1, &format!(".{}", digits.trim_end_matches('0')));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_rows_become_json() {
        let answer = json!({
            "schema": {"fields": [
                {"name": "date", "type": "DATE", "mode": "NULLABLE"},
                {"name": "g0", "type": "STRING", "mode": "NULLABLE"},
                {"name": "cost", "type": "NUMERIC", "mode": "NULLABLE"},
                {"name": "n", "type": "INTEGER", "mode": "NULLABLE"},
                {"name": "ok", "type": "BOOLEAN", "mode": "NULLABLE"},
                {"name": "at", "type": "TIMESTAMP", "mode": "NULLABLE"},
                {"name": "labels", "type": "RECORD", "mode": "REPEATED", "fields": [
                    {"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}]}
            ]},
            "rows": [{"f": [{"v": "2024-05-01"}, {"v": null}, {"v": "12.345678"}, {"v": "7"}, {"v": "true"},
                {"v": "1714651200500000"},
                {"v": [{"v": {"f": [{"v": "team"}, {"v": "data"}]}}]}]}]
        });
        let rows = objects(&answer).unwrap();
        let r = &rows[0];
        assert_eq!(r["date"], "2024-05-01");
        assert_eq!(r["g0"], Value::Null);
        assert_eq!(r["cost"], json!(12.345678));
        assert_eq!(r["n"], 7);
        assert_eq!(r["ok"], true);
        assert_eq!(r["at"], "2024-05-02T12:00:00.5Z");
        assert_eq!(r["labels"], json!([{"key": "team", "value": "data"}]));
        assert_eq!(
            timestamp("1.7146512E9").as_deref(),
            Some("2024-05-02T12:00:00Z")
        );
        assert!(objects(&json!({"jobComplete": false})).unwrap().is_empty());
        let short =
            json!({"schema": {"fields": [{"name": "a", "type": "STRING"}]}, "rows": [{"f": []}]});
        assert!(objects(&short).is_err());
    }
}

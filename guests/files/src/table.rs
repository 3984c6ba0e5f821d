//! Rows to records: header names, values typed by the config's `columns`
//! (or kept as text), empty cells as `null`, and the row's problems
//! (a value that is not of its column's type, too few or too many cells)
//! reported with the row and column instead of failing the file.

use std::collections::BTreeMap;

use wharf_sdk::prelude::*;

/// What a problem row says: its number (1 = the first data row), column,
/// message.
pub type Problem = (usize, Option<String>, String);

/// Turn one row's `cells` into a record's data.
pub fn row(
    header: &[String],
    cells: &[String],
    types: &BTreeMap<String, String>,
    number: usize,
    problems: &mut Vec<Problem>,
) -> Option<Map<String, Value>> {
    if cells.len() != header.len() {
        problems.push((
            number,
            None,
            format!("expected {} cells, found {}", header.len(), cells.len()),
        ));
        if cells.len() > header.len() {
            return None;
        }
    }
    let mut data = Map::new();
    let mut ok = true;
    for (i, name) in header.iter().enumerate() {
        let text = cells.get(i).map(String::as_str).unwrap_or("");
        let value = match typed(
            text,
            types.get(name).map(String::as_str).unwrap_or("string"),
        ) {
            Ok(v) => v,
            Err(message) => {
                problems.push((number, Some(name.clone()), message));
                ok = false;
                Value::Null
            }
        };
        data.insert(name.clone(), value);
    }
    ok.then_some(data)
}

/// `text` as a value of `kind`.
pub fn typed(text: &str, kind: &str) -> Result<Value, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    match kind {
        "integer" => t
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{t}` is not an integer")),
        "number" => number(t)
            .map(Value::from)
            .ok_or_else(|| format!("`{t}` is not a number")),
        "boolean" => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "da" | "y" => Ok(Value::Bool(true)),
            "false" | "no" | "0" | "nu" | "n" => Ok(Value::Bool(false)),
            _ => Err(format!("`{t}` is not a boolean")),
        },
        "date" => date(t)
            .map(Value::String)
            .ok_or_else(|| format!("`{t}` is not a date (YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY)")),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// A number written with `.` or `,` as the decimal mark (and the other as
/// thousands separators: `1.234,56`, `1,234.56`).
fn number(t: &str) -> Option<f64> {
    let (dot, comma) = (t.rfind('.'), t.rfind(','));
    let normal = match (dot, comma) {
        (Some(d), Some(c)) if c > d => t.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => t.replace(',', ""),
        (None, Some(_)) => t.replace(',', "."),
        _ => t.to_string(),
    };
    normal.parse().ok().filter(|n: &f64| n.is_finite())
}

/// `YYYY-MM-DD`, `DD.MM.YYYY` or `DD/MM/YYYY` as `YYYY-MM-DD`.
fn date(t: &str) -> Option<String> {
    let t = t.split([' ', 'T']).next()?;
    let parts: Vec<&str> = t.split(['-', '.', '/']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = if a.len() == 4 { (a, b, c) } else { (c, b, a) };
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d) && y > 1000)
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// The JSON Schema type that fits every sample of a column.
pub fn infer(samples: &[&str]) -> &'static str {
    let filled: Vec<&str> = samples
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if filled.is_empty() {
        return "string";
    }
    for kind in ["integer", "number", "date", "boolean"] {
        if filled.iter().all(|s| typed(s, kind).is_ok())
            && !(kind == "boolean" && filled.iter().all(|s| s.parse::<i64>().is_ok()))
        {
            return kind;
        }
    }
    "string"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_problems() {
        assert_eq!(typed("1.234,56", "number"), Ok(json!(1234.56)));
        assert_eq!(typed("1,234.56", "number"), Ok(json!(1234.56)));
        assert_eq!(typed("31.12.2024", "date"), Ok(json!("2024-12-31")));
        assert!(typed("abc", "integer").is_err());
        assert_eq!(infer(&["1", "2", ""]), "integer");
        assert_eq!(infer(&["1.5", "2"]), "number");
        assert_eq!(infer(&["2024-01-02", "03.04.2024"]), "date");
        let header = vec!["a".to_string(), "b".to_string()];
        let types = BTreeMap::from([("b".to_string(), "integer".to_string())]);
        let mut problems = Vec::new();
        assert!(row(&header, &["x".into(), "y".into()], &types, 7, &mut problems).is_none());
        assert_eq!(
            problems,
            [(7, Some("b".into()), "`y` is not an integer".into())]
        );
    }
}

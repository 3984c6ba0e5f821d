//! The OData query options the fake Service Layer models: `$select`,
//! `$filter` (comparisons joined by `and`), `$orderby`, `$skip`, `$top`;
//! anything else is refused, as is a property the entity type does not
//! have. Dates compare by day, as `UpdateDate` is midnight of its day.

use std::cmp::Ordering;

use serde_json::Value;

/// A literal of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Text(String),
    /// A bare `2026-12-01` (OData v4's date literal).
    Day(String),
    Number(f64),
    Null,
}

/// `Field op literal`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub field: String,
    pub op: String,
    pub value: Lit,
}

/// A collection request's options.
#[derive(Debug, Default)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub filter: Vec<Clause>,
    /// The `$filter` as sent, decoded.
    pub filter_text: Option<String>,
    pub orderby: Vec<(String, bool)>,
    pub skip: usize,
    pub top: Option<usize>,
    /// The raw query without `$skip`, for the next link.
    pub rest: String,
}

impl Query {
    /// The options of a raw query string; a message for what SAP refuses.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut q = Query::default();
        let mut kept = Vec::new();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(piece)
                .map_err(|e| format!("the query `{piece}` does not decode: {e}"))?;
            let Some((name, value)) = pairs.into_iter().next() else {
                continue;
            };
            match name.as_str() {
                "$skip" => {
                    q.skip = value.parse().map_err(|_| format!("$skip={value}"))?;
                    continue;
                }
                "$top" => q.top = Some(value.parse().map_err(|_| format!("$top={value}"))?),
                "$select" => {
                    q.select = Some(value.split(',').map(|f| f.trim().to_string()).collect());
                }
                "$orderby" => {
                    for part in value.split(',') {
                        let mut words = part.split_whitespace();
                        let field = words.next().ok_or("an empty $orderby")?.to_string();
                        let desc = match words.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => return Err(format!("$orderby direction `{other}`")),
                        };
                        q.orderby.push((field, desc));
                    }
                }
                "$filter" => {
                    q.filter = filter(&value)?;
                    q.filter_text = Some(value);
                }
                other => {
                    return Err(format!(
                        "the fake does not model the query option `{other}`"
                    ));
                }
            }
            kept.push(piece.to_string());
        }
        q.rest = kept.join("&");
        Ok(q)
    }

    /// Every field the options name is one of `properties`; a v1 (OData
    /// v3) filter compares a date with a quoted text, not a bare date.
    pub fn check(&self, entity_type: &str, properties: &[&str], v1: bool) -> Result<(), String> {
        let named = self
            .select
            .iter()
            .flatten()
            .chain(self.filter.iter().map(|c| &c.field))
            .chain(self.orderby.iter().map(|(f, _)| f));
        for field in named {
            if !properties.contains(&field.as_str()) {
                return Err(format!("Property '{field}' of '{entity_type}' is invalid"));
            }
        }
        if v1 && self.filter.iter().any(|c| matches!(c.value, Lit::Day(_))) {
            return Err("OData v3 has no bare date literal; compare with '2026-12-01'".into());
        }
        Ok(())
    }

    /// The rows that pass the filter, in order.
    pub fn apply(&self, rows: &[Value]) -> Vec<Value> {
        let mut out: Vec<Value> = rows
            .iter()
            .filter(|r| self.filter.iter().all(|c| holds(c, r)))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            for (field, desc) in &self.orderby {
                let o = compare(&a[field], &b[field]);
                if o != Ordering::Equal {
                    return if *desc { o.reverse() } else { o };
                }
            }
            Ordering::Equal
        });
        out
    }

    /// A row with only the selected properties.
    pub fn project(&self, row: Value) -> Value {
        match (&self.select, row) {
            (Some(fields), Value::Object(mut m)) => {
                m.retain(|k, _| fields.contains(k));
                Value::Object(m)
            }
            (_, row) => row,
        }
    }
}

/// `a and b and (c)`: comparisons only, which is what SAP's clients send
/// for incremental reads.
fn filter(text: &str) -> Result<Vec<Clause>, String> {
    let mut clauses = Vec::new();
    for part in split_and(text) {
        let part = part.trim();
        let part = part
            .strip_prefix('(')
            .and_then(|p| p.strip_suffix(')'))
            .unwrap_or(part)
            .trim();
        let mut words = part.splitn(3, ' ');
        let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next())
        else {
            return Err(format!("the fake cannot read the filter `{part}`"));
        };
        if !matches!(op, "eq" | "ne" | "gt" | "ge" | "lt" | "le") {
            return Err(format!("the fake does not model the operator `{op}`"));
        }
        clauses.push(Clause {
            field: field.to_string(),
            op: op.to_string(),
            value: literal(value.trim())?,
        });
    }
    Ok(clauses)
}

/// The parts of a filter between ` and `s outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && rest.starts_with(" and ") {
            parts.push(std::mem::take(&mut current));
            rest = &rest[5..];
            continue;
        }
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    parts.push(current);
    parts
}

fn literal(text: &str) -> Result<Lit, String> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Ok(Lit::Text(inner.replace("''", "'")));
    }
    if text == "null" {
        return Ok(Lit::Null);
    }
    let b = text.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Ok(Lit::Day(text.to_string()));
    }
    text.parse()
        .map(Lit::Number)
        .map_err(|_| format!("the literal `{text}` is not one the fake reads"))
}

fn holds(c: &Clause, row: &Value) -> bool {
    let v = &row[&c.field];
    let o = match &c.value {
        Lit::Null => {
            return match c.op.as_str() {
                "eq" => v.is_null(),
                "ne" => !v.is_null(),
                _ => false,
            };
        }
        Lit::Number(n) => match v.as_f64() {
            Some(x) => x.partial_cmp(n).unwrap_or(Ordering::Equal),
            None => return false,
        },
        Lit::Text(t) | Lit::Day(t) => match v.as_str() {
            // `UpdateDate` and the other dates: by day.
            Some(s) if c.field.ends_with("Date") => s[..10.min(s.len())].cmp(&t[..10.min(t.len())]),
            Some(s) => s.cmp(t.as_str()),
            None => return false,
        },
    };
    match c.op.as_str() {
        "eq" => o == Ordering::Equal,
        "ne" => o != Ordering::Equal,
        "gt" => o == Ordering::Greater,
        "ge" => o != Ordering::Less,
        "lt" => o == Ordering::Less,
        _ => o != Ordering::Greater,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The page size a `Prefer` header asks for (`odata.maxpagesize=0`: no
/// paging); `Err` for a preference the fake does not know.
pub fn max_page_size(prefer: &str) -> Result<Option<usize>, String> {
    let mut size = None;
    for pref in prefer.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pref.split_once('=') {
            Some(("odata.maxpagesize", n)) => {
                let n: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("odata.maxpagesize={n}"))?;
                size = Some(if n == 0 { usize::MAX } else { n });
            }
            _ if pref == "return-no-content" => {}
            _ => return Err(format!("the fake does not model the preference `{pref}`")),
        }
    }
    Ok(size)
}

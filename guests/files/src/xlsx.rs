//! Excel workbooks (xlsx, Office Open XML): each sheet a stream, the first
//! row its header; cells typed (numbers, booleans, text from the shared
//! strings or inline, formula results as cached, errors as text) and dates
//! recognised by their number format (built-in date formats and custom
//! formats with day, month or year codes), written as ISO 8601.

use std::collections::BTreeMap;

use roxmltree::{Document, Node};
use wharf_sdk::prelude::*;
use wharf_sdk::zip::Archive;

fn xml(zip: &Archive, name: &str) -> Result<String> {
    Ok(String::from_utf8_lossy(&zip.read(name)?).into_owned())
}

fn parse(text: &str) -> Result<Document<'_>> {
    Document::parse(text).map_err(|e| Error::Fatal(format!("the workbook is damaged: {e}")))
}

fn named<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.descendants()
        .filter(move |n| n.tag_name().name() == name)
}

/// The sheets: name and the part that holds it.
pub fn sheets(bytes: &[u8]) -> Result<Vec<(String, String)>> {
    let zip = Archive::new(bytes)?;
    let rels_text = xml(&zip, "xl/_rels/workbook.xml.rels")?;
    let rels = parse(&rels_text)?;
    let targets: BTreeMap<String, String> = named(rels.root(), "Relationship")
        .filter_map(|r| {
            Some((
                r.attribute("Id")?.to_string(),
                r.attribute("Target")?.to_string(),
            ))
        })
        .collect();
    let book_text = xml(&zip, "xl/workbook.xml")?;
    let book = parse(&book_text)?;
    Ok(named(book.root(), "sheet")
        .filter_map(|s| {
            let id = s.attributes().find(|a| a.name() == "id")?.value();
            let target = targets.get(id)?;
            let part = match target.strip_prefix('/') {
                Some(abs) => abs.to_string(),
                None => format!("xl/{target}"),
            };
            Some((s.attribute("name")?.to_string(), part))
        })
        .collect())
}

/// Built-in number formats that are dates or times.
fn builtin_date(id: u32) -> bool {
    matches!(id, 14..=22 | 45..=47)
}

/// Whether a custom format code shows a date (`yyyy-mm-dd`, `dd.mm.yy`).
fn custom_date(code: &str) -> bool {
    let mut plain = String::new();
    let mut quoted = false;
    for c in code.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if !quoted => plain.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    let plain = plain.split(';').next().unwrap_or("").replace("\\", "");
    plain.contains('y') || plain.contains('d') || (plain.contains('m') && plain.contains('h'))
}

/// A date serial (1900 system; 1904 when the workbook says) as ISO 8601.
fn date(serial: f64, date1904: bool) -> String {
    let days = serial.floor() as i64 + if date1904 { 1462 } else { 0 };
    // 1899-12-30 is day 0 (Excel's phantom 1900-02-29 before day 61).
    let unix_days = days - 25_569;
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    let (y, m, d) = wharf_sdk::time::civil(unix_days);
    if secs == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Column index of a cell reference (`B7` → 1).
fn column(reference: &str) -> usize {
    reference
        .bytes()
        .take_while(u8::is_ascii_alphabetic)
        .fold(0, |n, b| {
            n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1)
        })
        .saturating_sub(1)
}

/// The rows of sheet `part`, cells typed.
pub fn rows(bytes: &[u8], part: &str) -> Result<Vec<Vec<Value>>> {
    let zip = Archive::new(bytes)?;
    let shared: Vec<String> = match zip.read("xl/sharedStrings.xml") {
        Ok(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let doc = parse(&text)?;
            named(doc.root(), "si")
                .map(|si| named(si, "t").filter_map(|t| t.text()).collect::<String>())
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let mut date_styles: Vec<bool> = Vec::new();
    if let Ok(b) = zip.read("xl/styles.xml") {
        let text = String::from_utf8_lossy(&b).into_owned();
        let doc = parse(&text)?;
        let custom: BTreeMap<u32, bool> = named(doc.root(), "numFmt")
            .filter_map(|f| {
                Some((
                    f.attribute("numFmtId")?.parse().ok()?,
                    custom_date(f.attribute("formatCode")?),
                ))
            })
            .collect();
        if let Some(xfs) = named(doc.root(), "cellXfs").next() {
            date_styles = xfs
                .children()
                .filter(|n| n.tag_name().name() == "xf")
                .map(|xf| {
                    let id: u32 = xf
                        .attribute("numFmtId")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    builtin_date(id) || custom.get(&id).copied().unwrap_or(false)
                })
                .collect();
        }
    }
    let book_text = xml(&zip, "xl/workbook.xml")?;
    let date1904 = parse(&book_text)?.descendants().any(|n| {
        n.tag_name().name() == "workbookPr" && matches!(n.attribute("date1904"), Some("1" | "true"))
    });
    let sheet_text = xml(&zip, part)?;
    let sheet = parse(&sheet_text)?;
    let mut out = Vec::new();
    for row in named(sheet.root(), "row") {
        let mut cells: Vec<Value> = Vec::new();
        for c in row.children().filter(|n| n.tag_name().name() == "c") {
            let at = c.attribute("r").map_or(cells.len(), column);
            let v = c
                .children()
                .find(|n| n.tag_name().name() == "v")
                .and_then(|v| v.text());
            let value = match (c.attribute("t"), v) {
                (Some("s"), Some(i)) => i
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| shared.get(i))
                    .map_or(Value::Null, |s| json!(s)),
                (Some("inlineStr"), _) => {
                    json!(named(c, "t").filter_map(|t| t.text()).collect::<String>())
                }
                (Some("b"), Some(b)) => json!(b == "1"),
                (Some("str" | "e"), Some(t)) => json!(t),
                (_, Some(n)) => match n.parse::<f64>() {
                    Ok(f) => {
                        let style: usize =
                            c.attribute("s").and_then(|s| s.parse().ok()).unwrap_or(0);
                        if date_styles.get(style).copied().unwrap_or(false) {
                            json!(date(f, date1904))
                        } else if f.fract() == 0.0 && f.abs() < 9e15 {
                            json!(f as i64)
                        } else {
                            json!(f)
                        }
                    }
                    Err(_) => json!(n),
                },
                (_, None) => Value::Null,
            };
            if cells.len() <= at {
                cells.resize(at + 1, Value::Null);
            }
            cells[at] = value;
        }
        out.push(cells);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workbook_saved_by_excel() {
        let bytes = include_bytes!("../../../tests/fixtures/files/workbook.xlsx");
        let sheets = sheets(bytes).unwrap();
        let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"DataSheet"), "{names:?}");
        let part = &sheets.iter().find(|(n, _)| n == "DataSheet").unwrap().1;
        let rows = rows(bytes, part).unwrap();
        assert_eq!(rows[0][0], json!("Id"));
        assert!(rows.len() > 2);
        assert_eq!(date(45_658.0, false), "2025-01-01");
        assert_eq!(date(45_658.5, false), "2025-01-01T12:00:00");
        assert_eq!(column("AB12"), 27);
        assert!(custom_date("yyyy\\-mm\\-dd") && !custom_date("0.00") && !custom_date("\"day\" 0"));
    }
}

//! Records to a file: CSV (RFC 4180, a header of every field seen, CRLF,
//! UTF-8 with a BOM so Excel reads it), JSON (an array), JSON Lines, or an
//! xlsx workbook (one sheet, the header in bold-free first row, numbers as
//! numbers, text as inline strings). Nested values are written as JSON
//! text.

use wharf_sdk::prelude::*;
use wharf_sdk::zip::Writer;

/// The columns: every field, in the order first seen (a record's own
/// fields come in name order).
fn columns(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        for k in r.data.keys() {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

fn cell_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other @ (Value::Object(_) | Value::Array(_))) => other.to_string(),
        Some(other) => other.to_string(),
    }
}

/// The file's bytes and media type.
pub fn write(format: &str, records: &[Record]) -> Result<(Vec<u8>, &'static str)> {
    let cols = columns(records);
    match format {
        "json" => {
            let all: Vec<Value> = records
                .iter()
                .map(|r| Value::Object(r.data.clone()))
                .collect();
            Ok((
                serde_json::to_vec_pretty(&all).map_err(Error::fatal)?,
                "application/json",
            ))
        }
        "jsonl" => {
            let mut out = Vec::new();
            for r in records {
                out.extend(serde_json::to_vec(&r.data).map_err(Error::fatal)?);
                out.push(b'\n');
            }
            Ok((out, "application/x-ndjson"))
        }
        "xlsx" => Ok((
            xlsx(&cols, records)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )),
        _ => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(b"\xEF\xBB\xBF".to_vec());
            w.write_record(&cols).map_err(Error::fatal)?;
            for r in records {
                w.write_record(cols.iter().map(|c| cell_text(r.data.get(c))))
                    .map_err(Error::fatal)?;
            }
            Ok((w.into_inner().map_err(Error::fatal)?, "text/csv"))
        }
    }
}

fn escape(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn column_name(mut i: usize) -> String {
    let mut name = String::new();
    loop {
        name.insert(0, char::from(b'A' + (i % 26) as u8));
        if i < 26 {
            return name;
        }
        i = i / 26 - 1;
    }
}

fn cell(reference: &str, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) => format!("<c r=\"{reference}\"><v>{n}</v></c>"),
        Some(Value::Bool(b)) => format!("<c r=\"{reference}\" t=\"b\"><v>{}</v></c>", u8::from(*b)),
        other => format!(
            "<c r=\"{reference}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
            escape(&cell_text(other))
        ),
    }
}

fn xlsx(cols: &[String], records: &[Record]) -> Result<Vec<u8>> {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    sheet.push_str("<row r=\"1\">");
    for (i, c) in cols.iter().enumerate() {
        sheet.push_str(&cell(
            &format!("{}1", column_name(i)),
            Some(&Value::String(c.clone())),
        ));
    }
    sheet.push_str("</row>");
    for (n, r) in records.iter().enumerate() {
        let row = n + 2;
        sheet.push_str(&format!("<row r=\"{row}\">"));
        for (i, c) in cols.iter().enumerate() {
            sheet.push_str(&cell(&format!("{}{row}", column_name(i)), r.data.get(c)));
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let mut zip = Writer::new();
    zip.add("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#)?;
    zip.add("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#)?;
    zip.add("xl/workbook.xml", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Records" sheetId="1" r:id="rId1"/></sheets></workbook>"#)?;
    zip.add("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#)?;
    zip.add("xl/worksheets/sheet1.xml", sheet.as_bytes())?;
    Ok(zip.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs() -> Vec<Record> {
        vec![
            Record::from_value("o", json!({"id": "A-1", "qty": 3, "note": "a, \"b\""})).unwrap(),
            Record::from_value("o", json!({"id": "B<2>", "qty": 2.5, "paid": true})).unwrap(),
        ]
    }

    #[test]
    fn csv_and_a_workbook_our_reader_reads_back() {
        let (csv, _) = write("csv", &recs()).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(
            text,
            "\u{feff}id,note,qty,paid\r\nA-1,\"a, \"\"b\"\"\",3,\r\nB<2>,,2.5,true\r\n"
        );
        let (book, _) = write("xlsx", &recs()).unwrap();
        let sheets = crate::xlsx::sheets(&book).unwrap();
        assert_eq!(sheets[0].0, "Records");
        let rows = crate::xlsx::rows(&book, &sheets[0].1).unwrap();
        assert_eq!(
            rows[0],
            [json!("id"), json!("note"), json!("qty"), json!("paid")]
        );
        assert_eq!(
            rows[2],
            [json!("B<2>"), Value::Null, json!(2.5), json!(true)]
        );
        assert_eq!(column_name(27), "AB");
    }
}

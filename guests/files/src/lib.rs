//! `files`: files as records. CSV (delimiter, quoting, header and
//! encoding detected), Excel xlsx (each sheet a stream, typed cells,
//! dates), JSON and JSON Lines, XML by record path, MS Project XML (MSPDI)
//! and Primavera P6 XER (tasks, resources, assignments, relationships).
//!
//! The file comes from a run's upload (`POST /api/v1/syncs/{id}/runs/file`
//! or the console), or from an HTTP URL. Columns can be typed in the
//! config; a cell that does not fit is reported as a row error (row,
//! column, message) and the rest of the file is read.

mod delimited;
mod table;
mod text;
mod write;
mod xer;
mod xlsx;
mod xml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::{self, Blob};
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// csv, json, jsonl, xlsx, xml, mspdi or xer (default: from the file).
    #[serde(default)]
    format: Option<String>,
    /// Read this URL when the run was given no file.
    #[serde(default)]
    url: Option<String>,
    /// The delimiter (`,` `;` `\t` `|`; default: guessed).
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default = "yes")]
    header: bool,
    /// auto, utf-8 or windows-1252.
    #[serde(default = "auto")]
    encoding: String,
    /// Column types: string, integer, number, boolean, date.
    #[serde(default)]
    columns: BTreeMap<String, String>,
    /// XML: the record elements' path; JSON: a pointer to the array.
    #[serde(default)]
    record_path: Option<String>,
    /// The field that identifies a row (default: file and row number).
    #[serde(default)]
    key: Option<String>,
    #[serde(default = "default_page")]
    page_size: usize,
    /// As a mapper: `read` the files records carry into their rows, or
    /// `write` each batch of records into one file.
    #[serde(default = "read_mode")]
    mode: String,
    /// As a mapper: the stream of the records made.
    #[serde(default)]
    output_stream: Option<String>,
    /// As a writer: the file's name; `{stream}`, `{first}` (the batch's
    /// first key) and `{ext}` are replaced.
    #[serde(default = "default_file_name")]
    file_name: String,
}

fn read_mode() -> String {
    "read".into()
}
fn default_file_name() -> String {
    "{stream}-{first}.{ext}".into()
}

fn yes() -> bool {
    true
}
fn auto() -> String {
    "auto".into()
}
fn default_page() -> usize {
    1000
}

/// Where a stream stands.
#[derive(Default, Serialize, Deserialize)]
struct Position {
    /// Which file of the run.
    #[serde(default)]
    file: usize,
    /// CSV: byte offset in the text; other formats: records read.
    #[serde(default)]
    offset: u64,
    /// Data rows read in this file (row numbers of errors).
    #[serde(default)]
    row: usize,
    /// The URL's download, kept for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download: Option<String>,
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#607d8b"/><path d="M18 10h20l10 10v34H18z" fill="#fff"/><path d="M38 10v10h10" fill="#cfd8dc"/><path d="M24 32h16M24 39h16M24 46h10" stroke="#607d8b" stroke-width="3"/></svg>"##;

pub struct Files;

impl Connector for Files {
    type Config = Config;

    fn spec() -> Spec {
        Spec::new("files", env!("CARGO_PKG_VERSION"))
            .description("Files as records: CSV, Excel, JSON, JSON Lines, XML, MS Project XML and Primavera XER, from an upload or a URL, with typed columns and row errors.")
            .role(Role::Source)
            .role(Role::Mapper)
            .config_schema(config_schema())
            .host("{config.url|https://files.invalid}")
            .catalog(
                Catalog::new("Files")
                    .category(Category::Files)
                    .icon_svg(ICON)
                    .publisher("Wharf"),
            )
    }

    fn discover(config: &Config) -> Result<Vec<StreamSpec>> {
        let Some((name, bytes)) = sample(config)? else {
            let names: Vec<&str> = match config.format.as_deref() {
                Some("mspdi") => xml::MSPDI_STREAMS.to_vec(),
                Some("xer") => xer::STREAMS.iter().map(|(s, _)| *s).collect(),
                _ => vec!["rows"],
            };
            return Ok(names.into_iter().map(StreamSpec::new).collect());
        };
        let format = format_of(config, &name, &bytes);
        Ok(match format.as_str() {
            "xlsx" => xlsx::sheets(&bytes)?
                .into_iter()
                .map(|(sheet, part)| {
                    let rows = xlsx::rows(&bytes, &part).unwrap_or_default();
                    StreamSpec::new(sheet)
                        .description(format!("Sheet of {name}"))
                        .schema(sheet_schema(&rows))
                })
                .collect(),
            "mspdi" => xml::MSPDI_STREAMS
                .iter()
                .map(|s| StreamSpec::new(*s).description(format!("MS Project {s}")))
                .collect(),
            "xer" => xer::STREAMS
                .iter()
                .map(|(s, t)| StreamSpec::new(*s).description(format!("Primavera table {t}")))
                .collect(),
            "csv" => {
                let (text, _) = text::decode(&bytes, &config.encoding);
                let d = delimiter(config, &text);
                let (header, offset) =
                    delimited::header(&text, d, config.header).map_err(Error::Fatal)?;
                let (rows, _, _) = delimited::rows(&text, d, offset, 200).map_err(Error::Fatal)?;
                vec![
                    StreamSpec::new("rows")
                        .description(format!("Rows of {name}"))
                        .schema(csv_schema(config, &header, &rows)),
                ]
            }
            _ => vec![StreamSpec::new("rows").description(format!("Records of {name}"))],
        })
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let mut pos: Position = cursor
            .map(serde_json::from_str)
            .transpose()
            .map_err(Error::fatal)?
            .unwrap_or_default();
        let files = sources(config, &mut pos)?;
        let Some((name, blob)) = files.get(pos.file).cloned() else {
            return Ok(Page::last(Vec::new(), None));
        };
        let bytes = blob.read_all()?;
        let format = format_of(config, &name, &bytes);
        let mut problems = Vec::new();
        let (records, done) = read(
            config,
            &format,
            stream,
            &name,
            &bytes,
            &mut pos,
            &mut problems,
        )?;
        if done {
            pos = Position {
                file: pos.file + 1,
                download: pos.download.take(),
                ..Position::default()
            };
        }
        let more = pos.file < files.len();
        let mut page = Page::new(
            records,
            more.then(|| serde_json::to_string(&pos).unwrap_or_default()),
            more,
        );
        for (row, column, message) in problems {
            page = page.row_error(stream, format!("{name}:{row}"), column.as_deref(), message);
        }
        Ok(page)
    }

    /// `read`: each record's file (its blob: a file another connector read)
    /// becomes the records in it; records without a file pass through.
    /// `write`: the batch becomes one file record, the file as its blob,
    /// for a destination such as `nextcloud` or `google-drive` to upload.
    fn map(config: &Config, records: Vec<Record>) -> Result<Vec<Record>> {
        if config.mode == "write" {
            return write_file(config, records);
        }
        let mut out = Vec::new();
        for record in records {
            let Some(blob) = record.blob.clone() else {
                out.push(record);
                continue;
            };
            let name = ["name", "path"]
                .iter()
                .find_map(|f| record.get(f).and_then(Value::as_str))
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
                .or_else(|| record.key.clone())
                .unwrap_or_else(|| "file".into());
            let bytes = Blob(blob).read_all()?;
            let format = format_of(config, &name, &bytes);
            let streams: Vec<String> = match format.as_str() {
                "xlsx" => xlsx::sheets(&bytes)?.into_iter().map(|(n, _)| n).collect(),
                "mspdi" => xml::MSPDI_STREAMS
                    .iter()
                    .map(|s| (*s).to_string())
                    .collect(),
                "xer" => {
                    let tables = xer::tables(&text::decode(&bytes, &config.encoding).0)?;
                    xer::STREAMS
                        .iter()
                        .filter(|(_, t)| tables.contains_key(*t))
                        .map(|(s, _)| (*s).to_string())
                        .collect()
                }
                _ => vec![
                    config
                        .output_stream
                        .clone()
                        .unwrap_or_else(|| "rows".into()),
                ],
            };
            for stream in streams {
                let mut pos = Position::default();
                loop {
                    let mut problems = Vec::new();
                    let (rows, done) = read(
                        config,
                        &format,
                        &stream,
                        &name,
                        &bytes,
                        &mut pos,
                        &mut problems,
                    )?;
                    for (row, column, message) in problems {
                        wharf_sdk::log::warn(format!(
                            "{name}:{row} {}: {message}",
                            column.unwrap_or_default()
                        ));
                    }
                    out.extend(rows);
                    if done {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A batch of records as one file record, the file in a blob of the run.
fn write_file(config: &Config, records: Vec<Record>) -> Result<Vec<Record>> {
    let upserts: Vec<Record> = records.into_iter().filter(|r| r.op == Op::Upsert).collect();
    let Some(first) = upserts.first() else {
        return Ok(Vec::new());
    };
    let format = config
        .format
        .clone()
        .filter(|f| ["csv", "json", "jsonl", "xlsx"].contains(&f.as_str()))
        .unwrap_or_else(|| "csv".into());
    let (bytes, content_type) = write::write(&format, &upserts)?;
    let first_key: String = first
        .key
        .clone()
        .unwrap_or_else(|| "1".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = config
        .file_name
        .replace("{stream}", &first.stream)
        .replace("{first}", &first_key)
        .replace("{ext}", &format);
    let blob = Blob::create()?;
    blob.append(&bytes)?;
    let stream = config
        .output_stream
        .clone()
        .unwrap_or_else(|| "files".into());
    let data = json!({"name": name, "path": name, "content_type": content_type, "rows": upserts.len(), "size": bytes.len()});
    Ok(vec![
        Record::from_value(stream, data)?
            .with_key(name)
            .with_blob(&blob),
    ])
}

/// The run's files: its uploads, or the URL's content.
fn sources(config: &Config, pos: &mut Position) -> Result<Vec<(String, Blob)>> {
    let inputs = blob::inputs();
    if !inputs.is_empty() {
        return Ok(inputs.into_iter().map(|f| (f.name, f.blob)).collect());
    }
    let Some(url) = config.url.as_deref().filter(|u| !u.is_empty()) else {
        return Err(Error::Config(
            "no file: upload one with the run, or set `url`".into(),
        ));
    };
    let name = url
        .rsplit('/')
        .next()
        .unwrap_or("download")
        .split('?')
        .next()
        .unwrap_or("download")
        .to_string();
    if let Some(id) = &pos.download
        && Blob(id.clone()).size().is_ok()
    {
        return Ok(vec![(name, Blob(id.clone()))]);
    }
    let response = Request::get(url).keep_body().send()?.error_for_status()?;
    let blob = response
        .blob
        .map(Blob)
        .ok_or_else(|| Error::fatal("the host kept no download"))?;
    pos.download = Some(blob.0.clone());
    Ok(vec![(name, blob)])
}

/// A file for `discover`: the URL's.
fn sample(config: &Config) -> Result<Option<(String, Vec<u8>)>> {
    let Some(url) = config.url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let mut pos = Position::default();
    let files = sources(config, &mut pos)?;
    Ok(match files.into_iter().next() {
        Some((name, blob)) => Some((name, blob.read_all()?)),
        None => {
            let _ = url;
            None
        }
    })
}

/// The format: the config's, else the file name's extension, else the
/// content's first bytes.
fn format_of(config: &Config, name: &str, bytes: &[u8]) -> String {
    if let Some(f) = config.format.as_deref().filter(|f| !f.is_empty()) {
        return f.to_string();
    }
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_string();
    let is_project = || head.contains("schemas.microsoft.com/project");
    match ext {
        "csv" | "tsv" | "txt" => "csv",
        "xlsx" => "xlsx",
        "json" => "json",
        "jsonl" | "ndjson" => "jsonl",
        "xer" => "xer",
        "xml" if is_project() => "mspdi",
        "xml" => "xml",
        _ if bytes.starts_with(b"PK\x03\x04") => "xlsx",
        _ if bytes.starts_with(b"ERMHDR") => "xer",
        _ if head.trim_start().starts_with('<') && is_project() => "mspdi",
        _ if head.trim_start().starts_with('<') => "xml",
        _ if head.trim_start().starts_with(['[', '{']) => "json",
        _ => "csv",
    }
    .to_string()
}

fn delimiter(config: &Config, text: &str) -> u8 {
    match config.delimiter.as_deref() {
        Some("\\t" | "tab" | "\t") => b'\t',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        _ => delimited::sniff(text),
    }
}

/// A page of `stream` from one file.
fn read(
    config: &Config,
    format: &str,
    stream: &str,
    name: &str,
    bytes: &[u8],
    pos: &mut Position,
    problems: &mut Vec<table::Problem>,
) -> Result<(Vec<Record>, bool)> {
    let limit = config.page_size.clamp(1, 10_000);
    let key = |data: &Map<String, Value>, row: usize| {
        config
            .key
            .as_ref()
            .and_then(|k| data.get(k))
            .and_then(wharf_sdk::scalar_text)
            .unwrap_or_else(|| format!("{name}:{row}"))
    };
    if format == "csv" {
        let (text, _) = text::decode(bytes, &config.encoding);
        let d = delimiter(config, &text);
        let (header, start) = delimited::header(&text, d, config.header).map_err(Error::Fatal)?;
        let from = if pos.offset == 0 { start } else { pos.offset };
        let (rows, next, done) = delimited::rows(&text, d, from, limit).map_err(Error::Fatal)?;
        let mut out = Vec::with_capacity(rows.len());
        for cells in rows {
            pos.row += 1;
            if let Some(data) = table::row(&header, &cells, &config.columns, pos.row, problems) {
                let k = key(&data, pos.row);
                out.push(Record::upsert(stream, data).with_key(k));
            }
        }
        pos.offset = next;
        return Ok((out, done));
    }
    // The other formats are read whole; a page is a slice of their records.
    let all: Vec<Map<String, Value>> = match format {
        "json" => {
            let (text, _) = text::decode(bytes, &config.encoding);
            let mut v: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Fatal(format!("{name} is not JSON: {e}")))?;
            let at = config.record_path.as_deref().unwrap_or("");
            wharf_sdk::rest::records_at(&mut v, at)?
                .into_iter()
                .filter_map(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect()
        }
        "jsonl" => {
            let (text, _) = text::decode(bytes, &config.encoding);
            let mut out = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(m)) => out.push(m),
                    Ok(_) => problems.push((i + 1, None, "not a JSON object".into())),
                    Err(e) => problems.push((i + 1, None, format!("not JSON: {e}"))),
                }
            }
            if pos.offset > 0 {
                problems.clear();
            }
            out
        }
        "xml" => {
            let (text, _) = text::decode(bytes, &config.encoding);
            let path = config.record_path.as_deref().ok_or_else(|| {
                Error::Config("an XML file needs `record_path`, e.g. Orders/Order".into())
            })?;
            xml::records(&text, path)?
        }
        "mspdi" => xml::mspdi(&text::decode(bytes, &config.encoding).0, stream)?,
        "xer" => {
            let (text, _) = text::decode(bytes, &config.encoding);
            let tables = xer::tables(&text)?;
            let table = xer::table_of(stream);
            let (fields, rows) = tables.get(&table).ok_or_else(|| {
                Error::Config(format!(
                    "the XER file has no table {table} (tables: {})",
                    tables.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            let mut out = Vec::new();
            for (i, cells) in rows.iter().enumerate() {
                if let Some(data) = table::row(fields, cells, &config.columns, i + 1, problems) {
                    out.push(data);
                }
            }
            out
        }
        "xlsx" => {
            let sheets = xlsx::sheets(bytes)?;
            let (_, part) = sheets.iter().find(|(n, _)| n == stream).ok_or_else(|| {
                Error::Config(format!(
                    "the workbook has no sheet `{stream}` (sheets: {})",
                    sheets
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let rows = xlsx::rows(bytes, part)?;
            let mut it = rows.into_iter();
            let header: Vec<String> = if config.header {
                it.next()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match wharf_sdk::scalar_text(v) {
                        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
                        _ => format!("column_{}", i + 1),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            it.filter(|r| r.iter().any(|v| !v.is_null()))
                .map(|r| {
                    let mut m = Map::new();
                    let width = header.len().max(r.len());
                    for i in 0..width {
                        let name = header
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("column_{}", i + 1));
                        m.insert(name, r.get(i).cloned().unwrap_or(Value::Null));
                    }
                    m
                })
                .collect()
        }
        other => {
            return Err(Error::Config(format!(
                "unknown format `{other}` (csv, json, jsonl, xlsx, xml, mspdi, xer)"
            )));
        }
    };
    if pos.offset > 0 && format == "xer" {
        problems.clear();
    }
    let start = usize::try_from(pos.offset).unwrap_or(usize::MAX);
    let slice: Vec<Record> = all
        .into_iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, data)| {
            let k = key(&data, i + 1);
            Record::upsert(stream, data).with_key(k)
        })
        .collect();
    pos.offset += slice.len() as u64;
    let done = slice.len() < limit;
    Ok((slice, done))
}

fn csv_schema(config: &Config, header: &[String], rows: &[Vec<String>]) -> Value {
    let mut props = Map::new();
    for (i, name) in header.iter().enumerate() {
        let kind = config
            .columns
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| {
                let samples: Vec<&str> = rows
                    .iter()
                    .filter_map(|r| r.get(i).map(String::as_str))
                    .collect();
                table::infer(&samples)
            });
        let (ty, format) = match kind {
            "integer" => ("integer", None),
            "number" => ("number", None),
            "boolean" => ("boolean", None),
            "date" => ("string", Some("date")),
            _ => ("string", None),
        };
        let mut p = json!({"type": [ty, "null"], "description": format!("Column {} ({kind} in the samples)", i + 1)});
        if let Some(f) = format {
            p["format"] = json!(f);
        }
        props.insert(name.clone(), p);
    }
    json!({"type": "object", "properties": props})
}

fn sheet_schema(rows: &[Vec<Value>]) -> Value {
    let mut props = Map::new();
    if let Some(header) = rows.first() {
        for (i, h) in header.iter().enumerate() {
            let name = wharf_sdk::scalar_text(h)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| format!("column_{}", i + 1));
            let kinds: Vec<&str> = rows
                .iter()
                .skip(1)
                .take(200)
                .filter_map(|r| r.get(i))
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::Number(n) if n.is_i64() => "integer",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "boolean",
                    _ => "string",
                })
                .collect();
            let ty = match kinds.first() {
                Some(k) if kinds.iter().all(|x| x == k) => *k,
                Some(_) if kinds.iter().all(|x| *x == "integer" || *x == "number") => "number",
                _ => "string",
            };
            props.insert(name, json!({"type": [ty, "null"]}));
        }
    }
    json!({"type": "object", "properties": props})
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "format": {"enum": ["csv", "json", "jsonl", "xlsx", "xml", "mspdi", "xer"], "title": "Format", "description": "Leave empty to tell from the file name or its content"},
            "url": {"type": "string", "format": "uri", "title": "URL", "description": "Read this file when a run is not given one (an export link, a report URL)"},
            "delimiter": {"type": "string", "maxLength": 3, "title": "Delimiter", "description": "CSV: , ; \\t or |; guessed from the header line when empty"},
            "header": {"type": "boolean", "default": true, "title": "First row is a header", "description": "CSV and Excel: column names from the first row (else column_1, column_2, …)"},
            "encoding": {"enum": ["auto", "utf-8", "windows-1252"], "default": "auto", "title": "Encoding", "description": "auto: a byte-order mark, else UTF-8, else Windows-1252"},
            "columns": {"type": "object", "title": "Column types", "additionalProperties": {"enum": ["string", "integer", "number", "boolean", "date"]},
                "description": "Types to check and convert, e.g. {\"total\": \"number\", \"date\": \"date\"}; a cell that does not fit is a row error"},
            "record_path": {"type": "string", "title": "Record path", "description": "XML: the record elements, e.g. Orders/Order; JSON: a pointer to the array, e.g. /data"},
            "key": {"type": "string", "title": "Key field", "description": "The column that identifies a row; file name and row number when empty"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000, "title": "Rows per page", "description": "Records handed on at a time"},
            "mode": {"enum": ["read", "write"], "default": "read", "title": "As a mapper", "description": "read: turn the files records carry (from nextcloud, google-drive) into their rows; write: turn each batch of records into one file (format csv, json, jsonl or xlsx) for a destination to upload"},
            "output_stream": {"type": "string", "title": "Output stream", "description": "As a mapper: the stream of the records made (rows when reading, files when writing)"},
            "file_name": {"type": "string", "default": "{stream}-{first}.{ext}", "title": "File name", "description": "As a writer: {stream}, {first} (the batch's first key) and {ext} are replaced"}
        }
    })
}

export_connector!(Files);

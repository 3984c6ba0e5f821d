//! `wharf records`: read, export and import the records a sync keeps in
//! the built-in records store. The stream may be left out when the sync
//! has only one.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::Value;

use super::{Client, enc, id_of, syncs};
use crate::cli::failure::Failure;
use crate::cli::output::{self, cut, text};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List stored records, by key.
    List {
        /// Sync: name or id.
        sync: String,
        /// Stream (needed when the sync stores more than one).
        #[arg(long)]
        stream: Option<String>,
        /// Records to show (1-500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this key (the `next` a previous page gave).
        #[arg(long)]
        after: Option<String>,
    },
    /// Write all of a stream's records as CSV or JSON.
    Export {
        /// Sync: name or id.
        sync: String,
        /// Stream (needed when the sync stores more than one).
        #[arg(long)]
        stream: Option<String>,
        /// csv or json.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Import a CSV or JSON file (an array of objects) through the sync's
    /// mapper and schema into the records store; rejected rows are listed.
    Import {
        /// Sync: name or id.
        sync: String,
        /// The file, or `-` for stdin (then give --format).
        file: PathBuf,
        /// Stream (needed when the sync stores more than one).
        #[arg(long)]
        stream: Option<String>,
        /// csv or json (default: from the file's extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// The field holding each row's key (default: the stream's key).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Json => "application/json",
        }
    }
}

/// `?stream=…&` or nothing, to start a query string with.
fn stream_query(stream: &Option<String>) -> String {
    stream
        .as_ref()
        .map(|s| format!("stream={}&", enc(s)))
        .unwrap_or_default()
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::List {
            sync,
            stream,
            limit,
            after,
        } => {
            let id = id_of(&syncs::resolve(c, &sync).await?);
            let mut path = format!(
                "/api/v1/syncs/{}/records?{}limit={}",
                enc(&id),
                stream_query(&stream),
                limit.clamp(1, 500)
            );
            if let Some(a) = after {
                path.push_str(&format!("&after={}", enc(&a)));
            }
            let v = c.get(&path).await?;
            c.print(&v, list);
        }
        Command::Export {
            sync,
            stream,
            format,
            output,
        } => {
            let id = id_of(&syncs::resolve(c, &sync).await?);
            let bytes = c
                .call_raw(
                    Method::GET,
                    &format!(
                        "/api/v1/syncs/{}/records/export?{}format={}",
                        enc(&id),
                        stream_query(&stream),
                        format.as_str()
                    ),
                )
                .await?;
            match output {
                None => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Failure::failed(format!("writing to stdout: {e}")))?,
                Some(path) => {
                    std::fs::write(&path, &bytes).map_err(|e| {
                        Failure::failed(format!("cannot write {}: {e}", path.display()))
                    })?;
                    // On stderr: stdout stays free for a pipeline.
                    eprintln!(
                        "exported {} records to {}",
                        count(format, &bytes),
                        path.display()
                    );
                }
            }
        }
        Command::Import {
            sync,
            file,
            stream,
            format,
            key,
        } => {
            let format = format.or_else(|| format_of(&file)).ok_or_else(|| {
                Failure::usage(format!(
                    "cannot tell the format of {}: give --format csv or --format json",
                    file.display()
                ))
            })?;
            let bytes = read_input(&file)?;
            let id = id_of(&syncs::resolve(c, &sync).await?);
            let mut path = format!(
                "/api/v1/syncs/{}/import?{}",
                enc(&id),
                stream_query(&stream)
            );
            if let Some(k) = key {
                path.push_str(&format!("key={}", enc(&k)));
            }
            let a = c
                .call(
                    Method::POST,
                    path.trim_end_matches(['&', '?']),
                    Some((format.content_type(), bytes)),
                )
                .await?;
            c.print(&a.body, imported);
            // The good rows landed, but a script should notice the others.
            if a.body["rejected"].as_array().is_some_and(|r| !r.is_empty()) {
                return Err(Failure::quiet());
            }
        }
    }
    Ok(())
}

/// Records as a table: the key, then one column per top-level field (when
/// each was stored is left to `--json`: a column of ours beside the data's
/// own would be mistaken for one of them).
fn list(v: &Value) {
    let items = v["items"].as_array().map_or(&[][..], Vec::as_slice);
    let mut columns = BTreeSet::new();
    for r in items {
        if let Some(o) = r["data"].as_object() {
            columns.extend(o.keys().cloned());
        }
    }
    let mut header = vec!["key"];
    header.extend(columns.iter().map(String::as_str));
    let rows = items.iter().map(|r| {
        let mut row = vec![text(&r["key"])];
        for col in &columns {
            row.push(match r["data"].get(col) {
                None => String::new(),
                Some(v) => cut(&text(v), 40),
            });
        }
        row
    });
    output::table(&header, rows.collect());
    if let Some(next) = v["next"].as_str() {
        // Quoted for a shell, so that a key with spaces (or the empty
        // key) can be pasted back.
        eprintln!("more records: --after '{}'", next.replace('\'', "'\\''"));
    }
}

/// The import's counts, then each rejected row.
fn imported(v: &Value) {
    let rejected = v["rejected"].as_array().map_or(&[][..], Vec::as_slice);
    println!(
        "imported {} of {} rows (run {}): {} created, {} updated, {} unchanged; {} rejected",
        text(&v["imported"]),
        text(&v["rows"]),
        text(&v["run"]),
        text(&v["created"]),
        text(&v["updated"]),
        text(&v["unchanged"]),
        rejected.len()
    );
    if !rejected.is_empty() {
        println!();
        let rows = rejected.iter().map(|r| {
            vec![
                text(&r["row"]),
                text(&r["key"]),
                text(&r["field"]),
                text(&r["message"]),
            ]
        });
        output::table(&["row", "key", "field", "message"], rows.collect());
    }
}

fn format_of(file: &Path) -> Option<Format> {
    match file.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "json" => Some(Format::Json),
        _ => None,
    }
}

fn read_input(file: &Path) -> Result<Vec<u8>, Failure> {
    if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(file).map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))
}

/// Records in an export, for the message after writing it to a file.
fn count(format: Format, bytes: &[u8]) -> usize {
    match format {
        Format::Json => serde_json::from_slice::<Vec<Value>>(bytes).map_or(0, |v| v.len()),
        Format::Csv => csv::Reader::from_reader(bytes).records().count(),
    }
}

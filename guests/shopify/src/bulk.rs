//! The `bulk` stream: a GraphQL bulk operation, for exports too large to
//! page through. The first call starts it (`bulkOperationRunQuery`) and
//! answers "pending"; the host calls again after a few seconds, and each
//! call polls the operation (`node(id:)`) until it completes; then its
//! JSONL result is downloaded from the signed URL Shopify gives (Google
//! Cloud Storage, without our token) into a blob of the run, and read a
//! slice per call, one record per line (nested connections come as lines
//! of their own, with `__parentId`).

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::Blob;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::graphql;

/// The export when the config names none: products with their variants.
pub const DEFAULT_QUERY: &str = "{ products { edges { node { id title handle status vendor productType updatedAt variants { edges { node { id sku price inventoryQuantity updatedAt } } } } } } }";

/// Lines read per call.
const LINES_PER_PAGE: usize = 1000;
/// Seconds between polls of a running operation.
const POLL_SECS: u32 = 3;

#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    Running {
        id: String,
    },
    Reading {
        id: String,
        url: String,
        blob: String,
        offset: u64,
    },
}

pub fn fetch(config: &Config, cursor: Option<&str>) -> Result<Page> {
    let step: Option<Step> = cursor
        .map(|c| {
            serde_json::from_str(c)
                .map_err(|e| Error::Fatal(format!("unreadable cursor `{c}`: {e}")))
        })
        .transpose()?;
    match step {
        None => start(config),
        Some(Step::Running { id }) => poll(config, id),
        Some(Step::Reading {
            id,
            url,
            blob,
            offset,
        }) => {
            // A blob lives as long as its run: a run that resumes this
            // cursor downloads the result again.
            let blob = match Blob(blob.clone()).size() {
                Ok(_) => Blob(blob),
                Err(_) => download(&url)?,
            };
            read(id, url, blob, offset)
        }
    }
}

fn start(config: &Config) -> Result<Page> {
    let query = config.bulk_query.as_deref().unwrap_or(DEFAULT_QUERY);
    let data = graphql::call(
        config,
        "mutation run($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } } }",
        json!({"query": query}),
    )?;
    let result = &data["bulkOperationRunQuery"];
    if let Some(e) = result["userErrors"].as_array().and_then(|e| e.first()) {
        let message = e["message"].as_str().unwrap_or("refused").to_string();
        return Err(match e["code"].as_str() {
            // One bulk query at a time (five from 2026-01): wait for it.
            Some("OPERATION_IN_PROGRESS" | "LIMIT_REACHED") => {
                wharf_sdk::log::info(format!("bulk operation not started yet: {message}"));
                Error::RateLimited(30)
            }
            _ => Error::Config(format!("the bulk query was refused: {message}")),
        });
    }
    let id = result["bulkOperation"]["id"]
        .as_str()
        .ok_or_else(|| Error::fatal("bulkOperationRunQuery answered no operation id"))?
        .to_string();
    wharf_sdk::log::info(format!("bulk operation {id} started"));
    pending(Step::Running { id })
}

fn pending(step: Step) -> Result<Page> {
    Ok(Page::pending(
        serde_json::to_string(&step).map_err(Error::fatal)?,
        POLL_SECS,
    ))
}

fn poll(config: &Config, id: String) -> Result<Page> {
    let data = graphql::call(
        config,
        "query poll($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } } }",
        json!({"id": id}),
    )?;
    let op = &data["node"];
    match op["status"].as_str().unwrap_or("") {
        "CREATED" | "RUNNING" | "CANCELING" => pending(Step::Running { id }),
        "COMPLETED" => {
            let Some(url) = op["url"].as_str() else {
                // Nothing matched the query.
                return Ok(Page::last(Vec::new(), None));
            };
            wharf_sdk::log::info(format!(
                "bulk operation {id} completed with {} objects",
                op["objectCount"].as_str().unwrap_or("?")
            ));
            let blob = download(url)?;
            read(id, url.to_string(), blob, 0)
        }
        status => {
            let code = op["errorCode"].as_str().unwrap_or("none");
            let message = format!("bulk operation {id} ended {status} (error code {code})");
            Err(match code {
                "ACCESS_DENIED" => Error::Auth(message),
                "INTERNAL_SERVER_ERROR" | "TIMEOUT" => Error::Transient(message),
                _ => Error::Fatal(message),
            })
        }
    }
}

/// The result file, kept by the host as a blob. The URL is signed: it is
/// fetched as it is, and without the shop's token.
fn download(url: &str) -> Result<Blob> {
    let response = Request::get(url).keep_body().send()?.error_for_status()?;
    response
        .blob
        .map(Blob)
        .ok_or_else(|| Error::fatal("the host kept no blob of the bulk result"))
}

/// Up to [`LINES_PER_PAGE`] lines from `offset`, read a chunk at a time.
fn read(id: String, url: String, blob: Blob, offset: u64) -> Result<Page> {
    let size = blob.size()?;
    let mut records = Vec::new();
    let mut at = offset;
    // Bytes from `at` on, read but not consumed yet.
    let mut buffer: Vec<u8> = Vec::new();
    while records.len() < LINES_PER_PAGE && at < size {
        while !buffer.contains(&b'\n') && at + (buffer.len() as u64) < size {
            let chunk = blob.read(at + buffer.len() as u64, wharf_sdk::blob::CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            buffer.extend_from_slice(&chunk);
        }
        let (end, consumed) = match buffer.iter().position(|b| *b == b'\n') {
            Some(i) => (i, i + 1),
            None => (buffer.len(), buffer.len()),
        };
        if consumed == 0 {
            break;
        }
        let text = buffer[..end].strip_suffix(b"\r").unwrap_or(&buffer[..end]);
        if !text.is_empty() {
            records.push(line(text)?);
        }
        buffer.drain(..consumed);
        at += consumed as u64;
    }
    if at >= size {
        return Ok(Page::last(records, None));
    }
    let next = Step::Reading {
        id,
        url,
        blob: blob.0,
        offset: at,
    };
    Ok(Page::new(
        records,
        Some(serde_json::to_string(&next).map_err(Error::fatal)?),
        true,
    ))
}

fn line(bytes: &[u8]) -> Result<Record> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Fatal(format!("a line of the bulk result is not JSON: {e}")))?;
    Ok(Record::from_value("bulk", value)?.key_from("id"))
}

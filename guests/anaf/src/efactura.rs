//! RO e-Factura (`{api}/{env}/FCTEL/rest/…`, OAuth2 bearer): invoices
//! uploaded as a destination, messages and invoices read as sources.
//!
//! - Upload (`POST /upload?standard=UBL&cif=`) answers an upload index at
//!   once; whether the invoice is accepted is known later (`GET
//!   /stareMesaj?id_incarcare=`: `ok`, `nok`, `in prelucrare`). Each upload
//!   is polled for a few seconds: `nok` rejects the record with the errors
//!   of ANAF's report (downloaded and unzipped), still in processing counts
//!   as accepted (the index is logged; the `messages` stream reports the
//!   outcome).
//! - `messages`: `GET /listaMesajePaginatieFactura` (epoch ms, at most 60
//!   days back, pages of 500); `invoices`: each received or sent invoice's
//!   ZIP (`GET /descarcare?id=`), its XML read into a record and the ZIP
//!   kept as a blob.
//! - ANAF answers almost every error with HTTP 200 (XML `Errors`
//!   `errorMessage`, or JSON `eroare`); "no messages" is an `eroare` too.

use serde::{Deserialize, Serialize};
use wharf_sdk::blob::Blob;
use wharf_sdk::http::{Request, Response};
use wharf_sdk::prelude::*;
use wharf_sdk::zip::Archive;

use crate::{Config, ubl};

const DAY_MS: i64 = 86_400_000;
/// Messages are indexed up to ~15 minutes after they are made.
const INDEX_LAG_MS: i64 = 20 * 60_000;
/// Invoices downloaded per call.
const DOWNLOADS_PER_PAGE: usize = 20;

fn rest(config: &Config, method: &str, op: &str) -> Request {
    Request::new(
        method,
        format!("{}/{}/FCTEL/rest/{op}", config.api(), config.environment),
    )
    .oauth_bearer()
}

/// HTTP errors; ANAF's own refusals come with 200 and are read by callers.
fn http(response: Response) -> Result<Response> {
    match response.status {
        200..=299 => Ok(response),
        401 => Err(Error::AuthExpired(format!(
            "HTTP 401: {}",
            response.text().chars().take(200).collect::<String>()
        ))),
        403 => Err(Error::Auth(format!(
            "HTTP 403: {}",
            response.text().chars().take(200).collect::<String>()
        ))),
        429 => Err(Error::RateLimited(response.retry_after().unwrap_or(60))),
        400 => {
            let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            Err(Error::Fatal(format!(
                "HTTP 400: {}",
                body["message"].as_str().unwrap_or("Bad Request")
            )))
        }
        s if s >= 500 => Err(Error::Transient(format!("HTTP {s}"))),
        s => Err(Error::Fatal(format!(
            "HTTP {s}: {}",
            response.text().chars().take(200).collect::<String>()
        ))),
    }
}

/// An `eroare` answer as the error it means.
fn eroare(message: &str) -> Error {
    let m = message.to_string();
    if m.contains("drept") {
        Error::Auth(m)
    } else if m.contains("S-au facut deja") || m.contains("S-au incarcat deja") {
        // A daily limit: tomorrow.
        Error::RateLimited(3600)
    } else {
        Error::Fatal(m)
    }
}

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let cif = config.cif()?;
    let mut result = PushResult::default();
    let mut accepted = Vec::new();
    for (index, record) in records.iter().enumerate() {
        if record.op == Op::Delete {
            result.reject(
                index,
                None,
                "an invoice sent to ANAF cannot be deleted; send a credit note (standard CN)",
            );
            continue;
        }
        let xml = match (&record.blob, record.get("xml").and_then(Value::as_str)) {
            (Some(b), _) => String::from_utf8(Blob(b.clone()).read_all()?).map_err(Error::fatal)?,
            (None, Some(x)) => x.to_string(),
            (None, None) => {
                result.reject(
                    index,
                    Some("xml"),
                    "the record carries no invoice XML (a blob or `xml`)",
                );
                continue;
            }
        };
        let standard = record
            .get("standard")
            .and_then(Value::as_str)
            .unwrap_or(&config.standard)
            .to_string();
        let upload = rest(config, "POST", "upload")
            .query("standard", &standard)
            .query("cif", &cif)
            .header("Content-Type", "text/plain")
            .body(xml.into_bytes());
        let answer = http(upload.send()?)?.text();
        let doc_index = roxmltree::Document::parse(&answer).ok().and_then(|d| {
            d.root_element()
                .attribute("index_incarcare")
                .map(str::to_string)
        });
        let Some(upload_index) = doc_index else {
            let errors = ubl::error_messages(&answer);
            let message = if errors.is_empty() {
                answer.chars().take(200).collect()
            } else {
                errors.join("; ")
            };
            if message.contains("drept") {
                return Err(Error::Auth(message));
            }
            result.reject(index, None, message);
            continue;
        };
        match status(config, &upload_index)? {
            Status::Accepted => result.created += 1,
            Status::Pending => {
                wharf_sdk::log::info(format!(
                    "invoice {} uploaded as {upload_index}; ANAF is still processing it",
                    record.key.as_deref().unwrap_or("?")
                ));
                accepted.push(upload_index);
                result.created += 1;
            }
            Status::Refused(message) => result.reject(
                index,
                None,
                format!("ANAF refused upload {upload_index}: {message}"),
            ),
        }
    }
    if !accepted.is_empty() {
        result.accepted_job = Some(accepted.join(","));
    }
    Ok(result)
}

enum Status {
    Accepted,
    Pending,
    Refused(String),
}

/// Poll an upload for up to the configured seconds.
fn status(config: &Config, upload_index: &str) -> Result<Status> {
    let polls = config.poll_secs.div_ceil(2).max(1);
    for n in 0..polls {
        if n > 0 {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        let answer = http(
            rest(config, "GET", "stareMesaj")
                .query("id_incarcare", upload_index)
                .send()?,
        )?
        .text();
        let doc = roxmltree::Document::parse(&answer)
            .map_err(|e| Error::Fatal(format!("stareMesaj is not XML: {e}")))?;
        let root = doc.root_element();
        match root.attribute("stare") {
            Some("ok") => return Ok(Status::Accepted),
            Some("nok") => {
                let report = match root.attribute("id_descarcare") {
                    Some(id) => report(config, id)
                        .unwrap_or_else(|e| format!("(the error report could not be read: {e})")),
                    None => String::new(),
                };
                return Ok(Status::Refused(report));
            }
            Some("in prelucrare") => continue,
            Some(other) => return Ok(Status::Refused(other.to_string())),
            None => {
                let errors = ubl::error_messages(&answer);
                return Err(eroare(&errors.join("; ")));
            }
        }
    }
    Ok(Status::Pending)
}

/// The messages of ANAF's error report for a refused upload.
fn report(config: &Config, id: &str) -> Result<String> {
    let zip = download(config, id)?;
    let bytes = zip.read_all()?;
    let archive = Archive::new(&bytes)?;
    let mut messages = Vec::new();
    for name in archive.names() {
        if name.starts_with("semnatura") {
            continue;
        }
        let xml = String::from_utf8_lossy(&archive.read(name)?).into_owned();
        messages.extend(ubl::error_messages(&xml));
    }
    Ok(messages.join("; "))
}

/// A message's ZIP, kept as a blob.
fn download(config: &Config, id: &str) -> Result<Blob> {
    let response = http(
        rest(config, "GET", "descarcare")
            .query("id", id)
            .keep_body()
            .send()?,
    )?;
    let blob = response
        .blob
        .map(Blob)
        .ok_or_else(|| Error::fatal("no blob kept"))?;
    let head = blob.read(0, 4)?;
    if head != b"PK\x03\x04" {
        let text = String::from_utf8_lossy(&blob.read_all()?).into_owned();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        return Err(eroare(body["eroare"].as_str().unwrap_or(&text)));
    }
    Ok(blob)
}

/// Where a listing stands.
#[derive(Default, Serialize, Deserialize)]
pub struct Listing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<Run>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Run {
    from: i64,
    until: i64,
    page: u64,
    /// Messages of the page already read (the invoices stream downloads
    /// a few per call).
    #[serde(default)]
    offset: usize,
}

/// One page of `messages` (`download`: false) or `invoices` (true).
pub fn fetch(
    config: &Config,
    stream: &str,
    cursor: Option<&str>,
    download_invoices: bool,
) -> Result<Page> {
    let cif = config.cif()?;
    let mut state: Listing = cursor
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::fatal)?
        .unwrap_or_default();
    let now = wharf_sdk::time::now_ms() - 60_000;
    let oldest = now - 60 * DAY_MS + 60_000;
    let run = state.run.clone().unwrap_or(Run {
        from: state
            .since
            .map_or(now - config.first_days.clamp(1, 60) * DAY_MS, |s| {
                s - INDEX_LAG_MS
            })
            .max(oldest),
        until: now,
        page: 1,
        offset: 0,
    });
    let mut request = rest(config, "GET", "listaMesajePaginatieFactura")
        .query("startTime", run.from)
        .query("endTime", run.until)
        .query("cif", &cif)
        .query("pagina", run.page);
    let filter = if download_invoices {
        Some(config.invoice_filter.as_str())
    } else {
        config.filter.as_deref()
    };
    if let Some(f) = filter {
        request = request.query("filtru", f);
    }
    let body: Value = http(request.send()?)?.json()?;
    if let Some(e) = body["eroare"].as_str() {
        if e.starts_with("Nu exista mesaje") {
            state.since = Some(run.until);
            state.run = None;
            return Ok(Page::new(
                Vec::new(),
                Some(serde_json::to_string(&state).map_err(Error::fatal)?),
                false,
            ));
        }
        return Err(eroare(e));
    }
    let messages: Vec<Value> = body["mesaje"].as_array().cloned().unwrap_or_default();
    let pages = body["numar_total_pagini"].as_u64().unwrap_or(1);
    let mut records = Vec::new();
    let mut next = run.clone();
    if download_invoices {
        let slice: Vec<&Value> = messages
            .iter()
            .skip(run.offset)
            .take(DOWNLOADS_PER_PAGE)
            .collect();
        for m in &slice {
            records.push(invoice(config, m)?);
        }
        next.offset = run.offset + slice.len();
        if next.offset >= messages.len() {
            next.offset = 0;
            next.page += 1;
        }
    } else {
        for m in messages {
            let mut data = m.clone();
            data["created_at"] = json!(created_at(m["data_creare"].as_str().unwrap_or_default()));
            let key = wharf_sdk::scalar_text(&m["id"]);
            let r = Record::from_value(stream, data)?;
            records.push(match key {
                Some(k) => r.with_key(k),
                None => r,
            });
        }
        next.page += 1;
    }
    let more = next.page <= pages;
    if more {
        state.run = Some(next);
    } else {
        state.since = Some(run.until);
        state.run = None;
    }
    Ok(Page::new(
        records,
        Some(serde_json::to_string(&state).map_err(Error::fatal)?),
        more,
    ))
}

/// `YYYYMMDDHHmm` (Romania's time) as `YYYY-MM-DDTHH:mm` (no offset: ANAF
/// gives none).
fn created_at(text: &str) -> String {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{}T{}:{}",
            &text[0..4],
            &text[4..6],
            &text[6..8],
            &text[8..10],
            &text[10..12]
        )
    } else {
        text.to_string()
    }
}

/// A message's invoice: the XML of its ZIP read into a record, the ZIP
/// attached as a blob.
fn invoice(config: &Config, message: &Value) -> Result<Record> {
    let id = wharf_sdk::scalar_text(&message["id"])
        .ok_or_else(|| Error::fatal("a message without an id"))?;
    let zip = download(config, &id)?;
    let bytes = zip.read_all()?;
    let archive = Archive::new(&bytes)?;
    let name = archive
        .names()
        .into_iter()
        .find(|n| !n.starts_with("semnatura") && n.ends_with(".xml"))
        .ok_or_else(|| Error::Fatal(format!("the ZIP of message {id} holds no invoice XML")))?
        .to_string();
    let xml = String::from_utf8_lossy(&archive.read(&name)?).into_owned();
    let mut data = ubl::summary(&xml)?;
    data["message_id"] = json!(id);
    data["upload_index"] = message["id_solicitare"].clone();
    data["message_type"] = message["tip"].clone();
    data["created_at"] = json!(created_at(
        message["data_creare"].as_str().unwrap_or_default()
    ));
    data["signed"] = json!(archive.names().iter().any(|n| n.starts_with("semnatura")));
    Ok(Record::from_value("invoices", data)?
        .with_key(id)
        .with_blob(&zip))
}

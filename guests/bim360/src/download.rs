//! Model files as blobs: a version whose file type is one of the config's
//! `file_types` and whose size is under `max_file_mb` is downloaded the way
//! APS documents it. `GET oss/v2/buckets/{bucketKey}/objects/{objectKey}/signeds3download`
//! (the bucket and key from the version's storage URN,
//! `urn:adsk.objects:os.object:wip.dm.prod/<key>`) answers a signed URL
//! on Autodesk's CDN (`useCdn=true`: `cdn.<region>.oss.api.autodesk.com`,
//! which the spec declares), good for two minutes; the file is fetched
//! from it at once, without the OAuth token (the URL carries its own
//! signature), into a blob of the run, and the version's record carries
//! it. `public-resource-fallback=true` asks for one OSS-signed URL on the
//! API host while a chunked upload is still being assembled.
//!
//! The signed URL is a bearer credential for two minutes: it is never
//! logged, never put in a record, and an error about the download names
//! the bucket and key, not the URL.
//!
//! When the run's blob space (the host's `blob_bytes`) is spent, the
//! version's record is not written: its download stays in the cursor and
//! the run stops there, so the next run, with space of its own, downloads
//! it. Only a file too large for any run is written without its content.

use wharf_sdk::blob::Blob;
use wharf_sdk::http::Request;
use wharf_sdk::prelude::*;

use crate::Config;
use crate::api::{self, seg};
use crate::walk::Walk;

/// The bucket and object key of an OSS storage URN.
pub fn object_of(urn: &str) -> Option<(&str, &str)> {
    let rest = urn.strip_prefix("urn:adsk.objects:os.object:")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// A version's record, keyed by its id.
pub fn record(data: Map<String, Value>) -> Record {
    let key = data.get("id").and_then(Value::as_str).map(str::to_string);
    let mut record = Record::upsert("versions", data);
    record.key = key;
    record
}

/// Whether to download this version's file; when it is a model file that
/// is not downloaded, the record says why (`content_skipped`).
pub fn wanted(config: &Config, data: &mut Map<String, Value>) -> bool {
    data.insert("content_downloaded".into(), Value::Bool(false));
    let file_type = data
        .get("file_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !config.downloads(file_type) {
        return false;
    }
    let skip = |data: &mut Map<String, Value>, why: String| {
        data.insert("content_skipped".into(), Value::String(why));
        false
    };
    let urn = data
        .get("storage_urn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if object_of(urn).is_none() {
        return skip(
            data,
            "the version has no file in APS's object storage".into(),
        );
    }
    match data.get("storageSize").and_then(Value::as_u64) {
        Some(size) if size > config.max_file_bytes() => skip(
            data,
            format!(
                "{size} bytes, more than max_file_mb ({} MB)",
                config.max_file_mb
            ),
        ),
        _ => true,
    }
}

/// What became of a version's file.
enum Fetched {
    /// In a blob of the run, this many bytes.
    File(Blob, u64),
    /// It cannot be had, for this reason (the record says so).
    Skipped(String),
    /// The run's blob space is spent: the download waits for the next run.
    NoRoom(String),
}

/// Download the version's file and emit its record with the file as its
/// blob (or, when the file cannot be had, with `content_skipped`). When the
/// run's blob space is spent, no record: [`Walk::no_room`] is set and the
/// task stays in the cursor.
pub fn version(w: &mut Walk, mut data: Map<String, Value>) -> Result<()> {
    let urn = data
        .get("storage_urn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let fetched = match object_of(&urn) {
        Some((bucket, key)) => fetch(w, bucket, key)?,
        None => Fetched::Skipped("the version has no file in APS's object storage".into()),
    };
    let path = data
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("a version")
        .to_string();
    let r = match fetched {
        Fetched::File(blob, bytes) => {
            data.insert("content_downloaded".into(), Value::Bool(true));
            data.insert("content_bytes".into(), json!(bytes));
            record(data).with_blob(&blob)
        }
        Fetched::NoRoom(why) => {
            wharf_sdk::log::warn(format!(
                "the run's space for files is spent ({why}): {path} and what follows wait for the next run"
            ));
            w.no_room = true;
            return Ok(());
        }
        Fetched::Skipped(why) => {
            wharf_sdk::log::warn(format!("{path} was not downloaded: {why}"));
            data.insert("content_skipped".into(), Value::String(why));
            record(data)
        }
    };
    w.records.push(r);
    Ok(())
}

/// The object's bytes in a blob, or why they cannot be had (an error that
/// should stop the walk is an `Err`).
fn fetch(w: &mut Walk, bucket: &str, key: &str) -> Result<Fetched> {
    let what = format!("object {bucket}/{key}");
    // A signed URL must be used within two minutes; one that expired
    // before the download began (a slow queue) is asked for again, once.
    for attempt in 0..2 {
        let request = api::json(
            w.config,
            &format!(
                "/oss/v2/buckets/{}/objects/{}/signeds3download",
                seg(bucket),
                seg(key)
            ),
        )
        .query("useCdn", "true")
        .query("public-resource-fallback", "true");
        w.calls += 1;
        let Some(answer) = api::send_or_skip(request, &what)? else {
            return Ok(Fetched::Skipped(
                "APS's object storage refused or no longer has the file".into(),
            ));
        };
        let signed: Value = answer.json()?;
        let url = match signed["status"].as_str() {
            Some("complete" | "fallback") => signed["url"].as_str().unwrap_or_default(),
            Some("chunked") => {
                return Err(Error::Transient(format!(
                    "{what} is still being assembled from its uploaded chunks"
                )));
            }
            other => {
                return Ok(Fetched::Skipped(format!(
                    "APS's object storage answered status {}",
                    other.unwrap_or("(none)")
                )));
            }
        };
        if url.is_empty() {
            return Ok(Fetched::Skipped(
                "APS's object storage answered no signed URL".into(),
            ));
        }
        let expected = signed["size"].as_u64();
        if expected.is_some_and(|size| size > w.config.max_file_bytes()) {
            return Ok(Fetched::Skipped(format!(
                "{} bytes, more than max_file_mb ({} MB)",
                expected.unwrap_or_default(),
                w.config.max_file_mb
            )));
        }
        w.calls += 1;
        // No Authorization header: S3 and CloudFront refuse a request that
        // carries two kinds of authentication, and the token is not theirs.
        let response = match Request::get(url).keep_body().send() {
            Ok(r) => r,
            Err(e) => return refused(e, &what, expected),
        };
        let blob = response.blob.clone().map(Blob);
        match response.status {
            200 => {
                let blob = blob.ok_or_else(|| Error::fatal("the host kept no download"))?;
                let bytes = blob.size()?;
                if expected.is_some_and(|size| size != bytes) {
                    return Err(Error::Transient(format!(
                        "{what}: {bytes} bytes arrived of {}",
                        expected.unwrap_or_default()
                    )));
                }
                w.downloads += 1;
                w.downloaded += bytes;
                return Ok(Fetched::File(blob, bytes));
            }
            403 if attempt == 0 => {
                wharf_sdk::log::info(format!(
                    "the signed URL of {what} was refused ({}); asking for a new one",
                    storage_code(blob.as_ref())
                ));
            }
            408 | 429 | 500..=599 => {
                return Err(Error::Transient(format!(
                    "downloading {what}: HTTP {} ({})",
                    response.status,
                    storage_code(blob.as_ref())
                )));
            }
            status => {
                return Ok(Fetched::Skipped(format!(
                    "the download was refused: HTTP {status} ({})",
                    storage_code(blob.as_ref())
                )));
            }
        }
    }
    Ok(Fetched::Skipped("the signed URL was refused twice".into()))
}

/// A download the host refused or could not hold: a file larger than the
/// host takes is skipped (and said so); the run's space for files spent
/// waits for the next run, unless the file (`size` bytes) is larger than
/// a whole run's space; a host that is not granted is the administrator's
/// to fix, named by origin only.
fn refused(e: Error, what: &str, size: Option<u64>) -> Result<Fetched> {
    match e {
        Error::Fatal(m) if m.contains("larger than the host allows") => Ok(Fetched::Skipped(m)),
        Error::Config(m) if m.contains("blob") => match (size, quota_limit(&m)) {
            (Some(size), Some(limit)) if size > limit => Ok(Fetched::Skipped(format!(
                "{size} bytes, more than a run may keep ({limit} bytes, the host's blob_bytes); lower max_file_mb or raise the host's blob limit"
            ))),
            _ => Ok(Fetched::NoRoom(m)),
        },
        Error::Config(m) => Err(Error::Config(format!(
            "downloading {what}: {m}; grant the signed URL's host to the connection"
        ))),
        other => Err(other),
    }
}

/// The run's blob space a quota refusal names ("… the limit is N
/// (blob_bytes)"), if it names one.
fn quota_limit(message: &str) -> Option<u64> {
    let (_, rest) = message.split_once("the limit is ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The `<Code>` of an S3 or CloudFront error body (`AccessDenied`,
/// `SignatureDoesNotMatch`), never the rest: S3 echoes the string it
/// signed, which holds the request's credentials.
fn storage_code(blob: Option<&Blob>) -> String {
    let text = blob
        .and_then(|b| b.read(0, 4096).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim())
        .filter(|code| code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("no error code")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urns() {
        assert_eq!(
            object_of("urn:adsk.objects:os.object:wip.dm.prod/977d69b1-43e7.rvt"),
            Some(("wip.dm.prod", "977d69b1-43e7.rvt"))
        );
        assert_eq!(
            object_of("urn:adsk.objects:os.object:wip.dm.emea.2/a/b.ifc"),
            Some(("wip.dm.emea.2", "a/b.ifc"))
        );
        assert_eq!(object_of("urn:adsk.objects:os.object:nokey"), None);
        assert_eq!(object_of("urn:adsk.wipprod:fs.file:vf.x"), None);
    }

    #[test]
    fn a_spent_blob_space_waits_unless_no_run_could_hold_the_file() {
        let m = "request refused by the host: the run's blobs would hold 300 bytes; the limit is 256 (blob_bytes)";
        assert_eq!(quota_limit(m), Some(256));
        assert_eq!(quota_limit("at most 10000 blobs per run"), None);
        let e = || Error::Config(m.into());
        assert!(matches!(
            refused(e(), "x", Some(100)),
            Ok(Fetched::NoRoom(_))
        ));
        assert!(matches!(refused(e(), "x", None), Ok(Fetched::NoRoom(_))));
        assert!(matches!(
            refused(e(), "x", Some(1000)),
            Ok(Fetched::Skipped(_))
        ));
        let large = Error::Fatal("response larger than the host allows".into());
        assert!(matches!(refused(large, "x", None), Ok(Fetched::Skipped(_))));
        let denied = Error::Config("host 10.0.0.1 is not granted".into());
        assert!(matches!(refused(denied, "x", None), Err(Error::Config(_))));
    }
}

//! `wharf:pages`: a page of JSON sliced into records by the host, for
//! connectors whose language would otherwise parse every page and hand
//! each record back through its bindings one by one (Python, JavaScript;
//! docs/performance.md measures why that is most of their time).
//!
//! A `fetch` that calls `stage` (or `stage-blob`, for a body the host kept)
//! gets the records added, ahead of its own, to the page it returns; the
//! session takes them out of the store when the call ends and checks them
//! with the page's own records (objects, nesting, reserved streams, the
//! record and output limits). Staging grants nothing: it reads text the
//! guest already holds, or a blob of its run.
//!
//! The host's own work is bounded before it is done, because none of it
//! counts against the guest's memory: a page larger than the call's output
//! limit, a stream name, key or pointer longer than [`MAX_NAME_BYTES`] are
//! refused unread; the scan stops at the first record past the call's
//! record limit; what the records would cost against the output limit is
//! summed before any is built. A large page is read on a blocking thread,
//! so a slow one holds no async worker.

use std::sync::Arc;

use super::bindings::pages::wharf::pages::pages;
use super::bindings::wharf::connector::blobs::BlobError;
use super::bindings::wharf::connector::types as wit;
use super::blobs::BlobStore;
use super::convert::RECORD_OVERHEAD;

/// The longest stream name, key member name or pointer `stage` takes.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// Pages up to this size are read on the async worker; larger ones on a
/// blocking thread.
const INLINE_BYTES: usize = 256 << 10;

const NOT_IN_FETCH: &str = "records can be staged only while `fetch` runs";

/// The records a `fetch` staged so far, and whether one is running.
pub(crate) struct PagesState {
    /// Staging is open: the current call is `fetch`.
    open: bool,
    staged: Vec<wit::Record>,
    /// What `staged` costs against the output limit.
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
    /// The session's blobs, for `stage-blob`.
    blobs: Arc<BlobStore>,
}

impl PagesState {
    /// Staging within a call's limits on records and output bytes, reading
    /// blobs from `blobs`.
    pub(crate) fn new(max_records: usize, max_bytes: usize, blobs: Arc<BlobStore>) -> Self {
        Self {
            open: false,
            staged: Vec::new(),
            bytes: 0,
            max_records,
            max_bytes,
            blobs,
        }
    }

    /// A `fetch` begins: stage from nothing.
    pub(crate) fn open(&mut self) {
        self.open = true;
        self.staged.clear();
        self.bytes = 0;
    }

    /// The call ended: what it staged, in order; staging is closed until
    /// the next `fetch`.
    pub(crate) fn close(&mut self) -> Vec<wit::Record> {
        self.open = false;
        self.bytes = 0;
        std::mem::take(&mut self.staged)
    }

    /// Stage the records of the page `body`; nothing if it fails.
    async fn stage_page(
        &mut self,
        stream: String,
        body: Arc<Vec<u8>>,
        pointer: String,
        key: Option<String>,
    ) -> Result<u32, String> {
        if !self.open {
            return Err(NOT_IN_FETCH.into());
        }
        for (what, text) in [
            ("stream name", Some(&stream)),
            ("pointer", Some(&pointer)),
            ("key", key.as_ref()),
        ] {
            if text.is_some_and(|t| t.len() > MAX_NAME_BYTES) {
                return Err(format!("the {what} is longer than {MAX_NAME_BYTES} bytes"));
            }
        }
        if body.len() > self.max_bytes {
            return Err(format!(
                "the page is {} bytes, more than the {} a call may return",
                body.len(),
                self.max_bytes
            ));
        }
        let room = self.max_records - self.staged.len().min(self.max_records);
        if room == 0 {
            return Err(format!(
                "{} records are staged already, the most a call may return",
                self.staged.len()
            ));
        }
        let per_record = RECORD_OVERHEAD + stream.len();
        let budget = self.max_bytes.saturating_sub(self.bytes);
        let inline = body.len() <= INLINE_BYTES;
        let read = move || slice(&body, &pointer, key.as_deref(), room, per_record, budget);
        let (records, bytes) = if inline {
            read()
        } else {
            tokio::task::spawn_blocking(read)
                .await
                .map_err(|e| format!("reading the page failed: {e}"))?
        }
        .map_err(|e| match e {
            SliceError::Page(why) => format!("page of `{stream}`: {why}"),
            SliceError::Output(bytes) => format!(
                "staging these records would make {} bytes of output, more than the {} a call may return",
                self.bytes + bytes,
                self.max_bytes
            ),
        })?;
        let added = records.len();
        self.bytes += bytes;
        self.staged
            .extend(records.into_iter().map(|(data, key)| wit::Record {
                stream: stream.clone(),
                key,
                op: wit::Op::Upsert,
                data,
                blob: None,
            }));
        // `added` is at most the record limit, a `usize` setting far below
        // `u32::MAX` in practice; saturate rather than wrap if not.
        Ok(u32::try_from(added).unwrap_or(u32::MAX))
    }
}

/// A record's text and key, sliced out of a page.
type Sliced = (String, Option<String>);

/// Why a page could not be sliced.
enum SliceError {
    /// The page itself: not JSON, no records, too many, ...
    Page(String),
    /// Its records would cost this many bytes, more than the budget.
    Output(usize),
}

/// The records at `pointer` in `body`, owned, with what they will cost
/// against the output limit (each also costs `per_record`): at most `room`
/// records costing at most `budget`, else an error before any is copied.
/// (A page with more records than `room` is refused by the scan, which
/// stops there.)
fn slice(
    body: &[u8],
    pointer: &str,
    key: Option<&str>,
    room: usize,
    per_record: usize,
    budget: usize,
) -> Result<(Vec<Sliced>, usize), SliceError> {
    let text =
        std::str::from_utf8(body).map_err(|e| SliceError::Page(format!("not UTF-8 text: {e}")))?;
    let items = wharf_sdk::raw::keyed_records(text, pointer, key, room).map_err(|e| {
        SliceError::Page(match e {
            wharf_sdk::Error::Config(m) | wharf_sdk::Error::Fatal(m) => m,
            other => other.to_string(),
        })
    })?;
    let bytes = items
        .iter()
        .map(|(data, key)| per_record + data.len() + key.as_ref().map_or(0, String::len))
        .sum();
    if bytes > budget {
        return Err(SliceError::Output(bytes));
    }
    let records = items
        .into_iter()
        .map(|(data, key)| (data.to_string(), key))
        .collect();
    Ok((records, bytes))
}

impl pages::Host for PagesState {
    async fn stage(
        &mut self,
        stream: String,
        body: Vec<u8>,
        pointer: String,
        key: Option<String>,
    ) -> Result<u32, String> {
        self.stage_page(stream, Arc::new(body), pointer, key).await
    }

    async fn stage_blob(
        &mut self,
        stream: String,
        blob: String,
        pointer: String,
        key: Option<String>,
    ) -> Result<u32, String> {
        if !self.open {
            return Err(NOT_IN_FETCH.into());
        }
        let body = self.blobs.bytes(&blob).map_err(|e| match e {
            BlobError::Unknown => format!("no blob `{blob}` in this run"),
            BlobError::Quota(m) | BlobError::Invalid(m) => m,
        })?;
        let added = self.stage_page(stream, body, pointer, key).await?;
        // Staged, a page kept for it is done with: a long run's pages must
        // not fill the run's blobs.
        self.blobs.release_kept_body(&blob);
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::pages::Host as _;
    use super::*;

    fn state(max_records: usize, max_bytes: usize) -> PagesState {
        PagesState::new(
            max_records,
            max_bytes,
            Arc::new(BlobStore::new(1 << 20, Vec::new())),
        )
    }

    async fn stage(p: &mut PagesState, body: &str, pointer: &str) -> Result<u32, String> {
        p.stage(
            "items".into(),
            body.as_bytes().to_vec(),
            pointer.into(),
            Some("id".into()),
        )
        .await
    }

    #[tokio::test]
    async fn stages_only_during_fetch_and_hands_over_in_order() {
        let mut p = state(10, 1 << 20);
        let page = r#"{"data": [{"id": 1, "a": "x"}, {"id": "b"}, {"n": null}]}"#;
        let e = stage(&mut p, page, "/data").await.unwrap_err();
        assert!(e.contains("only while `fetch`"), "{e}");
        p.open();
        assert_eq!(stage(&mut p, page, "/data").await, Ok(3));
        assert_eq!(stage(&mut p, r#"[{"id": true}]"#, "").await, Ok(1));
        let staged = p.close();
        let keys: Vec<_> = staged.iter().map(|r| r.key.clone()).collect();
        assert_eq!(
            keys,
            [
                Some("1".into()),
                Some("b".into()),
                None,
                Some("true".into())
            ]
        );
        assert_eq!(staged[0].data, r#"{"id": 1, "a": "x"}"#);
        assert!(stage(&mut p, page, "/data").await.is_err(), "closed again");
        p.open();
        assert!(p.close().is_empty(), "a new fetch starts from nothing");
    }

    #[tokio::test]
    async fn a_bad_page_stages_nothing() {
        let mut p = state(10, 1 << 20);
        p.open();
        for (body, pointer, why) in [
            ("{\"data\": [{\"id\": 1}", "/data", "not JSON"),
            (
                "{\"data\": [{\"id\": 1}, 2]}",
                "/data",
                "must be a JSON object",
            ),
            ("{\"data\": 3}", "/data", "no records"),
            ("{\"data\": [{\"n\": 1e999}]}", "/data", "number"),
        ] {
            let e = stage(&mut p, body, pointer).await.unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        let e = p
            .stage("items".into(), vec![b'[', 0xff, b']'], String::new(), None)
            .await
            .unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
        assert!(p.close().is_empty());
    }

    #[tokio::test]
    async fn the_call_limits_bound_what_is_held_before_it_is_built() {
        let mut p = state(3, 1 << 20);
        p.open();
        assert_eq!(stage(&mut p, "[{}, {}]", "").await, Ok(2));
        let e = stage(&mut p, "[{}, {}]", "").await.unwrap_err();
        assert!(e.contains("more than 1 records"), "{e}");
        assert_eq!(p.close().len(), 2, "the refused call added nothing");

        let mut p = state(100, 200);
        p.open();
        assert_eq!(stage(&mut p, r#"[{"a": "x"}]"#, "").await, Ok(1));
        let e = stage(&mut p, r#"[{"a": "xx"}, {"a": "yy"}]"#, "")
            .await
            .unwrap_err();
        assert!(e.contains("bytes of output"), "{e}");
        let big = format!(r#"[{{"a": "{}"}}]"#, "x".repeat(200));
        let e = stage(&mut p, &big, "").await.unwrap_err();
        assert!(e.contains("more than the 200 a call may return"), "{e}");
        assert_eq!(p.close().len(), 1);

        // A long stream name would be copied into every record.
        let mut p = state(100_000, 16 << 20);
        p.open();
        let e = p
            .stage("s".repeat(2000), b"[{}]".to_vec(), String::new(), None)
            .await
            .unwrap_err();
        assert!(e.contains("stream name is longer"), "{e}");
        let e = p
            .stage("s".into(), b"[{}]".to_vec(), "/a".repeat(600), None)
            .await
            .unwrap_err();
        assert!(e.contains("pointer is longer"), "{e}");
    }

    #[tokio::test]
    async fn a_kept_body_is_staged_from_its_blob_and_released() {
        let blobs = Arc::new(BlobStore::new(1 << 20, Vec::new()));
        let mut p = PagesState::new(10, 1 << 20, blobs.clone());
        let id = blobs.keep(br#"{"data": [{"id": 7}]}"#.to_vec()).unwrap();
        let used = blobs.used();
        assert!(used > 0);
        p.open();
        let staged = p
            .stage_blob("s".into(), id.clone(), "/data".into(), Some("id".into()))
            .await;
        assert_eq!(staged, Ok(1));
        assert_eq!(blobs.used(), 0, "released");
        let e = p
            .stage_blob("s".into(), id, "/data".into(), None)
            .await
            .unwrap_err();
        assert!(e.contains("no blob"), "{e}");
        assert_eq!(p.close()[0].key.as_deref(), Some("7"));
    }
}

//! `wharf:pages`: a page of JSON sliced into records by the host, for
//! connectors whose language would otherwise parse every page and hand
//! each record back through its bindings one by one (Python, JavaScript;
//! docs/performance.md measures why that is most of their time).
//!
//! A `fetch` that calls `stage` gets the records added, ahead of its own,
//! to the page it returns; the session takes them out of the store when the
//! call ends and checks them with the page's own records (objects, nesting,
//! reserved streams, the record and output limits). Staging grants nothing:
//! it reads text the guest already holds. What it holds in the host is
//! bounded by the same per-call limits, checked as each call stages.

use super::bindings::pages::wharf::pages::pages;
use super::bindings::wharf::connector::types as wit;
use super::convert::wit_records_size;

/// The records a `fetch` staged so far, and whether one is running.
#[derive(Debug, Default)]
pub(crate) struct PagesState {
    /// Staging is open: the current call is `fetch`.
    open: bool,
    staged: Vec<wit::Record>,
    /// What `staged` costs against the output limit.
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
}

impl PagesState {
    /// Staging within a call's limits on records and output bytes.
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            max_records,
            max_bytes,
            ..Self::default()
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
}

impl pages::Host for PagesState {
    fn stage(
        &mut self,
        stream: String,
        body: Vec<u8>,
        pointer: String,
        key: Option<String>,
    ) -> Result<u32, String> {
        if !self.open {
            return Err("records can be staged only while `fetch` runs".into());
        }
        let text =
            std::str::from_utf8(&body).map_err(|e| format!("the page is not UTF-8 text: {e}"))?;
        let items = wharf_sdk::raw::keyed_records(text, &pointer, key.as_deref())
            .map_err(|e| format!("page of `{stream}`: {}", message(e)))?;
        let added = items.len();
        let count = self.staged.len() + added;
        if count > self.max_records {
            return Err(format!(
                "staging {added} records would make {count}, more than the {} a call may return",
                self.max_records
            ));
        }
        let records: Vec<wit::Record> = items
            .into_iter()
            .map(|(data, key)| wit::Record {
                stream: stream.clone(),
                key,
                op: wit::Op::Upsert,
                data: data.to_string(),
                blob: None,
            })
            .collect();
        let bytes = self.bytes + wit_records_size(&records);
        if bytes > self.max_bytes {
            return Err(format!(
                "staging these records would make {bytes} bytes of output, more than the {} a call may return",
                self.max_bytes
            ));
        }
        self.bytes = bytes;
        self.staged.extend(records);
        // `added` is at most the record limit, a `usize` setting far below
        // `u32::MAX` in practice; saturate rather than wrap if not.
        Ok(u32::try_from(added).unwrap_or(u32::MAX))
    }
}

/// An SDK error's words, without its kind (the guest decides what kind of
/// failure a bad page is).
fn message(e: wharf_sdk::Error) -> String {
    match e {
        wharf_sdk::Error::Config(m) | wharf_sdk::Error::Fatal(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::pages::Host as _;
    use super::*;

    fn stage(p: &mut PagesState, body: &str, pointer: &str) -> Result<u32, String> {
        p.stage(
            "items".into(),
            body.as_bytes().to_vec(),
            pointer.into(),
            Some("id".into()),
        )
    }

    #[test]
    fn stages_only_during_fetch_and_hands_over_in_order() {
        let mut p = PagesState::new(10, 1 << 20);
        let page = r#"{"data": [{"id": 1, "a": "x"}, {"id": "b"}, {"n": null}]}"#;
        assert!(
            stage(&mut p, page, "/data")
                .unwrap_err()
                .contains("only while `fetch`")
        );
        p.open();
        assert_eq!(stage(&mut p, page, "/data"), Ok(3));
        assert_eq!(stage(&mut p, r#"[{"id": true}]"#, ""), Ok(1));
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
        assert!(stage(&mut p, page, "/data").is_err(), "closed again");
        p.open();
        assert!(p.close().is_empty(), "a new fetch starts from nothing");
    }

    #[test]
    fn a_bad_page_stages_nothing() {
        let mut p = PagesState::new(10, 1 << 20);
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
            let e = stage(&mut p, body, pointer).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        let e = p
            .stage("items".into(), vec![b'[', 0xff, b']'], String::new(), None)
            .unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
        assert!(p.close().is_empty());
    }

    #[test]
    fn the_call_limits_bound_what_is_held() {
        let mut p = PagesState::new(3, 1 << 20);
        p.open();
        assert_eq!(stage(&mut p, "[{}, {}]", ""), Ok(2));
        let e = stage(&mut p, "[{}, {}]", "").unwrap_err();
        assert!(e.contains("more than the 3"), "{e}");
        assert_eq!(p.close().len(), 2, "the refused call added nothing");

        let mut p = PagesState::new(100, 200);
        p.open();
        assert_eq!(stage(&mut p, r#"[{"a": "x"}]"#, ""), Ok(1));
        let big = format!(r#"[{{"a": "{}"}}]"#, "x".repeat(200));
        let e = stage(&mut p, &big, "").unwrap_err();
        assert!(e.contains("bytes of output"), "{e}");
        assert_eq!(p.close().len(), 1);
    }
}

//! A REST stream: a first request, authentication, pagination, where the
//! records are, their key, an incremental field, and the API's errors,
//! put together into one `fetch`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Auth, ErrorMap, Incremental, Paginator, Position, Window, records_at};
use crate::http::{Request, Response};
use crate::raw::RawRecord;
use crate::{Error, Page, Record, Result};

/// Where a stream stands between calls: the next page of this run, and
/// the incremental window. Serialised into the fetch cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// The next page of this run, if one follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Position>,
    /// The incremental window.
    #[serde(flatten)]
    pub window: Window,
}

impl StreamState {
    /// The state a cursor holds (`None`: a first call).
    pub fn from_cursor(cursor: Option<&str>) -> Result<Self> {
        match cursor {
            Some(c) => serde_json::from_str(c)
                .map_err(|e| Error::Fatal(format!("unreadable cursor `{c}`: {e}"))),
            None => Ok(Self::default()),
        }
    }
}

/// A stream of a REST API.
#[derive(Clone, Debug)]
pub struct RestStream {
    name: String,
    request: Request,
    auth: Auth,
    paginator: Paginator,
    records: String,
    key: Option<String>,
    incremental: Option<Incremental>,
    errors: ErrorMap,
}

impl RestStream {
    /// Stream `name`, read with `request` (method, URL, fixed query and
    /// headers); one page, the body an array of records, no key, until
    /// told otherwise.
    pub fn new(name: impl Into<String>, request: Request) -> Self {
        Self {
            name: name.into(),
            request,
            auth: Auth::None,
            paginator: Paginator::None,
            records: String::new(),
            key: None,
            incremental: None,
            errors: ErrorMap::new(),
        }
    }

    /// How requests are authenticated (a 401 with [`Auth::OAuth2`] or
    /// [`Auth::Session`] asks the host to renew).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.errors = self.errors.renewable(auth.renewable());
        self.auth = auth;
        self
    }

    /// How pages follow one another.
    pub fn paginator(mut self, paginator: Paginator) -> Self {
        self.paginator = paginator;
        self
    }

    /// Where the records are: a JSON pointer (`""`: the body).
    pub fn records(mut self, pointer: impl Into<String>) -> Self {
        self.records = pointer.into();
        self
    }

    /// The field that identifies a record; a record without it fails the
    /// page.
    pub fn key(mut self, field: impl Into<String>) -> Self {
        self.key = Some(field.into());
        self
    }

    /// Read incrementally.
    pub fn incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// The API's error conventions (keeps the renewal rule of
    /// [`auth`](Self::auth) when called after it).
    pub fn errors(mut self, errors: ErrorMap) -> Self {
        let renewable = self.auth.renewable();
        self.errors = errors.renewable(renewable);
        self
    }

    /// The request for the page a state points at.
    pub fn request_for(&self, state: &StreamState) -> Request {
        let mut request = self.request.clone();
        if let Some(inc) = &self.incremental {
            request = inc.apply(request, &state.window);
        }
        request = self.paginator.apply(request, state.next.as_ref());
        self.auth.apply(request)
    }

    /// One page: the records, and the cursor of the next call (the next
    /// page, or, at the end of a run, where the next run starts).
    ///
    /// Records stay JSON text ([`crate::raw`]) and are always in
    /// `page.raw`: each is sliced out of the body; only its key and
    /// incremental field are parsed. A body that only a full parse judges
    /// right (see [`crate::raw::plain`]) is read by
    /// [`page_parsed`](Self::page_parsed), which gives the same records,
    /// keys, cursor and errors, and its records are handed over as text too.
    pub fn fetch(&self, cursor: Option<&str>) -> Result<Page> {
        let state = StreamState::from_cursor(cursor)?;
        let response = self.errors.check(self.request_for(&state).send()?)?;
        match self.page_raw(&response, state.clone()) {
            Some(page) => page,
            None => self.page_parsed(&response, state).map(|mut page| {
                page.raw = std::mem::take(&mut page.records)
                    .into_iter()
                    .map(RawRecord::from_record)
                    .collect();
                page
            }),
        }
    }

    /// The page of `response` read as text; `None` when the body needs the
    /// parsing path (empty, not plain, not JSON: its errors are the
    /// parser's).
    pub fn page_raw(&self, response: &Response, state: StreamState) -> Option<Result<Page>> {
        let text = std::str::from_utf8(&response.body).ok()?;
        // One checked pass finds the records, their keys and the top level
        // for the pagination; a page it is unsure of is read the careful
        // ways below, which say what is wrong with it.
        if let Some(page) = crate::raw::scan::page(text, &self.records, self.key.as_deref()) {
            let next = self.next_page(&state, response, |p| page.at(p), page.items.len());
            let records = page.items.iter().map(|item| {
                let key = item.key.and_then(crate::raw::key_text);
                Ok(RawRecord::checked_object(&self.name, item.text, key))
            });
            return Some(self.raw_page(records, state, next));
        }
        if text.is_empty() || !crate::raw::plain(text) {
            return None;
        }
        // One pass finds the records and keeps the top level for the
        // pagination; a page it does not read plainly is read pointer by
        // pointer, which says what is wrong with it.
        let (items, next) = match crate::raw::skim::page(text, &self.records) {
            Some(page) => {
                let next = self.next_page(&state, response, |p| page.at(p), page.items.len());
                (page.items, next)
            }
            None => {
                let doc = crate::raw::document(text).ok()?;
                let items = match crate::raw::records_raw(doc, &self.records) {
                    Ok(items) => items,
                    Err(e) => return Some(Err(e)),
                };
                let at = |p: &str| crate::raw::pointer_raw(doc, p);
                let next = self.next_page(&state, response, at, items.len());
                (items, next)
            }
        };
        let records = items.into_iter().map(|item| {
            let record = RawRecord::from_raw(&self.name, item)?;
            Ok(match &self.key {
                Some(key) => record.key_from(key),
                None => record,
            })
        });
        Some(self.raw_page(records, state, next))
    }

    /// The next page after a page of `count` records, the pagination's
    /// pointers read with `at` (value text, parsed here).
    fn next_page<'t>(
        &self,
        state: &StreamState,
        response: &Response,
        at: impl Fn(&str) -> Option<&'t serde_json::value::RawValue>,
        count: usize,
    ) -> Option<Position> {
        let at_pointer = |p: &str| at(p).and_then(|v| serde_json::from_str(v.get()).ok());
        self.paginator
            .next_by(state.next.as_ref(), response, at_pointer, count)
    }

    /// A page of records read as text, each with the key its key field
    /// gives (a record without one fails the page), the incremental
    /// window moved by each.
    fn raw_page(
        &self,
        records: impl Iterator<Item = Result<RawRecord>>,
        mut state: StreamState,
        next: Option<Position>,
    ) -> Result<Page> {
        let mut kept = Vec::with_capacity(records.size_hint().0);
        for record in records {
            let record = record?;
            if let Some(inc) = &self.incremental
                && let Some(v) = inc.value_in_raw(&record)
            {
                state.window.observe(&v);
            }
            if let Some(key) = &self.key
                && record.key.is_none()
            {
                return Err(self.keyless(key));
            }
            kept.push(record);
        }
        self.finish(state, next)
            .map(|(cursor, more)| Page::from_raw(kept, cursor, more))
    }

    /// The page of `response` parsed into values (in `page.records`): the
    /// reference the raw path is tested against.
    pub fn page_parsed(&self, response: &Response, mut state: StreamState) -> Result<Page> {
        let mut body: Value = if response.body.is_empty() {
            Value::Null
        } else {
            response.json()?
        };
        let items = records_at(&mut body, &self.records)?;
        let next = self
            .paginator
            .next(state.next.as_ref(), response, &body, items.len());
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            if let Some(inc) = &self.incremental
                && let Some(v) = inc.value_in(&item)
            {
                state.window.observe(&v);
            }
            let mut record = Record::from_value(&self.name, item)?;
            if let Some(key) = &self.key {
                record = record.key_from(key);
                if record.key.is_none() {
                    return Err(self.keyless(key));
                }
            }
            records.push(record);
        }
        let (cursor, more) = self.finish(state, next)?;
        Ok(Page::new(records, cursor, more))
    }

    fn keyless(&self, key: &str) -> Error {
        Error::Fatal(format!(
            "a record of stream `{}` has no key field `{key}`",
            self.name
        ))
    }

    /// The cursor after a page whose next page is `next`, and whether more
    /// follow.
    fn finish(
        &self,
        mut state: StreamState,
        next: Option<Position>,
    ) -> Result<(Option<String>, bool)> {
        state.next = next;
        let more = state.next.is_some();
        if !more {
            state.window.close();
        }
        let cursor = if more || state.window.since.is_some() {
            Some(serde_json::to_string(&state).map_err(Error::fatal)?)
        } else {
            None
        };
        Ok((cursor, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_keep_the_shape_http_json_has_always_written() {
        let state = StreamState {
            next: Some(Position::Page(3)),
            window: Window {
                since: Some("2024-01-01".into()),
                max: None,
            },
        };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(text, r#"{"next":{"page":3},"since":"2024-01-01"}"#);
        assert_eq!(StreamState::from_cursor(Some(&text)).unwrap(), state);
        assert_eq!(
            StreamState::from_cursor(None).unwrap(),
            StreamState::default()
        );
        assert!(StreamState::from_cursor(Some("nope")).is_err());
    }

    #[test]
    fn the_request_for_a_state_has_each_part() {
        let s = RestStream::new(
            "orders",
            Request::get("https://shop.test/admin/api/2024-10/orders.json").query("limit", 250),
        )
        .auth(Auth::OAuth2)
        .paginator(Paginator::LinkHeader)
        .incremental(Incremental::new("updated_at", "updated_at_min"));
        let first = s.request_for(&StreamState {
            next: None,
            window: Window {
                since: Some("2024-05-01T00:00:00Z".into()),
                max: None,
            },
        });
        assert_eq!(
            first.url(),
            "https://shop.test/admin/api/2024-10/orders.json?limit=250&updated_at_min=2024-05-01T00%3A00%3A00Z"
        );
        assert!(
            first
                .headers()
                .iter()
                .any(|(k, v)| k == "Authorization" && v.contains("oauth"))
        );
        let later = s.request_for(&StreamState {
            next: Some(Position::Url(
                "https://shop.test/admin/api/2024-10/orders.json?page_info=x".into(),
            )),
            window: Window::default(),
        });
        assert_eq!(
            later.url(),
            "https://shop.test/admin/api/2024-10/orders.json?page_info=x"
        );
        assert!(
            s.errors
                .check(crate::http::Response::new(401, vec![], Vec::new()))
                .is_err_and(|e| matches!(e, Error::AuthExpired(_)))
        );
    }
}

//! How the pages of a list follow one another: a page number, an offset,
//! a token in the body, a next URL in the body, the `Link` header, or
//! OData's `nextLink`. A [`Position`] is where the next page is; it goes
//! into the fetch cursor between calls.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{Request, Response};

/// A pagination style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paginator {
    /// One request returns everything.
    None,
    /// `?page=N` from `start`; the list ends at an empty page, or at a
    /// short one when the page size is known.
    PageNumber {
        /// The page parameter.
        param: String,
        /// The first page's number.
        start: u64,
        /// The page size parameter, if the API takes one.
        size_param: Option<String>,
        /// The page size (sent with `size_param`; without it, the server's
        /// fixed size): a shorter page is the last.
        size: Option<u64>,
    },
    /// `?offset=N&limit=L`; the list ends at a page shorter than `limit`.
    Offset {
        /// The offset parameter (`offset`, `limit_start`, `$skip`).
        param: String,
        /// The page size parameter (`limit`, `limit_page_length`, `$top`).
        limit_param: String,
        /// Records per page.
        limit: u64,
    },
    /// A token in the body (at a JSON pointer), sent back as a parameter.
    CursorInBody {
        /// Where the token is (`/next_cursor`, `/response_metadata/next_cursor`).
        pointer: String,
        /// The parameter it goes back as.
        param: String,
    },
    /// The next page's URL in the body (at a JSON pointer).
    NextUrlInBody {
        /// Where the URL is (`/next`, `/links/next`).
        pointer: String,
    },
    /// The `rel="next"` target of the `Link` header (RFC 8288).
    LinkHeader,
    /// OData's `@odata.nextLink` (or `odata.nextLink`) in the body.
    ODataNextLink,
}

/// Where the next page of a list is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// A page number.
    Page(u64),
    /// An offset.
    Offset(u64),
    /// A token the server gave.
    Token(String),
    /// A URL the server gave.
    Url(String),
}

impl Paginator {
    /// `?param=N`, from page `start`.
    pub fn page_number(param: impl Into<String>, start: u64) -> Self {
        Self::PageNumber {
            param: param.into(),
            start,
            size_param: None,
            size: None,
        }
    }

    /// `?param=N&limit_param=limit`.
    pub fn offset(param: impl Into<String>, limit_param: impl Into<String>, limit: u64) -> Self {
        Self::Offset {
            param: param.into(),
            limit_param: limit_param.into(),
            limit,
        }
    }

    /// A token at `pointer` in the body, sent back as `param`.
    pub fn cursor(pointer: impl Into<String>, param: impl Into<String>) -> Self {
        Self::CursorInBody {
            pointer: pointer.into(),
            param: param.into(),
        }
    }

    /// The next URL at `pointer` in the body.
    pub fn next_url(pointer: impl Into<String>) -> Self {
        Self::NextUrlInBody {
            pointer: pointer.into(),
        }
    }

    /// The request for the page at `at` (`None`: the first page). A URL the
    /// server gave replaces the request's URL (query included).
    pub fn apply(&self, request: Request, at: Option<&Position>) -> Request {
        if let Some(Position::Url(url)) = at {
            let absolute = resolve(request.url(), url);
            return request.with_url(absolute);
        }
        match self {
            Self::PageNumber {
                param,
                start,
                size_param,
                size,
            } => {
                let page = match at {
                    Some(Position::Page(p)) => *p,
                    _ => *start,
                };
                let request = request.query(param, page);
                match (size_param, size) {
                    (Some(size_param), Some(size)) => request.query(size_param, size),
                    _ => request,
                }
            }
            Self::Offset {
                param,
                limit_param,
                limit,
            } => {
                let offset = match at {
                    Some(Position::Offset(o)) => *o,
                    _ => 0,
                };
                request.query(param, offset).query(limit_param, limit)
            }
            Self::CursorInBody { param, .. } => match at {
                Some(Position::Token(token)) => request.query(param, token),
                _ => request,
            },
            Self::None | Self::NextUrlInBody { .. } | Self::LinkHeader | Self::ODataNextLink => {
                request
            }
        }
    }

    /// Where the page after the one at `at` is, given its answer and the
    /// number of records it held; `None`: it was the last.
    pub fn next(
        &self,
        at: Option<&Position>,
        response: &Response,
        body: &Value,
        count: usize,
    ) -> Option<Position> {
        self.next_by(at, response, |p| body.pointer(p).cloned(), count)
    }

    /// [`next`](Self::next) with the body read through `at_pointer` (the
    /// value at a JSON pointer), so a body kept as text is parsed only
    /// where the pagination looks.
    pub fn next_by(
        &self,
        at: Option<&Position>,
        response: &Response,
        at_pointer: impl Fn(&str) -> Option<Value>,
        count: usize,
    ) -> Option<Position> {
        let count = count as u64;
        match self {
            Self::None => None,
            Self::PageNumber { start, size, .. } => {
                let current = match at {
                    Some(Position::Page(p)) => *p,
                    _ => *start,
                };
                let full = size.is_none_or(|s| count >= s);
                (count > 0 && full).then_some(Position::Page(current + 1))
            }
            Self::Offset { limit, .. } => {
                let current = match at {
                    Some(Position::Offset(o)) => *o,
                    _ => 0,
                };
                (count > 0 && count >= *limit).then_some(Position::Offset(current + count))
            }
            Self::CursorInBody { pointer, .. } => match at_pointer(pointer) {
                Some(Value::String(s)) if !s.is_empty() => Some(Position::Token(s)),
                Some(Value::Number(n)) => Some(Position::Token(n.to_string())),
                _ => None,
            },
            Self::NextUrlInBody { pointer } => match at_pointer(pointer) {
                Some(Value::String(s)) if !s.is_empty() => Some(Position::Url(s)),
                _ => None,
            },
            Self::LinkHeader => response.next_link().map(Position::Url),
            // Top-level members only (`Value::get`): a pointer to an
            // array's element would not be one.
            Self::ODataNextLink => ["@odata.nextLink", "odata.nextLink"]
                .iter()
                .find_map(|k| match at_pointer(&format!("/{k}")) {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .map(Position::Url),
        }
    }
}

/// `link` made absolute against the URL of the request that returned it:
/// a full URL as it is, `/path` on the same origin, anything else beside
/// the request's path (SAP Business One's `Orders?$skip=20`).
///
/// ```
/// use wharf_sdk::rest::resolve;
/// let base = "https://sap.test:50000/b1s/v1/Orders?$top=20";
/// assert_eq!(resolve(base, "Orders?$skip=20"), "https://sap.test:50000/b1s/v1/Orders?$skip=20");
/// assert_eq!(resolve(base, "/b1s/v1/Items"), "https://sap.test:50000/b1s/v1/Items");
/// assert_eq!(resolve(base, "https://other.test/x"), "https://other.test/x");
/// ```
pub fn resolve(base: &str, link: &str) -> String {
    if link.starts_with("http://") || link.starts_with("https://") {
        return link.to_string();
    }
    let without_query = base.split(['?', '#']).next().unwrap_or(base);
    let origin_end = without_query
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| without_query[start..].find('/').map(|j| start + j))
        .unwrap_or(without_query.len());
    if link.starts_with('/') {
        return format!("{}{link}", &without_query[..origin_end]);
    }
    let dir_end = without_query
        .rfind('/')
        .filter(|i| *i >= origin_end)
        .map_or(without_query.len(), |i| i);
    format!("{}/{link}", &without_query[..dir_end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(headers: Vec<(&str, &str)>) -> Response {
        Response::new(
            200,
            headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            b"{}".to_vec(),
        )
    }

    #[test]
    fn page_numbers_end_at_an_empty_or_short_page() {
        let p = Paginator::PageNumber {
            param: "page".into(),
            start: 1,
            size_param: Some("per_page".into()),
            size: Some(2),
        };
        let first = p.apply(Request::get("https://a.test/x"), None);
        assert_eq!(first.url(), "https://a.test/x?page=1&per_page=2");
        let r = answer(vec![]);
        assert_eq!(p.next(None, &r, &json!({}), 2), Some(Position::Page(2)));
        assert_eq!(p.next(Some(&Position::Page(2)), &r, &json!({}), 1), None);
        let open_ended = Paginator::page_number("p", 0);
        assert_eq!(
            open_ended.next(None, &r, &json!({}), 1),
            Some(Position::Page(1))
        );
        assert_eq!(
            open_ended.next(Some(&Position::Page(1)), &r, &json!({}), 0),
            None
        );
    }

    #[test]
    fn offsets_advance_by_what_came() {
        let p = Paginator::offset("limit_start", "limit_page_length", 3);
        let r = answer(vec![]);
        let req = p.apply(
            Request::get("https://erp.test/api/resource/Item"),
            Some(&Position::Offset(3)),
        );
        assert_eq!(
            req.url(),
            "https://erp.test/api/resource/Item?limit_start=3&limit_page_length=3"
        );
        assert_eq!(
            p.next(Some(&Position::Offset(3)), &r, &json!({}), 3),
            Some(Position::Offset(6))
        );
        assert_eq!(p.next(Some(&Position::Offset(6)), &r, &json!({}), 2), None);
    }

    #[test]
    fn tokens_and_urls_from_the_body_and_the_headers() {
        let r = answer(vec![(
            "Link",
            r#"<https://shop.test/orders.json?page_info=abc>; rel="next""#,
        )]);
        let body = json!({"meta": {"next": "tok"}, "links": {"next": "https://a.test/p2"},
                          "@odata.nextLink": "Orders?$skip=20"});
        let cursor = Paginator::cursor("/meta/next", "cursor");
        assert_eq!(
            cursor.next(None, &r, &body, 1),
            Some(Position::Token("tok".into()))
        );
        assert_eq!(
            cursor
                .apply(
                    Request::get("https://a.test/x"),
                    Some(&Position::Token("tok".into()))
                )
                .url(),
            "https://a.test/x?cursor=tok"
        );
        assert_eq!(
            cursor.next(None, &r, &json!({"meta": {"next": ""}}), 1),
            None
        );
        assert_eq!(
            Paginator::next_url("/links/next").next(None, &r, &body, 1),
            Some(Position::Url("https://a.test/p2".into()))
        );
        let link = Paginator::LinkHeader.next(None, &r, &body, 1);
        assert_eq!(
            link,
            Some(Position::Url(
                "https://shop.test/orders.json?page_info=abc".into()
            ))
        );
        // A URL position replaces the whole URL, query included.
        let req = Paginator::LinkHeader.apply(
            Request::get("https://shop.test/orders.json?limit=250&status=any"),
            link.as_ref(),
        );
        assert_eq!(req.url(), "https://shop.test/orders.json?page_info=abc");
        let odata = Paginator::ODataNextLink.next(None, &r, &body, 1).unwrap();
        let req = Paginator::ODataNextLink.apply(
            Request::get("https://sap.test/b1s/v1/Orders?$top=20"),
            Some(&odata),
        );
        assert_eq!(req.url(), "https://sap.test/b1s/v1/Orders?$skip=20");
        assert_eq!(Paginator::None.next(None, &r, &body, 10), None);
    }
}

//! A fake Nextcloud WebDAV server (`/remote.php/webdav`), from Nextcloud's
//! WebDAV documentation and server source (details and sources in
//! `docs/vendors/nextcloud.md`;
//! <https://docs.nextcloud.com/server/latest/developer_manual/client_apis/WebDAV/basic.html>):
//!
//! - HTTP Basic with the login and an app password; anything else is `401`
//!   with Sabre's XML error (`Sabre\DAV\Exception\NotAuthenticated`).
//! - `PROPFIND` with `Depth: 0` or `1` (the folder first, then its
//!   children), answered `207` with the props asked for in a `200`
//!   propstat and the unknown ones in a `404` one, hrefs percent-encoded
//!   with lowercase hex, RFC 1123 dates, quoted etags, namespaces `d:`,
//!   `oc:` (`http://owncloud.org/ns`), `nc:`.
//! - `GET` (bytes, `ETag`, `Last-Modified`); `PUT` (`201` new, `204`
//!   replaced, `409` without the parent folder, `X-OC-MTime` answered
//!   `X-OC-MTime: accepted`); `MKCOL` (`201`, `405` if it exists, `409`
//!   without the parent); `DELETE` (`204`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::support::Upstream;

pub const USER: &str = "alice";
pub const APP_PASSWORD: &str = "Xk3pQ-7mRt2-9zWvL-4hNcE-8bYsJ";

#[derive(Clone, Debug)]
pub struct Node {
    pub folder: bool,
    pub content: Vec<u8>,
    /// Unix seconds.
    pub modified: i64,
    pub etag: String,
    pub file_id: u64,
}

#[derive(Default)]
pub struct Cloud {
    pub nodes: BTreeMap<String, Node>,
    /// `(method, path)` of every request.
    pub seen: Vec<(String, String)>,
    next_id: u64,
}

pub type Shared = Arc<Mutex<Cloud>>;

impl Cloud {
    /// A folder (and its parents).
    pub fn folder(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/').filter(|s| !s.is_empty()) {
            at.push('/');
            at.push_str(part);
            if !self.nodes.contains_key(&at) {
                self.next_id += 1;
                let id = self.next_id;
                self.nodes.insert(
                    at.clone(),
                    Node {
                        folder: true,
                        content: Vec::new(),
                        modified: 1_700_000_000,
                        etag: format!("{id:013x}"),
                        file_id: id,
                    },
                );
            }
        }
    }

    /// A file (its folders made), modified at `modified`.
    pub fn file(&mut self, path: &str, content: &[u8], modified: i64) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.folder(parent);
        }
        self.next_id += 1;
        let id = self.next_id;
        self.nodes.insert(
            path.to_string(),
            Node {
                folder: false,
                content: content.to_vec(),
                modified,
                etag: format!("{:032x}", id * 0x9e37_79b9 + modified as u64),
                file_id: id,
            },
        );
    }
}

pub async fn start(cloud: Cloud) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(cloud));
    let app = Router::new().fallback(dav).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn sabre(status: StatusCode, exception: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">\n  <s:exception>{exception}</s:exception>\n  <s:message>{message}</s:message>\n</d:error>\n"
    );
    (
        status,
        [("content-type", "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{APP_PASSWORD}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// sabre/http's `encodePath`: bytes outside `A-Za-z0-9_-.~()/:@` as
/// lowercase `%xx`.
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.~()/:@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let (y, m, d) = wharf_sdk::time::civil(days);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn response_xml(path: &str, node: &Node) -> String {
    let href = format!(
        "/remote.php/webdav{}{}",
        encode_path(path),
        if node.folder && !path.ends_with('/') {
            "/"
        } else {
            ""
        }
    );
    let mut found = format!(
        "<d:getlastmodified>{}</d:getlastmodified><d:getetag>&quot;{}&quot;</d:getetag><oc:fileid>{}</oc:fileid><oc:permissions>RGDNVW</oc:permissions><oc:size>{}</oc:size><nc:has-preview>false</nc:has-preview>",
        http_date(node.modified),
        node.etag,
        node.file_id,
        node.content.len()
    );
    // A folder has no content type or length: those come in a 404 propstat.
    let missing = if node.folder {
        found.push_str("<d:resourcetype><d:collection/></d:resourcetype>");
        "<d:getcontenttype/><d:getcontentlength/>"
    } else {
        let kind = if path.ends_with(".pdf") {
            "application/pdf"
        } else {
            "text/plain"
        };
        found.push_str(&format!("<d:resourcetype/><d:getcontenttype>{kind}</d:getcontenttype><d:getcontentlength>{}</d:getcontentlength>", node.content.len()));
        ""
    };
    let mut xml = format!(
        "<d:response><d:href>{href}</d:href><d:propstat><d:prop>{found}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
    );
    if !missing.is_empty() {
        xml.push_str(&format!("<d:propstat><d:prop>{missing}</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"));
    }
    xml.push_str("</d:response>");
    xml
}

fn decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

async fn dav(State(cloud): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let headers = request.headers().clone();
    let raw = request.uri().path().to_string();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let Some(rest) = raw.strip_prefix("/remote.php/webdav") else {
        return sabre(
            StatusCode::NOT_FOUND,
            "Sabre\\DAV\\Exception\\NotFound",
            "Not Found",
        );
    };
    let path = decode(rest).trim_end_matches('/').to_string();
    let mut c = cloud.lock().unwrap();
    c.seen.push((method.to_string(), path.clone()));
    if !authorized(&headers) {
        let mut r = sabre(
            StatusCode::UNAUTHORIZED,
            "Sabre\\DAV\\Exception\\NotAuthenticated",
            "No public access to this resource., Username or password was incorrect, No 'Authorization: Bearer' header found. Either the client didn't send one, or the server is mis-configured, Username or password was incorrect",
        );
        r.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"Nextcloud\", charset=\"UTF-8\""
                .parse()
                .unwrap(),
        );
        return r;
    }
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p).to_string();
    let parent_exists = parent.is_empty() || c.nodes.get(&parent).is_some_and(|n| n.folder);
    let not_found = || {
        sabre(
            StatusCode::NOT_FOUND,
            "Sabre\\DAV\\Exception\\NotFound",
            &format!(
                "File with name {} could not be located",
                path.trim_start_matches('/')
            ),
        )
    };
    match method.as_str() {
        "PROPFIND" => {
            let depth = headers
                .get("depth")
                .and_then(|d| d.to_str().ok())
                .unwrap_or("1");
            let root = Node {
                folder: true,
                content: Vec::new(),
                modified: 1_700_000_000,
                etag: "root".into(),
                file_id: 1,
            };
            let Some(node) = (if path.is_empty() {
                Some(&root)
            } else {
                c.nodes.get(&path)
            }) else {
                return not_found();
            };
            let mut xml = String::from(
                "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" xmlns:oc=\"http://owncloud.org/ns\" xmlns:nc=\"http://nextcloud.org/ns\">",
            );
            xml.push_str(&response_xml(
                if path.is_empty() { "/" } else { &path },
                node,
            ));
            if node.folder && depth == "1" {
                let prefix = format!("{path}/");
                for (p, n) in c
                    .nodes
                    .iter()
                    .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                {
                    xml.push_str(&response_xml(p, n));
                }
            }
            xml.push_str("</d:multistatus>");
            (
                StatusCode::MULTI_STATUS,
                [("content-type", "application/xml; charset=utf-8")],
                xml,
            )
                .into_response()
        }
        "GET" => match c.nodes.get(&path) {
            Some(n) if !n.folder => (
                [
                    ("etag", format!("\"{}\"", n.etag)),
                    ("last-modified", http_date(n.modified)),
                ],
                n.content.clone(),
            )
                .into_response(),
            _ => not_found(),
        },
        "PUT" => {
            if c.nodes.get(&path).is_some_and(|n| n.folder) {
                return sabre(
                    StatusCode::CONFLICT,
                    "Sabre\\DAV\\Exception\\Conflict",
                    "PUT is not allowed on non-files.",
                );
            }
            if !parent_exists {
                return sabre(
                    StatusCode::CONFLICT,
                    "Sabre\\DAV\\Exception\\Conflict",
                    "Files cannot be created in non-existent collections",
                );
            }
            let existed = c.nodes.contains_key(&path);
            let mtime = headers
                .get("x-oc-mtime")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            c.file(&path, &body, mtime.unwrap_or(1_733_000_000));
            let status = if existed {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::CREATED
            };
            let mut r = status.into_response();
            if mtime.is_some() {
                r.headers_mut()
                    .insert("x-oc-mtime", "accepted".parse().unwrap());
            }
            r
        }
        "MKCOL" => {
            if c.nodes.contains_key(&path) {
                return sabre(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Sabre\\DAV\\Exception\\MethodNotAllowed",
                    "The resource you tried to create already exists",
                );
            }
            if !parent_exists {
                return sabre(
                    StatusCode::CONFLICT,
                    "Sabre\\DAV\\Exception\\Conflict",
                    "Parent node does not exist",
                );
            }
            c.folder(&path);
            StatusCode::CREATED.into_response()
        }
        "DELETE" => {
            if c.nodes.remove(&path).is_none() {
                return not_found();
            }
            let prefix = format!("{path}/");
            c.nodes.retain(|p, _| !p.starts_with(&prefix));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => sabre(
            StatusCode::NOT_IMPLEMENTED,
            "Sabre\\DAV\\Exception\\NotImplemented",
            "There was no plugin in the system that was willing to handle this method.",
        ),
    }
}

//! WebDAV as Nextcloud speaks it: the URL of a path, `PROPFIND` and its
//! `207 Multi-Status` answer (parsed by namespace URI, not prefix: the
//! manual's own example binds `oc:` wrongly), hrefs percent-decoded
//! (Nextcloud writes lowercase hex), HTTP dates, and Sabre's XML errors.

use serde::{Deserialize, Serialize};
use wharf_sdk::http::{Request, Response, encode};
use wharf_sdk::prelude::*;

const DAV: &str = "DAV:";
const OC: &str = "http://owncloud.org/ns";
const NC: &str = "http://nextcloud.org/ns";
const SABRE: &str = "http://sabredav.org/ns";

pub const USERNAME: Secret = Secret::new("username");
pub const APP_PASSWORD: Secret = Secret::new("app_password");

/// The properties a listing asks for.
pub const PROPFIND: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
  <d:prop>
    <d:getlastmodified/><d:getetag/><d:getcontenttype/><d:resourcetype/><d:getcontentlength/>
    <oc:fileid/><oc:size/><oc:permissions/><nc:has-preview/>
  </d:prop>
</d:propfind>"#;

/// One entry of a folder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path under the user's files, `/`-separated, starting with `/`.
    pub path: String,
    pub folder: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
}

/// `{base}/remote.php/webdav{path}`, each segment encoded. The legacy root
/// serves the signed-in user's files without their user id in the URL.
pub fn url(base: &str, path: &str) -> String {
    let mut url = format!("{}/remote.php/webdav", base.trim_end_matches('/'));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        url.push('/');
        url.push_str(&encode(segment));
    }
    if path.ends_with('/') || path.is_empty() {
        url.push('/');
    }
    url
}

/// A request with the app password.
pub fn request(method: &str, base: &str, path: &str) -> Request {
    Request::new(method, url(base, path)).basic_auth(&USERNAME, &APP_PASSWORD)
}

/// The folder at `path` and its direct children (`Depth: 1`).
pub fn list(base: &str, path: &str) -> Result<Vec<Entry>> {
    let response = request("PROPFIND", base, path)
        .header("Depth", "1")
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(PROPFIND)
        .send()?;
    if response.status != 207 {
        return Err(error(&response));
    }
    parse_multistatus(&response.text())
}

/// The entries of a `207 Multi-Status` answer (only the `200` propstats).
pub fn parse_multistatus(xml: &str) -> Result<Vec<Entry>> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| Error::Fatal(format!("the server's listing is not XML: {e}")))?;
    let mut out = Vec::new();
    for response in doc
        .descendants()
        .filter(|n| n.has_tag_name((DAV, "response")))
    {
        let Some(href) = child_text(response, DAV, "href") else {
            continue;
        };
        let mut entry = Entry {
            path: path_of(&href),
            ..Entry::default()
        };
        for propstat in response
            .children()
            .filter(|n| n.has_tag_name((DAV, "propstat")))
        {
            let ok = child_text(propstat, DAV, "status").is_some_and(|s| s.contains(" 200 "));
            let Some(prop) = propstat.children().find(|n| n.has_tag_name((DAV, "prop"))) else {
                continue;
            };
            if !ok {
                continue;
            }
            for p in prop.children().filter(|n| n.is_element()) {
                let text = p
                    .text()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                match (p.tag_name().namespace(), p.tag_name().name()) {
                    (Some(DAV), "resourcetype") => {
                        entry.folder = p.children().any(|c| c.has_tag_name((DAV, "collection")));
                    }
                    (Some(DAV), "getetag") => {
                        entry.etag = text.map(|t| t.trim_matches('"').to_string())
                    }
                    (Some(DAV), "getcontentlength") => {
                        entry.size = text.and_then(|t| t.parse().ok()).or(entry.size)
                    }
                    (Some(OC), "size") if entry.size.is_none() => {
                        entry.size = text.and_then(|t| t.parse().ok())
                    }
                    (Some(DAV), "getlastmodified") => {
                        entry.modified = text.as_deref().and_then(wharf_sdk::time::from_http_date)
                    }
                    (Some(DAV), "getcontenttype") => entry.content_type = text,
                    (Some(OC), "fileid") => entry.file_id = text,
                    (Some(OC), "permissions") => entry.permissions = text,
                    (Some(NC), _) | (Some(_), _) | (None, _) => {}
                }
            }
        }
        out.push(entry);
    }
    Ok(out)
}

fn child_text(node: roxmltree::Node, ns: &str, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name((ns, name)))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

/// The path under the user's files of an href: decoded, after the WebDAV
/// root (`/remote.php/webdav` or `/remote.php/dav/files/{user}`, behind
/// any install folder).
pub fn path_of(href: &str) -> String {
    let decoded = percent_decode(href);
    let rest = if let Some(i) = decoded.find("/remote.php/webdav") {
        &decoded[i + "/remote.php/webdav".len()..]
    } else if let Some(i) = decoded.find("/remote.php/dav/files/") {
        let after = &decoded[i + "/remote.php/dav/files/".len()..];
        after.find('/').map_or("", |j| &after[j..])
    } else {
        decoded.as_str()
    };
    let trimmed = rest.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sabre's XML error (`s:exception`, `s:message`) as the error it means.
pub fn error(response: &Response) -> Error {
    let text = response.text();
    let (exception, message) = roxmltree::Document::parse(&text)
        .ok()
        .map(|doc| {
            let root = doc.root_element();
            (
                child_text(root, SABRE, "exception"),
                child_text(root, SABRE, "message"),
            )
        })
        .unwrap_or((None, None));
    let what = match (exception, message) {
        (Some(e), Some(m)) => format!("{e}: {m}"),
        (Some(e), None) => e,
        (None, Some(m)) => m,
        (None, None) => text.chars().take(200).collect(),
    };
    let message = format!("HTTP {}: {what}", response.status);
    match response.status {
        401 | 403 => Error::Auth(message),
        404 => Error::Config(message),
        423 | 429 | 503 => match response.retry_after() {
            Some(s) => Error::RateLimited(s),
            None => Error::Transient(message),
        },
        408 | 500..=599 => Error::Transient(message),
        _ => Error::Fatal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_by_namespace_uri() {
        let xml = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:response><d:href>/nextcloud/remote.php/webdav/Reports/</d:href>
  <d:propstat><d:prop><d:getlastmodified>Tue, 13 Oct 2015 17:07:45 GMT</d:getlastmodified><d:resourcetype><d:collection/></d:resourcetype><d:getetag>"561d3a6139d05"</d:getetag><oc:size>163</oc:size></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  <d:propstat><d:prop><d:getcontentlength/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>
 <d:response><d:href>/nextcloud/remote.php/webdav/Reports/Q3%20r%c3%a9sum%c3%a9.txt</d:href>
  <d:propstat><d:prop><d:getlastmodified>Tue, 13 Oct 2015 17:07:35 GMT</d:getlastmodified><d:getcontentlength>163</d:getcontentlength><d:resourcetype/><d:getetag>&quot;47465fae&quot;</d:getetag><d:getcontenttype>text/plain</d:getcontenttype><oc:fileid>42</oc:fileid><oc:permissions>RGDNVW</oc:permissions></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let e = parse_multistatus(xml).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e[0].folder && e[0].path == "/Reports" && e[0].size == Some(163));
        assert_eq!(e[1].path, "/Reports/Q3 résumé.txt");
        assert_eq!(e[1].etag.as_deref(), Some("47465fae"));
        assert_eq!(e[1].modified, Some(1_444_756_055));

        assert_eq!(e[1].file_id.as_deref(), Some("42"));
        assert_eq!(path_of("/remote.php/dav/files/alice/a/b.txt"), "/a/b.txt");
        assert_eq!(
            url("https://c.test/nc/", "/Q3 résumé/x.txt"),
            "https://c.test/nc/remote.php/webdav/Q3%20r%C3%A9sum%C3%A9/x.txt"
        );
    }
}

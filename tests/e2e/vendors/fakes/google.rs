//! A fake Google: the OAuth 2.0 endpoints and the Drive API v3, from
//! Google's documentation (details and sources in
//! `docs/vendors/google-drive.md`):
//!
//! - `GET /o/oauth2/v2/auth` and `POST /token` (authorization code with
//!   PKCE, then refresh); a refresh token is issued only with
//!   `access_type=offline` and `prompt=consent`
//!   (<https://developers.google.com/identity/protocols/oauth2/web-server>).
//! - `files.list` (`q` with `'<id>' in parents`, `name = '…'`, `trashed =
//!   false`; `pageSize` ≤ 1000; `nextPageToken`), `files.get` (`alt=media`
//!   for stored files only), `files.export` (Google types; 10 MB limit),
//!   `changes.getStartPageToken`, `changes.list` (`nextPageToken` then
//!   `newStartPageToken`), `files.delete`, and uploads (`multipart/related`
//!   with the metadata part first; resumable: a session URI in `Location`,
//!   then the bytes), with Google's error envelope (`error.errors[].reason`).
//! - **Every request is checked against Google's discovery document for
//!   Drive v3** (`tests/e2e/vendors/specs/drive-v3.json`): the method and
//!   path must be one it describes, every query parameter one that method
//!   (or the API) takes, with a valid type and enum value, required ones
//!   present. Violations are collected for the test to assert on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: &str = "1234567890-abc123def456.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "GOCSPX-fake-drive-secret";
const FOLDER: &str = "application/vnd.google-apps.folder";

#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub mime: String,
    pub parents: Vec<String>,
    pub content: Vec<u8>,
    pub modified: String,
    pub trashed: bool,
}

#[derive(Default)]
pub struct Drive {
    pub files: BTreeMap<String, File>,
    /// The changes log: (file id, removed).
    pub changes: Vec<(String, bool)>,
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    pub codes: BTreeMap<String, String>,
    /// Requests the discovery document does not describe.
    pub violations: Vec<String>,
    /// `(method, path, uploadType)` of upload requests.
    pub uploads: Vec<(String, String, String)>,
    /// Refuse the next this many API calls with `rateLimitExceeded`.
    pub throttle: u32,
    /// When each API call came.
    pub calls: Vec<std::time::Instant>,
    sessions: BTreeMap<String, (Option<String>, Value)>,
    next: u64,
}

pub type Shared = Arc<Mutex<Drive>>;

impl Drive {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("1{:032}", self.next * 7_919)
    }

    /// Add a file (or folder) as a user would; it shows in the changes.
    pub fn add(&mut self, name: &str, mime: &str, parent: &str, content: &[u8]) -> String {
        let id = self.id();
        let modified = format!("2026-12-01T10:{:02}:00.000Z", self.next % 60);
        self.files.insert(
            id.clone(),
            File {
                name: name.into(),
                mime: mime.into(),
                parents: vec![parent.into()],
                content: content.to_vec(),
                modified,
                trashed: false,
            },
        );
        self.changes.push((id.clone(), false));
        id
    }

    /// Change a file's content as a user would.
    pub fn edit(&mut self, id: &str, content: &[u8]) {
        let f = self.files.get_mut(id).expect("a file");
        f.content = content.to_vec();
        f.modified = "2026-12-02T09:00:00.000Z".into();
        self.changes.push((id.to_string(), false));
    }

    /// Trash a file as a user would.
    pub fn trash(&mut self, id: &str) {
        self.files.get_mut(id).expect("a file").trashed = true;
        self.changes.push((id.to_string(), false));
    }

    /// Every access token stops working, as after an hour.
    pub fn expire_access_tokens(&mut self) {
        self.access_tokens.clear();
    }
}

fn discovery() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/e2e/vendors/specs/drive-v3.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the Drive discovery document"))
            .unwrap()
    })
}

/// What the discovery document says is wrong with a request, if anything.
pub fn violation(method: &str, path: &str, query: &[(String, String)]) -> Option<String> {
    let doc = discovery();
    let (rest, upload) = if let Some(r) = path.strip_prefix("/drive/v3/") {
        (r.to_string(), false)
    } else if let Some(r) = path.strip_prefix("/upload/drive/v3/") {
        (r.to_string(), true)
    } else {
        return Some(format!("{method} {path}: not under the API's service path"));
    };
    let mut found = None;
    for resource in doc["resources"].as_object().unwrap().values() {
        for m in resource["methods"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if m["httpMethod"] != method {
                continue;
            }
            let template = if upload {
                match m["mediaUpload"]["protocols"]["simple"]["path"].as_str() {
                    Some(p) => p.trim_start_matches("/upload/drive/v3/").to_string(),
                    None => continue,
                }
            } else {
                m["path"].as_str().unwrap_or_default().to_string()
            };
            let (t, p): (Vec<&str>, Vec<&str>) =
                (template.split('/').collect(), rest.split('/').collect());
            if t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b) {
                found = Some(m);
            }
        }
    }
    let Some(m) = found else {
        return Some(format!(
            "{method} {path}: no such method in the discovery document"
        ));
    };
    let id = m["id"].as_str().unwrap_or("?");
    for (k, v) in query {
        let spec = m["parameters"].get(k).or_else(|| doc["parameters"].get(k));
        let Some(spec) = spec else {
            return Some(format!("{id}: unknown parameter `{k}`"));
        };
        let ok = match spec["type"].as_str() {
            Some("boolean") => v == "true" || v == "false",
            Some("integer") => v.parse::<i64>().is_ok_and(|n| {
                spec["minimum"]
                    .as_str()
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_none_or(|min| n >= min)
                    && spec["maximum"]
                        .as_str()
                        .and_then(|x| x.parse::<i64>().ok())
                        .is_none_or(|max| n <= max)
            }),
            _ => spec["enum"]
                .as_array()
                .is_none_or(|e| e.iter().any(|x| x == v)),
        };
        if !ok {
            return Some(format!("{id}: `{k}={v}` is not a valid {}", spec["type"]));
        }
    }
    for (k, spec) in m["parameters"].as_object().into_iter().flatten() {
        if spec["required"] == true
            && spec["location"] == "query"
            && !query.iter().any(|(q, _)| q == k)
        {
            return Some(format!("{id}: required parameter `{k}` missing"));
        }
    }
    if upload
        && !query.iter().any(|(k, v)| {
            k == "uploadType" && ["media", "multipart", "resumable"].contains(&v.as_str())
        })
    {
        return Some(format!("{id}: an upload without a valid uploadType"));
    }
    None
}

pub async fn start(drive: Drive) -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(drive));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}}),
        ),
    )
        .into_response()
}

fn file_json(id: &str, f: &File) -> Value {
    let mut v = json!({"kind": "drive#file", "id": id, "name": f.name, "mimeType": f.mime, "parents": f.parents,
        "modifiedTime": f.modified, "createdTime": "2026-11-30T08:00:00.000Z", "trashed": f.trashed, "version": "3",
        "webViewLink": format!("https://drive.google.com/file/d/{id}/view")});
    if !f.mime.starts_with("application/vnd.google-apps.") {
        v["size"] = json!(f.content.len().to_string());
        v["md5Checksum"] = json!(format!(
            "{:032x}",
            f.content.iter().map(|b| u128::from(*b)).sum::<u128>()
        ));
    }
    v
}

async fn serve(State(drive): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut d = drive.lock().unwrap();
    match (method.as_str(), path.as_str()) {
        ("GET", "/o/oauth2/v2/auth") => return authorize(&mut d, &q),
        ("POST", "/token") => return token(&mut d, &headers, &body),
        _ => {}
    }
    let session = path == "/upload/drive/v3/files" && q("upload_id").is_some();
    if !session && let Some(v) = violation(&method, &path, &query) {
        d.violations.push(v);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !session && !bearer.is_some_and(|t| d.access_tokens.iter().any(|a| a == t)) {
        let mut r = google_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
        r.headers_mut().insert(
            "www-authenticate",
            "Bearer realm=\"https://accounts.google.com/\""
                .parse()
                .unwrap(),
        );
        return r;
    }
    d.calls.push(std::time::Instant::now());
    if d.throttle > 0 {
        d.throttle -= 1;
        let mut r = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        );
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
        return r;
    }
    if path.starts_with("/upload/") {
        return upload(&mut d, &method, &path, &q, &headers, body);
    }
    let rest = path.trim_start_matches("/drive/v3/").to_string();
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["about"]) => axum::Json(json!({"user": {"displayName": "Ana Pop", "emailAddress": "ana.pop@example.com"}})).into_response(),
        ("GET", ["changes", "startPageToken"]) => axum::Json(json!({"kind": "drive#startPageToken", "startPageToken": (d.changes.len() + 1).to_string()})).into_response(),
        ("GET", ["changes"]) => {
            let from: usize = q("pageToken").and_then(|t| t.parse().ok()).unwrap_or(1);
            let size: usize = q("pageSize").and_then(|s| s.parse().ok()).unwrap_or(100);
            let end = (from - 1 + size).min(d.changes.len());
            let changes: Vec<Value> = d.changes[from - 1..end]
                .iter()
                .map(|(id, removed)| match d.files.get(id) {
                    Some(f) if !removed => json!({"kind": "drive#change", "changeType": "file", "fileId": id, "removed": false, "time": f.modified, "file": file_json(id, f)}),
                    _ => json!({"kind": "drive#change", "changeType": "file", "fileId": id, "removed": true, "time": "2026-12-02T09:00:00.000Z"}),
                })
                .collect();
            let mut body = json!({"kind": "drive#changeList", "changes": changes});
            if end < d.changes.len() {
                body["nextPageToken"] = json!((end + 1).to_string());
            } else {
                body["newStartPageToken"] = json!((d.changes.len() + 1).to_string());
            }
            axum::Json(body).into_response()
        }
        ("GET", ["files"]) => list(&d, &q),
        ("GET", ["files", id]) => {
            let id = if *id == "root" { "root-folder" } else { id };
            let Some(f) = d.files.get(id) else {
                return google_error(StatusCode::NOT_FOUND, "notFound", &format!("File not found: {id}."));
            };
            if q("alt").as_deref() == Some("media") {
                if f.mime.starts_with("application/vnd.google-apps.") {
                    return google_error(StatusCode::FORBIDDEN, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export with Docs Editors files.");
                }
                return f.content.clone().into_response();
            }
            axum::Json(file_json(id, f)).into_response()
        }
        ("GET", ["files", id, "export"]) => {
            let Some(f) = d.files.get(*id) else {
                return google_error(StatusCode::NOT_FOUND, "notFound", &format!("File not found: {id}."));
            };
            if !f.mime.starts_with("application/vnd.google-apps.") {
                return google_error(StatusCode::FORBIDDEN, "fileNotExportable", "Export only supports Docs Editors files.");
            }
            let target = q("mimeType").unwrap_or_default();
            ([("content-type", target.clone())], format!("EXPORTED {} AS {target}\n", f.name).into_bytes()).into_response()
        }
        ("DELETE", ["files", id]) => {
            if d.files.remove(*id).is_none() {
                return google_error(StatusCode::NOT_FOUND, "notFound", &format!("File not found: {id}."));
            }
            d.changes.push((id.to_string(), true));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => google_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    }
}

fn list(d: &Drive, q: &dyn Fn(&str) -> Option<String>) -> Response {
    let query = q("q").unwrap_or_default();
    let mut parent = None;
    let mut name = None;
    let mut not_trashed = false;
    for term in query.split(" and ") {
        let term = term.trim();
        if let Some(p) = term.strip_suffix(" in parents") {
            parent = Some(p.trim_matches('\'').to_string());
        } else if let Some(n) = term.strip_prefix("name = ") {
            name = Some(n.trim_matches('\'').replace("\\'", "'"));
        } else if term == "trashed = false" {
            not_trashed = true;
        } else if !term.is_empty() {
            return google_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("Invalid Value: {term}"),
            );
        }
    }
    let parent = parent.map(|p| {
        if p == "root" {
            "root-folder".to_string()
        } else {
            p
        }
    });
    let size: usize = q("pageSize").and_then(|s| s.parse().ok()).unwrap_or(100);
    let skip: usize = q("pageToken")
        .and_then(|t| t.strip_prefix("page~").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let matching: Vec<Value> = d
        .files
        .iter()
        .filter(|(_, f)| parent.as_ref().is_none_or(|p| f.parents.contains(p)))
        .filter(|(_, f)| name.as_ref().is_none_or(|n| &f.name == n))
        .filter(|(_, f)| !not_trashed || !f.trashed)
        .map(|(id, f)| file_json(id, f))
        .collect();
    let page: Vec<Value> = matching.iter().skip(skip).take(size).cloned().collect();
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if skip + size < matching.len() {
        body["nextPageToken"] = json!(format!("page~{}", skip + size));
    }
    axum::Json(body).into_response()
}

fn authorize(d: &mut Drive, q: &dyn Fn(&str) -> Option<String>) -> Response {
    if q("client_id").as_deref() != Some(CLIENT_ID) || q("response_type").as_deref() != Some("code")
    {
        return (StatusCode::BAD_REQUEST, "Error 401: invalid_client").into_response();
    }
    let offline =
        q("access_type").as_deref() == Some("offline") && q("prompt").as_deref() == Some("consent");
    let code = format!("4/0AX4Xf{}", d.codes.len() + 1);
    d.codes.insert(
        code.clone(),
        if offline {
            "offline".into()
        } else {
            "online".into()
        },
    );
    let redirect = q("redirect_uri").unwrap_or_default();
    let state: String =
        url::form_urlencoded::byte_serialize(q("state").unwrap_or_default().as_bytes()).collect();
    (
        StatusCode::FOUND,
        [(
            "location",
            format!(
                "{redirect}?state={state}&code={code}&scope=https://www.googleapis.com/auth/drive"
            ),
        )],
    )
        .into_response()
}

fn token(d: &mut Drive, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b| {
            use base64::Engine as _;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default(),
            )
            .unwrap_or_default()
        });
    let client_ok = basic.as_deref() == Some(&format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET));
    if !client_ok {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}))).into_response();
    }
    let access = format!(
        "ya29.a0AfH6SM{:08}",
        d.access_tokens.len() + d.refresh_tokens.len() * 100 + 1
    );
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(kind) = form.get("code").and_then(|c| d.codes.remove(c)) else {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(
                        json!({"error": "invalid_grant", "error_description": "Bad Request"}),
                    ),
                )
                    .into_response();
            };
            d.access_tokens.push(access.clone());
            let mut answer = json!({"access_token": access, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive", "token_type": "Bearer"});
            if kind == "offline" {
                let refresh = format!("1//0gFake{}", d.refresh_tokens.len() + 1);
                d.refresh_tokens.push(refresh.clone());
                answer["refresh_token"] = json!(refresh);
            }
            axum::Json(answer).into_response()
        }
        Some("refresh_token") => {
            if !form
                .get("refresh_token")
                .is_some_and(|r| d.refresh_tokens.contains(r))
            {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}))).into_response();
            }
            d.access_tokens.push(access.clone());
            axum::Json(json!({"access_token": access, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/drive", "token_type": "Bearer"})).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response(),
    }
}

fn upload(
    d: &mut Drive,
    method: &str,
    path: &str,
    q: &dyn Fn(&str) -> Option<String>,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Response {
    let existing = path
        .strip_prefix("/upload/drive/v3/files/")
        .map(str::to_string);
    let kind = q("uploadType").unwrap_or_default();
    if let Some(session) = q("upload_id") {
        let Some((existing, meta)) = d.sessions.remove(&session) else {
            return google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                "Upload session not found",
            );
        };
        return store(d, existing, &meta, body);
    }
    d.uploads
        .push((method.to_string(), path.to_string(), kind.clone()));
    match kind.as_str() {
        "resumable" => {
            let meta: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
            if headers.get("x-upload-content-type").is_none() {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "badRequest",
                    "X-Upload-Content-Type is missing",
                );
            }
            let session = format!("xa298sd_sdlkj{}", d.sessions.len() + 1);
            d.sessions.insert(session.clone(), (existing, meta));
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
                .to_string();
            (StatusCode::OK, [("location", format!("http://{host}/upload/drive/v3/files?uploadType=resumable&upload_id={session}"))]).into_response()
        }
        "multipart" => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let Some(boundary) = content_type.strip_prefix("multipart/related; boundary=") else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "badContent",
                    "Multipart upload needs multipart/related",
                );
            };
            let text = String::from_utf8_lossy(&body).to_string();
            let parts: Vec<&str> = text
                .split(&format!("--{boundary}"))
                .filter(|p| !p.trim().is_empty() && p.trim() != "--")
                .collect();
            let [meta_part, media_part] = parts.as_slice() else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "badContent",
                    "Multipart upload needs exactly two parts",
                );
            };
            let Some((meta_headers, meta)) = meta_part.split_once("\r\n\r\n") else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "badContent",
                    "Malformed metadata part",
                );
            };
            if !meta_headers
                .to_ascii_lowercase()
                .contains("application/json")
            {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "badContent",
                    "The metadata part must come first, as JSON",
                );
            }
            let meta: Value = serde_json::from_str(meta.trim()).unwrap_or(json!({}));
            let media = media_part
                .split_once("\r\n\r\n")
                .map(|(_, m)| m.strip_suffix("\r\n").unwrap_or(m))
                .unwrap_or("");
            store(d, existing, &meta, media.as_bytes().to_vec())
        }
        _ => google_error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Unsupported uploadType",
        ),
    }
}

fn store(d: &mut Drive, existing: Option<String>, meta: &Value, content: Vec<u8>) -> Response {
    if existing.is_some() && meta.get("parents").is_some() {
        return google_error(
            StatusCode::FORBIDDEN,
            "fieldNotWritable",
            "The resource body includes fields which are not directly writable.",
        );
    }
    let (id, status) = match existing {
        Some(id) if d.files.contains_key(&id) => (id, StatusCode::OK),
        Some(id) => {
            return google_error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("File not found: {id}."),
            );
        }
        None => (d.id(), StatusCode::OK),
    };
    let previous = d.files.get(&id).cloned();
    let file = File {
        name: meta["name"]
            .as_str()
            .map(str::to_string)
            .or(previous.as_ref().map(|p| p.name.clone()))
            .unwrap_or_else(|| "Untitled".into()),
        mime: meta["mimeType"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .into(),
        parents: meta["parents"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .or(previous.map(|p| p.parents))
            .unwrap_or_else(|| vec!["root-folder".into()]),
        content,
        modified: "2026-12-03T12:00:00.000Z".into(),
        trashed: false,
    };
    let answer = json!({"id": id, "name": file.name, "size": file.content.len().to_string()});
    d.files.insert(id.clone(), file);
    d.changes.push((id, false));
    (status, axum::Json(answer)).into_response()
}

/// A folder every drive has.
pub fn with_root() -> Drive {
    let mut d = Drive::default();
    d.files.insert(
        "root-folder".into(),
        File {
            name: "My Drive".into(),
            mime: FOLDER.into(),
            parents: Vec::new(),
            content: Vec::new(),
            modified: "2026-01-01T00:00:00.000Z".into(),
            trashed: false,
        },
    );
    d
}

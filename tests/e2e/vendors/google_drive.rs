//! The `google-drive` connector through `wharf serve` between two fake
//! Googles, every request checked against Google's discovery document:
//! connected by the authorization-code flow (offline access, so a refresh
//! token is issued); a folder tree copied file by file into another
//! drive (stored files downloaded, Google Docs exported, uploads
//! resumable); after the access tokens expire, an incremental run reads
//! the changes feed and copies what changed, creates what is new and
//! deletes what was trashed; records with text content go up by one
//! multipart request.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use super::Wharf;
use super::fakes::google::{self, CLIENT_ID, CLIENT_SECRET};
use crate::support::Upstream;

const FOLDER: &str = "application/vnd.google-apps.folder";
const PDF: &[u8] = b"%PDF-1.4\n% a report\n%%EOF\n";

fn config(api: &Upstream, extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({"base_url": api.origin(), "auth_url": api.url("/o/oauth2/v2/auth"), "token_url": api.url("/token")});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

#[test]
fn the_discovery_check_refuses_what_google_does_not_describe() {
    let q = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        google::violation(
            "GET",
            "/drive/v3/files",
            &q(&[("pageSize", "100"), ("supportsAllDrives", "true")])
        ),
        None
    );
    for (method, path, query) in [
        (
            "GET",
            "/drive/v3/files/abc/export",
            q(&[("mimeType", "text/csv"), ("supportsAllDrives", "true")]),
        ),
        ("GET", "/drive/v3/files/abc/export", q(&[])),
        ("GET", "/drive/v3/files", q(&[("pageSize", "5000")])),
        ("GET", "/drive/v3/files", q(&[("alt", "xml")])),
        ("PUT", "/drive/v3/files/abc", q(&[])),
        (
            "POST",
            "/upload/drive/v3/files",
            q(&[("uploadType", "chunked")]),
        ),
        ("GET", "/drive/v2/files", q(&[])),
    ] {
        assert!(
            google::violation(method, path, &query).is_some(),
            "{method} {path} {query:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_drive_folders_copied_through_the_changes_feed() {
    let mut a = google::with_root();
    let reports = a.add("Reports", FOLDER, "root-folder", b"");
    let pdf = a.add("summary.pdf", "application/pdf", &reports, PDF);
    a.add(
        "Q3 plan",
        "application/vnd.google-apps.document",
        &reports,
        b"",
    );
    let data = a.add("data", FOLDER, &reports, b"");
    let csv = a.add(
        "sales.csv",
        "text/csv",
        &data,
        b"region,total\r\nNorth,10\r\n",
    );
    a.add(
        "elsewhere.txt",
        "text/plain",
        "root-folder",
        b"not in the folder",
    );
    let (drive_a, state_a) = google::start(a).await;
    let mut b = google::with_root();
    let archive = b.add("Archive", FOLDER, "root-folder", b"");
    let (drive_b, state_b) = google::start(b).await;

    let wharf = Wharf::start().await;
    let connector = wharf.upload("google-drive").await;
    let secrets = json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET});
    let from = wharf
        .connection(
            "drive-a",
            &connector,
            config(&drive_a, json!({"folder_id": reports})),
            secrets.clone(),
        )
        .await;
    let to = wharf
        .connection(
            "drive-b",
            &connector,
            config(&drive_b, json!({"target_folder_id": archive})),
            secrets.clone(),
        )
        .await;
    wharf.connect_oauth(&from).await;
    wharf.connect_oauth(&to).await;
    assert_eq!(
        state_a.lock().unwrap().refresh_tokens.len(),
        1,
        "offline access: a refresh token"
    );
    assert_eq!(wharf.check(&from).await.json["ok"], true);

    state_a.lock().unwrap().throttle = 1;
    let copy = wharf
        .sync(json!({"name": "drive-copy", "source": from, "streams": ["files"], "mode": "incremental", "destination": to}))
        .await;
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 3, "{run}");
    {
        let a = state_a.lock().unwrap();
        let gap = a.calls.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            gap >= std::time::Duration::from_millis(900),
            "rateLimitExceeded with Retry-After: 1 was waited out"
        );
    }
    {
        let b = state_b.lock().unwrap();
        let named = |n: &str| {
            b.files
                .values()
                .find(|f| f.name == n && f.parents.contains(&archive))
                .cloned()
        };
        assert_eq!(named("summary.pdf").expect("the PDF").content, PDF);
        let doc = named("Q3 plan").expect("the Doc");
        assert_eq!(
            doc.mime,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert!(
            String::from_utf8_lossy(&doc.content)
                .starts_with("EXPORTED Q3 plan AS application/vnd.openxmlformats")
        );
        assert_eq!(
            named("sales.csv")
                .expect("the CSV from the subfolder")
                .content,
            b"region,total\r\nNorth,10\r\n"
        );
        assert!(named("elsewhere.txt").is_none());
        assert!(
            b.uploads.iter().all(|(_, _, kind)| kind == "resumable"),
            "{:?}",
            b.uploads
        );
    }

    // An hour later: tokens expired; changes copied, a trashed file deleted.
    let new = {
        let mut a = state_a.lock().unwrap();
        a.expire_access_tokens();
        a.edit(&csv, b"region,total\r\nNorth,12\r\n");
        a.trash(&pdf);
        a.add("notes.txt", "text/plain", &data, b"new")
    };
    state_b.lock().unwrap().expire_access_tokens();
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let counters = &run["counters"];
    assert_eq!(
        (
            counters["created"].as_i64(),
            counters["updated"].as_i64(),
            counters["deleted"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{run}"
    );
    {
        let b = state_b.lock().unwrap();
        let named = |n: &str| b.files.values().find(|f| f.name == n).cloned();
        assert_eq!(
            named("sales.csv").unwrap().content,
            b"region,total\r\nNorth,12\r\n"
        );
        assert!(
            named("summary.pdf").is_none(),
            "trashed at the source, deleted here"
        );
        assert_eq!(named("notes.txt").unwrap().content, b"new");
        assert!(
            b.uploads.iter().any(|(m, _, _)| m == "PATCH"),
            "the CSV updated in place"
        );
    }
    {
        let a = state_a.lock().unwrap();
        assert!(
            !a.access_tokens.is_empty() && a.refresh_tokens.len() == 1,
            "refreshed, not re-consented"
        );
        assert!(a.files.contains_key(&new));
        assert!(
            a.violations.is_empty(),
            "requests the discovery document does not describe: {:?}",
            a.violations
        );
        let b = state_b.lock().unwrap();
        assert!(b.violations.is_empty(), "{:?}", b.violations);
    }

    // Text records go up in one multipart request.
    let notes = Upstream::start(Router::new().route(
        "/notes",
        get(|| async { axum::Json(json!([{"id": "n1", "name": "minutes.txt", "content": "Decisions: ship it.", "content_type": "text/plain"}])) }),
    ))
    .await;
    let http_json = wharf.upload("http-json").await;
    let source = wharf
        .connection("notes", &http_json, json!({"base_url": notes.origin(), "streams": {"notes": {"path": "/notes", "key": "id"}}}), json!({}))
        .await;
    let push = wharf
        .sync(json!({"name": "notes-to-drive", "source": source, "streams": ["notes"], "mode": "full", "destination": to}))
        .await;
    let run = wharf.run(&push).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let b = state_b.lock().unwrap();
    let minutes = b
        .files
        .values()
        .find(|f| f.name == "minutes.txt")
        .expect("uploaded");
    assert_eq!(minutes.content, b"Decisions: ship it.");
    assert_eq!(minutes.mime, "text/plain");
    assert!(b.uploads.iter().any(|(_, _, kind)| kind == "multipart"));
    assert!(b.violations.is_empty(), "{:?}", b.violations);
}

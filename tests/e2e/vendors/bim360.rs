//! The `bim360` connector through `wharf serve` against a fake Autodesk
//! Platform Services: connected by APS's three-legged OAuth2 (Basic client
//! authentication, PKCE, single-use rotating refresh tokens), checked, its
//! streams discovered, every stream read in full (hubs → projects →
//! folders → items → versions, and ACC issues) with a 429 waited out, a
//! locked folder and a BIM 360 project without issues skipped with a
//! warning; model files (IFC, RVT, NWD, DWG) downloaded through OSS's
//! signed URLs and carried as blobs into a Nextcloud destination, whose
//! copies are compared byte for byte; then, with the access token revoked
//! in the middle of the run, an incremental run that reads only the new
//! IFC version and the changed and deleted issues, downloading nothing
//! else. No token, client secret or URL signature in any record, log or
//! check answer. Straight on the runtime, with a run's blob space small:
//! a download that finds it spent waits in the cursor for the next run.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use wharf::model::grants::HostPattern;
use wharf::model::secret::SecretValue;
use wharf::runtime::{FixedToken, Limits, Session, SessionOptions};

use super::Wharf;
use super::fakes::aps::{self, Aps, BRIDGE, CLIENT_ID, CLIENT_SECRET, TOWER};
use super::fakes::nextcloud::{self, APP_PASSWORD, Cloud, USER};
use crate::support::{Upstream, load, runtime_with};

/// A version record as a run emitted it, and its file's bytes when it
/// came with one.
type VersionSeen = (Map<String, Value>, Option<Vec<u8>>);

const STREAMS: [&str; 6] = ["hubs", "projects", "folders", "items", "versions", "issues"];

fn config(api: &Upstream) -> Value {
    json!({"base_url": api.origin(),
        "auth_url": api.url("/authentication/v2/authorize"),
        "token_url": api.url("/authentication/v2/token"),
        "page_limit": 2, "max_file_mb": 1})
}

/// The record of `stream` whose `field` is `value`.
async fn find(wharf: &Wharf, sync: &str, stream: &str, field: &str, value: &str) -> Value {
    let records = wharf.records(sync, stream).await;
    records
        .into_iter()
        .find(|r| r["data"][field] == json!(value))
        .unwrap_or_else(|| panic!("no {stream} record with {field} = {value}"))
}

async fn logs(wharf: &Wharf, run: &Value) -> String {
    let id = run["id"].as_str().unwrap();
    wharf
        .get(&format!("/api/v1/runs/{id}/logs?limit=500"))
        .await
        .text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bim360_tree_models_and_issues_in_full_then_incrementally() {
    let (api, fake) = aps::start(Aps::new(aps::demo())).await;
    let (cloud, cloud_state) = nextcloud::start(Cloud::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("bim360").await;
    let conn = wharf
        .connection(
            "acc",
            &connector,
            config(&api),
            json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET}),
        )
        .await;
    wharf.connect_oauth(&conn).await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    let streams = wharf.discover(&conn).await;
    let names: Vec<&str> = streams.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, STREAMS);
    let versions_spec = streams.iter().find(|s| s["name"] == "versions").unwrap();
    assert_eq!(versions_spec["key_field"], "id");
    assert_eq!(versions_spec["cursor_field"], "lastModifiedTime");

    // A full pass, the first call answered 429 with Retry-After: 1.
    fake.lock().unwrap().throttle = 1;
    let sync = wharf
        .sync(json!({"name": "acc-records", "source": conn, "streams": STREAMS, "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    for (stream, n) in STREAMS.iter().zip([2, 4, 9, 8, 9, 5]) {
        assert_eq!(wharf.records_all(&sync, stream).await, n, "{stream}");
    }
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.refused_429, 1, "only the throttled call");
        let mut served = f.downloads.clone();
        served.sort();
        served.dedup();
        assert_eq!(
            served.len(),
            6,
            "IFC, 2 RVT revisions, NWD, small DWG, depot RVT: {served:?}"
        );
        assert!(
            f.seen
                .iter()
                .all(|s| s.method == "GET" || s.path == "/authentication/v2/token")
        );
    }
    let log = logs(&wharf, &run).await;
    assert!(
        log.contains("Tower A/Project Files/Contracts"),
        "the locked folder is skipped, said so: {log}"
    );
    assert!(
        log.contains("Legacy Depot"),
        "the BIM 360 project's issues are skipped, said so: {log}"
    );

    let ifc = find(
        &wharf,
        &sync,
        "versions",
        "path",
        "Tower A/Project Files/Models/Tower.ifc",
    )
    .await;
    let data = &ifc["data"];
    assert_eq!(data["file_type"], "ifc");
    assert_eq!(data["versionNumber"], 1);
    assert_eq!(data["content_downloaded"], true);
    assert_eq!(data["content_bytes"], json!(aps::ifc(1).len()));
    assert_eq!(data["project_id"], TOWER);
    assert!(
        data["storage_urn"]
            .as_str()
            .unwrap()
            .starts_with("urn:adsk.objects:os.object:wip.dm.prod/")
    );
    assert_eq!(ifc["key"], data["id"]);
    let site = find(&wharf, &sync, "versions", "name", "Site.dwg").await;
    assert_eq!(site["data"]["content_downloaded"], false);
    assert!(
        site["data"]["content_skipped"]
            .as_str()
            .unwrap()
            .contains("max_file_mb"),
        "{site}"
    );
    let specs = find(&wharf, &sync, "versions", "name", "Specs.pdf").await;
    assert_eq!(
        specs["data"]["content_downloaded"], false,
        "PDFs are not among file_types"
    );
    let item = find(
        &wharf,
        &sync,
        "items",
        "path",
        "Tower A/Project Files/Models/Tower.rvt",
    )
    .await;
    assert_eq!(
        item["data"]["tip"]["versionNumber"], 2,
        "the item with its tip version"
    );
    let models = find(
        &wharf,
        &sync,
        "folders",
        "path",
        "Tower A/Project Files/Models",
    )
    .await;
    assert_eq!(models["data"]["name"], "Models");
    let project = find(&wharf, &sync, "projects", "name", "Bridge B").await;
    assert_eq!(
        project["data"]["acc_project_id"],
        BRIDGE.trim_start_matches("b.")
    );
    let door = find(&wharf, &sync, "issues", "title", "Door missing a screw.").await;
    assert_eq!(door["data"]["project_id"], TOWER);
    assert_eq!(door["data"]["status"], "open");

    // The model files themselves, as blobs, into a Nextcloud folder.
    let nc = wharf.upload("nextcloud").await;
    let files = wharf
        .connection(
            "bim-files",
            &nc,
            json!({"base_url": cloud.origin(), "target_folder": "/BIM"}),
            json!({"username": USER, "app_password": APP_PASSWORD}),
        )
        .await;
    let copy = wharf
        .sync(json!({"name": "acc-models", "source": conn, "streams": ["versions"], "mode": "incremental", "destination": files}))
        .await;
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["counters"]["rejected"], 3,
        "the PDFs and the large DWG carry no file: {run}"
    );
    {
        let c = cloud_state.lock().unwrap();
        let file = |p: &str| {
            c.nodes
                .get(p)
                .unwrap_or_else(|| panic!("{p} in {:?}", c.nodes.keys()))
                .content
                .clone()
        };
        assert_eq!(
            file("/BIM/Tower A/Project Files/Models/Tower.ifc"),
            aps::ifc(1)
        );
        assert_eq!(
            file("/BIM/Tower A/Project Files/Models/Tower.rvt"),
            b"RVT\x00\x02fake revit model, revision 2",
            "the newest revision written last"
        );
        assert_eq!(
            file("/BIM/Bridge B/Project Files/Coordination/Bridge.nwd"),
            b"NWD fake navisworks model of the bridge"
        );
    }

    // Later: a new IFC revision, an issue closed, another deleted; the
    // access token revoked after four calls of the next run.
    let now = aps::now_ms();
    let (v2, archive, before, refreshes, seen_before) = {
        let mut f = fake.lock().unwrap();
        let v2 = f.account.upload("Tower.ifc", &aps::ifc(2), now);
        let closed = f.account.issue(2);
        closed["status"] = json!("closed");
        closed["updatedAt"] = json!(aps::iso(now));
        let gone = f.account.issue(3);
        gone["deleted"] = json!(true);
        gone["deletedAt"] = json!(aps::iso(now));
        gone["updatedAt"] = json!(aps::iso(now));
        f.expire_after = Some(4);
        let archive = f
            .account
            .folders
            .iter()
            .find(|x| x.name == "Archive")
            .unwrap()
            .id
            .clone();
        (v2, archive, f.downloads.len(), f.refreshes, f.seen.len())
    };
    let key = {
        let f = fake.lock().unwrap();
        f.account
            .versions
            .iter()
            .find(|v| v.id == v2)
            .unwrap()
            .object
            .clone()
            .unwrap()
    };
    let archive_listings = |f: &Aps| {
        f.paths(&format!(
            "/data/v1/projects/{TOWER}/folders/{archive}/contents"
        ))
        .len()
    };
    let archive_before = archive_listings(&fake.lock().unwrap());
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(
            f.refreshes,
            refreshes + 1,
            "the revoked token was refreshed once"
        );
        assert_eq!(
            f.refresh_reuse, 0,
            "a spent refresh token was never presented again"
        );
        let refused: Vec<u16> = f.seen[seen_before..]
            .iter()
            .map(|s| s.status)
            .filter(|s| *s >= 400)
            .collect();
        assert_eq!(
            refused,
            [401, 404],
            "one call met the revoked token; the BIM 360 project has no ACC issues"
        );
        assert_eq!(
            f.downloads[before..],
            *std::slice::from_ref(&key),
            "only the new revision was downloaded"
        );
        assert_eq!(
            archive_listings(&f),
            archive_before,
            "an unchanged folder is not opened"
        );
        assert_eq!(f.violations, Vec::<String>::new());
    }
    let new = wharf.records_where(&sync, "versions", &v2).await;
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["data"]["versionNumber"], 2);
    assert_eq!(new[0]["data"]["content_bytes"], json!(aps::ifc(2).len()));
    let issues = wharf.records(&sync, "issues").await;
    assert_eq!(issues.len(), 4, "the deleted issue is gone");
    let closed = issues.iter().find(|r| r["data"]["displayId"] == 2).unwrap();
    assert_eq!(closed["data"]["status"], "closed");
    assert!(issues.iter().all(|r| r["data"]["displayId"] != 3));
    let moved =
        run["counters"]["created"].as_i64().unwrap() + run["counters"]["updated"].as_i64().unwrap();
    assert!(
        (3..=8).contains(&moved),
        "the new version, its item and folders, the closed issue: {run}"
    );

    let second = wharf.run(&copy).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(
            f.downloads[before + 1..],
            *std::slice::from_ref(&key),
            "the copy reads only the new revision"
        );
        let c = cloud_state.lock().unwrap();
        assert_eq!(
            c.nodes["/BIM/Tower A/Project Files/Models/Tower.ifc"].content,
            aps::ifc(2)
        );
    }

    // No token, client secret or signed URL anywhere an administrator looks.
    let mut everything = format!("{}{log}", check.text);
    for r in [&run, &second] {
        everything.push_str(&logs(&wharf, r).await);
    }
    for stream in STREAMS {
        everything.push_str(&serde_json::to_string(&wharf.records(&sync, stream).await).unwrap());
    }
    let f = fake.lock().unwrap();
    assert!(!f.issued.is_empty() && !f.signatures.is_empty());
    for secret in f.issued.iter().chain(&f.signatures) {
        assert!(
            !everything.contains(secret.as_str()),
            "a token or signature leaked"
        );
    }
    assert!(!everything.contains(CLIENT_SECRET));
    assert!(!everything.contains("Signature="));
}

/// Straight on the runtime, with room in a run's blobs for the largest
/// model file only: when a run's space is spent, the version waits in the
/// cursor (no record without its content) and that run stops; the next
/// runs, each with space of its own, go on from it until the pass is
/// over, every model file downloaded once into a record. Only the DWG
/// larger than `max_file_mb` is listed without content, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bim360_downloads_wait_for_the_next_run_when_blob_space_is_spent() {
    let mut state = Aps::new(aps::demo());
    let largest = state.account.objects.values().map(Vec::len).max().unwrap();
    let token = state.grant("data:read");
    let (api, fake) = aps::start(state).await;
    let rt = runtime_with(Limits {
        blob_bytes: largest as u64,
        ..Limits::default()
    });
    let connector = load(&rt, "bim360").await;
    let mut cursor: Option<String> = None;
    let mut versions: Vec<VersionSeen> = Vec::new();
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 10, "the pass ends");
        let options = SessionOptions {
            config: config(&api),
            hosts: vec![HostPattern::parse(&api.origin()).expect("host pattern")],
            networks: vec!["127.0.0.0/8".parse().expect("cidr")],
            oauth: Some(Arc::new(FixedToken(SecretValue::new(token.as_str())))),
            ..SessionOptions::default()
        };
        let run = Session::new(&rt, &connector, options, |log| log).expect("session");
        loop {
            let page = run.fetch("versions", cursor.as_deref()).await.unwrap();
            for r in &page.records {
                let file = r
                    .blob
                    .as_deref()
                    .map(|b| run.blobs().bytes(b).unwrap().to_vec());
                versions.push((r.fields(), file));
            }
            cursor = page.cursor.clone();
            if !page.more {
                break;
            }
        }
        let at: Value = serde_json::from_str(cursor.as_deref().expect("a cursor")).unwrap();
        if at["walking"] == false {
            break;
        }
        assert!(
            at["todo"].to_string().contains("download"),
            "a run ends early only with a download waiting: {at}"
        );
    }
    assert!(runs >= 2, "the blob space of one run was spent");
    assert_eq!(versions.len(), 9, "each version once");
    let f = fake.lock().unwrap();
    let mut downloaded = 0;
    for (data, file) in &versions {
        let name = data["name"].as_str().unwrap();
        match data.get("content_skipped").and_then(Value::as_str) {
            Some(why) => {
                assert_eq!(name, "Site.dwg", "{why}");
                assert!(why.contains("max_file_mb"), "{why}");
            }
            None if data["content_downloaded"] == true => {
                downloaded += 1;
                let urn = data["storage_urn"].as_str().unwrap();
                let key = urn.rsplit('/').next().unwrap();
                assert_eq!(file.as_ref(), Some(&f.account.objects[key]), "{name}");
            }
            None => assert!(name.ends_with(".pdf"), "{name}"),
        }
    }
    assert_eq!(
        downloaded, 6,
        "IFC, 2 RVT revisions, NWD, small DWG, depot RVT"
    );
    let mut served = f.downloads.clone();
    served.sort();
    served.dedup();
    assert_eq!(served.len(), 6);
    assert_eq!(f.violations, Vec::<String>::new());
}

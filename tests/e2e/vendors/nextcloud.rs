//! The `nextcloud` connector through `wharf serve` between two fake
//! Nextcloud servers: a wrong app password is `auth` in Sabre's words; a
//! folder tree is walked level by level and each file copied, content and
//! modification time, into another server's folder (folders made as
//! needed); an incremental run copies only the file that changed.

use serde_json::json;

use super::Wharf;
use super::fakes::nextcloud::{self, APP_PASSWORD, Cloud, USER};

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextcloud_folders_copied_between_servers() {
    let mut source = Cloud::default();
    source.file("/Invoices/2024/inv-001.pdf", PDF, 1_717_200_000);
    source.file(
        "/Invoices/2024/Q3 résumé.txt",
        "Ümsatz: 12.400 €".as_bytes(),
        1_717_300_000,
    );
    source.file(
        "/Invoices/readme.txt",
        b"Scans of supplier invoices",
        1_717_100_000,
    );
    source.file("/Private/diary.txt", b"not for sync", 1_717_000_000);
    let (src, src_state) = nextcloud::start(source).await;
    let (dst, dst_state) = nextcloud::start(Cloud::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("nextcloud").await;
    let secrets = |password: &str| json!({"username": USER, "app_password": password});

    let wrong = wharf
        .connection(
            "nc-wrong",
            &connector,
            json!({"base_url": src.origin(), "folder": "/Invoices"}),
            secrets("guess-1234"),
        )
        .await;
    let a = wharf.check(&wrong).await;
    assert_eq!(a.json["kind"], "auth", "{:?}", a.json);
    let message = a.json["message"].as_str().unwrap();
    assert!(
        message.contains("Sabre\\DAV\\Exception\\NotAuthenticated"),
        "{message}"
    );

    let from = wharf
        .connection(
            "nc-from",
            &connector,
            json!({"base_url": src.origin(), "folder": "/Invoices", "lookback_secs": 0}),
            secrets(APP_PASSWORD),
        )
        .await;
    assert_eq!(wharf.check(&from).await.json["ok"], true);
    let to = wharf
        .connection(
            "nc-to",
            &connector,
            json!({"base_url": dst.origin(), "target_folder": "/Archive"}),
            secrets(APP_PASSWORD),
        )
        .await;
    let copy = wharf
        .sync(json!({"name": "nc-copy", "source": from, "streams": ["files"], "mode": "incremental", "destination": to}))
        .await;
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 3, "{run}");
    {
        let d = dst_state.lock().unwrap();
        let pdf = d
            .nodes
            .get("/Archive/2024/inv-001.pdf")
            .expect("the PDF, its folders made");
        assert_eq!(pdf.content, PDF);
        assert_eq!(
            pdf.modified, 1_717_200_000,
            "the source's modification time kept"
        );
        assert_eq!(
            d.nodes["/Archive/2024/Q3 résumé.txt"].content,
            "Ümsatz: 12.400 €".as_bytes()
        );
        assert!(d.nodes.keys().all(|p| !p.contains("Private")));
        let mkcols: std::collections::BTreeSet<&String> = d
            .seen
            .iter()
            .filter(|(m, _)| m == "MKCOL")
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            mkcols.into_iter().collect::<Vec<_>>(),
            ["/Archive", "/Archive/2024"],
            "folders made top-down: {:?}",
            d.seen
        );
    }
    let listed: Vec<String> = src_state
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|(m, _)| m == "PROPFIND")
        .map(|(_, p)| p.clone())
        .collect();
    assert!(
        listed.iter().all(|p| !p.starts_with("/Private")),
        "only the folder read: {listed:?}"
    );

    // Incremental: only the file that changed, and a file uploaded since
    // with its old modification time kept (a new file id).
    {
        let mut s = src_state.lock().unwrap();
        s.file(
            "/Invoices/readme.txt",
            b"Scans of supplier invoices, 2024",
            1_717_400_000,
        );
        s.file("/Invoices/2023/inv-099.pdf", PDF, 1_690_000_000);
    }
    dst_state.lock().unwrap().seen.clear();
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["fetched"], 2, "{run}");
    assert_eq!(run["counters"]["updated"], 1, "{run}");
    assert_eq!(run["counters"]["created"], 1, "{run}");
    let d = dst_state.lock().unwrap();
    assert_eq!(
        d.nodes["/Archive/readme.txt"].content,
        b"Scans of supplier invoices, 2024"
    );
    let puts: std::collections::BTreeSet<&str> = d
        .seen
        .iter()
        .filter(|(m, _)| m == "PUT")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(
        puts.into_iter().collect::<Vec<_>>(),
        ["/Archive/2023/inv-099.pdf", "/Archive/readme.txt"]
    );
}

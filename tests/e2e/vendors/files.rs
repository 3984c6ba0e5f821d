//! The `files` connector through `wharf serve`, on the shared fixtures
//! (`tests/fixtures/files/`, see its SOURCES.md): a CSV with a BOM and
//! Windows line ends, a Windows-1252 CSV with `;` and a bad cell (a row
//! error with its row and column, the rest landing), an xlsx saved by
//! Excel, an MS Project XML file and a Primavera XER, uploaded with runs;
//! and JSON read from a URL.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::Wharf;
use crate::support::Upstream;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/files")
            .join(name),
    )
    .unwrap()
}

async fn stream_sync(wharf: &Wharf, name: &str, conn: &str, streams: &[&str]) -> String {
    wharf
        .sync(json!({"name": name, "source": conn, "streams": streams, "mode": "full", "destination": "records", "error_threshold": 100}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_kind_become_records() {
    let wharf = Wharf::start().await;
    let connector = wharf.upload("files").await;

    // CSV: a BOM, CRLF, quoted commas, doubled quotes, line breaks in cells.
    let csv = wharf
        .connection("orders-csv", &connector,
            json!({"key": "order_id", "columns": {"quantity": "integer", "total": "number", "order_date": "date"}}), json!({}))
        .await;
    let sync = stream_sync(&wharf, "orders", &csv, &["rows"]).await;
    let run = wharf
        .run_file(
            &sync,
            "orders-bom-crlf.csv",
            "text/csv",
            fixture("orders-bom-crlf.csv"),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows = wharf.records(&sync, "rows").await;
    assert_eq!(rows.len(), 10);
    let first = &rows[0]["data"];
    assert_eq!(rows[0]["key"], "SO-1001");
    assert!(
        first.as_object().unwrap().contains_key("order_id"),
        "the BOM is not part of the first name: {first}"
    );
    assert_eq!(first["city"], "Şişli, İstanbul");
    assert_eq!(first["total"], 39.98);
    assert_eq!(first["quantity"], 2);
    let third = rows.iter().find(|r| r["key"] == "SO-1003").unwrap();
    assert_eq!(third["data"]["notes"], "Leave at the door\r\nRing twice");
    let second = rows.iter().find(|r| r["key"] == "SO-1002").unwrap();
    assert_eq!(second["data"]["description"], "Gadget 12\" display");

    // Windows-1252, `;`, a decimal comma, and one bad cell.
    let mut legacy = b"order_id;order_date;customer_name;total\r\n".to_vec();
    legacy.extend(b"SO-2001;31.01.2024;M\xfcller GmbH;1.234,50\r\n");
    legacy.extend(b"SO-2002;01.02.2024;Caf\xe9 \x80uro;twelve\r\n");
    legacy.extend(b"SO-2003;02.02.2024;Stra\xdfe AG;99,90\r\n");
    let run = wharf
        .run_file(&sync, "legacy.csv", "text/csv", legacy)
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let errors = wharf.rejected(&run).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["key"], "legacy.csv:2");
    assert_eq!(errors[0]["field"], "total");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("`twelve` is not a number")
    );
    let rows = wharf.records(&sync, "rows").await;
    let muller = rows.iter().find(|r| r["key"] == "SO-2001").unwrap();
    assert_eq!(muller["data"]["customer_name"], "Müller GmbH");
    assert_eq!(muller["data"]["total"], 1234.5);
    assert_eq!(muller["data"]["order_date"], "2024-01-31");

    // An xlsx saved by Excel: each sheet a stream, typed cells.
    let any = wharf
        .connection("any-file", &connector, json!({}), json!({}))
        .await;
    let sheets = stream_sync(&wharf, "workbook", &any, &["DataSheet"]).await;
    let run = wharf
        .run_file(
            &sheets,
            "workbook.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            fixture("workbook.xlsx"),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let cells = wharf.records(&sheets, "DataSheet").await;
    assert_eq!(cells.len(), 10);
    let one = cells
        .iter()
        .find(|c| c["data"]["Id"] == 1)
        .expect("Id 1, a number");
    assert_eq!(one["data"]["Name"], "a");

    // MS Project XML and Primavera XER: tasks, resources, assignments,
    // relationships.
    let streams = ["tasks", "resources", "assignments", "relationships"];
    let project = stream_sync(&wharf, "project", &any, &streams).await;
    let run = wharf
        .run_file(
            &project,
            "project.xml",
            "application/xml",
            fixture("project.xml"),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let counts: Vec<usize> = stream_counts(&wharf, &project, &streams).await;
    assert_eq!(counts, [20, 3, 17, 6]);
    let p6 = stream_sync(&wharf, "p6", &any, &streams).await;
    let run = wharf
        .run_file(
            &p6,
            "schedule.xer",
            "application/octet-stream",
            fixture("schedule.xer"),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        stream_counts(&wharf, &p6, &streams).await,
        [695, 19, 449, 1595]
    );

    // JSON from a URL, records under a pointer.
    let api = Upstream::start(Router::new().route(
        "/export.json",
        get(|| async {
            axum::Json(json!({"data": [{"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": 5}]}))
        }),
    ))
    .await;
    let remote = wharf
        .connection(
            "remote-json",
            &connector,
            json!({"url": api.url("/export.json"), "record_path": "/data", "key": "sku"}),
            json!({}),
        )
        .await;
    let streams = wharf.discover(&remote).await;
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["name"], "rows");
    let from_url = stream_sync(&wharf, "remote", &remote, &["rows"]).await;
    let run = wharf.run(&from_url).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let items: Vec<Value> = wharf.records(&from_url, "rows").await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["key"], "B-2");
}

async fn stream_counts(wharf: &Wharf, sync: &str, streams: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for s in streams {
        out.push(wharf.records_all(sync, s).await);
    }
    out
}

/// The `files` connector as a mapper between other connectors: CSV files
/// on a Nextcloud read into rows; rows written into an xlsx workbook that
/// `nextcloud` uploads (checked by Python's own ZIP reader, CRCs
/// included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_read_from_and_written_to_other_connectors() {
    use super::fakes::nextcloud::{self, APP_PASSWORD, Cloud, USER};
    let mut cloud = Cloud::default();
    cloud.file(
        "/Imports/orders.csv",
        &fixture("orders-bom-crlf.csv"),
        1_717_200_000,
    );
    let (nc, nc_state) = nextcloud::start(cloud).await;
    let wharf = Wharf::start().await;
    let files = wharf.upload("files").await;
    let nextcloud = wharf.upload("nextcloud").await;
    let http_json = wharf.upload("http-json").await;
    let secrets = json!({"username": USER, "app_password": APP_PASSWORD});
    let drive = wharf
        .connection(
            "nc",
            &nextcloud,
            json!({"base_url": nc.origin(), "folder": "/Imports", "target_folder": "/Exports"}),
            secrets,
        )
        .await;
    let reader = wharf
        .connection(
            "csv-reader",
            &files,
            json!({"key": "order_id", "columns": {"total": "number"}, "output_stream": "orders"}),
            json!({}),
        )
        .await;
    let read = wharf
        .sync(json!({"name": "nc-csv", "source": drive, "streams": ["files"], "mode": "full", "mapper": reader, "destination": "records"}))
        .await;
    let run = wharf.run(&read).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let orders = wharf.records(&read, "orders").await;
    assert_eq!(orders.len(), 10);
    assert_eq!(
        orders.iter().find(|o| o["key"] == "SO-1005").unwrap()["data"]["total"],
        120.0
    );

    let api = Upstream::start(Router::new().route(
        "/items",
        get(|| async { axum::Json(json!([{"sku": "A-1", "name": "Çay bardağı", "qty": 3, "price": 12.5}, {"sku": "B-2", "name": "Kahve & şeker", "qty": 1, "price": 99}])) }),
    ))
    .await;
    let source = wharf
        .connection("items", &http_json, json!({"base_url": api.origin(), "streams": {"items": {"path": "/items", "key": "sku"}}}), json!({}))
        .await;
    let writer = wharf
        .connection(
            "xlsx-writer",
            &files,
            json!({"mode": "write", "format": "xlsx", "file_name": "{stream}.{ext}"}),
            json!({}),
        )
        .await;
    let export = wharf
        .sync(json!({"name": "items-xlsx", "source": source, "streams": ["items"], "mode": "full", "mapper": writer, "destination": drive}))
        .await;
    let run = wharf.run(&export).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let book = nc_state
        .lock()
        .unwrap()
        .nodes
        .get("/Exports/items.xlsx")
        .expect("the workbook uploaded")
        .content
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.xlsx");
    std::fs::write(&path, &book).unwrap();
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nsheet = z.read('xl/worksheets/sheet1.xml').decode()\nprint(sheet)";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sheet = String::from_utf8_lossy(&out.stdout);
    assert!(
        sheet.contains("Kahve &amp; şeker") && sheet.contains("<v>12.5</v>"),
        "{sheet}"
    );
}

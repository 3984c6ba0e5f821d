//! The example connectors end to end through the runtime: `http-json` pages
//! through a fake API (page number, cursor, Link header), `field-map`
//! reshapes, `http-push` delivers to a fake destination, which sees every
//! record exactly once; a second, incremental pass fetches only what
//! changed.

use serde_json::{Value, json};
use wharf::model::record::{Op, Record};
use wharf::runtime::Session;

use crate::fakes::{self, Item};
use crate::support::{Upstream, load, runtime, session};

const TOKEN: &str = "source-token-1234";
const DEST_TOKEN: &str = "dest-token-5678";
const LOOPBACK: &[&str] = &["127.0.0.0/8"];

fn stream_config(style: &str) -> Value {
    let incremental =
        json!({"key": "id", "cursor_field": "updated_at", "cursor_param": "updated_since"});
    let mut s = match style {
        "page_number" => json!({
            "path": "/page-items", "records": "/data",
            "pagination": {"type": "page_number", "param": "page", "size_param": "per_page", "size": 10}
        }),
        "cursor" => json!({
            "path": "/cursor-items", "records": "/items", "query": {"limit": "10"},
            "pagination": {"type": "cursor", "next": "/meta/next", "param": "after"}
        }),
        "link_header" => json!({"path": "/link-items", "pagination": {"type": "link_header"}}),
        other => panic!("{other}"),
    };
    s.as_object_mut()
        .unwrap()
        .extend(incremental.as_object().unwrap().clone());
    s
}

/// A session of `name` granted the hosts its spec declares for `config`.
async fn spec_session(name: &str, config: Value, secrets: &[(&str, &str)]) -> Session {
    let rt = runtime();
    let connector = load(&rt, name).await;
    let hosts: Vec<String> = connector
        .spec()
        .host_patterns(&config)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    session(&rt, &connector, config, &hosts, LOOPBACK, secrets)
}

async fn source_session(up: &Upstream, style: &str, token: &str) -> Session {
    let config = json!({
        "base_url": up.url("/api"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"},
        "streams": { "items": stream_config(style) }
    });
    spec_session("http-json", config, &[("api_token", token)]).await
}

async fn fetch_all(
    source: &Session,
    cursor: Option<String>,
) -> (Vec<Record>, Option<String>, usize) {
    let mut cursor = cursor;
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let page = source
            .fetch("items", cursor.as_deref())
            .await
            .expect("fetch");
        pages += 1;
        records.extend(page.records);
        cursor = page.cursor.or(cursor);
        if !page.more {
            return (records, cursor, pages);
        }
    }
}

fn mapper_config() -> Value {
    json!({"rules": [{
        "stream": "items",
        "output_stream": "products",
        "key": "/id",
        "fields": [
            {"to": "sku", "from": "/id", "cast": "string"},
            {"to": "title", "from": "/name"},
            {"to": "price", "from": "/price/amount", "cast": "number"},
            {"to": "updated", "from": "/updated_at", "cast": "date"},
            {"to": "source", "const": "fake-shop"}
        ],
        "drop_if": [{"field": "/status", "equals": "archived"}]
    }]})
}

async fn pull_map_push(style: &str) {
    let items: Vec<Item> = (1..=25).map(|i| Item::new(i, i)).collect();
    let (src, src_state) = fakes::source(items, Some(TOKEN)).await;
    let (dst, dst_state) = fakes::destination(Some(DEST_TOKEN)).await;
    let source = source_session(&src, style, TOKEN).await;
    let mapper = spec_session("field-map", mapper_config(), &[]).await;
    let push_config = json!({
        "url": dst.url("/records/{key}"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"}
    });
    let dest = spec_session("http-push", push_config, &[("api_token", DEST_TOKEN)]).await;
    mapper.check().await.expect("mapper config is valid");

    // First pass: everything.
    let (records, cursor, pages) = fetch_all(&source, None).await;
    assert_eq!(records.len(), 25, "{style}: every record");
    assert!(pages >= 3, "{style}: paginated ({pages} pages)");
    assert!(
        records
            .iter()
            .all(|r| r.key.is_some() && r.stream == "items")
    );
    let mapped = mapper.map(&records).await.unwrap();
    assert_eq!(mapped.len(), 23, "{style}: archived items dropped");
    let first = &mapped[0];
    assert_eq!(first.stream, "products");
    assert_eq!(first.key.as_deref(), Some("1"));
    assert_eq!(
        serde_json::from_str::<Value>(first.data.get()).unwrap(),
        json!({"sku": "1", "title": "Item 1", "price": 3.5, "updated": "2024-05-01", "source": "fake-shop"})
    );
    let result = dest.push(&mapped).await.unwrap();
    assert_eq!(
        (result.created, result.updated, result.rejected.len()),
        (23, 0, 0),
        "{style}"
    );

    // Second pass from the cursor: one item changed, one is new.
    {
        let mut s = src_state.lock().unwrap();
        s.items[2] = Item::new(3, 59);
        s.items.push(Item::new(26, 58));
        s.requests.clear();
    }
    let (records, _, _) = fetch_all(&source, cursor).await;
    let keys: Vec<&str> = records.iter().filter_map(|r| r.key.as_deref()).collect();
    assert_eq!(keys, ["3", "26"], "{style}: only what changed");
    assert!(
        src_state
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.contains("2024-05-01T10:25:00Z")),
        "{style}: the second pass asked only for newer records"
    );
    let result = dest
        .push(&mapper.map(&records).await.unwrap())
        .await
        .unwrap();
    assert_eq!((result.created, result.updated), (1, 1), "{style}");

    let d = dst_state.lock().unwrap();
    assert_eq!(d.records.len(), 24);
    for (key, writes) in &d.writes {
        let expected = if key == "3" { 2 } else { 1 };
        assert_eq!(
            *writes, expected,
            "{style}: key {key} written {writes} times"
        );
    }
    // The destination refuses a missing or wrong token: every write above
    // carried the right one.
    assert_eq!(d.unauthorized, 0, "{style}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_number_pagination_end_to_end() {
    pull_map_push("page_number").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pagination_end_to_end() {
    pull_map_push("cursor").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_header_pagination_end_to_end() {
    pull_map_push("link_header").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_tell_the_host_what_to_do() {
    let items: Vec<Item> = (1..=3).map(|i| Item::new(i, i)).collect();
    let (src, _) = fakes::source(items, Some(TOKEN)).await;
    let source = source_session(&src, "page_number", "wrong-token").await;
    let err = source.fetch("items", None).await.unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    // The fake echoes the credential it was given; the error carries the
    // upstream's answer, with the token redacted.
    let text = err.to_string();
    assert!(text.contains("bad token"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");

    let err = source.fetch("nope", None).await.unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(err.to_string().contains("unknown stream `nope`"), "{err}");

    // The destination refuses one record; the others land.
    let (dst, dst_state) = fakes::destination(None).await;
    let rt = runtime();
    let push_c = load(&rt, "http-push").await;
    let push_config = json!({"url": dst.url("/records/{key}")});
    let dest = session(&rt, &push_c, push_config, &[&dst.origin()], LOOPBACK, &[]);
    let rec = |key: &str, price: f64| {
        Record::new(
            "products",
            Some(key.into()),
            Op::Upsert,
            json!({"price": price}).to_string(),
        )
        .unwrap()
    };
    let delete = Record::new("products", Some("gone".into()), Op::Delete, "{}".into()).unwrap();
    let result = dest
        .push(&[rec("a", 1.0), rec("b", -1.0), rec("c", 2.0), delete])
        .await
        .unwrap();
    assert_eq!((result.created, result.deleted), (2, 1));
    assert_eq!(result.rejected.len(), 1);
    assert_eq!(result.rejected[0].index, 1);
    assert_eq!(result.rejected[0].field.as_deref(), Some("price"));
    assert!(result.rejected[0].message.contains("must not be negative"));
    assert_eq!(dst_state.lock().unwrap().records.len(), 2);
}

/// A record whose text is a placeholder reaches the destination as that
/// text: `http-push` sends record data with `json_data`, so the host finds
/// no placeholder to fill, even for a secret bound to that very host.
#[tokio::test]
async fn a_placeholder_in_record_data_is_sent_as_text() {
    let (dst, dst_state) = fakes::destination(Some(DEST_TOKEN)).await;
    let push_config = json!({
        "url": dst.url("/records/{key}"),
        "headers": {"Authorization": "Bearer {{secret:api_token}}"}
    });
    let dest = spec_session("http-push", push_config, &[("api_token", DEST_TOKEN)]).await;
    let note = "{{secret:api_token}} and {{{oauth:access_token}}}";
    let record = Record::new(
        "products",
        Some("7".into()),
        Op::Upsert,
        json!({"sku": "7", "price": 1, "note": note}).to_string(),
    )
    .unwrap();
    let result = dest.push(&[record]).await.unwrap();
    assert!(result.rejected.is_empty(), "{result:?}");
    let stored = dst_state.lock().unwrap().records["7"].clone();
    assert_eq!(stored["note"], note);
    assert!(!stored.to_string().contains(DEST_TOKEN));
}

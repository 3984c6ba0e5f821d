//! The raw-record path of `RestStream` (records sliced out of the body as
//! text) against the parsing path (the body parsed into a value tree, every
//! record printed again), on arbitrary pages: unicode escapes (surrogate
//! pairs and lone ones), nested arrays, numbers at the edge of `f64`,
//! duplicate keys, invalid UTF-8, truncated documents, and a byte of JSON
//! syntax put in or taken out anywhere. Both must give
//! the same records (as JSON, not as bytes), keys, cursors and errors.

use proptest::prelude::*;
use serde_json::{Map, Value};
use wharf_sdk::http::{Request, Response};
use wharf_sdk::rest::{Incremental, Paginator, RestStream, StreamState};
use wharf_sdk::{Page, Record};

/// A JSON value as text, written in one of the ways an API might.
fn value(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number(),
        string(),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => prop::collection::vec(value(depth - 1), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
        1 => object(depth - 1),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "-1.8e308",
            "1e400",
            "4.9e-324",
            "1e-400",
            "0.0",
            "-0",
            "1.50",
            "1E2",
            "123456789012345678901234567890",
        ])
        .prop_map(str::to_string),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<String> {
    let part = prop_oneof![
        "[a-z ]{0,6}".prop_map(|s| s),
        Just("\\u00e9".to_string()),
        Just("\\ud83d\\ude00".to_string()),
        Just("\\ud800".to_string()),
        Just("\\udc00x".to_string()),
        Just("\\\"\\\\\\/\\n".to_string()),
        Just("é✓😀".to_string()),
    ];
    prop::collection::vec(part, 0..3)
        .prop_map(|parts| format!("\"{}\"", parts.concat()))
        .boxed()
}

fn object(depth: u32) -> BoxedStrategy<String> {
    // Mostly plain names (the one-pass reader takes those), sometimes one
    // with an escape (which sends a page to the careful readers).
    let key = prop::sample::select(vec![
        "id", "name", "updated", "a", "id", "b", "name", "c", "x\\u0041",
    ]);
    prop::collection::vec((key, value(depth)), 0..5)
        .prop_map(|fields| {
            let inner: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!("{{{}}}", inner.join(", "))
        })
        .boxed()
}

/// A page: records (mostly objects) under `/data` or `/data/rows`, a next
/// token, maybe broken afterwards (about a quarter of the pages get one
/// byte of JSON syntax put in or taken out).
fn page() -> impl Strategy<Value = Vec<u8>> {
    let record = prop_oneof![6 => object(3), 1 => value(2)];
    let next = prop_oneof![Just("null".to_string()), string(), number()];
    let wrapper = prop::sample::select(vec![0u8, 1, 2, 3, 4, 4]);
    (
        prop::collection::vec(record, 0..6),
        next,
        wrapper,
        any::<u8>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(records, next, wrapper, damage, at)| {
            let list = format!("[{}]", records.join(",\n "));
            let text = match wrapper {
                0 => format!("{{\"data\": {list}, \"next\": {next}, \"@odata.nextLink\": {next}}}"),
                1 => format!("{{\"next\": {next}, \"data\": {list}, \"data\": {list}}}"),
                2 => format!(
                    "{{\"data\": {}}}",
                    records.first().cloned().unwrap_or("null".into())
                ),
                3 => format!("{{\"data\": [[{list}]]}}"),
                _ => format!(
                    "{{\"meta\": {{\"next\": {next}}}, \"data\": {{\"rows\": {list}, \"n\": 1}}, \"next\": {next}}}"
                ),
            };
            let mut bytes = text.into_bytes();
            match damage % 8 {
                0 => bytes.truncate(at.index(bytes.len() + 1)),
                1 => {
                    let i = at.index(bytes.len() + 1);
                    bytes.insert(i, 0xff);
                }
                // One byte that means something to a JSON reader, put in
                // or taken out: what a checker must not let through.
                2 => {
                    let i = at.index(bytes.len() + 1);
                    let byte = b",:{}[]\"\\ 0-+.eEtn\x01"[usize::from(damage / 8) % 18];
                    bytes.insert(i, byte);
                }
                3 if !bytes.is_empty() => {
                    bytes.remove(at.index(bytes.len()));
                }
                _ => {}
            }
            bytes
        })
}

fn streams() -> Vec<RestStream> {
    let request = || Request::get("https://api.test/items");
    vec![
        RestStream::new("items", request())
            .records("/data")
            .key("id")
            .paginator(Paginator::cursor("/next", "after"))
            .incremental(Incremental::new("updated", "since")),
        RestStream::new("items", request())
            .records("/data")
            .paginator(Paginator::ODataNextLink),
        RestStream::new("items", request())
            .records("/data/rows")
            .key("id")
            .paginator(Paginator::cursor("/meta/next", "after")),
        RestStream::new("items", request())
            .records("/data/0")
            .key("name")
            .paginator(Paginator::next_url("/next"))
            .incremental(Incremental::new("/a/0", "since")),
    ]
}

/// A page's records as values, whichever list holds them.
fn records_of(page: &Page) -> Vec<Record> {
    let mut all = page.records.clone();
    all.extend(
        page.raw
            .iter()
            .map(|r| r.to_record().expect("raw records are objects")),
    );
    all
}

fn outcome(p: wharf_sdk::Result<Page>) -> Result<(Vec<Record>, Option<String>, bool), String> {
    p.map(|p| (records_of(&p), p.cursor.clone(), p.more))
        .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_raw_path_reads_every_page_as_the_parsing_path(body in page(), since in prop::option::of("[0-9]{1,3}")) {
        let response = Response::new(200, Vec::new(), body.clone());
        for stream in streams() {
            let state = StreamState {
                next: None,
                window: wharf_sdk::rest::Window { since: since.clone(), max: None },
            };
            let raw = stream
                .page_raw(&response, state.clone())
                .unwrap_or_else(|| stream.page_parsed(&response, state.clone()));
            let parsed = stream.page_parsed(&response, state);
            prop_assert_eq!(outcome(raw), outcome(parsed), "body: {}", String::from_utf8_lossy(&body));
        }
    }
}

/// The records at `pointer` with their keys, read by parsing everything.
fn keyed_by_parsing(text: &str, pointer: &str, key: &str) -> Option<Vec<(Value, Option<String>)>> {
    let doc: Value = serde_json::from_str(text).ok()?;
    let items = match doc.pointer(pointer)? {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        object @ Value::Object(_) => vec![object.clone()],
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| {
            let key = item.get(key).and_then(wharf_sdk::scalar_text);
            item.is_object().then_some((item, key))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// What the host's `wharf:pages` stages: the same records and keys as a
    /// parse of the whole page, and an error exactly where a parse fails.
    #[test]
    fn keyed_records_are_what_a_parse_finds(body in page()) {
        let Ok(text) = std::str::from_utf8(&body) else { return Ok(()) };
        for (pointer, key) in [("/data", "id"), ("/data/rows", "id"), ("/data/0", "name"), ("", "id")] {
            let sliced = wharf_sdk::raw::keyed_records(text, pointer, Some(key), usize::MAX).ok().map(|items| {
                items
                    .into_iter()
                    .map(|(t, k)| (serde_json::from_str::<Value>(t).expect("a sliced record parses"), k))
                    .collect::<Vec<_>>()
            });
            let parsed = keyed_by_parsing(text, pointer, key);
            // With a cap, the same answer while it holds, an error past it.
            if let Some(n) = parsed.as_ref().map(Vec::len).filter(|n| *n > 0) {
                let capped = wharf_sdk::raw::keyed_records(text, pointer, Some(key), n - 1);
                prop_assert!(capped.is_err(), "{} records under a cap of {}", n, n - 1);
                prop_assert!(wharf_sdk::raw::keyed_records(text, pointer, Some(key), n).is_ok());
            }
            prop_assert_eq!(sliced, parsed, "pointer {} in {}", pointer, text);
        }
    }
}

#[test]
fn plain_pages_take_the_raw_path() {
    let body = r#"{"data": [{"id": 1, "updated": "2024-05-01", "name": "\u00e9"}, {"id": "b", "n": [1, [2, {"x": -0.5e-3}]]}], "next": "t2"}"#;
    let response = Response::new(200, Vec::new(), body);
    let stream = streams().remove(0);
    let page = stream
        .page_raw(&response, StreamState::default())
        .expect("a plain page is read as text")
        .unwrap();
    assert!(page.records.is_empty());
    assert_eq!(page.raw.len(), 2);
    assert_eq!(page.raw[1].key.as_deref(), Some("b"));
    assert_eq!(
        page.raw[0].data(),
        r#"{"id": 1, "updated": "2024-05-01", "name": "\u00e9"}"#,
        "the source's text is kept as it came"
    );
    let expected: Map<String, Value> =
        serde_json::from_str(r#"{"id": 1, "updated": "2024-05-01", "name": "é"}"#).unwrap();
    assert_eq!(page.raw[0].to_record().unwrap().data, expected);
    assert!(page.cursor.unwrap().contains("t2"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// An object's top level read once (`RawObject`, by the one-pass
    /// scanner or, when it is unsure, by serde) finds what a parse finds,
    /// and written back (`ObjectWriter`) is the same object.
    #[test]
    fn an_object_read_once_finds_what_a_parse_finds(text in object(3)) {
        use wharf_sdk::raw::{ObjectWriter, RawObject};
        let parsed: Result<Map<String, Value>, _> = serde_json::from_str(&text);
        let object = RawObject::parse(&text);
        let (Ok(parsed), Ok(object)) = (parsed, object) else {
            // Only a value beyond f64 or a lone surrogate, which serde's
            // syntax check lets through and a parse refuses.
            prop_assert!(!wharf_sdk::raw::plain(&text), "{}", text);
            return Ok(());
        };
        let value = Value::Object(parsed.clone());
        for pointer in ["/id", "/name", "/a", "/a/0", "/a/id", "/xA", "/id/0/a", "/none"] {
            let ours = object.pointer(pointer).map(|v| serde_json::from_str::<Value>(v.get()).unwrap());
            prop_assert_eq!(ours.as_ref(), value.pointer(pointer), "{} in {}", pointer, text);
        }
        let names: Vec<&str> = object.iter().map(|(name, _)| name).collect();
        prop_assert_eq!(names, parsed.keys().map(String::as_str).collect::<Vec<_>>());
        let mut writer = ObjectWriter::default();
        for (name, value) in object.iter() {
            writer.raw(name, value);
        }
        let written: Value = serde_json::from_str(&writer.finish()).unwrap();
        prop_assert_eq!(written, value);
    }
}

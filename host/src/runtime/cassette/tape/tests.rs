//! Playing back requests that come in another order than recorded.

use serde_json::Value;

use super::super::super::bindings::wharf::connector::http::{HttpError, Request, Response};
use super::super::super::blobs::BlobStore;
use super::Tape;

fn get(url: &str) -> Request {
    Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        body_blob: None,
        sign: None,
        keep_body: false,
    }
}

fn answer(body: &str) -> Result<Response, HttpError> {
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
        blob: None,
    })
}

#[tokio::test]
async fn concurrent_requests_meet_their_own_answers_and_a_stranger_is_named() {
    let blobs = BlobStore::new(0, Vec::new());
    let recorder = Tape::recorder();
    recorder.begin("fetch", &|| Value::Null);
    for page in ["a", "b"] {
        let url = format!("https://api.test/{page}");
        let body = format!("page {page}");
        let r = recorder
            .exchange(get(&url), &blobs, |_| async move { answer(&body) })
            .await
            .unwrap();
        assert_eq!(r.body, format!("page {page}").as_bytes());
    }
    recorder.end(false, &|| Value::Null, &|| Value::Null);

    // Recorded one after the other: played back in the other order, the
    // first request is the mismatch (a sequential connector that reorders
    // its requests fails its replay).
    let player = Tape::player(recorder.cassette());
    player.begin("fetch", &|| Value::Null);
    let live = |_| async { panic!("a replay sends nothing") };
    let r = player
        .exchange(get("https://api.test/b"), &blobs, live)
        .await;
    assert!(matches!(r, Err(HttpError::Denied(_))), "{r:?}");
    player.end(false, &|| Value::Null, &|| Value::Null);
    assert!(
        player
            .finish()
            .unwrap_err()
            .what
            .contains("request 1 differs")
    );

    // Recorded in flight together (as two fetch() calls may be): played
    // back in the other order, each request gets its own response.
    let mut cassette = recorder.cassette();
    cassette.calls[0].exchanges[1].in_flight = true;
    let player = Tape::player(cassette.clone());
    player.begin("fetch", &|| Value::Null);
    let live = |_| async { panic!("a replay sends nothing") };
    for page in ["b", "a"] {
        let url = format!("https://api.test/{page}");
        let r = player.exchange(get(&url), &blobs, live).await.unwrap();
        assert_eq!(r.body, format!("page {page}").as_bytes());
    }
    player.end(false, &|| Value::Null, &|| Value::Null);
    player.finish().unwrap();

    // A request the cassette does not hold: compared with the first one
    // not answered yet, and named.
    let player = Tape::player(cassette);
    player.begin("fetch", &|| Value::Null);
    let r = player
        .exchange(get("https://api.test/b"), &blobs, live)
        .await;
    assert!(r.is_ok());
    let r = player
        .exchange(get("https://api.test/c"), &blobs, live)
        .await;
    assert!(matches!(r, Err(HttpError::Denied(_))), "{r:?}");
    player.end(false, &|| Value::Null, &|| Value::Null);
    let m = player.finish().unwrap_err();
    assert!(m.what.contains("request 2 differs"), "{m}");
    assert!(m.what.contains("https://api.test/a"), "{m}");
}

#[test]
fn a_cassette_keeps_the_connectors_limits_and_only_when_set() {
    use crate::model::limits::ConnectorLimits;
    use crate::model::redact::SharedRedactor;

    let connector = || super::super::TapedConnector {
        name: "x".into(),
        version: "0.1.0".into(),
        digest: String::new(),
    };
    let limits = ConnectorLimits {
        memory_mib: Some(128),
        call_timeout_secs: None,
    };
    let tape = Tape::recorder();
    tape.attach(connector(), &Value::Null, limits, SharedRedactor::default());
    let text = tape.cassette().to_json();
    assert!(
        text.contains("\"memory_mib\": 128") || text.contains("\"memory_mib\":128"),
        "{text}"
    );
    let back = super::super::Cassette::from_json(&text).unwrap();
    assert_eq!(back.limits, limits);

    let tape = Tape::recorder();
    tape.attach(
        connector(),
        &Value::Null,
        ConnectorLimits::default(),
        SharedRedactor::default(),
    );
    assert!(!tape.cassette().to_json().contains("limits"));
}

#[tokio::test]
async fn requests_made_while_another_is_out_are_marked_in_flight() {
    let blobs = BlobStore::new(0, Vec::new());
    let recorder = Tape::recorder();
    recorder.begin("fetch", &|| Value::Null);
    let slow = |body: &'static str| {
        move |_| async move {
            tokio::task::yield_now().await;
            answer(body)
        }
    };
    let (a, b) = tokio::join!(
        recorder.exchange(get("https://api.test/a"), &blobs, slow("a")),
        recorder.exchange(get("https://api.test/b"), &blobs, slow("b")),
    );
    assert!(a.is_ok() && b.is_ok());
    recorder
        .exchange(get("https://api.test/c"), &blobs, slow("c"))
        .await
        .unwrap();
    recorder.end(false, &|| Value::Null, &|| Value::Null);
    let flags: Vec<bool> = recorder.cassette().calls[0]
        .exchanges
        .iter()
        .map(|e| e.in_flight)
        .collect();
    assert_eq!(flags, [false, true, false]);
}

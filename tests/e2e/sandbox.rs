//! The sandbox against hostile guests: every attack fails its own call with
//! an error naming the limit or the refused capability, while a well-behaved
//! call running at the same time finishes; bad components are refused at
//! load with the reason.

use std::time::Duration;

use serde_json::json;
use wharf::runtime::{CallError, Limits, LoadError, RuntimeOptions};

use crate::support::{guest, load, runtime, runtime_with, session};

fn attack(name: &str) -> serde_json::Value {
    json!({ "attack": name, "url": "http://blocked.example" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_fail_alone_while_a_good_call_finishes() {
    let limits = Limits {
        call_timeout: Duration::from_secs(2),
        max_output_bytes: 1 << 20,
        ..Limits::default()
    };
    let rt = runtime_with(limits);
    let hostile = load(&rt, "hostile").await;

    let cases: Vec<(serde_json::Value, &str, &str)> = vec![
        (attack("spin"), "limit", "time limit exceeded"),
        (attack("memory"), "limit", "memory limit exceeded"),
        (attack("recursion"), "limit", "stack limit exceeded"),
        (
            json!({"attack": "huge-output", "url": "http://x.example", "n": 2 << 20}),
            "limit",
            "output limit exceeded",
        ),
        (
            json!({"attack": "log-flood", "url": "http://x.example", "n": 100_000}),
            "limit",
            "log limit exceeded",
        ),
        (
            json!({"attack": "print-flood", "url": "http://x.example", "n": 100_000}),
            "limit",
            "log limit exceeded",
        ),
        (attack("panic"), "trap", "crashed"),
        (attack("open-file"), "fatal", "open /etc/passwd"),
        (attack("write-file"), "fatal", "write /tmp/wharf-escape"),
        (
            json!({"attack": "tcp", "url": "http://x.example", "addr": "127.0.0.1:22"}),
            "fatal",
            "tcp connect",
        ),
        (attack("reveal-token"), "config", "may not be revealed"),
    ];

    let mut tasks = Vec::new();
    for (config, kind, needle) in cases {
        let s = session(&rt, &hostile, config.clone(), &[], &[], &[]);
        tasks.push(tokio::spawn(async move {
            let r = s.fetch("out", None).await;
            (
                config,
                kind,
                needle,
                r.map(|p| p.records.len()),
                s.log().drain(),
            )
        }));
    }
    // A well-behaved call beside them: it sleeps 300 ms (in the host, through
    // WASI) and returns; it must not wait for the spinning guest's deadline.
    let good = session(
        &rt,
        &hostile,
        json!({"attack": "sleep", "url": "http://x.example", "n": 300}),
        &[],
        &[],
        &[],
    );
    let page = good
        .fetch("out", None)
        .await
        .expect("the good call succeeds");
    assert_eq!(page.records.len(), 1);
    // The spinning guest (the first task) runs until its 2 s deadline: the
    // good call must have ended while it was still running.
    assert!(
        !tasks[0].is_finished(),
        "the good call waited for the spinning one to be stopped"
    );

    for task in tasks {
        let (config, kind, needle, result, _log) = task.await.expect("task");
        let err = result.expect_err(&format!("{config} must fail"));
        assert_eq!(err.kind(), kind, "{config}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{config}: `{err}` lacks `{needle}`"
        );
    }
    // The host keeps working after all of that.
    let again = session(
        &rt,
        &hostile,
        json!({"attack": "echo", "url": "http://x.example", "n": 3}),
        &[],
        &[],
        &[],
    );
    assert_eq!(again.fetch("out", None).await.unwrap().records.len(), 3);
}

#[tokio::test]
async fn the_sdks_checked_scan_in_wasm_agrees_with_serde() {
    // The string skip goes sixteen bytes at a time with Wasm SIMD in a
    // guest and a word at a time natively (where its unit test runs): this
    // is the Wasm build's check.
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let s = session(&rt, &hostile, attack("scan-check"), &[], &[], &[]);
    let page = s.fetch("out", None).await.unwrap();
    let data = page.records[0].fields();
    assert_eq!(
        data["wrong"],
        json!([]),
        "texts the scan judged otherwise than serde"
    );
    assert!(data["checked"].as_u64().unwrap() > 30_000, "{data:?}");
}

#[tokio::test]
async fn wasi_is_linked_with_nothing_behind_it() {
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    assert!(
        hostile
            .wasi_imports()
            .iter()
            .any(|i| i.starts_with("wasi:filesystem/")),
        "the connector's description lists its WASI imports: {:?}",
        hostile.wasi_imports()
    );
    let s = session(&rt, &hostile, attack("env"), &[], &[], &[]);
    let page = s.fetch("out", None).await.unwrap();
    let data = page.records[0].fields();
    assert_eq!(data["env"], json!([]), "empty environment");
    assert_eq!(data["args"], json!([]), "no arguments");
    assert!(
        data["time"].as_u64().unwrap() > 1_700_000_000,
        "clocks work"
    );
}

#[tokio::test]
async fn log_lines_are_kept_with_their_source() {
    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let s = session(
        &rt,
        &hostile,
        json!({"attack": "log-flood", "url": "http://x.example", "n": 3}),
        &[],
        &[],
        &[],
    );
    s.fetch("out", None).await.unwrap();
    let lines = s.log().drain();
    let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["flood line 0", "flood line 1", "flood line 2"]);
}

#[tokio::test]
async fn bad_components_are_refused_at_load_with_the_reason() {
    let rt = runtime();
    let err = |bytes: Vec<u8>| {
        let rt = rt.clone();
        async move { rt.load(&bytes).await.expect_err("must be refused") }
    };

    assert_eq!(
        err(b"PK\x03\x04 a zip file".to_vec()).await,
        LoadError::NotWasm
    );

    let core = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let e = err(core).await;
    assert_eq!(e, LoadError::CoreModule);
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");

    let e = err(guest("plain-command")).await;
    assert!(
        matches!(&e, LoadError::MissingExport { exports } if exports.contains("wasi:cli/run")),
        "{e}"
    );

    let e = err(guest("future-contract")).await;
    assert!(
        matches!(&e, LoadError::UnsupportedContract { found } if found == "wharf:connector/connector@9.0.0"),
        "{e}"
    );
    assert!(
        e.to_string().contains("wharf:connector/connector@0.1.0"),
        "{e}"
    );

    let e = err(guest("foreign-import")).await;
    assert_eq!(
        e,
        LoadError::UnknownImport {
            name: "hostile:foreign/raw-socket".into()
        }
    );

    let mut truncated = guest("http-json");
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        err(truncated).await,
        LoadError::Malformed(_) | LoadError::Compile(_)
    ));

    let small = runtime_with(Limits {
        component_bytes: 1000,
        ..Limits::default()
    });
    let e = small.load(&guest("http-json")).await.unwrap_err();
    assert!(matches!(e, LoadError::TooLarge { limit: 1000, .. }), "{e}");
}

#[tokio::test]
async fn compiled_artifacts_are_cached_and_bad_ones_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let options = || RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        no_pooling: true,
        ..RuntimeOptions::default()
    };
    let bytes = guest("field-map");
    let first = wharf::runtime::Runtime::new(options())
        .unwrap()
        .load(&bytes)
        .await
        .unwrap();
    assert!(!first.from_cache());
    let second = wharf::runtime::Runtime::new(options())
        .unwrap()
        .load(&bytes)
        .await
        .unwrap();
    assert!(
        second.from_cache(),
        "a second runtime loads the compiled artifact"
    );
    assert_eq!(first.digest(), second.digest());

    // A damaged artifact is dropped and the component compiled again.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = wharf::runtime::Runtime::new(options())
        .unwrap()
        .load(&bytes)
        .await
        .unwrap();
    assert!(!third.from_cache());
    assert_eq!(third.spec().name, "field-map");
}

#[tokio::test]
async fn unsupported_functions_say_so() {
    let rt = runtime();
    let mapper = load(&rt, "field-map").await;
    let s = session(&rt, &mapper, json!({"rules": []}), &[], &[], &[]);
    let e = s.fetch("x", None).await.unwrap_err();
    assert!(
        matches!(
            e,
            CallError::Connector(wharf::runtime::ConnectorError::Unsupported)
        ),
        "{e}"
    );
    assert_eq!(e.kind(), "unsupported");
}

/// Epoch ticks count the guest's own work: a guest that spins until its
/// deadline sees many, one that sleeps half as long (in the host, through
/// WASI) sees about one. A count, not a timing: the spin's deadline is 1 s, so
/// at the 10 ms tick it sees dozens even on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_ticks_count_the_guests_work_not_its_waits() {
    let rt = runtime_with(Limits {
        call_timeout: Duration::from_secs(1),
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    let spin = session(&rt, &hostile, attack("spin"), &[], &[], &[]);
    assert!(spin.fetch("out", None).await.is_err());
    let sleep = session(
        &rt,
        &hostile,
        json!({"attack": "sleep", "url": "http://x.example", "n": 500}),
        &[],
        &[],
        &[],
    );
    sleep.fetch("out", None).await.unwrap();
    let (spun, slept) = (spin.usage(), sleep.usage());
    assert!(spun.epoch_ticks >= 20, "a spinning guest: {spun:?}");
    assert!(slept.epoch_ticks <= 5, "a sleeping guest: {slept:?}");
    assert!(
        slept.call_time >= Duration::from_millis(500),
        "it did sleep: {slept:?}"
    );
}

//! An instance serves the calls of one session while they end well: each
//! call's limits start again, and a call that traps, breaks a limit, holds
//! more than half its memory limit with no room left for a next call that
//! grows as much, or runs while the node is short of
//! instances leaves nothing behind; sessions taped call by call start every
//! call afresh, so each replays alone as it ran.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wharf::runtime::cassette::Tape;
use wharf::runtime::{Connector, Limits, Runtime, Session, SessionOptions};

use crate::support::{load, runtime_with, session};

fn echo() -> serde_json::Value {
    json!({"attack": "echo", "url": "http://x.example", "n": 3})
}

/// A session of the hostile guest making `attack` with `n`.
fn attack(rt: &Runtime, c: &Arc<Connector>, attack: &str, n: u64) -> Session {
    let config = json!({"attack": attack, "url": "http://x.example", "n": n});
    session(rt, c, config, &[], &[], &[])
}

/// Make `calls` fetches that must succeed.
async fn fetch_ok(s: &Session, calls: usize) {
    for i in 0..calls {
        s.fetch("out", None)
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
}

/// (calls, instances) of a session.
fn counts(s: &Session) -> (u64, u64) {
    let u = s.usage();
    (u.calls, u.instances)
}

#[tokio::test]
async fn a_session_keeps_its_instance_while_calls_end_well() {
    let rt = runtime_with(Limits::default());
    let hostile = load(&rt, "hostile").await;
    let s = session(&rt, &hostile, echo(), &[], &[], &[]);
    for _ in 0..5 {
        assert_eq!(s.fetch("out", None).await.unwrap().records.len(), 3);
    }
    assert_eq!(counts(&s), (5, 1));
    // Another session of the same connector never gets it.
    let other = session(&rt, &hostile, echo(), &[], &[], &[]);
    other.fetch("out", None).await.unwrap();
    assert_eq!(counts(&other), (1, 1));
}

#[tokio::test]
async fn each_call_of_a_kept_instance_gets_its_whole_time_and_log_budget() {
    let limits = Limits {
        call_timeout: Duration::from_millis(2_000),
        log_lines_per_call: 50,
        ..Limits::default()
    };
    let rt = runtime_with(limits);
    let hostile = load(&rt, "hostile").await;
    // 1.2 s of a 2 s limit each: three calls are 3.6 s in all.
    let sleeper = attack(&rt, &hostile, "sleep", 1_200);
    fetch_ok(&sleeper, 3).await;
    assert_eq!(counts(&sleeper), (3, 1));
    // 40 lines of a 50-line budget each.
    let logger = attack(&rt, &hostile, "log-flood", 40);
    fetch_ok(&logger, 3).await;
    assert_eq!(counts(&logger), (3, 1));
    // Past the budget the call still fails, and its instance goes.
    let flood = attack(&rt, &hostile, "log-flood", 60);
    for _ in 0..2 {
        let err = flood.fetch("out", None).await.unwrap_err();
        assert!(err.to_string().contains("log limit exceeded"), "{err}");
    }
    assert_eq!(counts(&flood), (2, 2));
}

#[tokio::test]
async fn a_call_that_fails_or_holds_much_memory_leaves_no_instance() {
    let rt = runtime_with(Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    let panics = attack(&rt, &hostile, "panic", 0);
    for _ in 0..3 {
        assert_eq!(panics.fetch("out", None).await.unwrap_err().kind(), "trap");
    }
    assert_eq!(counts(&panics), (3, 3));
    // 40 MiB held of a 64 MiB limit: the call succeeds, but its instance
    // is not kept (a connector that leaks starts afresh instead of failing
    // a later call).
    let hoarder = attack(&rt, &hostile, "allocate", 40);
    fetch_ok(&hoarder, 2).await;
    assert_eq!(counts(&hoarder), (2, 2));
    // A little memory is kept.
    let small = attack(&rt, &hostile, "allocate", 4);
    fetch_ok(&small, 2).await;
    assert_eq!(counts(&small), (2, 1));
}

#[tokio::test]
async fn an_instance_above_half_its_limit_stays_while_the_next_call_fits() {
    let rt = runtime_with(Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    // 10 MiB more each call (on ~1 MiB it starts with): after the fourth
    // it holds more than half its 64 MiB, but another 10 MiB still fits
    // after the fourth and the fifth (~51 MiB), so it stays.
    let leaky = attack(&rt, &hostile, "leak", 10);
    fetch_ok(&leaky, 6).await;
    assert_eq!(counts(&leaky), (6, 1));
    // After the sixth (~61 MiB) another 10 MiB would not fit: it starts
    // afresh, and no call fails for the leak.
    fetch_ok(&leaky, 2).await;
    assert_eq!(counts(&leaky), (8, 2));
}

#[tokio::test]
async fn a_call_whose_answer_is_refused_leaves_no_instance() {
    let rt = runtime_with(Limits {
        max_records_per_call: 10,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    // The connector's own error: the call ended, its answer is a failure.
    let erring = attack(&rt, &hostile, "huge-error", 10);
    for _ in 0..2 {
        assert_eq!(erring.fetch("out", None).await.unwrap_err().kind(), "fatal");
    }
    assert_eq!(counts(&erring), (2, 2));
    // A page the host refuses after the call (more records than a call may
    // return).
    let over = attack(&rt, &hostile, "echo", 20);
    for _ in 0..2 {
        let err = over.fetch("out", None).await.unwrap_err();
        assert_eq!(err.kind(), "limit", "{err}");
    }
    assert_eq!(counts(&over), (2, 2));
    // Within the limit, the same session shape keeps its instance.
    let within = attack(&rt, &hostile, "echo", 10);
    fetch_ok(&within, 2).await;
    assert_eq!(counts(&within), (2, 1));
}

#[tokio::test]
async fn a_call_that_finds_no_free_slot_takes_a_kept_one() {
    let rt = runtime_with(Limits {
        max_instances: 4,
        call_timeout: Duration::from_secs(10),
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    let kept = session(&rt, &hostile, echo(), &[], &[], &[]);
    fetch_ok(&kept, 1).await;
    // Four calls at once on a node of four instances, one of them kept: the
    // fourth call gets the kept instance's slot instead of waiting.
    let mut calls = Vec::new();
    for _ in 0..4 {
        let s = attack(&rt, &hostile, "sleep", 1_000);
        calls.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            s.fetch("out", None).await.map(|_| started.elapsed())
        }));
    }
    for call in calls {
        call.await.unwrap().expect("every call gets a slot");
    }
    // The kept instance was given back: the next call starts another.
    fetch_ok(&kept, 1).await;
    assert_eq!(counts(&kept), (2, 2));
}

#[tokio::test]
async fn fresh_instances_give_every_call_its_own() {
    let rt = runtime_with(Limits {
        fresh_instances: true,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    let s = session(&rt, &hostile, echo(), &[], &[], &[]);
    fetch_ok(&s, 3).await;
    assert_eq!(counts(&s), (3, 3));
}

#[tokio::test]
async fn instances_are_kept_only_while_more_than_half_the_node_is_free() {
    let rt = runtime_with(Limits {
        max_instances: 4,
        ..Limits::default()
    });
    let hostile = load(&rt, "hostile").await;
    // The first session keeps its instance: 1 of 4 is then in use.
    let first = session(&rt, &hostile, echo(), &[], &[], &[]);
    let second = session(&rt, &hostile, echo(), &[], &[], &[]);
    fetch_ok(&first, 3).await;
    assert_eq!(counts(&first), (3, 1));
    // With the first one's kept, the second's call leaves 2 of 4 free:
    // not more than half, so nothing is kept.
    fetch_ok(&second, 3).await;
    assert_eq!(counts(&second), (3, 3));
    // A node of one instance never keeps it.
    let one = runtime_with(Limits {
        max_instances: 1,
        ..Limits::default()
    });
    let hostile = load(&one, "hostile").await;
    let s = session(&one, &hostile, echo(), &[], &[], &[]);
    let t = session(&one, &hostile, echo(), &[], &[], &[]);
    for _ in 0..2 {
        s.fetch("out", None).await.unwrap();
        t.fetch("out", None).await.unwrap();
    }
    assert_eq!(counts(&s), (2, 2));
}

#[tokio::test]
async fn sessions_taped_call_by_call_start_every_call_afresh() {
    let rt = runtime_with(Limits::default());
    let hostile = load(&rt, "hostile").await;
    let taped = |tape: Tape| {
        let options = SessionOptions {
            config: echo(),
            tape: Some(Arc::new(tape)),
            ..SessionOptions::default()
        };
        Session::new(&rt, &hostile, options, |log| log).unwrap()
    };
    let recorded = taped(Tape::recorder());
    fetch_ok(&recorded, 3).await;
    assert_eq!(counts(&recorded), (3, 3));
    // A run's tape keeps only the calls that failed: its calls share one.
    let run = taped(Tape::failures(3));
    fetch_ok(&run, 3).await;
    assert_eq!(counts(&run), (3, 1));
}

#[tokio::test]
async fn a_failed_call_of_a_kept_instance_keeps_its_own_clock_readings() {
    let rt = runtime_with(Limits::default());
    let hostile = load(&rt, "hostile").await;
    let tape = Arc::new(Tape::failures(3));
    let options = SessionOptions {
        config: json!({"attack": "clock", "url": "http://x.example"}),
        tape: Some(tape.clone()),
        ..SessionOptions::default()
    };
    let s = Session::new(&rt, &hostile, options, |log| log).unwrap();
    s.fetch("out", None).await.unwrap();
    let err = s.fetch("out", Some("fail")).await.unwrap_err();
    assert_eq!(err.kind(), "fatal", "{err}");
    // The failed call ran in the first call's instance…
    assert_eq!(counts(&s), (2, 1));
    // …and the run's cassette has its readings, not the first call's.
    let cassette = tape.cassette();
    let failed = cassette.calls.last().expect("the failed call is kept");
    assert_eq!(failed.args["cursor"], "fail");
    assert!(!failed.wall_clock.is_empty(), "{failed:?}");
    assert!(failed.monotonic_clock.len() >= 2, "{failed:?}");
    assert!(
        failed.monotonic_clock.windows(2).all(|w| w[0] <= w[1]),
        "the monotonic clock went back: {:?}",
        failed.monotonic_clock
    );
}

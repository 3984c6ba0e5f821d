//! What a `wharf dev` session used, printed as a server counts it for a
//! run.

use crate::runtime::Session;

/// What the session used, as a server counts it for a run: calls and
/// their time, peak linear memory, requests by status class and origin
/// (the grants used), refused requests, bytes and log lines.
pub(super) fn report(session: &Session) {
    let u = session.usage();
    let http = &u.http;
    let classes: Vec<String> = crate::runtime::STATUS_CLASSES
        .iter()
        .zip(http.by_class)
        .filter(|(_, n)| *n > 0)
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    let count = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "usage: {} ({}) in {} ms (HTTP {} ms, {} ticks of 10 ms in Wasm), peak memory {:.1} MiB, {}{}, {} received, {} refused, {}{}",
        count(u.calls, "call"),
        count(u.instances, "instance"),
        u.call_time.as_millis(),
        http.busy_nanos / 1_000_000,
        u.epoch_ticks,
        u.peak_memory as f64 / (1024.0 * 1024.0),
        count(http.requests, "request"),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        },
        count(http.bytes_in, "byte"),
        http.denied,
        count(u.log_lines, "log line"),
        if u.log_dropped > 0 {
            format!(" ({} dropped)", u.log_dropped)
        } else {
            String::new()
        }
    );
    for (origin, o) in &u.origins {
        eprintln!(
            "  granted {origin}: {}, {} sent, {} received",
            count(o.requests, "request"),
            count(o.bytes_out, "byte"),
            count(o.bytes_in, "byte")
        );
    }
}

//! What a run cost: per side (source, mapper, destination), the calls and
//! their time, the part of it inside WebAssembly, the peak linear memory of
//! one call, HTTP requests and bytes per origin, and log volume. Kept on the
//! run (`runs.resources`), shown by the API and the console, and added to
//! the node's metrics.

use serde::{Deserialize, Serialize};

/// One origin's share of a side's HTTP use.
// `serde(default)`: runs stored before a field was added still read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct HostUse {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Requests sent to it (redirect hops included).
    pub requests: u64,
    /// Request body bytes sent.
    pub bytes_out: u64,
    /// Response body bytes received (after content decoding).
    pub bytes_in: u64,
}

/// What one call into a connector used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CallUse {
    /// The function called: `spec`, `check`, `discover`, `fetch`, `map`,
    /// `push` or `receive`.
    pub function: String,
    /// Time in the call, ms.
    pub ms: u64,
    /// The part of it not spent performing HTTP requests, ms.
    pub wasm_ms: u64,
    /// Epoch ticks (10 ms) in which the guest's own code ran.
    pub epoch_ticks: u64,
    /// Linear memory the call's instance held at its end, bytes.
    pub peak_memory_bytes: u64,
    /// HTTP requests sent.
    pub http_requests: u64,
    /// Request body bytes sent.
    pub bytes_out: u64,
    /// Response body bytes received.
    pub bytes_in: u64,
    /// Bytes of log lines kept.
    pub log_bytes: u64,
}

/// Calls kept one by one per session (a run's side); later calls are only
/// counted, in the side's sums and `calls_not_kept`.
pub const CALLS_KEPT: usize = 100;

/// What one connector of a run used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SideResources {
    /// `source`, `mapper` or `destination`.
    pub side: String,
    /// `name@version`.
    pub connector: String,
    /// The connection's name.
    pub connection: String,
    /// Calls made into the connector.
    pub calls: u64,
    /// Instances started for them: fewer than `calls` when an instance
    /// served several calls of the run.
    pub instances: u64,
    /// Time in those calls (instantiation, the guest, host functions), ms.
    pub call_ms: u64,
    /// The part of `call_ms` not spent waiting on HTTP: instantiation and
    /// the guest's own work, ms.
    pub wasm_ms: u64,
    /// Time performing HTTP requests, ms.
    pub http_ms: u64,
    /// The most linear memory one call's instance held, bytes.
    pub peak_memory_bytes: u64,
    /// Epoch ticks (10 ms each) in which the guest's own code ran: its CPU
    /// time inside WebAssembly, at the sandbox's tick, with no wait on the
    /// host (HTTP, sleeps, a free instance) in it.
    pub epoch_ticks: u64,
    /// HTTP requests sent.
    pub http_requests: u64,
    /// Requests the host refused (nothing was sent).
    pub http_denied: u64,
    /// Request body bytes sent.
    pub bytes_out: u64,
    /// Response body bytes received.
    pub bytes_in: u64,
    /// Per origin.
    pub hosts: Vec<HostUse>,
    /// Log lines kept.
    pub log_lines: u64,
    /// Bytes of those lines.
    pub log_bytes: u64,
    /// Log lines dropped past the run's limit.
    pub log_dropped: u64,
    /// The first [`CALLS_KEPT`] calls, one by one (none in a total).
    pub per_call: Vec<CallUse>,
    /// Calls after those, counted in the sums but not listed.
    pub calls_not_kept: u64,
}

/// What a run used, side by side, and in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RunResources {
    /// From the start of this attempt's execution to its end, ms.
    pub wall_ms: u64,
    /// Each connector of the run.
    pub sides: Vec<SideResources>,
    /// The sides added up (peak memory: the largest).
    pub total: SideResources,
}

impl RunResources {
    /// Resources of `sides`, with their total.
    pub fn new(wall_ms: u64, sides: Vec<SideResources>) -> Self {
        let mut total = SideResources {
            side: "all".into(),
            ..SideResources::default()
        };
        for s in &sides {
            total.calls += s.calls;
            total.instances += s.instances;
            total.call_ms += s.call_ms;
            total.wasm_ms += s.wasm_ms;
            total.http_ms += s.http_ms;
            total.peak_memory_bytes = total.peak_memory_bytes.max(s.peak_memory_bytes);
            total.epoch_ticks += s.epoch_ticks;
            total.http_requests += s.http_requests;
            total.http_denied += s.http_denied;
            total.bytes_out += s.bytes_out;
            total.bytes_in += s.bytes_in;
            total.log_lines += s.log_lines;
            total.log_bytes += s.log_bytes;
            total.log_dropped += s.log_dropped;
            for h in &s.hosts {
                match total.hosts.iter_mut().find(|t| t.origin == h.origin) {
                    Some(t) => {
                        t.requests += h.requests;
                        t.bytes_out += h.bytes_out;
                        t.bytes_in += h.bytes_in;
                    }
                    None => total.hosts.push(h.clone()),
                }
            }
        }
        total.hosts.sort_by(|a, b| a.origin.cmp(&b.origin));
        Self {
            wall_ms,
            sides,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_adds_sides_and_merges_hosts() {
        let host = |o: &str, n| HostUse {
            origin: o.into(),
            requests: n,
            bytes_out: n * 10,
            bytes_in: n * 100,
        };
        let a = SideResources {
            side: "source".into(),
            calls: 3,
            call_ms: 30,
            peak_memory_bytes: 5 << 20,
            http_requests: 3,
            bytes_in: 300,
            hosts: vec![host("https://a", 2), host("https://b", 1)],
            ..Default::default()
        };
        let b = SideResources {
            side: "destination".into(),
            calls: 1,
            call_ms: 5,
            peak_memory_bytes: 9 << 20,
            http_requests: 2,
            hosts: vec![host("https://a", 2)],
            ..Default::default()
        };
        let r = RunResources::new(50, vec![a, b]);
        assert_eq!(r.total.calls, 4);
        assert_eq!(r.total.call_ms, 35);
        assert_eq!(r.total.peak_memory_bytes, 9 << 20);
        assert_eq!(r.total.http_requests, 5);
        assert_eq!(
            r.total.hosts,
            vec![host("https://a", 4), host("https://b", 1)]
        );
    }
}

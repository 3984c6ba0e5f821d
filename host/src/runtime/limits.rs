//! Sandbox limits: their defaults, the error that names a broken one, and the
//! memory limiter installed in every store.

use std::time::Duration;

/// Resource limits for connectors. One value per runtime; every session and
/// call is bounded by it.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory per instance: all its memories together.
    pub memory_bytes: usize,
    /// Instances that may exist at once on this node: the slots of the
    /// pooling allocator, which bound the memory a node can be asked for
    /// (see [`Limits::node_memory_bound`]).
    pub max_instances: u32,
    /// Wall-clock time per call (epoch deadline, with a tokio timeout as a
    /// backstop for time spent in host calls).
    pub call_timeout: Duration,
    /// Maximum WebAssembly stack.
    pub max_wasm_stack: usize,
    /// Bytes a single call may return (records, pages).
    pub max_output_bytes: usize,
    /// Records a single call may return (a page, a map, a delivery).
    pub max_records_per_call: usize,
    /// Nesting of arrays and objects in a record's data.
    pub max_json_depth: usize,
    /// Log lines a single call may write.
    pub log_lines_per_call: u32,
    /// Give every call a fresh instance, never the one the session's last
    /// call left (`wharf serve --fresh-instances`): isolation between the
    /// calls of a run, at the cost of starting each (docs/architecture.md).
    pub fresh_instances: bool,
    /// Log bytes a single call may write.
    pub log_bytes_per_call: usize,
    /// Log lines a session keeps (the rest are counted).
    pub log_lines_kept: usize,
    /// HTTP requests per session (run).
    pub http_requests_per_session: u32,
    /// Concurrent HTTP requests per session.
    pub http_concurrency: usize,
    /// Size of an HTTP response body (after decoding).
    pub http_response_bytes: usize,
    /// Size of an HTTP request body.
    pub http_request_bytes: usize,
    /// Requests the host may refuse in one call before the call fails.
    pub http_denials_per_call: u32,
    /// Time to connect.
    pub http_connect_timeout: Duration,
    /// Time for a whole request, redirects included.
    pub http_request_timeout: Duration,
    /// Bytes a session's blobs may hold (kept bodies, created blobs; a
    /// run's input files do not count). Blobs live in the host's memory.
    pub blob_bytes: u64,
    /// Size of a body kept as a blob (`keep-body`), above the response cap.
    pub kept_body_bytes: usize,
    /// Size of an uploaded component.
    pub component_bytes: usize,
    /// Time to compile a component.
    pub compile_timeout: Duration,
    /// The most memory an administrator may give one connector at upload
    /// (`ConnectorLimits::memory_mib`); pool slots are sized for it.
    pub max_memory_bytes: usize,
    /// The longest call an administrator may give one connector.
    pub max_call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            max_instances: 64,
            call_timeout: Duration::from_secs(30),
            max_wasm_stack: 512 << 10,
            max_output_bytes: 16 << 20,
            max_records_per_call: 100_000,
            max_json_depth: 64,
            log_lines_per_call: 1_000,
            fresh_instances: false,
            log_bytes_per_call: 256 << 10,
            log_lines_kept: 5_000,
            http_requests_per_session: 10_000,
            http_concurrency: 4,
            http_response_bytes: 16 << 20,
            http_request_bytes: 16 << 20,
            http_denials_per_call: 25,
            http_connect_timeout: Duration::from_secs(10),
            http_request_timeout: Duration::from_secs(30),
            blob_bytes: 256 << 20,
            kept_body_bytes: 128 << 20,
            component_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(120),
            max_memory_bytes: 256 << 20,
            max_call_timeout: Duration::from_secs(300),
        }
    }
}

/// Memories one instance may have (a Rust or Python component has one or
/// two); each takes a slot of the pool.
pub const MEMORIES_PER_INSTANCE: u32 = 4;
/// Idle pool slots kept warm (with [`KEEP_RESIDENT`] of memory each) for
/// fast reuse; the rest are given back.
pub const WARM_SLOTS: u32 = 8;
/// Memory kept resident in an idle slot, so the next instance there starts
/// without page faults.
pub const KEEP_RESIDENT: usize = 2 << 20;

impl Limits {
    /// These limits with a connector's own (checked at upload against
    /// [`Limits::max_memory_bytes`] and [`Limits::max_call_timeout`]; held
    /// to them here too).
    pub fn for_connector(&self, c: &crate::model::limits::ConnectorLimits) -> Limits {
        let mut l = self.clone();
        if let Some(mib) = c.memory_mib {
            l.memory_bytes =
                ((mib as usize) << 20).min(self.max_memory_bytes.max(self.memory_bytes));
        }
        if let Some(secs) = c.call_timeout_secs {
            l.call_timeout =
                Duration::from_secs(secs.into()).min(self.max_call_timeout.max(self.call_timeout));
        }
        l
    }

    /// The most a connector may hand the host in one crossing: a call's
    /// result, or the arguments of one host function it calls. Wasmtime
    /// spends this ("hostcall fuel", 128 MiB unless set) on every string's
    /// bytes and every list element's size on the host as it copies them,
    /// so strings that alias one buffer in guest memory count once per use
    /// (100,000 records naming one 1 MiB string would be 100 GB). Set from
    /// the limits, a node's 64 instances may make the host hold 2 GiB at
    /// once, not 8, and the error names the limit. A record is 104 bytes on
    /// the host where the output limit counts 64 besides its strings, so
    /// twice the larger of the output and request body limits lets through
    /// everything within them.
    pub fn transfer_bytes(&self) -> usize {
        self.max_output_bytes
            .max(self.http_request_bytes)
            .saturating_mul(2)
    }

    /// A connector's limits checked against this node's maxima.
    pub fn check_connector(&self, c: &crate::model::limits::ConnectorLimits) -> Result<(), String> {
        c.check(
            (self.max_memory_bytes.max(self.memory_bytes) >> 20) as u32,
            self.max_call_timeout.max(self.call_timeout).as_secs() as u32,
        )
    }

    /// The most linear memory this node's sandbox can hold: every instance
    /// at the most a connector may be given, plus what idle pool slots keep
    /// resident. Operators size machines (and `--max-instances`) by it.
    pub fn node_memory_bound(&self) -> u64 {
        // A connector may have been given up to the node's maximum.
        let live =
            u64::from(self.max_instances) * self.memory_bytes.max(self.max_memory_bytes) as u64;
        let retained = u64::from(self.max_instances + WARM_SLOTS)
            * u64::from(MEMORIES_PER_INSTANCE)
            * KEEP_RESIDENT as u64;
        live + retained
    }
}

/// A sandbox limit a connector broke. The call fails with this; the host and
/// every other call go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// Linear memory beyond the limit.
    #[error("memory limit exceeded: the connector tried to grow its memory beyond {limit} bytes")]
    Memory {
        /// The limit in bytes.
        limit: usize,
    },
    /// The call ran past its deadline.
    #[error("time limit exceeded: the call ran longer than {0:?}")]
    Time(Duration),
    /// The WebAssembly stack overflowed.
    #[error(
        "stack limit exceeded: the connector's stack grew beyond {limit} bytes (runaway recursion?)"
    )]
    Stack {
        /// The limit in bytes.
        limit: usize,
    },
    /// The call returned too much data.
    #[error("output limit exceeded: the call returned {size} bytes, more than {limit}")]
    Output {
        /// What it returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The connector handed the host more in one crossing (a result, or a
    /// host call's arguments) than [`Limits::transfer_bytes`] allows.
    #[error(
        "transfer limit exceeded: the connector handed the host more than {limit} bytes at once (a result, or a host call's arguments; strings and lists as the host copies them, a string named twice counts twice)"
    )]
    Transfer {
        /// The limit.
        limit: usize,
    },
    /// The call logged too much.
    #[error("log limit exceeded: a call may log at most {lines} lines or {bytes} bytes")]
    LogVolume {
        /// Line limit.
        lines: u32,
        /// Byte limit.
        bytes: usize,
    },
    /// A request passed one of the connection's quotas (set by an
    /// administrator): the run stops, the connection is not broken.
    #[error("{0}")]
    Quota(String),
    /// The call kept sending requests the host refused.
    #[error(
        "refusal limit exceeded: the host refused more than {limit} requests in one call; see the log for why"
    )]
    Refusals {
        /// The limit.
        limit: u32,
    },
    /// The call returned too many records.
    #[error("record limit exceeded: the call returned {count} records, more than {limit}")]
    Records {
        /// What it returned.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A record is nested too deeply.
    #[error(
        "nesting limit exceeded: record {index} nests arrays and objects more than {limit} levels deep"
    )]
    Depth {
        /// Position of the record in its batch.
        index: usize,
        /// The limit.
        limit: usize,
    },
}

/// The `ResourceLimiter` of every store: caps the memories and tables of
/// an instance *together* (a component may hold many of each), and
/// remembers that a cap was hit, so the trap that follows (a Rust guest
/// aborts when allocation fails) is reported as the limit it is.
pub struct MemoryGuard {
    pub(crate) memory_bytes: usize,
    pub(crate) hit: bool,
    memory_total: usize,
    table_total: usize,
    /// The last growth, undone if the engine could not perform it.
    pending_memory: usize,
    pending_table: usize,
}

/// Table elements of one instance, all tables together.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryGuard {
    /// A guard for one store.
    pub fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            hit: false,
            memory_total: 0,
            table_total: 0,
            pending_memory: 0,
            pending_table: 0,
        }
    }

    /// Linear memory the instance holds now, all memories together.
    pub fn memory_in_use(&self) -> usize {
        self.memory_total
    }
}

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.memory_total.saturating_add(grow);
        if total > self.memory_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.memory_total = total;
        self.pending_memory = grow;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_total -= std::mem::take(&mut self.pending_memory);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.table_total.saturating_add(grow);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_total = total;
        self.pending_table = grow;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_total -= std::mem::take(&mut self.pending_table);
        Ok(())
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_INSTANCE as usize
    }
}

//! Sandbox limits: their defaults, the error that names a broken one, and the
//! memory limiter installed in every store.

use std::time::Duration;

/// Resource limits for connectors. One value per runtime; every session and
/// call is bounded by it.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock time per call (epoch deadline, with a tokio timeout as a
    /// backstop for time spent in host calls).
    pub call_timeout: Duration,
    /// Maximum WebAssembly stack.
    pub max_wasm_stack: usize,
    /// Bytes a single call may return (records, pages).
    pub max_output_bytes: usize,
    /// Log lines a single call may write.
    pub log_lines_per_call: u32,
    /// Log bytes a single call may write.
    pub log_bytes_per_call: usize,
    /// Log lines a session keeps (the rest are counted).
    pub log_lines_kept: usize,
    /// HTTP requests per session (run).
    pub http_requests_per_session: u32,
    /// Concurrent HTTP requests per session.
    pub http_concurrency: usize,
    /// Size of an HTTP response body.
    pub http_response_bytes: usize,
    /// Time to connect.
    pub http_connect_timeout: Duration,
    /// Time for a whole request, redirects included.
    pub http_request_timeout: Duration,
    /// Size of an uploaded component.
    pub component_bytes: usize,
    /// Time to compile a component.
    pub compile_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout: Duration::from_secs(30),
            max_wasm_stack: 512 << 10,
            max_output_bytes: 16 << 20,
            log_lines_per_call: 1_000,
            log_bytes_per_call: 256 << 10,
            log_lines_kept: 5_000,
            http_requests_per_session: 10_000,
            http_concurrency: 4,
            http_response_bytes: 16 << 20,
            http_connect_timeout: Duration::from_secs(10),
            http_request_timeout: Duration::from_secs(30),
            component_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(120),
        }
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
    /// The call logged too much.
    #[error("log limit exceeded: a call may log at most {lines} lines or {bytes} bytes")]
    LogVolume {
        /// Line limit.
        lines: u32,
        /// Byte limit.
        bytes: usize,
    },
}

/// The `ResourceLimiter` of every store: caps memory and tables and
/// remembers that a cap was hit, so the trap that follows (a Rust guest
/// aborts when allocation fails) is reported as the limit it is.
pub struct MemoryGuard {
    pub(crate) memory_bytes: usize,
    pub(crate) hit: bool,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

//! WASI 0.2, linked in full with nothing behind it.
//!
//! Components from any toolchain import parts of WASI (Rust's std imports
//! filesystem and sockets; componentize-py imports more), so refusing those
//! imports would refuse most real connectors. Instead every interface is
//! linked and given nothing: no preopened directories, TCP, UDP and name
//! lookup denied, empty environment and arguments, stdin empty. Clocks and
//! randomness work (from the tape, in a taped session: `super::cassette`).
//! stdout and stderr go to the session log. `wasi:http`'s outgoing requests
//! are linked too, and go through the HTTP capability like `http.send`.

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;

use super::cassette::CallInputs;
use super::log::{CallLog, GuestOutput, LogSource};

/// A boxed clock, as the builder takes clocks by value.
struct BoxedWall(Box<dyn wasmtime_wasi::HostWallClock + Send>);

impl wasmtime_wasi::HostWallClock for BoxedWall {
    fn resolution(&self) -> std::time::Duration {
        self.0.resolution()
    }
    fn now(&self) -> std::time::Duration {
        self.0.now()
    }
}

/// A boxed monotonic clock.
struct BoxedMonotonic(Box<dyn wasmtime_wasi::HostMonotonicClock + Send>);

impl wasmtime_wasi::HostMonotonicClock for BoxedMonotonic {
    fn resolution(&self) -> u64 {
        self.0.resolution()
    }
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// Resources (streams, pollables, `wasi:http` fields, requests…) one call
/// may hold at once. Each can hold host memory the guest's limit does not
/// count (a fields resource up to [`MAX_FIELDS_BYTES`]), so their number is
/// bounded; a connector holds a few dozen.
const MAX_RESOURCES: usize = 4096;
/// The largest header section a `wasi:http` fields resource may hold (as
/// the crate counts it); the contract's own limit is 64 KiB on the wire.
const MAX_FIELDS_BYTES: usize = 64 << 10;

/// Per-call WASI state.
pub struct WasiState {
    ctx: WasiCtx,
    /// `wasi:http`'s context; its resources share the table with the
    /// streams and pollables of `wasi:io`.
    http: WasiHttpCtx,
    table: ResourceTable,
    outputs: [GuestOutput; 2],
}

impl WasiState {
    /// A context that grants nothing; output is charged to the call.
    /// A taped call's clocks and randomness come from its tape.
    pub fn new(call: &CallLog, taped: Option<CallInputs>) -> Self {
        let output = |source| GuestOutput {
            call: call.clone(),
            source,
            partial: Arc::default(),
        };
        let stdout = output(LogSource::Stdout);
        let stderr = output(LogSource::Stderr);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if let Some(inputs) = taped {
            builder
                .wall_clock(BoxedWall(inputs.wall))
                .monotonic_clock(BoxedMonotonic(inputs.monotonic))
                .secure_random(inputs.random)
                .insecure_random(inputs.insecure)
                .insecure_random_seed(inputs.insecure_seed);
        }
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            ctx: builder.build(),
            http,
            table,
            outputs: [stdout, stderr],
        }
    }

    /// The view `wasmtime_wasi` works through.
    pub fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    /// What `wasi:http` works through, with hooks from elsewhere.
    pub fn http_parts(&mut self) -> (&mut WasiHttpCtx, &mut ResourceTable) {
        (&mut self.http, &mut self.table)
    }

    /// Write out output lines that had no final newline.
    pub fn flush(&self) {
        for o in &self.outputs {
            o.flush_partial();
        }
    }
}

/// Link every WASI 0.2 interface, and `wasi:http`'s outgoing requests
/// (served by the HTTP capability: `super::http::outgoing`).
pub fn add_to_linker<T>(linker: &mut Linker<T>) -> wasmtime::Result<()>
where
    T: WasiView + wasmtime_wasi_http::WasiHttpView + 'static,
{
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// The `wasi:http` interfaces a component may import: requests out, never
/// a server's handler.
const HTTP_INTERFACES: &[&str] = &["wasi:http/types@", "wasi:http/outgoing-handler@"];

/// Whether a component import is a WASI 0.2 interface that
/// [`add_to_linker`] provides.
pub fn is_wasi_import(name: &str) -> bool {
    const PACKAGES: &[&str] = &[
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:io/",
        "wasi:random/",
        "wasi:sockets/",
    ];
    (PACKAGES.iter().any(|p| name.starts_with(p))
        || HTTP_INTERFACES.iter().any(|p| name.starts_with(p)))
        && name
            .rsplit_once('@')
            .is_some_and(|(_, v)| v.starts_with("0.2."))
}

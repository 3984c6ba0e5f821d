//! WASI 0.2, linked in full with nothing behind it.
//!
//! Components from any toolchain import parts of WASI (Rust's std imports
//! filesystem and sockets; componentize-py imports more), so refusing those
//! imports would refuse most real connectors. Instead every interface is
//! linked and given nothing: no preopened directories, TCP, UDP and name
//! lookup denied, empty environment and arguments, stdin empty. Clocks and
//! randomness work (from the tape, in a taped session: `super::cassette`). stdout and stderr go to the session log.

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

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

/// Per-call WASI state.
pub struct WasiState {
    ctx: WasiCtx,
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
        Self {
            ctx: builder.build(),
            table: ResourceTable::new(),
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

    /// Write out output lines that had no final newline.
    pub fn flush(&self) {
        for o in &self.outputs {
            o.flush_partial();
        }
    }
}

/// Link every WASI 0.2 interface.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}

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
    PACKAGES.iter().any(|p| name.starts_with(p))
        && name
            .rsplit_once('@')
            .is_some_and(|(_, v)| v.starts_with("0.2."))
}

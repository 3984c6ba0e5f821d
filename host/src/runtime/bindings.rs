//! The one place `bindgen!` runs: host bindings for each contract version.
//! The host's own types are the newest version's (re-exported at this
//! module's root); `super::v01` adapts 0.1 components onto them, as Zed's
//! extension host adapts older extension APIs.

/// `wharf:connector@0.1.0`.
pub mod v01 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "wharf:connector/sandboxed-connector",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `wharf:connector@0.2.0`.
pub mod v02 {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "wharf:connector/sandboxed-connector",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `wharf:pages@0.1.0`: the optional interface that slices a page into
/// records in the host (`super::pages`).
pub mod pages {
    wasmtime::component::bindgen!({
        path: "../wit/pages-0.1.0",
        world: "wharf:pages/host",
        imports: { default: async },
    });
}

pub use v02::*;

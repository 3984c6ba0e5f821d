//! The one place `bindgen!` runs: host bindings for `wharf:connector@0.1.0`.
//!
//! A later contract version gets its own module beside this one, and the
//! host adapts it onto the newest types (as Zed's extension host does).

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "wharf:connector/sandboxed-connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

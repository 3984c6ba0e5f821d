//! Loading a component: structural checks before compiling anything, and the
//! on-disk cache of compiled artifacts.
//!
//! Uploaded bytes are only ever compiled, never deserialized: `deserialize`
//! trusts its input, so it is used only on artifacts this process wrote
//! itself, found under a key that includes the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmparser::{Encoding, Parser, Payload};

use super::wasi::is_wasi_import;

/// The newest contract version this host implements; it loads every
/// version in [`CONTRACTS`].
pub const CONTRACT_VERSION: &str = "0.2.0";
/// The contract versions this host loads, newest first.
pub const CONTRACTS: [&str; 2] = ["0.2.0", "0.1.0"];
/// The export every connector must have (in one of [`CONTRACTS`]).
pub const CONNECTOR_EXPORT: &str = "wharf:connector/connector@0.2.0";
const CONTRACT_PACKAGE: &str = "wharf:connector/";
/// The optional interface that slices pages into records in the host
/// (`super::pages`), for 0.2 components.
pub const PAGES_INTERFACE: &str = "wharf:pages/pages@0.1.0";
/// What each contract version may import from the host.
const HOST_INTERFACES: &[(&str, &[&str])] = &[
    (
        "0.2.0",
        &[
            "wharf:connector/types@0.2.0",
            "wharf:connector/http@0.2.0",
            "wharf:connector/blobs@0.2.0",
            "wharf:connector/oauth@0.2.0",
            "wharf:connector/state@0.2.0",
            "wharf:connector/secrets@0.2.0",
            "wharf:connector/log@0.2.0",
            PAGES_INTERFACE,
        ],
    ),
    (
        "0.1.0",
        &[
            "wharf:connector/types@0.1.0",
            "wharf:connector/http@0.1.0",
            "wharf:connector/secrets@0.1.0",
            "wharf:connector/log@0.1.0",
        ],
    ),
];

/// Why a component cannot be loaded. Each says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Over the size cap.
    #[error("component is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component; build with `cargo build --target wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// Bytes that do not parse.
    #[error("malformed component: {0}")]
    Malformed(String),
    /// No connector export.
    #[error(
        "the component does not export `{CONNECTOR_EXPORT}` (or the 0.1.0 one) (it exports: {exports})"
    )]
    MissingExport {
        /// What it exports instead, comma-separated.
        exports: String,
    },
    /// A connector export of another contract version.
    #[error(
        "the component implements contract `{found}`, but this host supports `{CONNECTOR_EXPORT}` and `wharf:connector/connector@0.1.0`"
    )]
    UnsupportedContract {
        /// The export found.
        found: String,
    },
    /// An import the host does not provide.
    #[error(
        "the component imports `{name}`, which Wharf does not provide (connectors may import wharf:connector/{{http,blobs,oauth,state,secrets,log}}@0.2.0 and wharf:pages/pages@0.1.0, the 0.1.0 interfaces in a 0.1 component, and WASI 0.2 with wasi:http's outgoing-handler)"
    )]
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// Compilation failed.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// Compilation took too long.
    #[error("compiling the component took longer than {0:?}")]
    CompileTimeout(Duration),
    /// Linking failed (an import of the wrong shape).
    #[error("the component cannot be linked: {0}")]
    Link(String),
    /// The `spec` export failed or returned an invalid spec.
    #[error("the component's spec is unusable: {0}")]
    Spec(String),
}

/// What a component imports and exports at the top level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Top-level import names.
    pub imports: Vec<String>,
    /// Top-level export names.
    pub exports: Vec<String>,
    /// The contract version it implements.
    pub contract: &'static str,
}

impl Inspection {
    /// The WASI interfaces among the imports, for administrators to see.
    pub fn wasi_imports(&self) -> Vec<String> {
        self.imports
            .iter()
            .filter(|i| i.starts_with("wasi:"))
            .cloned()
            .collect()
    }
}

/// Check the shape of a component without compiling it.
pub fn inspect(bytes: &[u8], limit: usize) -> Result<Inspection, LoadError> {
    if bytes.len() > limit {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    let mut found = Inspection::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| LoadError::Malformed(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding == Encoding::Module {
                    return Err(LoadError::CoreModule);
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| LoadError::Malformed(e.to_string()))?;
                    found.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| LoadError::Malformed(e.to_string()))?;
                    found.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    let implemented = CONTRACTS.into_iter().find(|v| {
        found
            .exports
            .iter()
            .any(|e| *e == format!("{CONTRACT_PACKAGE}connector@{v}"))
    });
    let Some(version) = implemented else {
        let contract = found
            .exports
            .iter()
            .find(|e| e.starts_with(&format!("{CONTRACT_PACKAGE}connector")));
        return Err(match contract {
            Some(found) => LoadError::UnsupportedContract {
                found: found.clone(),
            },
            None => LoadError::MissingExport {
                exports: if found.exports.is_empty() {
                    "nothing".into()
                } else {
                    found.exports.join(", ")
                },
            },
        });
    };
    found.contract = version;
    let allowed = HOST_INTERFACES
        .iter()
        .find(|(v, _)| *v == version)
        .map_or(&[][..], |(_, i)| *i);
    if let Some(name) = found
        .imports
        .iter()
        .find(|i| !allowed.contains(&i.as_str()) && !is_wasi_import(i))
    {
        return Err(LoadError::UnknownImport { name: name.clone() });
    }
    Ok(found)
}

/// Compiled artifacts on disk, keyed by the component's digest and the
/// engine's compatibility hash (wasmtime version and settings).
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` (none: compile every time).
    pub fn new(dir: Option<PathBuf>, engine: &wasmtime::Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// Where the artifact for `digest` lives.
    pub fn path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// Store an artifact: written to a temporary file, then renamed, so a
    /// crash never leaves a half-written artifact under the real name.
    pub fn store(&self, digest: &str, artifact: &[u8]) -> std::io::Result<()> {
        let Some(path) = self.path(digest) else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, artifact)?;
        std::fs::rename(&tmp, &path)
    }

    /// Remove an artifact that failed to load.
    pub fn evict(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_wasm_and_oversized_input() {
        assert_eq!(inspect(b"hello", 100), Err(LoadError::NotWasm));
        assert!(matches!(
            inspect(&[0; 200], 100),
            Err(LoadError::TooLarge {
                size: 200,
                limit: 100
            })
        ));
        assert_eq!(inspect(b"\0asm\x01\0\0\0", 100), Err(LoadError::CoreModule));
        assert!(matches!(
            inspect(b"\0asm\x0d\0\x01\0\xff", 100),
            Err(LoadError::Malformed(_))
        ));
    }

    #[test]
    fn recognises_wasi_imports() {
        assert!(is_wasi_import("wasi:cli/environment@0.2.0"));
        assert!(is_wasi_import("wasi:filesystem/types@0.2.6"));
        assert!(is_wasi_import("wasi:http/outgoing-handler@0.2.3"));
        assert!(is_wasi_import("wasi:http/types@0.2.0"));
        // A server's handler is not something a connector gets.
        assert!(!is_wasi_import("wasi:http/incoming-handler@0.2.0"));
        assert!(!is_wasi_import("wasi:http/outgoing-handler@0.3.0"));
        assert!(!is_wasi_import("wasi:cli/environment@0.3.0"));
    }
}

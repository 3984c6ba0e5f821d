//! A loaded connector: a checked, compiled component with its spec and an
//! `InstancePre`, shared by every session that uses it.

use serde_json::Value;

use super::guest::Pre;
use crate::model::spec::Spec;

/// A loaded connector: checked, compiled, described by its spec.
pub struct Connector {
    pub(super) digest: String,
    pub(super) spec: Spec,
    pub(super) pre: Pre,
    pub(super) imports: Vec<String>,
    pub(super) wasi_imports: Vec<String>,
    pub(super) size: usize,
    pub(super) from_cache: bool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.spec.name)
            .field("version", &self.spec.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Hex SHA-256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// What the connector declares.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// Every top-level import.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
    /// The WASI interfaces it imports (all given nothing).
    pub fn wasi_imports(&self) -> &[String] {
        &self.wasi_imports
    }
    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Whether the compiled code came from the artifact cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

pub(super) fn placeholder_spec() -> Spec {
    Spec {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        roles: Vec::new(),
        streams: Vec::new(),
        config_schema: Value::Null,
        secrets: Vec::new(),
        hosts: Vec::new(),
        oauth2: None,
        webhook: None,
        login: None,
        signing: Vec::new(),
        rate_budgets: Vec::new(),
        catalog: Default::default(),
        contract: String::new(),
    }
}

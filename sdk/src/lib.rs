//! Write [Wharf](https://github.com/wharf) connectors in Rust.
//!
//! A connector is a WebAssembly component that Wharf runs in a sandbox. It
//! reads records from a system (`fetch`), writes them to one (`push`), or
//! turns records into other records (`map`). This crate hides the component
//! plumbing: implement [`Connector`], call [`export_connector!`], and build
//! with `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use wharf_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     base_url: String,
//! }
//!
//! const TOKEN: Secret = Secret::new("api_token");
//!
//! struct Todos;
//!
//! impl Connector for Todos {
//!     type Config = Config;
//!
//!     fn spec() -> Spec {
//!         Spec::new("todos", "0.1.0")
//!             .description("Todos from the Example API")
//!             .role(Role::Source)
//!             .stream(StreamSpec::new("todos").key_field("id"))
//!             .config_schema(json!({
//!                 "type": "object",
//!                 "required": ["base_url"],
//!                 "properties": { "base_url": { "type": "string", "format": "uri" } }
//!             }))
//!             .host("{config.base_url}")
//!             .secret(SecretSpec::new("api_token").host("{config.base_url}"))
//!     }
//!
//!     fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
//!         let page: u32 = cursor.map_or(Ok(1), str::parse).map_err(Error::fatal)?;
//!         let response = Request::get(format!("{}/{stream}", config.base_url))
//!             .query("page", page)
//!             .bearer(&TOKEN)
//!             .send()?
//!             .error_for_status()?;
//!         let items: Vec<Value> = response.json()?;
//!         let more = !items.is_empty();
//!         let records = items
//!             .into_iter()
//!             .map(|item| Record::from_value(stream, item).map(|r| r.key_from("id")))
//!             .collect::<Result<Vec<_>>>()?;
//!         Ok(Page::new(records, Some((page + 1).to_string()), more))
//!     }
//! }
//!
//! export_connector!(Todos);
//! ```
//!
//! Secrets never reach your code: [`Secret`] renders a placeholder that the
//! host replaces when the request leaves the sandbox, and only for the hosts
//! your spec binds the secret to.

pub mod auth;
pub mod bindings;
pub mod blob;
pub mod catalog;
mod error;
pub mod http;
pub mod log;
pub mod raw;
mod record;
pub mod rest;
mod secret;
mod spec;
pub mod state;
pub mod template;
pub mod time;
pub mod webhook;
#[cfg(feature = "zip")]
pub mod zip;

#[doc(hidden)]
pub mod __private;

pub use auth::OAuth2;
pub use error::{Error, Result};
pub use record::{
    Delivery, Op, Page, PushResult, REJECTED_STREAM, Record, Rejection, RowError, scalar_text,
};
pub use secret::Secret;
pub use serde_json::{Map, Value, json};
pub use spec::{Role, SecretSpec, Spec, StreamSpec};
pub use webhook::WebhookScheme;

/// The non-secret facts of the connection's OAuth2 grant that the spec's
/// `info_fields` name (`instance_url`, `realmId`, `scope`), and
/// `expires_at`; never a token.
pub fn oauth_info() -> Vec<(String, String)> {
    bindings::wharf::connector::oauth::info()
}

/// One fact of [`oauth_info`].
pub fn oauth_fact(name: &str) -> Option<String> {
    oauth_info()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Everything a connector usually needs.
pub mod prelude {
    pub use crate::http::{Request, Response};
    pub use crate::raw::RawRecord;
    pub use crate::{
        Connector, Delivery, Error, Map, Op, Page, PushResult, Record, Rejection, Result, Role,
        Secret, SecretSpec, Spec, StreamSpec, Value, export_connector, json,
    };
}

/// A connector. Implement the functions for the roles you declare; the
/// others answer `unsupported`.
///
/// Every function gets the connection's config, parsed into
/// [`Connector::Config`] (a config that does not parse fails the call with
/// [`Error::Config`] before your code runs; an instance parses the same
/// config text once and hands later calls the same value). Connectors keep
/// no state between calls (a call may run in a fresh instance or in the
/// one the run's last call left): what `fetch` needs to resume goes into
/// the page's cursor.
pub trait Connector {
    /// The connection config, deserialized from JSON.
    type Config: serde::de::DeserializeOwned + 'static;

    /// Describe the connector; called once, when it is uploaded.
    fn spec() -> Spec;

    /// Verify config and credentials, e.g. with one cheap request.
    fn check(config: &Self::Config) -> Result<()> {
        let _ = config;
        Err(Error::Unsupported)
    }

    /// The streams a connection offers, with their schemas, when they
    /// depend on the system (Salesforce objects, ERPNext doctypes, a
    /// spreadsheet's sheets).
    fn discover(config: &Self::Config) -> Result<Vec<StreamSpec>> {
        let _ = config;
        Err(Error::Unsupported)
    }

    /// Read one page of `stream` after `cursor`.
    fn fetch(config: &Self::Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let _ = (config, stream, cursor);
        Err(Error::Unsupported)
    }

    /// Turn records into other records.
    fn map(config: &Self::Config, records: Vec<Record>) -> Result<Vec<Record>> {
        let _ = (config, records);
        Err(Error::Unsupported)
    }

    /// [`map`](Self::map) on records as JSON text: what the host calls.
    /// The default parses each record and calls `map`; a mapper that reads
    /// a few fields and copies the rest overrides it to skip that.
    fn map_raw(config: &Self::Config, records: Vec<raw::RawRecord>) -> Result<Vec<raw::RawRecord>> {
        let records = records
            .iter()
            .map(raw::RawRecord::to_record)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::map(config, records)?
            .into_iter()
            .map(raw::RawRecord::from_record)
            .collect())
    }

    /// Write records; list refused ones in the result.
    fn push(config: &Self::Config, records: Vec<Record>) -> Result<PushResult> {
        let _ = (config, records);
        Err(Error::Unsupported)
    }

    /// [`push`](Self::push) on records as JSON text: what the host calls.
    /// The default parses each record and calls `push`; a destination that
    /// sends records on as they are overrides it to skip that.
    fn push_raw(config: &Self::Config, records: Vec<raw::RawRecord>) -> Result<PushResult> {
        let records = records
            .iter()
            .map(raw::RawRecord::to_record)
            .collect::<Result<Vec<_>>>()?;
        Self::push(config, records)
    }

    /// Turn a verified webhook delivery into records.
    fn receive(config: &Self::Config, delivery: Delivery) -> Result<Vec<Record>> {
        let _ = (config, delivery);
        Err(Error::Unsupported)
    }
}

/// Export a [`Connector`] implementation as the component's
/// `wharf:connector/connector` interface. Use it once per crate.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __WharfExport;

        impl $crate::bindings::exports::wharf::connector::connector::Guest for __WharfExport {
            fn spec() -> $crate::bindings::wharf::connector::types::ConnectorSpec {
                $crate::__private::spec::<$ty>()
            }
            fn check(
                config: ::std::string::String,
            ) -> ::std::result::Result<(), $crate::bindings::wharf::connector::types::Error> {
                $crate::__private::check::<$ty>(config)
            }
            fn discover(
                config: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::wharf::connector::types::StreamSpec>,
                $crate::bindings::wharf::connector::types::Error,
            > {
                $crate::__private::discover::<$ty>(config)
            }
            fn fetch(
                config: ::std::string::String,
                stream: ::std::string::String,
                cursor: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<
                $crate::bindings::wharf::connector::types::Page,
                $crate::bindings::wharf::connector::types::Error,
            > {
                $crate::__private::fetch::<$ty>(config, stream, cursor)
            }
            fn map(
                config: ::std::string::String,
                records: ::std::vec::Vec<$crate::bindings::wharf::connector::types::Record>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::wharf::connector::types::Record>,
                $crate::bindings::wharf::connector::types::Error,
            > {
                $crate::__private::map::<$ty>(config, records)
            }
            fn push(
                config: ::std::string::String,
                records: ::std::vec::Vec<$crate::bindings::wharf::connector::types::Record>,
            ) -> ::std::result::Result<
                $crate::bindings::wharf::connector::types::PushResult,
                $crate::bindings::wharf::connector::types::Error,
            > {
                $crate::__private::push::<$ty>(config, records)
            }
            fn receive(
                config: ::std::string::String,
                delivery: $crate::bindings::wharf::connector::types::Incoming,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::wharf::connector::types::Record>,
                $crate::bindings::wharf::connector::types::Error,
            > {
                $crate::__private::receive::<$ty>(config, delivery)
            }
        }

        // Only a WebAssembly build exports the contract; a native build (unit
        // tests, benchmarks linking the connector's logic) has nothing to
        // export, and linkers refuse the contract's symbol names in a cdylib.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_bindings!(__WharfExport with_types_in $crate::bindings);
    };
}

//! A connector's exports, whatever contract version it implements: one
//! set of calls in the host's (0.2) types, dispatched to the component's
//! own bindings; a 0.1 component's answers are adapted by `super::v01`.

use wasmtime::Store;

use super::bindings::{v01, v02};
use super::engine::Ctx;
use super::v01 as adapt;
use crate::model::spec::Spec;

use super::bindings::wharf::connector::types as wit;

/// A component linked and ready to instantiate.
pub(super) enum Pre {
    V01(v01::SandboxedConnectorPre<Ctx>),
    V02(v02::SandboxedConnectorPre<Ctx>),
}

/// One instance of a component.
pub(super) enum Instance {
    V01(v01::SandboxedConnector),
    V02(v02::SandboxedConnector),
}

/// The exported `connector` interface of an instance.
pub(super) enum Guest<'a> {
    V01(&'a v01::exports::wharf::connector::connector::Guest),
    V02(&'a v02::exports::wharf::connector::connector::Guest),
}

type Answer<T> = wasmtime::Result<Result<T, wit::Error>>;

impl Pre {
    /// Link `pre` as the contract `version` says.
    pub(super) fn new(
        version: &str,
        pre: wasmtime::component::InstancePre<Ctx>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            "0.1.0" => Self::V01(v01::SandboxedConnectorPre::new(pre)?),
            _ => Self::V02(v02::SandboxedConnectorPre::new(pre)?),
        })
    }

    /// A fresh instance in `store`.
    pub(super) async fn instantiate(&self, store: &mut Store<Ctx>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::V01(p) => Instance::V01(p.instantiate_async(store).await?),
            Self::V02(p) => Instance::V02(p.instantiate_async(store).await?),
        })
    }
}

impl Instance {
    /// Its `connector` exports.
    pub(super) fn guest(&self) -> Guest<'_> {
        match self {
            Self::V01(i) => Guest::V01(i.wharf_connector_connector()),
            Self::V02(i) => Guest::V02(i.wharf_connector_connector()),
        }
    }
}

impl Guest<'_> {
    pub(super) async fn spec(&self, s: &mut Store<Ctx>) -> wasmtime::Result<Spec> {
        Ok(match self {
            Self::V01(g) => adapt::spec(g.call_spec(s).await?),
            Self::V02(g) => super::convert::spec_from_wit(g.call_spec(s).await?),
        })
    }

    pub(super) async fn check(&self, s: &mut Store<Ctx>, config: &str) -> Answer<()> {
        Ok(match self {
            Self::V01(g) => g.call_check(s, config).await?.map_err(adapt::error),
            Self::V02(g) => g.call_check(s, config).await?,
        })
    }

    pub(super) async fn discover(
        &self,
        s: &mut Store<Ctx>,
        config: &str,
    ) -> Answer<Vec<wit::StreamSpec>> {
        Ok(match self {
            // 0.1 has no `discover`: its streams are in its spec.
            Self::V01(_) => Err(wit::Error::Unsupported),
            Self::V02(g) => g.call_discover(s, config).await?,
        })
    }

    pub(super) async fn fetch(
        &self,
        s: &mut Store<Ctx>,
        config: &str,
        stream: &str,
        cursor: Option<&str>,
    ) -> Answer<wit::Page> {
        Ok(match self {
            Self::V01(g) => g
                .call_fetch(s, config, stream, cursor)
                .await?
                .map(adapt::page)
                .map_err(adapt::error),
            Self::V02(g) => g.call_fetch(s, config, stream, cursor).await?,
        })
    }

    pub(super) async fn map(
        &self,
        s: &mut Store<Ctx>,
        config: &str,
        records: &[wit::Record],
    ) -> Answer<Vec<wit::Record>> {
        Ok(match self {
            Self::V01(g) => g
                .call_map(s, config, &adapt::records_down(records))
                .await?
                .map(adapt::records_up)
                .map_err(adapt::error),
            Self::V02(g) => g.call_map(s, config, records).await?,
        })
    }

    pub(super) async fn push(
        &self,
        s: &mut Store<Ctx>,
        config: &str,
        records: &[wit::Record],
    ) -> Answer<wit::PushResult> {
        Ok(match self {
            Self::V01(g) => g
                .call_push(s, config, &adapt::records_down(records))
                .await?
                .map(adapt::push_result)
                .map_err(adapt::error),
            Self::V02(g) => g.call_push(s, config, records).await?,
        })
    }

    pub(super) async fn receive(
        &self,
        s: &mut Store<Ctx>,
        config: &str,
        delivery: &wit::Incoming,
    ) -> Answer<Vec<wit::Record>> {
        Ok(match self {
            Self::V01(g) => g
                .call_receive(s, config, &adapt::incoming(delivery))
                .await?
                .map(adapt::records_up)
                .map_err(adapt::error),
            Self::V02(g) => g.call_receive(s, config, delivery).await?,
        })
    }
}

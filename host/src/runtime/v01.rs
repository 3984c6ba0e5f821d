//! Contract 0.1 adapted onto the host's (0.2) types: a 0.1 component's
//! answers become 0.2 values, and its imports (`http`, `secrets`, `log`)
//! are served by the same capability code as 0.2's. A 0.1 component keeps
//! loading and running unchanged; it simply cannot use what 0.2 added.

use serde_json::Value;

use super::bindings::v01::wharf::connector as old;
use super::bindings::wharf::connector as new;
use super::http::HttpState;
use super::log::LogState;
use super::secrets::SecretsState;
use crate::model::spec::{OAuth2Spec, Role, SecretSpec, Spec, StreamSpec, WebhookScheme};

/// A 0.1 spec in the host's terms; what 0.1 could not say stays empty.
pub(super) fn spec(s: old::types::ConnectorSpec) -> Spec {
    use old::types as t;
    let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
    Spec {
        name: s.name,
        version: s.version,
        description: s.description,
        roles: s
            .roles
            .into_iter()
            .map(|r| match r {
                t::Role::Source => Role::Source,
                t::Role::Destination => Role::Destination,
                t::Role::Mapper => Role::Mapper,
            })
            .collect(),
        streams: s
            .streams
            .into_iter()
            .map(|st| StreamSpec {
                schema: json(&st.schema),
                name: st.name,
                description: st.description,
                key_field: st.key_field,
                cursor_field: st.cursor_field,
            })
            .collect(),
        config_schema: json(&s.config_schema),
        secrets: s
            .secrets
            .into_iter()
            .map(|x| SecretSpec {
                name: x.name,
                description: x.description,
                hosts: x.hosts,
                reveal: x.reveal,
                required: x.required,
            })
            .collect(),
        hosts: s.hosts,
        oauth2: s.oauth2.map(|o| OAuth2Spec {
            grant: Default::default(),
            authorize_url: o.authorize_url,
            token_url: o.token_url,
            scopes: o.scopes,
            pkce: o.pkce,
            client_auth: Default::default(),
            authorize_params: Vec::new(),
            token_lifetime_secs: None,
            info_fields: Vec::new(),
            assertion_key: None,
        }),
        webhook: s.webhook.map(|w| {
            crate::model::spec::WebhookSpec::scheme(match w {
                t::WebhookScheme::StandardWebhooks => WebhookScheme::StandardWebhooks,
                t::WebhookScheme::Github => WebhookScheme::Github,
                t::WebhookScheme::Shopify => WebhookScheme::Shopify,
                t::WebhookScheme::Stripe => WebhookScheme::Stripe,
            })
        }),
        login: None,
        signing: Vec::new(),
        rate_budgets: Vec::new(),
        catalog: Default::default(),
        contract: "0.1.0".into(),
    }
}

pub(super) fn error(e: old::types::Error) -> new::types::Error {
    use new::types::Error as N;
    use old::types::Error as O;
    match e {
        O::Config(m) => N::Config(m),
        O::Auth(m) => N::Auth(m),
        O::RateLimited(n) => N::RateLimited(n),
        O::Transient(m) => N::Transient(m),
        O::Fatal(m) => N::Fatal(m),
        O::Unsupported => N::Unsupported,
    }
}

fn op_up(op: old::types::Op) -> new::types::Op {
    match op {
        old::types::Op::Upsert => new::types::Op::Upsert,
        old::types::Op::Delete => new::types::Op::Delete,
    }
}

fn op_down(op: new::types::Op) -> old::types::Op {
    match op {
        new::types::Op::Upsert => old::types::Op::Upsert,
        new::types::Op::Delete => old::types::Op::Delete,
    }
}

pub(super) fn records_up(records: Vec<old::types::Record>) -> Vec<new::types::Record> {
    records
        .into_iter()
        .map(|r| new::types::Record {
            stream: r.stream,
            key: r.key,
            op: op_up(r.op),
            data: r.data,
            blob: None,
        })
        .collect()
}

pub(super) fn records_down(records: &[new::types::Record]) -> Vec<old::types::Record> {
    records
        .iter()
        .map(|r| old::types::Record {
            stream: r.stream.clone(),
            key: r.key.clone(),
            op: op_down(r.op),
            data: r.data.clone(),
        })
        .collect()
}

pub(super) fn page(p: old::types::Page) -> new::types::Page {
    new::types::Page {
        records: records_up(p.records),
        cursor: p.cursor,
        more: p.more,
        pending: None,
        row_errors: Vec::new(),
    }
}

pub(super) fn push_result(p: old::types::PushResult) -> new::types::PushResult {
    new::types::PushResult {
        created: p.created,
        updated: p.updated,
        deleted: p.deleted,
        rejected: p
            .rejected
            .into_iter()
            .map(|x| new::types::Rejection {
                index: x.index,
                field: x.field,
                message: x.message,
            })
            .collect(),
        accepted_job: None,
    }
}

pub(super) fn incoming(d: &new::types::Incoming) -> old::types::Incoming {
    old::types::Incoming {
        headers: d.headers.clone(),
        body: d.body.clone(),
    }
}

impl old::http::Host for HttpState {
    async fn send(
        &mut self,
        req: old::http::Request,
    ) -> wasmtime::Result<Result<old::http::Response, old::http::HttpError>> {
        let req = new::http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            body_blob: None,
            sign: None,
            keep_body: false,
        };
        let result = new::http::Host::send(self, req).await?;
        Ok(match result {
            Ok(r) => Ok(old::http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                new::http::HttpError::Denied(m) => old::http::HttpError::Denied(m),
                new::http::HttpError::Timeout => old::http::HttpError::Timeout,
                new::http::HttpError::Connect(m) => old::http::HttpError::Connect(m),
                new::http::HttpError::TooLarge => old::http::HttpError::TooLarge,
                new::http::HttpError::Invalid(m) => old::http::HttpError::Invalid(m),
            }),
        })
    }
}

impl old::secrets::Host for SecretsState {
    async fn reveal(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, old::secrets::RevealError>> {
        Ok(new::secrets::Host::reveal(self, name)
            .await?
            .map_err(|e| match e {
                new::secrets::RevealError::Denied(m) => old::secrets::RevealError::Denied(m),
                new::secrets::RevealError::Missing => old::secrets::RevealError::Missing,
            }))
    }
}

impl old::log::Host for LogState {
    async fn log(&mut self, level: old::log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            old::log::Level::Trace => new::log::Level::Trace,
            old::log::Level::Debug => new::log::Level::Debug,
            old::log::Level::Info => new::log::Level::Info,
            old::log::Level::Warn => new::log::Level::Warn,
            old::log::Level::Error => new::log::Level::Error,
        };
        new::log::Host::log(self, level, message).await
    }
}

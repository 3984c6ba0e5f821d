//! The contract's types to and from the host's: records (with the count
//! and depth limits checked on the way in), specs, and what each costs
//! against the output limit.

use serde_json::Value;

use super::bindings::wharf::connector::types as wit;
use super::error::CallError;
use super::limits::{LimitExceeded, Limits};
use crate::model::record::{Op, Record};
use crate::model::spec::Spec;

/// What a record costs against the output limit: its strings, plus what
/// the host spends on one more record even when they are empty.
pub(super) const RECORD_OVERHEAD: usize = 64;

pub(super) fn wit_spec_size(s: &wit::ConnectorSpec) -> usize {
    let list = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    s.name.len()
        + s.version.len()
        + s.description.len()
        + s.config_schema.len()
        + list(&s.hosts)
        + s.streams
            .iter()
            .map(|x| RECORD_OVERHEAD + x.name.len() + x.description.len() + x.schema.len())
            .sum::<usize>()
        + s.secrets
            .iter()
            .map(|x| RECORD_OVERHEAD + x.name.len() + x.description.len() + list(&x.hosts))
            .sum::<usize>()
}

pub(super) fn wit_error_size(e: &wit::Error) -> usize {
    match e {
        wit::Error::Config(m)
        | wit::Error::Auth(m)
        | wit::Error::Transient(m)
        | wit::Error::Fatal(m) => m.len(),
        wit::Error::RateLimited(_) | wit::Error::Unsupported => 0,
    }
}

pub(super) fn wit_records_size(records: &[wit::Record]) -> usize {
    records
        .iter()
        .map(|r| {
            RECORD_OVERHEAD + r.stream.len() + r.key.as_ref().map_or(0, String::len) + r.data.len()
        })
        .sum()
}

pub(super) fn records_to_wit(records: &[Record]) -> Vec<wit::Record> {
    records
        .iter()
        .map(|r| wit::Record {
            stream: r.stream.clone(),
            key: r.key.clone(),
            op: match r.op {
                Op::Upsert => wit::Op::Upsert,
                Op::Delete => wit::Op::Delete,
            },
            data: r.data.get().to_string(),
        })
        .collect()
}

pub(super) fn records_from_wit(
    records: Vec<wit::Record>,
    limits: &Limits,
) -> Result<Vec<Record>, CallError> {
    if records.len() > limits.max_records_per_call {
        return Err(CallError::Limit(LimitExceeded::Records {
            count: records.len(),
            limit: limits.max_records_per_call,
        }));
    }
    if let Some(index) = records
        .iter()
        .position(|r| crate::model::record::nests_deeper_than(&r.data, limits.max_json_depth))
    {
        return Err(CallError::Limit(LimitExceeded::Depth {
            index,
            limit: limits.max_json_depth,
        }));
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let op = match r.op {
                wit::Op::Upsert => Op::Upsert,
                wit::Op::Delete => Op::Delete,
            };
            let stream = r.stream;
            Record::new(stream.clone(), r.key, op, r.data).map_err(|reason| {
                CallError::Protocol(format!(
                    "record {i} of stream `{stream}`: data is not a JSON object ({reason})"
                ))
            })
        })
        .collect()
}

pub(super) fn spec_from_wit(s: wit::ConnectorSpec) -> Spec {
    use crate::model::spec::{OAuth2Spec, Role, SecretSpec, StreamSpec, WebhookScheme};
    let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
    Spec {
        name: s.name,
        version: s.version,
        description: s.description,
        roles: s
            .roles
            .into_iter()
            .map(|r| match r {
                wit::Role::Source => Role::Source,
                wit::Role::Destination => Role::Destination,
                wit::Role::Mapper => Role::Mapper,
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
            authorize_url: o.authorize_url,
            token_url: o.token_url,
            scopes: o.scopes,
            pkce: o.pkce,
            client_auth: Default::default(),
            token_lifetime_secs: None,
        }),
        webhook: s.webhook.map(|w| match w {
            wit::WebhookScheme::StandardWebhooks => WebhookScheme::StandardWebhooks,
            wit::WebhookScheme::Github => WebhookScheme::Github,
            wit::WebhookScheme::Shopify => WebhookScheme::Shopify,
            wit::WebhookScheme::Stripe => WebhookScheme::Stripe,
        }),
    }
}

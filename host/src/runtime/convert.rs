//! The contract's types (0.2, the host's own; 0.1 is adapted onto them in
//! `super::v01`) to and from the model's: records (with the count and depth
//! limits checked on the way in), pages, specs, and what each costs against
//! the output limit.

use serde_json::Value;

use super::bindings::wharf::connector::types as wit;
use super::error::CallError;
use super::limits::{LimitExceeded, Limits};
use crate::model::record::{Op, Page, READABLE_DEPTH, Record, Refused, RowError, record_text};
use crate::model::spec::Spec;

/// What a record costs against the output limit: its strings, plus what
/// the host spends on one more record even when they are empty.
pub(super) const RECORD_OVERHEAD: usize = 64;

pub(super) fn wit_error_size(e: &wit::Error) -> usize {
    match e {
        wit::Error::Config(m)
        | wit::Error::Auth(m)
        | wit::Error::AuthExpired(m)
        | wit::Error::Transient(m)
        | wit::Error::Fatal(m) => m.len(),
        wit::Error::RateLimited(_) | wit::Error::Unsupported => 0,
    }
}

pub(super) fn wit_records_size(records: &[wit::Record]) -> usize {
    records
        .iter()
        .map(|r| {
            RECORD_OVERHEAD
                + r.stream.len()
                + r.key.as_ref().map_or(0, String::len)
                + r.data.len()
                + r.blob.as_ref().map_or(0, String::len)
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
            blob: r.blob.clone(),
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
    // Every record is checked before any is refused: nesting past the limit
    // is a limit error, named before anything else a record gets wrong.
    let depth = limits.max_json_depth.min(READABLE_DEPTH);
    let checked: Vec<_> = records
        .into_iter()
        .map(|mut r| {
            let data = record_text(std::mem::take(&mut r.data), depth);
            (r, data)
        })
        .collect();
    if let Some(index) = checked
        .iter()
        .position(|(_, data)| matches!(data, Err(Refused::Depth)))
    {
        return Err(CallError::Limit(LimitExceeded::Depth {
            index,
            limit: limits.max_json_depth,
        }));
    }
    checked
        .into_iter()
        .enumerate()
        .map(|(i, (r, data))| {
            let op = match r.op {
                wit::Op::Upsert => Op::Upsert,
                wit::Op::Delete => Op::Delete,
            };
            match data {
                Ok(data) => Ok(Record {
                    stream: r.stream,
                    key: r.key,
                    op,
                    data,
                    blob: r.blob,
                }),
                Err(Refused::Invalid(reason)) => Err(CallError::Protocol(format!(
                    "record {i} of stream `{}`: data is not a JSON object ({reason})",
                    r.stream
                ))),
                // Refused above, before any other error.
                Err(Refused::Depth) => Err(CallError::Limit(LimitExceeded::Depth {
                    index: i,
                    limit: limits.max_json_depth,
                })),
            }
        })
        .collect()
}

pub(super) fn spec_from_wit(s: wit::ConnectorSpec) -> Spec {
    use crate::model::spec as m;
    let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
    let hash = |h: wit::HmacHash| match h {
        wit::HmacHash::Sha1 => m::HmacHash::Sha1,
        wit::HmacHash::Sha256 => m::HmacHash::Sha256,
        wit::HmacHash::Sha512 => m::HmacHash::Sha512,
    };
    let encoding = |e: wit::SignatureEncoding| match e {
        wit::SignatureEncoding::Hex => m::SignatureEncoding::Hex,
        wit::SignatureEncoding::Base64 => m::SignatureEncoding::Base64,
    };
    let host_request = |r: wit::HostRequest| m::HostRequest {
        method: r.method,
        url: r.url,
        headers: r.headers,
        body: r.body,
    };
    Spec {
        name: s.name,
        version: s.version,
        description: s.description,
        roles: s
            .roles
            .into_iter()
            .map(|r| match r {
                wit::Role::Source => m::Role::Source,
                wit::Role::Destination => m::Role::Destination,
                wit::Role::Mapper => m::Role::Mapper,
            })
            .collect(),
        streams: s.streams.into_iter().map(stream_from_wit).collect(),
        config_schema: json(&s.config_schema),
        secrets: s
            .secrets
            .into_iter()
            .map(|x| m::SecretSpec {
                name: x.name,
                description: x.description,
                hosts: x.hosts,
                reveal: false,
                required: x.required,
            })
            .collect(),
        hosts: s.hosts,
        oauth2: s.oauth2.map(|o| m::OAuth2Spec {
            grant: match o.grant {
                wit::Oauth2Grant::AuthorizationCode => m::Grant::AuthorizationCode,
                wit::Oauth2Grant::ClientCredentials => m::Grant::ClientCredentials,
                wit::Oauth2Grant::JwtBearer => m::Grant::JwtBearer,
            },
            authorize_url: o.authorize_url,
            token_url: o.token_url,
            scopes: o.scopes,
            pkce: o.pkce,
            client_auth: match o.client_auth {
                wit::ClientAuth::Post => m::ClientAuth::Post,
                wit::ClientAuth::Basic => m::ClientAuth::Basic,
            },
            authorize_params: o.authorize_params,
            token_lifetime_secs: o.token_lifetime_secs,
            info_fields: o.info_fields,
            assertion_key: o.assertion_key,
        }),
        webhook: s.webhook.map(|w| m::WebhookSpec {
            scheme: match w.scheme {
                wit::WebhookScheme::StandardWebhooks => m::WebhookScheme::StandardWebhooks,
                wit::WebhookScheme::Github => m::WebhookScheme::Github,
                wit::WebhookScheme::Shopify => m::WebhookScheme::Shopify,
                wit::WebhookScheme::Stripe => m::WebhookScheme::Stripe,
                wit::WebhookScheme::Hmac(h) => m::WebhookScheme::Hmac(m::HmacScheme {
                    signature_header: h.signature_header,
                    hash: hash(h.hash),
                    encoding: encoding(h.encoding),
                    prefix: h.prefix,
                    signed: h.signed,
                    timestamp_header: h.timestamp_header,
                    tolerance_secs: h.tolerance_secs,
                    id_header: h.id_header,
                }),
                wit::WebhookScheme::StaticToken(header) => m::WebhookScheme::StaticToken { header },
            },
            handshake: w.handshake.map(|h| match h {
                wit::Handshake::EchoJson(e) => m::Handshake::EchoJson {
                    event_type: e.event_type,
                    field: e.field,
                },
                wit::Handshake::EchoQuery(parameter) => m::Handshake::EchoQuery { parameter },
                wit::Handshake::HubChallenge => m::Handshake::HubChallenge,
            }),
            plain_replies: w.plain_replies,
        }),
        login: s.login.map(|l| m::LoginSpec {
            request: host_request(l.request),
            token: match l.token {
                wit::TokenLocation::JsonPointer(p) => m::TokenLocation::JsonPointer(p),
                wit::TokenLocation::Cookies(c) => m::TokenLocation::Cookies(c),
                wit::TokenLocation::Header(h) => m::TokenLocation::Header(h),
            },
            lifetime_secs: l.lifetime_secs,
            relogin_on: l.relogin_on,
            logout: l.logout.map(host_request),
        }),
        signing: s
            .signing
            .into_iter()
            .map(|k| m::SigningSpec {
                name: k.name,
                hosts: k.hosts,
                method: match k.method {
                    wit::SigningMethod::AwsSigv4(a) => m::SigningMethod::AwsSigv4 {
                        key_id_secret: a.key_id_secret,
                        secret_key_secret: a.secret_key_secret,
                        session_token_secret: a.session_token_secret,
                        region: a.region,
                        service: a.service,
                    },
                    wit::SigningMethod::Hmac(h) => m::SigningMethod::Hmac {
                        key_secret: h.key_secret,
                        hash: hash(h.hash),
                        template: h.template,
                        target: h.target,
                        query: h.query,
                        encoding: encoding(h.encoding),
                        prefix: h.prefix,
                        timestamp_header: h.timestamp_header,
                    },
                    wit::SigningMethod::Jwt(j) => m::SigningMethod::Jwt {
                        key_secret: j.key_secret,
                        algorithm: match j.algorithm {
                            wit::JwtAlgorithm::Rs256 => m::JwtAlgorithm::Rs256,
                            wit::JwtAlgorithm::Es256 => m::JwtAlgorithm::Es256,
                        },
                        claims: j.claims,
                        lifetime_secs: j.lifetime_secs,
                        key_id: j.key_id,
                    },
                },
            })
            .collect(),
        rate_budgets: s
            .rate_budgets
            .into_iter()
            .map(|b| m::RateBudget {
                host: b.host,
                requests: b.requests,
                window_secs: b.window_secs,
                concurrency: b.concurrency,
                daily: b.daily,
            })
            .collect(),
        catalog: m::Catalog {
            display_name: s.catalog.display_name,
            categories: s
                .catalog
                .categories
                .into_iter()
                .map(|c| match c {
                    wit::Category::Accounting => m::Category::Accounting,
                    wit::Category::Commerce => m::Category::Commerce,
                    wit::Category::Crm => m::Category::Crm,
                    wit::Category::Erp => m::Category::Erp,
                    wit::Category::Files => m::Category::Files,
                    wit::Category::Messaging => m::Category::Messaging,
                    wit::Category::Marketing => m::Category::Marketing,
                    wit::Category::CloudCost => m::Category::CloudCost,
                    wit::Category::Logistics => m::Category::Logistics,
                    wit::Category::Government => m::Category::Government,
                    wit::Category::Database => m::Category::Database,
                    wit::Category::Developer => m::Category::Developer,
                    wit::Category::Other => m::Category::Other,
                })
                .collect(),
            icon_svg: s.catalog.icon_svg,
            documentation_url: s.catalog.documentation_url,
            publisher: s.catalog.publisher,
        },
        contract: "0.2.0".into(),
    }
}

/// A stream of a spec or of `discover`.
pub(super) fn stream_from_wit(st: wit::StreamSpec) -> crate::model::spec::StreamSpec {
    crate::model::spec::StreamSpec {
        schema: serde_json::from_str(&st.schema).unwrap_or(Value::Null),
        name: st.name,
        description: st.description,
        key_field: st.key_field,
        cursor_field: st.cursor_field,
    }
}

/// A page from the contract's type; records are checked.
pub(super) fn page_from_wit(p: wit::Page, limits: &Limits) -> Result<Page, CallError> {
    Ok(Page {
        records: records_from_wit(p.records, limits)?,
        cursor: p.cursor,
        more: p.more,
        pending: p.pending,
        row_errors: p
            .row_errors
            .into_iter()
            .map(|e| RowError {
                stream: e.stream,
                row: e.row,
                field: e.field,
                message: e.message,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Limits::transfer_bytes` is twice the output limit because wasmtime
    /// counts each lifted list element at its size on the host: a result
    /// within the output limit must never run out of that budget.
    #[test]
    fn a_result_within_the_output_limit_fits_the_transfer_budget() {
        for host_size in [
            std::mem::size_of::<wit::Record>(),
            std::mem::size_of::<wit::RowError>(),
            std::mem::size_of::<wit::Rejection>(),
        ] {
            assert!(host_size <= 2 * RECORD_OVERHEAD, "{host_size} bytes");
        }
        let limits = Limits::default();
        assert!(limits.transfer_bytes() >= 2 * limits.max_output_bytes);
        assert!(limits.transfer_bytes() >= limits.http_request_bytes);
    }
}

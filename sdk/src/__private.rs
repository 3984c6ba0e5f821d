//! Glue called by [`crate::export_connector!`]: parse the config, convert
//! between the contract's types and the SDK's. Not a public API.

use serde_json::Value;

use crate::bindings::wharf::connector::types as wit;
use crate::raw::RawRecord;
use crate::record::{Delivery, Op, Page, PushResult, Record};
use crate::{Connector, Error};

type WitResult<T> = Result<T, wit::Error>;

fn config<C: Connector>(text: &str) -> Result<C::Config, Error> {
    serde_json::from_str(text).map_err(|e| Error::Config(format!("invalid config: {e}")))
}

pub fn spec<C: Connector>() -> wit::ConnectorSpec {
    C::spec().into_wit()
}

pub fn check<C: Connector>(cfg: String) -> WitResult<()> {
    Ok(C::check(&config::<C>(&cfg)?)?)
}

pub fn fetch<C: Connector>(
    cfg: String,
    stream: String,
    cursor: Option<String>,
) -> WitResult<wit::Page> {
    let page: Page = C::fetch(&config::<C>(&cfg)?, &stream, cursor.as_deref())?;
    let mut records: Vec<wit::Record> = Vec::with_capacity(page.records.len() + page.raw.len());
    records.extend(page.records.into_iter().map(to_wit));
    records.extend(page.raw.into_iter().map(raw_to_wit));
    Ok(wit::Page {
        records,
        cursor: page.cursor,
        more: page.more,
        pending: page.pending,
        row_errors: page
            .row_errors
            .into_iter()
            .map(|e| wit::RowError {
                stream: e.stream,
                row: e.row,
                field: e.field,
                message: e.message,
            })
            .collect(),
    })
}

pub fn discover<C: Connector>(cfg: String) -> WitResult<Vec<wit::StreamSpec>> {
    let streams = C::discover(&config::<C>(&cfg)?)?;
    Ok(streams.into_iter().map(|s| s.into_wit()).collect())
}

pub fn map<C: Connector>(cfg: String, records: Vec<wit::Record>) -> WitResult<Vec<wit::Record>> {
    let config = config::<C>(&cfg)?;
    let records = records.into_iter().map(from_wit).collect();
    Ok(C::map_raw(&config, records)?
        .into_iter()
        .map(raw_to_wit)
        .collect())
}

pub fn push<C: Connector>(cfg: String, records: Vec<wit::Record>) -> WitResult<wit::PushResult> {
    let config = config::<C>(&cfg)?;
    let records = records.into_iter().map(from_wit).collect();
    let r: PushResult = C::push_raw(&config, records)?;
    Ok(wit::PushResult {
        created: r.created,
        updated: r.updated,
        deleted: r.deleted,
        rejected: r
            .rejected
            .into_iter()
            .map(|x| wit::Rejection {
                index: x.index,
                field: x.field,
                message: x.message,
            })
            .collect(),
        accepted_job: r.accepted_job,
    })
}

pub fn receive<C: Connector>(cfg: String, delivery: wit::Incoming) -> WitResult<Vec<wit::Record>> {
    let config = config::<C>(&cfg)?;
    let delivery = Delivery {
        method: delivery.method,
        headers: delivery.headers,
        query: delivery.query,
        body: delivery.body,
    };
    Ok(C::receive(&config, delivery)?
        .into_iter()
        .map(to_wit)
        .collect())
}

fn to_wit(r: Record) -> wit::Record {
    wit::Record {
        stream: r.stream,
        key: r.key,
        op: match r.op {
            Op::Upsert => wit::Op::Upsert,
            Op::Delete => wit::Op::Delete,
        },
        data: Value::Object(r.data).to_string(),
        blob: r.blob,
    }
}

fn raw_to_wit(r: RawRecord) -> wit::Record {
    let (stream, key, op, data, blob) = r.into_parts();
    wit::Record {
        stream,
        key,
        op: match op {
            Op::Upsert => wit::Op::Upsert,
            Op::Delete => wit::Op::Delete,
        },
        data,
        blob,
    }
}

/// The host checked that each record's data is a JSON object.
fn from_wit(r: wit::Record) -> RawRecord {
    RawRecord::trusted(
        r.stream,
        r.key,
        match r.op {
            wit::Op::Upsert => Op::Upsert,
            wit::Op::Delete => Op::Delete,
        },
        r.data,
        r.blob,
    )
}

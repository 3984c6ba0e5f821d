//! Glue called by [`crate::export_connector!`]: parse the config, convert
//! between the contract's types and the SDK's. Not a public API.

use serde_json::{Map, Value};

use crate::bindings::wharf::connector::types as wit;
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
    Ok(wit::Page {
        records: page.records.into_iter().map(to_wit).collect(),
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
    let records = records
        .into_iter()
        .map(from_wit)
        .collect::<Result<_, _>>()?;
    Ok(C::map(&config, records)?.into_iter().map(to_wit).collect())
}

pub fn push<C: Connector>(cfg: String, records: Vec<wit::Record>) -> WitResult<wit::PushResult> {
    let config = config::<C>(&cfg)?;
    let records = records
        .into_iter()
        .map(from_wit)
        .collect::<Result<_, _>>()?;
    let r: PushResult = C::push(&config, records)?;
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

fn from_wit(r: wit::Record) -> Result<Record, Error> {
    let data: Map<String, Value> = serde_json::from_str(&r.data)
        .map_err(|e| Error::Fatal(format!("host sent a record that is not a JSON object: {e}")))?;
    Ok(Record {
        stream: r.stream,
        key: r.key,
        op: match r.op {
            wit::Op::Upsert => Op::Upsert,
            wit::Op::Delete => Op::Delete,
        },
        data,
        blob: r.blob,
    })
}

//! Glue called by [`crate::export_connector!`]: parse the config, convert
//! between the contract's types and the SDK's. Not a public API.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use crate::bindings::wharf::connector::types as wit;
use crate::raw::RawRecord;
use crate::record::{Delivery, Op, Page, PushResult, Record};
use crate::{Connector, Error};

type WitResult<T> = Result<T, wit::Error>;

thread_local! {
    /// The last config parsed, with its text. Every call of a run passes
    /// the same config, and a kept instance serves the run's calls: parsing
    /// it again for each page was ~2 % of a fetch → map.
    static LAST_CONFIG: RefCell<Option<(String, Rc<dyn Any>)>> = const { RefCell::new(None) };
}

/// `text` parsed as `C`'s config, or the same config parsed by an earlier
/// call of this instance.
fn config<C: Connector>(text: &str) -> Result<Rc<C::Config>, Error> {
    let last = LAST_CONFIG.with_borrow(|last| match last {
        Some((seen, parsed)) if seen == text => parsed.clone().downcast::<C::Config>().ok(),
        _ => None,
    });
    if let Some(parsed) = last {
        return Ok(parsed);
    }
    let parsed: Rc<C::Config> = Rc::new(
        serde_json::from_str(text).map_err(|e| Error::Config(format!("invalid config: {e}")))?,
    );
    LAST_CONFIG.set(Some((text.to_owned(), parsed.clone())));
    Ok(parsed)
}

pub fn spec<C: Connector>() -> wit::ConnectorSpec {
    C::spec().into_wit()
}

pub fn check<C: Connector>(cfg: String) -> WitResult<()> {
    Ok(C::check(&*config::<C>(&cfg)?)?)
}

pub fn fetch<C: Connector>(
    cfg: String,
    stream: String,
    cursor: Option<String>,
) -> WitResult<wit::Page> {
    let page: Page = C::fetch(&*config::<C>(&cfg)?, &stream, cursor.as_deref())?;
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
    let streams = C::discover(&*config::<C>(&cfg)?)?;
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::spec::Spec;

    thread_local! {
        static PARSES: Cell<u32> = const { Cell::new(0) };
    }

    /// A config that counts how often it is parsed.
    struct Counted(String);

    impl<'de> serde::Deserialize<'de> for Counted {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            PARSES.set(PARSES.get() + 1);
            String::deserialize(d).map(Counted)
        }
    }

    struct First;
    struct Second;

    impl Connector for First {
        type Config = Counted;
        fn spec() -> Spec {
            Spec::new("first", "1")
        }
        fn check(config: &Counted) -> crate::Result<()> {
            Err(Error::Config(format!("first saw {}", config.0)))
        }
    }

    impl Connector for Second {
        type Config = String;
        fn spec() -> Spec {
            Spec::new("second", "1")
        }
        fn check(config: &String) -> crate::Result<()> {
            Err(Error::Config(format!("second saw {config}")))
        }
    }

    fn said(r: WitResult<()>) -> String {
        match r {
            Err(wit::Error::Config(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_config_is_parsed_once_per_text_and_type() {
        assert_eq!(said(check::<First>("\"a\"".into())), "first saw a");
        assert_eq!(said(check::<First>("\"a\"".into())), "first saw a");
        assert_eq!(PARSES.get(), 1);
        // Another text is parsed; so is the same text for another type.
        assert_eq!(said(check::<First>("\"b\"".into())), "first saw b");
        assert_eq!(PARSES.get(), 2);
        assert_eq!(said(check::<Second>("\"b\"".into())), "second saw b");
        assert_eq!(said(check::<First>("\"b\"".into())), "first saw b");
        assert_eq!(PARSES.get(), 3);
        // A config that does not parse is refused each time.
        for _ in 0..2 {
            assert!(said(check::<First>("1".into())).starts_with("invalid config"));
        }
    }
}

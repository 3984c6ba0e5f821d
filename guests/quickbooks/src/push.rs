//! QuickBooks as a destination: each record is an entity of the stream's
//! type. One without an `Id` field is created (its key, from another
//! system, is not a QuickBooks id); one with an `Id` is updated
//! sparsely (only the fields it carries), with its `SyncToken` or, when it
//! has none, the entity's current one. A delete removes a transaction and
//! makes a name or an account inactive, as QuickBooks allows.
//!
//! Every write carries a `requestid` derived from the company, the stream,
//! the record's key (or its place in the batch) and its content: when a
//! batch stopped by an expired token, a throttle or a server error is sent
//! again, Intuit answers the writes it already made with their first answer
//! instead of making them twice. Two equal records of one batch are two
//! writes; the same record with the same content sent in a later run is
//! written once.
//!
//! A write QuickBooks refuses (a validation fault: a missing customer, an
//! unbalanced journal entry) is rejected with Intuit's message and the rest
//! of the batch goes on; a stale `SyncToken` (someone edited the entity
//! since it was read) is read again and the update made once more.

use wharf_sdk::prelude::*;

use crate::entities::{self, Entity, Removal};
use crate::{Config, api};

/// Intuit's fault code for an update with an old `SyncToken`.
const STALE_OBJECT: &str = "5010";

/// Fields QuickBooks keeps, which a write must not send back.
const SERVER_KEPT: &[&str] = &["MetaData", "domain", "status", "time"];

enum Written {
    Created,
    Updated,
    Deleted,
    Refused(String),
}

pub fn push(config: &Config, realm: &str, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    for (index, record) in records.iter().enumerate() {
        let written = match entities::by_stream(&record.stream) {
            Ok(entity) => {
                // Which record a write is for, in its request id: the key,
                // or its place in the batch (the same on a retry).
                let who = record.key.clone().unwrap_or_else(|| format!("#{index}"));
                write(config, realm, entity, record, &who)?
            }
            Err(e) => Written::Refused(e.to_string()),
        };
        match written {
            Written::Created => result.created += 1,
            Written::Updated => result.updated += 1,
            Written::Deleted => result.deleted += 1,
            Written::Refused(message) => result.reject(index, None, message),
        }
    }
    Ok(result)
}

fn write(
    config: &Config,
    realm: &str,
    entity: &Entity,
    record: &Record,
    who: &str,
) -> Result<Written> {
    // The entity's `Id` field names the one to update; a record's key
    // (an order number from another system) does not, except for a delete,
    // which carries nothing else.
    let id = record
        .get("Id")
        .and_then(wharf_sdk::scalar_text)
        .or_else(|| {
            (record.op == Op::Delete)
                .then(|| record.key.clone())
                .flatten()
        })
        .filter(|id| !id.is_empty());
    if let Some(id) = &id
        && !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Ok(Written::Refused(format!(
            "`{id}` is not a QuickBooks {} Id",
            entity.name
        )));
    }
    if record.op == Op::Delete {
        let Some(id) = id else {
            return Ok(Written::Refused(
                "a delete needs the entity's Id as its key".into(),
            ));
        };
        return remove(config, realm, entity, &id, who);
    }
    let mut body = record.data.clone();
    for field in SERVER_KEPT {
        body.remove(*field);
    }
    let Some(id) = id else {
        body.remove("Id");
        body.remove("SyncToken");
        return Ok(match save(config, realm, entity, &body, None, who)? {
            Ok(_) => Written::Created,
            Err((_, message)) => Written::Refused(message),
        });
    };
    body.insert("Id".into(), Value::String(id.clone()));
    body.entry("sparse").or_insert(Value::Bool(true));
    if !body.contains_key("SyncToken") {
        match current_token(config, realm, entity, &id)? {
            Some(token) => body.insert("SyncToken".into(), Value::String(token)),
            None => return Ok(Written::Refused(missing(entity, &id))),
        };
    }
    for attempt in 0..2 {
        match save(config, realm, entity, &body, None, who)? {
            Ok(_) => return Ok(Written::Updated),
            Err((Some(code), _)) if code == STALE_OBJECT && attempt == 0 => {
                // Edited since it was read: take the newest token and
                // apply this record's fields over that version.
                match current_token(config, realm, entity, &id)? {
                    Some(token) => body.insert("SyncToken".into(), Value::String(token)),
                    None => return Ok(Written::Refused(missing(entity, &id))),
                };
            }
            Err((_, message)) => return Ok(Written::Refused(message)),
        }
    }
    unreachable!("the loop returns on its second attempt")
}

fn missing(entity: &Entity, id: &str) -> String {
    format!("QuickBooks has no {} with Id {id}", entity.name)
}

/// Delete a transaction or deactivate a name; one already gone counts as
/// deleted.
fn remove(config: &Config, realm: &str, entity: &Entity, id: &str, who: &str) -> Result<Written> {
    let Some(token) = current_token(config, realm, entity, id)? else {
        return Ok(Written::Deleted);
    };
    let mut body = Map::new();
    body.insert("Id".into(), Value::String(id.to_string()));
    body.insert("SyncToken".into(), Value::String(token));
    let operation = match entity.removal {
        Removal::Delete => Some("delete"),
        Removal::Deactivate => {
            body.insert("sparse".into(), Value::Bool(true));
            body.insert("Active".into(), Value::Bool(false));
            None
        }
    };
    Ok(match save(config, realm, entity, &body, operation, who)? {
        Ok(_) => Written::Deleted,
        Err((_, message)) => Written::Refused(message),
    })
}

/// The entity's current `SyncToken`; `None` when it does not exist.
fn current_token(
    config: &Config,
    realm: &str,
    entity: &Entity,
    id: &str,
) -> Result<Option<String>> {
    let response = api::get(config, realm, &format!("{}/{id}", entity.path())).send()?;
    if crate::events::gone(&response) {
        return Ok(None);
    }
    if response.status == 400 {
        return Err(Error::fatal(api::errors().message(&response)));
    }
    let body: Value = api::errors().check(response)?.json()?;
    Ok(body[entity.name]
        .get("SyncToken")
        .and_then(wharf_sdk::scalar_text))
}

/// The fault code and message of a refused write.
type Refusal = (Option<String>, String);

/// `POST` the entity; the saved entity, or why QuickBooks refused it.
/// Expired tokens, throttling and server errors stop the batch.
fn save(
    config: &Config,
    realm: &str,
    entity: &Entity,
    body: &Map<String, Value>,
    operation: Option<&str>,
    who: &str,
) -> Result<std::result::Result<Value, Refusal>> {
    let bytes = serde_json::to_vec(body).map_err(Error::fatal)?;
    let mut request = api::post(config, realm, &entity.path()).query(
        "requestid",
        request_id(realm, entity, operation, who, &bytes),
    );
    if let Some(operation) = operation {
        request = request.query("operation", operation);
    }
    let response = request.json_data(body)?.send()?;
    match response.status {
        200..=299 => {
            let answer: Value = response.json()?;
            match api::fault(&answer) {
                Some(message) => Ok(Err((api::fault_code(&answer), message))),
                None => Ok(Ok(answer)),
            }
        }
        400 | 404 => {
            let answer: Value = response.json().unwrap_or(Value::Null);
            let message = api::errors().message(&response);
            Ok(Err((api::fault_code(&answer), message)))
        }
        _ => Err(api::errors()
            .check(response)
            .err()
            .unwrap_or_else(|| Error::fatal("unexpected answer"))),
    }
}

/// An idempotency key for a write (at most 50 characters, as Intuit
/// allows): two FNV-1a hashes of what is written, in hex.
fn request_id(
    realm: &str,
    entity: &Entity,
    operation: Option<&str>,
    who: &str,
    body: &[u8],
) -> String {
    let parts: [&[u8]; 5] = [
        realm.as_bytes(),
        entity.name.as_bytes(),
        operation.unwrap_or("save").as_bytes(),
        who.as_bytes(),
        body,
    ];
    let hash = |seed: u64| {
        let mut h = seed;
        for part in parts {
            for b in part.iter().chain(std::iter::once(&0xff)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    };
    format!(
        "wharf-{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x6c62_272e_07bb_0142)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_the_content() {
        let invoice = entities::by_stream("invoices").unwrap();
        let a = request_id("1", invoice, None, "#0", b"{\"a\":1}");
        assert_eq!(a, request_id("1", invoice, None, "#0", b"{\"a\":1}"));
        assert_ne!(
            a,
            request_id("1", invoice, None, "#1", b"{\"a\":1}"),
            "two equal records"
        );
        assert!(a.len() <= 50, "{a}");
        assert_ne!(a, request_id("1", invoice, None, "#0", b"{\"a\":2}"));
        assert_ne!(a, request_id("2", invoice, None, "#0", b"{\"a\":1}"));
        assert_ne!(
            a,
            request_id("1", invoice, Some("delete"), "#0", b"{\"a\":1}")
        );
    }
}

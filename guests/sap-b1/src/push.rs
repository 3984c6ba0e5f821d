//! The Service Layer as a destination: each record is an entity of the set
//! its stream names (or the config's `push_entity`), in SAP's own field
//! names (`CardCode`, `DocumentLines`, …).
//!
//! - A record that carries its key (`CardCode`, `DocEntry`) is updated in
//!   place: `PATCH /{Set}({key})`, with only the fields it carries (SAP
//!   merges `DocumentLines` by `LineNum` unless `replace_collections_on_patch`
//!   sends `B1S-ReplaceCollectionsOnPatch: true`). Master data SAP does not
//!   have yet (`404`, "No matching records found") is then created with
//!   that key: `POST /{Set}`.
//! - A document without a `DocEntry` is created, `POST /{Set}`; SAP numbers
//!   it.
//! - A delete removes master data (`DELETE`); documents are never deleted
//!   in SAP Business One, so they are cancelled (`POST /{Set}({key})/Cancel`)
//!   when `cancel_documents_on_delete` says so, else refused.
//!
//! SAP's refusal of one entity (a `400` with its message) rejects that
//! record with SAP's words and the `[TABLE.Column]` it names, and the batch
//! goes on. A creation of a document is the one write that is not safe to
//! send twice: once one succeeded in a batch, a failure that would make the
//! host send the batch again (a server error, a timeout, a session that
//! cannot be renewed) rejects the rest of the batch instead, saying why; a
//! document whose creation got no answer is rejected as "may have been
//! created".

use wharf_sdk::prelude::*;

use crate::entities::{Entity, Kind};
use crate::{Config, api};

/// Stamps SAP keeps itself; a record read from SAP carries them.
const SERVER_KEPT: &[&str] = &[
    "UpdateDate",
    "UpdateTime",
    "CreateDate",
    "CreateTime",
    "CreationDate",
];

enum Written {
    Created,
    Updated,
    Deleted,
    Refused(Option<String>, String),
}

/// Why a batch stops, and whether the record's write may have happened
/// (a document created without an answer).
struct Stop {
    error: Error,
    maybe_created: bool,
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Self {
            error,
            maybe_created: false,
        }
    }
}

pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    // A document created in this batch: sending the batch again would
    // create it twice.
    let mut unsafe_to_resend = false;
    for (index, record) in records.iter().enumerate() {
        let name = config.push_entity.as_deref().unwrap_or(&record.stream);
        let entity = match config.entity(name) {
            Ok(e) => e,
            Err(e) => {
                result.reject(index, None, e.to_string());
                continue;
            }
        };
        match write(config, &entity, record) {
            Ok(Written::Created) => {
                result.created += 1;
                unsafe_to_resend |= entity.kind == Kind::Document;
            }
            Ok(Written::Updated) => result.updated += 1,
            Ok(Written::Deleted) => result.deleted += 1,
            Ok(Written::Refused(field, message)) => result.reject(index, field.as_deref(), message),
            Err(stop) if !unsafe_to_resend && !stop.maybe_created => return Err(stop.error),
            Err(stop) => {
                let why = stop.error.to_string();
                if stop.maybe_created {
                    result.reject(
                        index,
                        None,
                        format!(
                            "the Service Layer did not answer the creation ({why}); the document may have been created: check {} in SAP before sending it again",
                            entity.name
                        ),
                    );
                } else {
                    result.reject(index, None, format!("not sent, so that the documents created before it in this batch are not created twice: {why}"));
                }
                result.reject_rest(index + 1, records.len(), &why);
                return Ok(result);
            }
        }
    }
    Ok(result)
}

fn write(config: &Config, entity: &Entity, record: &Record) -> Result<Written, Stop> {
    let key_value = record.data.get(&entity.key).filter(|v| !v.is_null());
    let segment = match key_value {
        Some(v) => match entity.key_segment(v) {
            Some(s) => Some(s),
            None => {
                return Ok(Written::Refused(
                    Some(entity.key.clone()),
                    format!("`{v}` is not a {} {}", entity.name, entity.key),
                ));
            }
        },
        None => None,
    };
    let url = |suffix: &str| format!("{}/{}{suffix}", config.root(), entity.name);
    if record.op == Op::Delete {
        let Some(segment) = segment else {
            return Ok(Written::Refused(
                Some(entity.key.clone()),
                format!("a delete needs the entity's {}", entity.key),
            ));
        };
        return match entity.kind {
            Kind::Master => {
                let r = send(api::session(Request::delete(url(&segment))))?;
                answer(r, Written::Deleted, true)
            }
            Kind::Document if config.cancel_documents_on_delete => {
                let r = send(api::session(Request::post(url(&format!(
                    "{segment}/Cancel"
                )))))?;
                answer(r, Written::Deleted, true)
            }
            Kind::Document => Ok(Written::Refused(
                None,
                format!(
                    "SAP Business One does not delete {}; set `cancel_documents_on_delete` to cancel them",
                    entity.name
                ),
            )),
        };
    }
    let mut body = record.data.clone();
    crate::streams::strip_annotations_map(&mut body);
    for field in SERVER_KEPT {
        body.remove(*field);
    }
    if let Some(segment) = &segment {
        let mut changes = body.clone();
        changes.remove(&entity.key);
        let mut patch = api::session(Request::patch(url(segment))).json_data(&changes)?;
        if config.replace_collections_on_patch {
            patch = patch.header("B1S-ReplaceCollectionsOnPatch", "true");
        }
        let r = send(patch)?;
        if r.status != 404 || entity.kind == Kind::Document {
            return answer(r, Written::Updated, false);
        }
        // Master data SAP does not have yet: created with its key.
    } else if entity.kind == Kind::Master {
        return Ok(Written::Refused(
            Some(entity.key.clone()),
            format!("a new {} needs its {}", entity.name, entity.key),
        ));
    }
    let post = api::session(Request::post(url(""))).json_data(&body)?;
    let document = segment.is_none();
    let r = match post.send() {
        Ok(r) => r,
        // No answer: the creation may have happened.
        Err(e @ (Error::Transient(_) | Error::RateLimited(_))) => {
            return Err(Stop {
                error: e,
                maybe_created: document,
            });
        }
        Err(e) => return Err(e.into()),
    };
    if document && (r.status >= 500 || r.status == 408) {
        return Err(Stop {
            error: api::errors()
                .check(r)
                .err()
                .unwrap_or_else(|| Error::transient("no answer")),
            maybe_created: true,
        });
    }
    answer(r, Written::Created, false)
}

fn send(request: Request) -> Result<Response, Stop> {
    Ok(request.send()?)
}

/// `done` when SAP took the write; SAP's refusal of this entity; or the
/// error that stops the batch (an ended session, a server error, a limit).
/// With `gone_is_done`, a `404` means the entity is already gone.
fn answer(response: Response, done: Written, gone_is_done: bool) -> Result<Written, Stop> {
    let status = response.status;
    if (200..300).contains(&status) || (gone_is_done && status == 404) {
        if let Written::Created = done
            && let Ok(v) = response.json::<Value>()
        {
            let id = ["DocEntry", "CardCode", "ItemCode", "Code", "JdtNum"]
                .iter()
                .find_map(|k| v.get(*k).and_then(wharf_sdk::scalar_text));
            if let Some(id) = id {
                wharf_sdk::log::info(format!("created {id}"));
            }
        }
        return Ok(done);
    }
    match status {
        401 | 408 | 429 | 500..=599 => Err(api::errors()
            .check(response)
            .err()
            .unwrap_or_else(|| Error::fatal(format!("HTTP {status}")))
            .into()),
        _ => {
            let message = api::errors().message(&response);
            Ok(Written::Refused(api::field_of(&message), message))
        }
    }
}

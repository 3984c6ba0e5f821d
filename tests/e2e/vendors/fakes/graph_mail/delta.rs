//! Delta query on a folder's messages: a first request (only the options
//! the message delta documents), or a `$skiptoken` / `$deltatoken` link;
//! pages of `odata.maxpagesize`, absolute links, `@removed` entries, 410
//! for a token the fake no longer has.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::{message_json, select, select_of};
use super::{Delta, Graph, MESSAGE_PROPS, Round, error, folder_id, not_found};

/// The delta of a folder: a first request, or a link's next page.
pub(super) fn delta(
    s: &mut Graph,
    origin: &str,
    folder: &str,
    query: &[(String, String)],
    prefer: Option<&str>,
    html: bool,
) -> Response {
    let path = format!("delta of {folder}");
    let asked = prefer.and_then(|p| {
        p.split(',')
            .find_map(|x| x.trim().strip_prefix("odata.maxpagesize="))
    });
    let page_size = match asked.map(|n| n.trim().parse::<usize>()) {
        None => 10,
        Some(Ok(n)) => n.max(1),
        Some(Err(_)) => {
            s.violations
                .push(format!("{path}: odata.maxpagesize is not a number"));
            10
        }
    };
    let token = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let gone = |s: &mut Graph| {
        s.gone += 1;
        error(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state generation was not found. The delta token is expired and data must be synchronized again.",
        )
    };
    let (mut items, seq, folder_key, fields) = if let Some(t) =
        token("$skiptoken").or_else(|| token("$deltatoken"))
    {
        if query.len() > 1 {
            s.violations.push(format!(
                "{path}: query options besides the state token on a link: {query:?}"
            ));
        }
        if let Some(round) = s.rounds.get(&t).cloned() {
            (round.items, round.seq, round.folder, round.select)
        } else if let Some(d) = s.deltas.get(&t).cloned() {
            let items = changes_since(s, &d.folder, d.seq, &d.select, html);
            (items, s.seq, d.folder, d.select)
        } else {
            return gone(s);
        }
    } else {
        for (k, v) in query {
            let ok = match k.as_str() {
                "$select" | "$top" | "changeType" => true,
                "$filter" => {
                    v.starts_with("receivedDateTime ge ") || v.starts_with("receivedDateTime gt ")
                }
                "$orderby" => v == "receivedDateTime desc",
                _ => false,
            };
            if !ok {
                s.violations
                    .push(format!("{path}: `{k}={v}` is not a delta query option"));
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidUrlQuery",
                    "The query is not supported.",
                );
            }
        }
        let fields = select_of(query);
        for p in fields.iter().flatten() {
            if !MESSAGE_PROPS.split_whitespace().any(|k| k == p) {
                s.violations.push(format!(
                    "{path}: `$select` names `{p}`, not a message property"
                ));
                return error(
                    StatusCode::BAD_REQUEST,
                    "RequestBroker--ParseUri",
                    &format!(
                        "Could not find a property named '{p}' on type 'microsoft.graph.message'."
                    ),
                );
            }
        }
        let Some(id) = folder_id(folder) else {
            return not_found();
        };
        let items = changes_since(s, id, 0, &fields, html);
        (items, s.seq, id.to_string(), fields)
    };
    let rest = if items.len() > page_size {
        items.split_off(page_size)
    } else {
        Vec::new()
    };
    let link = format!("{origin}/v1.0/me/mailfolders('{folder_key}')/messages/delta");
    let mut body = json!({"@odata.context": format!("{origin}/v1.0/$metadata#Collection(message)"), "value": items});
    let token = s.fresh("GwcBoTmPuoTQWfcsAbkYM");
    if rest.is_empty() {
        body["@odata.deltaLink"] = json!(format!("{link}?$deltatoken={token}"));
        s.deltas.insert(
            token,
            Delta {
                folder: folder_key,
                select: fields,
                seq,
            },
        );
    } else {
        body["@odata.nextLink"] = json!(format!("{link}?$skiptoken={token}"));
        s.rounds.insert(
            token,
            Round {
                items: rest,
                seq,
                folder: folder_key,
                select: fields,
            },
        );
    }
    axum::Json(body).into_response()
}

/// The folder's messages changed after `since`, and the ones removed.
fn changes_since(
    s: &Graph,
    folder: &str,
    since: u64,
    select_: &Option<Vec<String>>,
    html: bool,
) -> Vec<Value> {
    let mut items: Vec<Value> = s
        .messages
        .values()
        .filter(|m| m.folder == folder && m.version > since)
        .map(|m| select(message_json(m, html), select_.clone()))
        .collect();
    if since > 0 {
        items.extend(
            s.removed
                .iter()
                .filter(|(seq, _, f)| *seq > since && f == folder)
                .map(|(_, id, _)| json!({"@odata.type": "#microsoft.graph.message", "id": id, "@removed": {"reason": "deleted"}})),
        );
    }
    items
}

//! The console's pages, one module per section. Each handler reads and
//! writes through [`super::backend`], never the store: the API's handlers
//! are the one implementation of every rule.

pub mod admin;
pub mod catalog;
mod connection_form;
pub mod connections;
pub mod dashboard;
pub mod records;
pub mod runs;
mod sync_form;
pub mod syncs;

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Console;
use super::backend::Problem;
use super::session::{Flash, Signed};

/// A submitted form: its fields in order (a name may repeat).
pub type Fields = Vec<(String, String)>;

/// The last value of `name`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name`.
pub fn all<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The form's CSRF token, checked against the session's.
// The refusal is the handler's answer, returned at once: no reason to box it.
#[allow(clippy::result_large_err)]
pub fn check(signed: &Signed, fields: &[(String, String)]) -> Result<(), Response> {
    signed.check_csrf(field(fields, "_csrf"))
}

/// A form posted by a signed-in browser, its CSRF token checked: what
/// every action of the console takes (the file uploads, which are
/// multipart, check the token themselves with [`check`]).
pub struct Posted {
    /// The session.
    pub signed: Signed,
    /// The form's fields.
    pub fields: Fields,
}

impl FromRequest<Console> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, console).await?;
        let req = Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Fields>::from_request(req, console)
            .await
            .map_err(IntoResponse::into_response)?;
        check(&signed, &fields)?;
        Ok(Self { signed, fields })
    }
}

/// The end of an action: on success its message and the page it leads to;
/// a refusal by scope is a 403 page; any other problem is a message on
/// `failed_to`.
pub async fn finish(
    console: &Console,
    signed: &Signed,
    result: Result<(Flash, String), Problem>,
    failed_to: &str,
) -> Response {
    let to = match result {
        Ok((flash, to)) => {
            signed.flash(console, &flash).await;
            to
        }
        Err(p) if p.status == StatusCode::FORBIDDEN => return p.into_response(),
        Err(p) => {
            signed.flash(console, &Flash::bad(p.sentence())).await;
            failed_to.to_string()
        }
    };
    Redirect::to(&to).into_response()
}

/// [`finish`] where success and failure lead to the same page.
pub async fn after(
    console: &Console,
    signed: &Signed,
    result: Result<Flash, Problem>,
    to: &str,
) -> Response {
    finish(console, signed, result.map(|f| (f, to.to_string())), to).await
}

/// A problem's field errors by pointer, for the form that caused it.
pub fn errors_by_field(p: &Problem) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (f, m) in &p.errors {
        // The validator reports a missing property at its parent object;
        // the form shows it beside the property's own input.
        let f = match required_property(m) {
            Some(name) => format!("{f}/{}", name.replace('~', "~0").replace('/', "~1")),
            None => f.clone(),
        };
        map.entry(f)
            .and_modify(|e: &mut String| {
                e.push_str("; ");
                e.push_str(m);
            })
            .or_insert_with(|| m.clone());
    }
    map
}

/// `X` of the validator's `"X" is a required property`.
fn required_property(message: &str) -> Option<&str> {
    message
        .strip_prefix('"')?
        .strip_suffix("\" is a required property")
}

/// A value of a JSON object as text.
pub fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The items of a list answer.
pub fn items(v: &serde_json::Value) -> &[serde_json::Value] {
    v["items"].as_array().map_or(&[], Vec::as_slice)
}

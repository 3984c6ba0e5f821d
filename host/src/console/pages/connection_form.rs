//! The connection form: name, settings generated from the connector's
//! config schema, write-only secrets, and grants beside what the connector
//! declares; and the grants a submitted form asks for.

use std::collections::BTreeMap;

use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::{Fields, field, text};
use crate::api::Scope;
use crate::console::form::{fields_of, render};
use crate::console::layout::{badge, csrf};
use crate::console::session::Signed;

/// What the form shows: the values entered (never secrets) and the errors.
pub(super) struct FormState<'a> {
    pub(super) name: &'a str,
    pub(super) config: &'a Value,
    pub(super) hosts: &'a str,
    pub(super) networks: &'a str,
    pub(super) secrets_set: &'a [String],
    pub(super) errors: BTreeMap<String, String>,
    pub(super) problem: Option<&'a str>,
}

pub(super) fn connection_form(
    signed: &Signed,
    spec: &Value,
    action: &str,
    editing: bool,
    s: &FormState,
) -> Markup {
    let schema_fields = fields_of(&spec["config_schema"]);
    let empty = Vec::new();
    let secrets = secrets_of(spec);
    let declared = spec["hosts"].as_array().unwrap_or(&empty);
    let err = |k: &str| s.errors.get(k).cloned();
    html! {
        form.stack method="post" action=(action) novalidate {
            (csrf(signed))
            @if let Some(p) = s.problem { div.flash.bad role="alert" { (p)
                @for (f, m) in &s.errors { @if !f.starts_with("/config/") && !f.starts_with("/secrets/") && f != "/name" {
                    div { code { (f) } " " (m) } } } } }
            div.invalid[err("/name").is_some()] {
                label for="f-name" { span.required { "Name" } span.hint { "Letters, digits, '-', '_' and '.'; unique." } }
                input #f-name type="text" name="name" value=(s.name) required autocomplete="off";
                @if let Some(e) = err("/name") { span.field-error { (e) } }
            }
            @if !schema_fields.is_empty() {
                fieldset {
                    legend { "Settings" }
                    (render(&schema_fields, "config", s.config, &s.errors))
                }
            }
            @if !secrets.is_empty() {
                fieldset {
                    legend { "Secrets" }
                    p.hint { "Write-only: a stored secret is never sent back to the browser."
                        @if editing { " Leave a field empty to keep what is stored." } }
                    @for sec in &secrets {
                        @let name = text(sec, "name");
                        @let is_set = s.secrets_set.iter().any(|n| n == name);
                        @let id = format!("f-secret-{name}");
                        div.invalid[err(&format!("/secrets/{name}")).is_some()] {
                            label for=(id) {
                                span.required[sec["required"] == Value::Bool(true) && !is_set] { (name) }
                                " " (badge(if is_set { "set" } else { "not set" }))
                                span.hint { (text(sec, "description")) }
                            }
                            input #(id) type="password" name=(format!("secret/{name}")) autocomplete="new-password";
                            @if editing && is_set {
                                label.check { input type="checkbox" name=(format!("clear/{name}")) value="true"; "Remove the stored value" }
                            }
                            @if let Some(e) = err(&format!("/secrets/{name}")) { span.field-error { (e) } }
                        }
                    }
                }
            }
            fieldset {
                legend { "Grants" }
                p.hint { "The connector declares it needs: "
                    @for h in declared { code { (h.as_str().unwrap_or_default()) } " " }
                    @if declared.is_empty() { "no hosts" } }
                div.invalid[s.errors.keys().any(|k| k.starts_with("/grants"))] {
                    label for="f-hosts" { "Hosts it may reach"
                        span.hint { "One per line, each inside what it declares. Empty: exactly what it declares for these settings." } }
                    textarea #f-hosts name="hosts" rows="3" { (s.hosts) }
                    @for (k, m) in &s.errors { @if k.starts_with("/grants") { span.field-error { (m) } } }
                }
                @if signed.may(Scope::Admin) {
                    label for="f-networks" { "Private networks it may reach"
                        span.hint { "CIDR, one per line (an on-premises system). Only administrators grant these." } }
                    textarea #f-networks name="networks" rows="2" { (s.networks) }
                }
            }
            div { button type="submit" { @if editing { "Save changes" } @else { "Create connection" } } }
        }
    }
}

/// The secrets a connection of `spec` holds: the declared ones, and the
/// OAuth2 client's id and secret when the host runs an OAuth2 grant.
pub(super) fn secrets_of(spec: &Value) -> Vec<Value> {
    let mut list = spec["secrets"].as_array().cloned().unwrap_or_default();
    if spec["oauth2"].is_object() {
        for (name, what) in [
            (
                "oauth_client_id",
                "The OAuth2 client id registered with the provider",
            ),
            ("oauth_client_secret", "The OAuth2 client secret"),
        ] {
            if !list.iter().any(|s| text(s, "name") == name) {
                list.push(json!({ "name": name, "description": what, "required": false }));
            }
        }
    }
    list
}

pub(super) fn lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The grants a form asks for; `None` hosts: the API's default.
pub(super) fn grants(fields: &Fields, admin: bool) -> Map<String, Value> {
    let mut g = Map::new();
    let hosts = lines(field(fields, "hosts"));
    if !hosts.is_empty() {
        g.insert("hosts".into(), json!(hosts));
    }
    if admin {
        g.insert("networks".into(), json!(lines(field(fields, "networks"))));
    }
    g
}

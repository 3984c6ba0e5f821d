//! Requests checked against a vendor's published API description (an
//! OpenAPI 3.x or Swagger 2.0 JSON file in `tests/e2e/vendors/specs/`), so
//! a fake notices what the real API would refuse even where its own handler
//! is lenient. [`Described::violation`] checks:
//!
//! - the path, below the base path (OpenAPI 3: the path of `servers[0].url`;
//!   Swagger 2: `basePath`), matches a template segment by segment (literal
//!   segments case-sensitive), and the template has the method; where several
//!   match (`/Journals/{JournalID}`, `/Journals/{JournalNumber}`), one that
//!   allows the request is enough;
//! - path parameters are of their type (`integer`, `number`, `boolean`);
//! - every query parameter is declared (path-level and operation-level
//!   `parameters`, `$ref`s resolved), its value of the type (`integer`,
//!   `number`, `boolean` as `true`/`false`, `enum`, `minimum`/`maximum`,
//!   formats `uuid` and `date`; an `array` comma-separated or repeated),
//!   given once unless an array; required query and header parameters are
//!   present (header names case-insensitive); a parameter named `token`
//!   (Slack's model of its token) is satisfied by `Authorization: Bearer`;
//! - Swagger 2: a body's `Content-Type` is in `consumes`; a JSON object's or
//!   a form's top-level keys are declared `formData` parameters of the type
//!   (JSON arrays and objects pass for `string`), required ones present; a
//!   `body` parameter is checked as below;
//! - OpenAPI 3 `requestBody`: present when required, a `Content-Type` it
//!   lists, JSON that parses and, when the schema is an object with
//!   `properties` (and no `additionalProperties`), only those top-level
//!   keys, its top-level `required` ones present.
//!
//! Not checked: header values (Xero's `If-Modified-Since` is a `date-time`
//! that also comes as an HTTP date), cookies, security (see
//! [`Described::scopes`]), anything below a body's top level, multipart
//! bodies, `allOf`/`oneOf`, other `style`s, responses.

use std::path::Path;

use axum::http::{HeaderMap, header};
use serde_json::Value;

/// A parsed API description.
pub struct Described {
    doc: Value,
    base: String,
    swagger: bool,
    /// Path templates, those with more literal segments first.
    templates: Vec<String>,
}

/// A parameter, the same for both formats.
struct Param<'a> {
    name: &'a str,
    place: &'a str,
    required: bool,
    /// OpenAPI 3: its `schema`; Swagger 2: the parameter itself (`type`,
    /// `enum`, `items`), or a `body` parameter's `schema`.
    schema: &'a Value,
}

/// The request being checked.
struct Req<'a> {
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
    body: &'a [u8],
    /// `Content-Type` without its parameters, lowercase.
    media: String,
    bearer: bool,
}

/// An operation a request may be: its template, path item, operation, and
/// the path parameters' values.
type Found<'a> = (&'a str, &'a Value, &'a Value, Vec<(String, String)>);

impl Described {
    /// Loads `tests/e2e/vendors/specs/<file>`.
    pub fn load(file: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/vendors/specs");
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        Self::new(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}")))
    }

    /// A description from its JSON.
    pub fn new(doc: Value) -> Self {
        let swagger = doc.get("swagger").is_some();
        let server = doc["servers"][0]["url"].as_str().unwrap_or_default();
        let base = match url::Url::parse(server) {
            _ if swagger => doc["basePath"].as_str().unwrap_or_default().to_string(),
            Ok(u) => u.path().to_string(),
            Err(_) => server.to_string(),
        };
        let base = base.trim_end_matches('/').to_string();
        let paths = doc["paths"].as_object();
        let mut templates: Vec<String> =
            paths.into_iter().flat_map(|p| p.keys().cloned()).collect();
        templates
            .sort_by_key(|t| std::cmp::Reverse(t.split('/').filter(|s| !s.contains('{')).count()));
        Self {
            doc,
            base,
            swagger,
            templates,
        }
    }

    /// Why this request is not one the description allows, or None. `path`
    /// is the path as sent, including the server's base path (OpenAPI 3:
    /// the path part of `servers[0].url`, e.g. `/api.xro/2.0`; Swagger 2:
    /// `basePath`, e.g. `/api`), which is stripped before matching.
    pub fn violation(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<String> {
        let found = match self.operations(method, path) {
            Ok(found) => found,
            Err(e) => return Some(e),
        };
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let media = text(header::CONTENT_TYPE)
            .split(';')
            .next()
            .unwrap_or_default();
        let media = media.trim().to_ascii_lowercase();
        let bearer = text(header::AUTHORIZATION)
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer "));
        let r = Req {
            query,
            headers,
            body,
            media,
            bearer,
        };
        let verb = method.to_ascii_uppercase();
        let errors: Vec<Option<String>> = found.iter().map(|f| self.check(f, &verb, &r)).collect();
        if errors.iter().any(Option::is_none) {
            return None;
        }
        errors.into_iter().flatten().next()
    }

    /// The OAuth scopes the operation lists (any one suffices), or None.
    pub fn scopes(&self, method: &str, path: &str) -> Option<Vec<String>> {
        let found = self.operations(method, path).ok()?;
        let op = found.first()?.2;
        let security = op.get("security").or_else(|| self.doc.get("security"))?;
        let lists = security
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|o| o.values());
        let scopes = lists
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str);
        Some(scopes.map(str::to_string).collect())
    }

    /// The operations a method and path may be, or why there are none.
    fn operations(&self, method: &str, path: &str) -> Result<Vec<Found<'_>>, String> {
        let verb = method.to_ascii_uppercase();
        let rest = match path.strip_prefix(self.base.as_str()) {
            Some("") => "/",
            Some(r) if r.starts_with('/') => r,
            _ => {
                return Err(format!(
                    "{verb} {path}: not under the base path `{}`",
                    self.base
                ));
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let segments: Vec<String> = rest[1..].split('/').map(decode).collect();
        let mut matched = Vec::new();
        for t in &self.templates {
            let pattern: Vec<&str> = t.strip_prefix('/').unwrap_or(t).split('/').collect();
            let pairs = pattern.iter().zip(&segments);
            let values: Option<Vec<_>> = pairs.map(|(p, s)| segment(p, s)).collect();
            if let Some(values) = values.filter(|_| pattern.len() == segments.len()) {
                matched.push((t.as_str(), values.into_iter().flatten().collect()));
            }
        }
        if matched.is_empty() {
            return Err(format!("{verb} {path}: no such path in the description"));
        }
        let found: Vec<Found> = matched
            .into_iter()
            .filter_map(|(t, values)| {
                let item = self.resolve(&self.doc["paths"][t]);
                Some((t, item, item.get(method.to_ascii_lowercase())?, values))
            })
            .collect();
        if found.is_empty() {
            return Err(format!(
                "{verb} {path}: the description has no {verb} for this path"
            ));
        }
        Ok(found)
    }

    /// Follows `$ref`s (`#/components/parameters/x`, `#/parameters/x`, …).
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let pointer = v
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'));
            match pointer.and_then(|p| self.doc.pointer(p)) {
                Some(next) => v = next,
                None => break,
            }
        }
        v
    }

    fn params<'a>(&'a self, item: &'a Value, op: &'a Value) -> Vec<Param<'a>> {
        let mut out: Vec<Param<'a>> = Vec::new();
        let listed = [&item["parameters"], &op["parameters"]];
        for p in listed.into_iter().filter_map(Value::as_array).flatten() {
            let p = self.resolve(p);
            let (Some(name), Some(place)) = (p["name"].as_str(), p["in"].as_str()) else {
                continue;
            };
            let own = self.swagger && place != "body";
            let schema = if own { p } else { self.resolve(&p["schema"]) };
            out.retain(|q| !(q.name == name && q.place == place));
            let required = p["required"] == true;
            out.push(Param {
                name,
                place,
                required,
                schema,
            });
        }
        out
    }

    fn check(&self, (template, item, op, values): &Found, verb: &str, r: &Req) -> Option<String> {
        let at = format!("{verb} {template}");
        let params = self.params(item, op);
        let find =
            |place: &str, name: &str| params.iter().find(|p| p.place == place && p.name == name);
        for (name, value) in values {
            let error = find("path", name).and_then(|p| self.value_error(p.schema, value, false));
            if let Some(e) = error {
                return Some(format!("{at}: path parameter `{name}`=`{value}`: {e}"));
            }
        }
        for (k, v) in r.query {
            let Some(p) = find("query", k) else {
                return Some(format!("{at}: unknown query parameter `{k}`"));
            };
            let times = r.query.iter().filter(|(n, _)| n == k).count();
            if times > 1 && self.resolve(p.schema)["type"] != "array" {
                return Some(format!("{at}: query parameter `{k}` given more than once"));
            }
            if let Some(e) = self.value_error(p.schema, v, true) {
                return Some(format!("{at}: `{k}={v}`: {e}"));
            }
        }
        for p in params
            .iter()
            .filter(|p| p.required && !(p.name == "token" && r.bearer))
        {
            let present = match p.place {
                "query" => r.query.iter().any(|(k, _)| k == p.name),
                "header" => r
                    .headers
                    .get(p.name.to_ascii_lowercase())
                    .is_some_and(|v| !v.is_empty()),
                // Path: matched; formData and body: below.
                _ => true,
            };
            if !present {
                return Some(format!(
                    "{at}: required {} parameter `{}` missing",
                    p.place, p.name
                ));
            }
        }
        if self.swagger {
            self.swagger_body(&at, op, &params, r)
        } else {
            self.openapi_body(&at, op, r)
        }
    }

    fn swagger_body(&self, at: &str, op: &Value, params: &[Param], r: &Req) -> Option<String> {
        let consumes = op.get("consumes").or_else(|| self.doc.get("consumes"));
        let listed = |m: &Value| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case(&r.media));
        if let Some(c) = consumes
            .and_then(Value::as_array)
            .filter(|_| !r.body.is_empty())
            && !c.iter().any(listed)
        {
            return Some(format!(
                "{at}: a `{}` body; it consumes {}",
                r.media,
                Value::Array(c.clone())
            ));
        }
        if let Some(p) = params.iter().find(|p| p.place == "body") {
            return self.json_body(at, p.schema, p.required, r.body);
        }
        let form: Vec<&Param> = params.iter().filter(|p| p.place == "formData").collect();
        let fields: Vec<(String, Value)> = match r.media.as_str() {
            _ if form.is_empty() || r.body.is_empty() => Vec::new(),
            "application/json" => match serde_json::from_slice(r.body) {
                Ok(Value::Object(o)) => o.into_iter().collect(),
                _ => return Some(format!("{at}: the body is not a JSON object")),
            },
            "application/x-www-form-urlencoded" => {
                let pairs: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(r.body).unwrap_or_default();
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect()
            }
            // Multipart and others: not checked.
            _ => return None,
        };
        for (k, v) in &fields {
            let Some(p) = form.iter().find(|p| p.name == k) else {
                return Some(format!("{at}: unknown form field `{k}`"));
            };
            if let Some(e) = self.json_value_error(p.schema, v) {
                return Some(format!("{at}: form field `{k}`: {e}"));
            }
        }
        let given = |p: &&&Param| {
            fields.iter().any(|(k, _)| k == p.name) || (p.name == "token" && r.bearer)
        };
        let missing = form.iter().filter(|p| p.required).find(|p| !given(p));
        missing.map(|p| format!("{at}: required form field `{}` missing", p.name))
    }

    fn openapi_body(&self, at: &str, op: &Value, r: &Req) -> Option<String> {
        let body = self.resolve(op.get("requestBody")?);
        if r.body.is_empty() {
            return (body["required"] == true).then(|| format!("{at}: a request body is required"));
        }
        let content = body["content"].as_object()?;
        let Some(entry) = content.get(&r.media) else {
            let takes: Vec<&String> = content.keys().collect();
            return Some(format!("{at}: a `{}` body; it takes {takes:?}", r.media));
        };
        let json = r.media == "application/json" || r.media.ends_with("+json");
        json.then(|| self.json_body(at, &entry["schema"], true, r.body))
            .flatten()
    }

    /// A JSON body against its schema, at the top level.
    fn json_body(&self, at: &str, schema: &Value, required: bool, body: &[u8]) -> Option<String> {
        if body.is_empty() {
            return required.then(|| format!("{at}: the body is required"));
        }
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Some(format!("{at}: the body is not JSON"));
        };
        let schema = self.resolve(schema);
        let properties = schema["properties"].as_object()?;
        let Some(object) = value.as_object() else {
            return Some(format!("{at}: the body is not a JSON object"));
        };
        let closed = schema
            .get("additionalProperties")
            .is_none_or(|a| *a == false);
        if let Some(k) = object
            .keys()
            .find(|k| closed && !properties.contains_key(*k))
        {
            return Some(format!("{at}: unknown body property `{k}`"));
        }
        let required = schema["required"].as_array().into_iter().flatten();
        let missing = required
            .filter_map(Value::as_str)
            .find(|k| !object.contains_key(*k));
        missing.map(|k| format!("{at}: required body property `{k}` missing"))
    }

    /// A text value against a parameter's type.
    fn value_error(&self, schema: &Value, value: &str, formats: bool) -> Option<String> {
        let schema = self.resolve(schema);
        let ty = schema["type"].as_str().unwrap_or("string");
        if ty == "array" {
            let items = self.resolve(&schema["items"]);
            return value
                .split(',')
                .find_map(|item| self.value_error(items, item, formats));
        }
        let min = schema["minimum"].as_f64().unwrap_or(f64::MIN);
        let max = schema["maximum"].as_f64().unwrap_or(f64::MAX);
        let within = |n: f64| n.is_finite() && min <= n && n <= max;
        let ok = match ty {
            "integer" => value.parse::<i64>().is_ok_and(|n| within(n as f64)),
            "number" => value.parse::<f64>().is_ok_and(within),
            "boolean" => value == "true" || value == "false",
            _ => true,
        };
        if !ok {
            return Some(format!("not a valid {ty}"));
        }
        let text = |a: &Value| a.as_str().map_or_else(|| a.to_string(), str::to_string);
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.iter().any(|a| text(a) == value)
        {
            return Some(format!("not one of {}", Value::Array(allowed.clone())));
        }
        let pattern = match schema["format"].as_str() {
            Some("uuid") => "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh",
            Some("date") => "dddd-dd-dd",
            _ => return None,
        };
        let checked = formats && ty == "string";
        (checked && !shaped(value, pattern)).then(|| format!("not of the form {pattern}"))
    }

    /// A form field's value (JSON, or a form's text) against its type.
    fn json_value_error(&self, schema: &Value, value: &Value) -> Option<String> {
        let ty = self.resolve(schema)["type"].as_str().unwrap_or("string");
        let ok = match value {
            Value::String(s) => return self.value_error(schema, s, true),
            Value::Null => true,
            Value::Bool(_) => matches!(ty, "boolean" | "string"),
            Value::Number(n) => ty != "boolean" && (ty != "integer" || n.is_i64() || n.is_u64()),
            Value::Array(_) | Value::Object(_) => matches!(ty, "string" | "array" | "object"),
        };
        (!ok).then(|| format!("{value} is not a valid {ty}"))
    }
}

/// How a path segment matches a template's: None (it does not), Some(None)
/// (a literal), Some(Some((name, value))) (a parameter, `{name}` or with a
/// literal prefix or suffix).
fn segment(pattern: &str, actual: &str) -> Option<Option<(String, String)>> {
    let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) else {
        return (pattern == actual).then_some(None);
    };
    let (prefix, suffix) = (
        &pattern[..open],
        pattern.get(close + 1..).unwrap_or_default(),
    );
    let value = actual.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let name = pattern.get(open + 1..close).unwrap_or_default();
    (!value.is_empty()).then(|| Some((name.to_string(), value.to_string())))
}

/// Whether `text` has the shape of `pattern`: `h` a hex digit, `d` a digit,
/// anything else itself.
fn shaped(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(t, p)| match p {
            b'h' => t.is_ascii_hexdigit(),
            b'd' => t.is_ascii_digit(),
            _ => t == p,
        })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    static XERO: LazyLock<Described> = LazyLock::new(|| Described::load("xero_accounting.json"));
    static SLACK: LazyLock<Described> =
        LazyLock::new(|| Described::load("slack_web_openapi_v2.json"));
    const TENANT: &str = "xero-tenant-id: fe79f7dd-b7b2-4a2b-8f4e-0d8e5c2e7a11";

    /// The violation of `METHOD /path?query` with `name: value` headers.
    fn check(d: &Described, line: &str, headers: &[&str], body: &str) -> Option<String> {
        let (method, target) = line.split_once(' ').unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        let mut h = HeaderMap::new();
        for (k, v) in headers.iter().filter_map(|h| h.split_once(": ")) {
            let name = HeaderName::from_bytes(k.as_bytes()).unwrap();
            h.insert(name, HeaderValue::from_str(v).unwrap());
        }
        d.violation(method, path, &query, &h, body.as_bytes())
    }

    #[test]
    fn xero_requests() {
        let ok = |line: &str| assert_eq!(check(&XERO, line, &[TENANT], ""), None, "{line}");
        let refused = |line: &str, why: &str| {
            let v = check(&XERO, line, &[TENANT], "").unwrap_or_default();
            assert!(v.contains(why), "{line}: {v:?}");
        };
        ok("GET /api.xro/2.0/Invoices?page=1");
        ok("GET /api.xro/2.0/Invoices?page=2&pageSize=100&Statuses=AUTHORISED,PAID");
        ok("GET /api.xro/2.0/Contacts?IDs=d4956132-ed94-4dd7-9eaa-aa22dfdf06f2");
        ok("GET /api.xro/2.0/Journals?offset=100");
        ok("GET /api.xro/2.0/Accounts?where=Status%3D%3D%22ACTIVE%22");
        ok("GET /api.xro/2.0/Journals/42");
        ok("GET /api.xro/2.0/Journals/1b31feeb-aa23-404c-8c19-24c827c53661");
        refused(
            "GET /api.xro/2.0/Invoices?pagee=1",
            "unknown query parameter `pagee`",
        );
        refused("GET /api.xro/2.0/Invoices?page=abc", "not a valid integer");
        refused("GET /api.xro/2.0/Invoices?page=1&page=2", "more than once");
        refused(
            "GET /api.xro/2.0/Invoices?includeArchived=yes",
            "not a valid boolean",
        );
        refused("GET /api.xro/2.0/Invoices?IDs=INV-0001", "not of the form");
        refused("GET /api.xro/2.0/Nope", "no such path");
        refused("GET /api.xro/2.0/invoices", "no such path");
        refused("GET /api.xro/2.0/Invoices/", "no such path");
        refused("GET /Invoices", "base path");
        refused("DELETE /api.xro/2.0/Invoices", "no DELETE");
        let bare = check(&XERO, "GET /api.xro/2.0/Invoices?page=1", &[], "");
        assert!(bare.unwrap().contains("`xero-tenant-id` missing"));
        let upper = "Xero-Tenant-Id: fe79f7dd-b7b2-4a2b-8f4e-0d8e5c2e7a11";
        assert_eq!(
            check(&XERO, "GET /api.xro/2.0/Contacts?page=1", &[upper], ""),
            None
        );
    }

    #[test]
    fn xero_bodies_and_scopes() {
        let put = |ty, body| check(&XERO, "PUT /api.xro/2.0/Invoices", &[TENANT, ty], body);
        let json = "content-type: application/json";
        assert_eq!(put(json, r#"{"Invoices":[{"Type":"ACCREC"}]}"#), None);
        assert!(
            put(json, r#"{"Invoice":[]}"#)
                .unwrap()
                .contains("unknown body property")
        );
        assert!(put(json, "").unwrap().contains("required"));
        assert!(put(json, "Invoices=1").unwrap().contains("not JSON"));
        assert!(
            put("content-type: text/plain", "{}")
                .unwrap()
                .contains("text/plain")
        );
        let journals = XERO.scopes("GET", "/api.xro/2.0/Journals").unwrap();
        assert_eq!(journals, ["accounting.journals.read"]);
    }

    #[test]
    fn slack_forms_and_token() {
        let bearer = "authorization: Bearer xoxb-1-2-abc";
        let post = |ty, auth, body| check(&SLACK, "POST /api/chat.postMessage", &[ty, auth], body);
        let json = "content-type: application/json; charset=utf-8";
        let form = "content-type: application/x-www-form-urlencoded";
        let blocks = r#"{"channel":"C1","text":"hi","blocks":[{"type":"divider"}]}"#;
        assert_eq!(post(json, bearer, blocks), None);
        assert_eq!(post(form, bearer, "channel=C1&text=hi"), None);
        assert!(
            post(json, bearer, r#"{"text":"hi"}"#)
                .unwrap()
                .contains("`channel` missing")
        );
        assert!(
            post(json, bearer, r#"{"channel":"C1","colour":"red"}"#)
                .unwrap()
                .contains("colour")
        );
        assert!(
            post(json, "x-other: 1", r#"{"channel":"C1"}"#)
                .unwrap()
                .contains("`token` missing")
        );
        assert!(
            post("content-type: text/plain", bearer, "x")
                .unwrap()
                .contains("consumes")
        );
        let history = "GET /api/conversations.history?channel=C1&limit=200";
        assert_eq!(check(&SLACK, history, &[bearer], ""), None);
        let bad = "GET /api/conversations.history?limit=many";
        assert!(check(&SLACK, bad, &[bearer], "").is_some());
    }
}

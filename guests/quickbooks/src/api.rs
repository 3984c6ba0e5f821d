//! Requests to the Accounting API: the company they address, the query
//! parameters every call carries, and Intuit's faults in its own words.

use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;

use crate::Config;

/// The company this connection reads: the `realmId` Intuit sent on the
/// authorization callback, kept by the host.
pub fn realm() -> Result<String> {
    let realm = wharf_sdk::oauth_fact("realmId").unwrap_or_default();
    if realm.is_empty() {
        return Err(Error::Config(
            "the connection has no QuickBooks company: connect it again (Intuit names the \
             company as realmId when the authorization returns)"
                .into(),
        ));
    }
    // Company ids are numbers; anything else does not go into a path.
    if !realm.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::fatal(format!(
            "the authorization named the company `{realm}`, which is not a QuickBooks company id"
        )));
    }
    Ok(realm)
}

/// The company's API root: `{base}/v3/company/{realm}`.
pub fn company(config: &Config, realm: &str) -> String {
    format!("{}/v3/company/{realm}", config.base())
}

/// `GET {company}/{path}` as JSON with the host's token and the minor
/// version.
pub fn get(config: &Config, realm: &str, path: &str) -> Request {
    Request::get(format!("{}/{path}", company(config, realm)))
        .query("minorversion", config.minor_version)
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// `POST {company}/{path}` of a JSON body.
pub fn post(config: &Config, realm: &str, path: &str) -> Request {
    Request::post(format!("{}/{path}", company(config, realm)))
        .query("minorversion", config.minor_version)
        .header("Accept", "application/json")
        .oauth_bearer()
}

/// Send `request`; an error answer, or a `Fault` in a 200, as the error
/// it means.
pub fn send(request: Request) -> Result<Response> {
    let response = errors().check(request.send()?)?;
    if let Ok(body) = response.json::<Value>()
        && let Some(message) = fault(&body)
    {
        return Err(Error::fatal(message));
    }
    Ok(response)
}

/// A 401 is an expired token (the host refreshes it and calls again); a
/// 403 a company that disconnected the app or a user without the rights.
pub fn errors() -> ErrorMap {
    ErrorMap::new().renewable(true).decoder(fault)
}

/// Intuit's faults: `{"Fault":{"Error":[{"Message","Detail","code"}],
/// "type"}}`, spelled in lower case on authentication faults.
pub fn fault(body: &Value) -> Option<String> {
    let fault = body.get("Fault").or_else(|| body.get("fault"))?;
    let errors = fault
        .get("Error")
        .or_else(|| fault.get("error"))?
        .as_array()?;
    let kind = fault.get("type").and_then(Value::as_str).unwrap_or("Fault");
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let field = |name: &str| {
                e.get(name)
                    .or_else(|| e.get(name.to_ascii_lowercase().as_str()))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (message, detail, code) = (field("Message"), field("Detail"), field("code"));
            let mut text = message;
            if !detail.is_empty() && detail != text {
                text = if text.is_empty() {
                    detail
                } else {
                    format!("{text}: {detail}")
                };
            }
            if code.is_empty() {
                text
            } else {
                format!("{text} (code {code})")
            }
        })
        .collect();
    Some(format!("{kind}: {}", parts.join("; ")))
}

/// The `code` of the first error of a fault (`5010` for a stale object).
pub fn fault_code(body: &Value) -> Option<String> {
    let fault = body.get("Fault").or_else(|| body.get("fault"))?;
    let first = fault.get("Error").or_else(|| fault.get("error"))?.get(0)?;
    wharf_sdk::scalar_text(first.get("code")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intuit_faults() {
        let validation = json!({"Fault": {"Error": [{"Message": "Required param missing, need to supply the required value for the API",
            "Detail": "Required parameter CustomerRef is missing in the request", "code": "2020", "element": ""}], "type": "ValidationFault"},
            "time": "2024-05-02T10:20:00.000-07:00"});
        assert_eq!(
            fault(&validation).unwrap(),
            "ValidationFault: Required param missing, need to supply the required value for the API: \
             Required parameter CustomerRef is missing in the request (code 2020)"
        );
        assert_eq!(fault_code(&validation).as_deref(), Some("2020"));
        let auth = json!({"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            "detail": "Token expired", "code": "3200"}], "type": "AUTHENTICATION"}});
        assert_eq!(
            fault(&auth).unwrap(),
            "AUTHENTICATION: message=AuthenticationFailed; errorCode=003200; statusCode=401: Token expired (code 3200)"
        );
        assert_eq!(fault(&json!({"QueryResponse": {}})), None);
    }
}

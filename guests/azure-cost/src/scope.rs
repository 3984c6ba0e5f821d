//! The config's `scope`: which of Cost Management's scopes it names, as the
//! path the Query API is posted under. Checked here, so a typo is a clear
//! config error instead of ARM's 404, and a value cannot smuggle a query
//! string or another path into the URL.

use wharf_sdk::prelude::*;

/// The forms a scope may take, for messages.
const FORMS: &str = "/subscriptions/{id}, /subscriptions/{id}/resourceGroups/{name}, \
    /providers/Microsoft.Billing/billingAccounts/{id} (optionally …/departments/{id}, \
    /enrollmentAccounts/{id}, /billingProfiles/{id}[/invoiceSections/{id}], /invoiceSections/{id} \
    or /customers/{id}), /providers/Microsoft.Management/managementGroups/{id}";

/// What may follow a billing account, and what may follow each of those.
const UNDER_ACCOUNT: [&str; 5] = [
    "departments",
    "enrollmentAccounts",
    "billingProfiles",
    "invoiceSections",
    "customers",
];

/// `scope` as a path, `/subscriptions/…`, each segment percent-encoded
/// where it needs to be (resource group names may hold any letter).
pub fn path(scope: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::Config(format!(
            "scope `{}`: {why}; it is one of {FORMS}",
            scope.trim()
        ))
    };
    let trimmed = scope.trim().trim_matches('/');
    if trimmed.contains(['?', '#', '\\']) || trimmed.contains("://") {
        return Err(bad("a scope is a path, not a URL"));
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(bad("an empty, `.` or `..` segment"));
    }
    let is = |i: usize, word: &str| {
        segments
            .get(i)
            .is_some_and(|s| s.eq_ignore_ascii_case(word))
    };
    let shape_ok = match segments.len() {
        2 => is(0, "subscriptions"),
        4 if is(0, "subscriptions") => is(2, "resourceGroups"),
        4 if is(1, "Microsoft.Management") => is(0, "providers") && is(2, "managementGroups"),
        4 | 6 | 8 if is(1, "Microsoft.Billing") => {
            let pairs = segments[4..].chunks(2).map(|c| c[0]).collect::<Vec<_>>();
            let known = |k: &&str| UNDER_ACCOUNT.iter().any(|u| u.eq_ignore_ascii_case(k));
            let nested_ok = match pairs.as_slice() {
                [] => true,
                [one] => known(one),
                // Only a billing profile has something under it.
                [profile, section] => {
                    profile.eq_ignore_ascii_case("billingProfiles")
                        && section.eq_ignore_ascii_case("invoiceSections")
                }
                _ => false,
            };
            is(0, "providers") && is(2, "billingAccounts") && nested_ok
        }
        _ => false,
    };
    if !shape_ok {
        return Err(bad("not a Cost Management scope"));
    }
    if trimmed
        .to_ascii_lowercase()
        .contains("microsoft.costmanagement")
    {
        return Err(bad(
            "give the scope only, without /providers/Microsoft.CostManagement/query",
        ));
    }
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(&encode(s));
    }
    Ok(out)
}

/// Percent-encode what a path segment may not hold as it is; ids with `:`
/// (billing accounts `1234:5678_2019-05-31`) and names with `(`/`)` stay
/// readable, as Azure's SDKs send them.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:()@!$&'*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_azure_knows() {
        let ok = |s: &str| path(s).unwrap();
        assert_eq!(
            ok("/subscriptions/00000000-0000-0000-0000-000000000000/"),
            "/subscriptions/00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            ok("subscriptions/s1/resourceGroups/rg (web)"),
            "/subscriptions/s1/resourceGroups/rg%20(web)"
        );
        assert_eq!(
            ok("/providers/Microsoft.Billing/billingAccounts/12345:6789"),
            "/providers/Microsoft.Billing/billingAccounts/12345:6789"
        );
        ok("/providers/Microsoft.Billing/billingAccounts/1/billingProfiles/2/invoiceSections/3");
        ok("/providers/Microsoft.Billing/billingAccounts/70664866/departments/42");
        ok("/providers/Microsoft.Management/managementGroups/mg-root");
        for bad in [
            "",
            "/subscriptions",
            "/subscriptions/s1/resourceGroups",
            "/subscriptions/s1/../s2",
            "/subscriptions/s1?x=1",
            "https://management.azure.com/subscriptions/s1",
            "/providers/Microsoft.Billing/billingAccounts/1/departments/2/customers/3",
            "/subscriptions/s1/providers/Microsoft.CostManagement",
            "/providers/Microsoft.Compute/virtualMachines/vm",
        ] {
            assert!(matches!(path(bad), Err(Error::Config(_))), "{bad}");
        }
    }
}

//! Roles of people who sign in through the identity provider, read from
//! one claim of their ID token by rules the operator gives
//! (`--oidc-role admin=wharf-admins`). Each role is an API scope by
//! another name (the API maps them), so people and API keys obey one model.

use serde_json::Value;

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read everything but secrets.
    Viewer,
    /// Viewer, and connections, syncs and runs.
    Operator,
    /// Everything: connectors, webhooks, API keys, the audit log.
    Admin,
}

impl Role {
    /// Parse `admin`, `operator`, `viewer`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }
}

/// Which claim to read and which of its values grant which role.
#[derive(Debug, Clone)]
pub struct RoleMap {
    /// The claim, as a dotted path (`groups`, `realm_access.roles`).
    claim: String,
    /// `(role, value)`; the value `*` matches every signed-in person.
    rules: Vec<(Role, String)>,
}

impl RoleMap {
    /// Rules written `ROLE=VALUE` (as `--oidc-role` takes them).
    pub fn new(claim: &str, rules: &[String]) -> Result<Self, String> {
        let claim = claim.trim();
        if claim.is_empty() {
            return Err("the role claim must not be empty".into());
        }
        let rules = rules
            .iter()
            .map(|rule| {
                let (role, value) = rule
                    .split_once('=')
                    .ok_or_else(|| format!("`{rule}` is not ROLE=VALUE"))?;
                let role = Role::parse(role.trim())
                    .ok_or_else(|| format!("`{role}` is not a role: admin, operator or viewer"))?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(format!("`{rule}` names no claim value"));
                }
                Ok((role, value.to_string()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if rules.is_empty() {
            return Err("give at least one --oidc-role ROLE=VALUE, or nobody could sign in".into());
        }
        Ok(Self {
            claim: claim.to_string(),
            rules,
        })
    }

    /// The claim read.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The highest role the claims grant, if any. The claim may be a
    /// string or an array of strings.
    pub fn role_of(&self, claims: &Value) -> Option<Role> {
        // The claim by its whole name first (`https://acme.com/roles`, as
        // Auth0 names them), else as a dotted path.
        let at = match claims.get(&self.claim) {
            Some(v) => v,
            None => {
                let mut at = claims;
                for part in self.claim.split('.') {
                    at = at.get(part)?;
                }
                at
            }
        };
        let values: Vec<&str> = match at {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        self.rules
            .iter()
            .filter(|(_, want)| want == "*" || values.contains(&want.as_str()))
            .map(|(role, _)| *role)
            .max()
    }

    /// Whether a rule matches everybody (so the claim need not exist).
    fn anyone(&self) -> Option<Role> {
        self.rules
            .iter()
            .filter(|(_, want)| want == "*")
            .map(|(role, _)| *role)
            .max()
    }

    /// [`RoleMap::role_of`], with `*` rules granting even when the claim is
    /// missing.
    pub fn role(&self, claims: &Value) -> Option<Role> {
        self.role_of(claims).max(self.anyone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(rules: &[&str]) -> RoleMap {
        let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        RoleMap::new("groups", &rules).unwrap()
    }

    #[test]
    fn the_highest_matching_role_wins() {
        let m = map(&["admin=wharf-admins", "operator=ops", "viewer=staff"]);
        assert_eq!(m.role(&json!({"groups": ["staff"]})), Some(Role::Viewer));
        assert_eq!(
            m.role(&json!({"groups": ["staff", "wharf-admins", "ops"]})),
            Some(Role::Admin)
        );
        assert_eq!(m.role(&json!({"groups": "ops"})), Some(Role::Operator));
        assert_eq!(m.role(&json!({"groups": ["sales"]})), None);
        assert_eq!(m.role(&json!({"groups": 7})), None);
        assert_eq!(m.role(&json!({})), None);
        // Near misses are no match.
        assert_eq!(m.role(&json!({"groups": ["wharf-admins "]})), None);
    }

    #[test]
    fn nested_claims_and_everybody() {
        let m = RoleMap::new(
            "realm_access.roles",
            &["viewer=*".to_string(), "admin=boss".to_string()],
        )
        .unwrap();
        assert_eq!(m.role(&json!({})), Some(Role::Viewer));
        assert_eq!(
            m.role(&json!({"realm_access": {"roles": ["boss"]}})),
            Some(Role::Admin)
        );
        let m = RoleMap::new("https://acme.com/roles", &["admin=boss".to_string()]).unwrap();
        assert_eq!(
            m.role(&json!({"https://acme.com/roles": ["boss"]})),
            Some(Role::Admin)
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(RoleMap::new("groups", &[]).is_err());
        assert!(RoleMap::new("groups", &["root=x".into()]).is_err());
        assert!(RoleMap::new("groups", &["admin".into()]).is_err());
        assert!(RoleMap::new("groups", &["admin=".into()]).is_err());
        assert!(RoleMap::new(" ", &["admin=x".into()]).is_err());
    }

    #[test]
    fn role_names() {
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }
}

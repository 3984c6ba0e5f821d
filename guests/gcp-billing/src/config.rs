//! The connection config, the groupings it may ask for, and the checks
//! that keep every value that reaches SQL or a URL to a strict shape: the
//! table name is the one value written into the query (in backticks), so
//! it may hold only letters, digits, `_`, `-`, `.` and a domain's `:`;
//! everything else travels as a query parameter.

use serde::Deserialize;
use wharf_sdk::prelude::*;

pub const API: &str = "https://bigquery.googleapis.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The project the query jobs run in (and are billed to).
    pub project_id: String,
    /// `project.dataset.gcp_billing_export_v1_<ACCOUNT>` (or the detailed
    /// `…_resource_v1_…` table, or a view over either).
    pub table: String,
    /// The service account's email: the assertion's `iss` (the host fills
    /// it in); checked here so a typo fails `check` with a plain message.
    pub client_email: String,
    /// The dataset's location (`US`, `EU`, `europe-west1`); BigQuery finds
    /// it from the table when empty.
    #[serde(default)]
    pub location: Option<String>,
    /// `DAILY` (default) or `MONTHLY`.
    #[serde(default = "daily")]
    pub granularity: String,
    /// What a record is per day: `service`, `project`, `sku`, `label:team`…
    #[serde(default = "default_groups")]
    pub group_by: Vec<String>,
    /// The zone whose midnight starts a day (Cloud Billing reports use
    /// Pacific time).
    #[serde(default = "pacific")]
    pub time_zone: String,
    /// How far back the first pass reads.
    #[serde(default = "default_lookback")]
    pub lookback_days: i64,
    /// How many days before the last pass's last day the next one starts.
    #[serde(default = "default_settle")]
    pub settle_days: i64,
    /// Prune the table's ingestion-time partitions (`_PARTITIONTIME`);
    /// off for a view, which has none.
    #[serde(default = "yes")]
    pub partition_filter: bool,
    /// A cap on the bytes a query may bill; above it BigQuery refuses it
    /// without charge.
    #[serde(default)]
    pub maximum_bytes_billed: Option<u64>,
    /// Rows a page (`maxResults`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How long a call waits for the query (`timeoutMs`).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// API origin (default Google's).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Token endpoint (default Google's); read by the host.
    #[serde(default)]
    #[allow(dead_code)]
    pub token_url: Option<String>,
}

fn daily() -> String {
    "DAILY".into()
}
fn default_groups() -> Vec<String> {
    vec!["service".into(), "project".into()]
}
fn pacific() -> String {
    "America/Los_Angeles".into()
}
fn default_lookback() -> i64 {
    30
}
fn default_settle() -> i64 {
    5
}
fn yes() -> bool {
    true
}
fn default_page_size() -> u32 {
    5_000
}
fn default_timeout() -> u32 {
    10_000
}

/// The plain groupings: a name and the export's column it reads
/// (<https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage>).
pub const COLUMNS: &[(&str, &str)] = &[
    ("service", "service.description"),
    ("service_id", "service.id"),
    ("sku", "sku.description"),
    ("sku_id", "sku.id"),
    ("project", "project.id"),
    ("project_name", "project.name"),
    ("project_number", "project.number"),
    ("billing_account", "billing_account_id"),
    ("location", "location.location"),
    ("region", "location.region"),
    ("country", "location.country"),
    ("zone", "location.zone"),
    ("cost_type", "cost_type"),
    ("invoice_month", "invoice.month"),
];

/// The label groupings (`label:team`): a prefix and the repeated
/// `key`/`value` column it looks the key up in.
pub const LABELS: &[(&str, &str)] = &[
    ("label", "labels"),
    ("project_label", "project.labels"),
    ("system_label", "system_labels"),
];

/// What a group reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// A column of the export.
    Path(&'static str),
    /// The value of the label `key` in a repeated `key`/`value` column;
    /// the key goes to BigQuery as a query parameter.
    Label { array: &'static str, key: String },
}

/// A group of the config: the record's field and what fills it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub field: String,
    pub column: Column,
}

impl Config {
    /// The API origin, without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    pub fn monthly(&self) -> bool {
        self.granularity == "MONTHLY"
    }

    /// The location, if one is set.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref().filter(|l| !l.trim().is_empty())
    }

    /// The groups, in order.
    pub fn groups(&self) -> Result<Vec<Group>> {
        let mut out: Vec<Group> = Vec::new();
        for name in &self.group_by {
            let group = group(name)?;
            if out.iter().any(|g| g.field == group.field) {
                return Err(Error::Config(format!("`{name}` is grouped by twice")));
            }
            out.push(group);
        }
        Ok(out)
    }

    /// Everything BigQuery would refuse, and everything that could reach
    /// SQL or a URL in a shape it should not, said before a query runs.
    pub fn validate(&self) -> Result<Vec<Group>> {
        if !project_ok(&self.project_id) {
            return Err(Error::Config(format!(
                "project_id `{}` is not a Google Cloud project id (6 to 30 lowercase letters, digits and hyphens, starting with a letter)",
                self.project_id
            )));
        }
        if !table_ok(&self.table) {
            return Err(Error::Config(format!(
                "table `{}` must be `project.dataset.table` (the export's table, e.g. my-project.billing.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9), with only letters, digits and `_` in the dataset and table names",
                self.table
            )));
        }
        let email = self.client_email.trim();
        if email.len() > 320
            || !email.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
            })
            || email.contains(['"', '\\'])
        {
            return Err(Error::Config(format!(
                "client_email `{}` is not an email (the service account's, from its key file)",
                self.client_email
            )));
        }
        if let Some(l) = self.location()
            && (l.len() > 40 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(Error::Config(format!(
                "location `{l}`: a BigQuery location such as US, EU or europe-west1"
            )));
        }
        if !matches!(self.granularity.as_str(), "DAILY" | "MONTHLY") {
            return Err(Error::Config(format!(
                "granularity `{}`: DAILY or MONTHLY",
                self.granularity
            )));
        }
        if !zone_ok(&self.time_zone) {
            return Err(Error::Config(format!(
                "time_zone `{}`: a time zone name such as America/Los_Angeles, UTC or Europe/Berlin",
                self.time_zone
            )));
        }
        if !(1..=3660).contains(&self.lookback_days) || !(0..=90).contains(&self.settle_days) {
            return Err(Error::config(
                "lookback_days is 1 to 3660, settle_days 0 to 90",
            ));
        }
        if !(1..=100_000).contains(&self.page_size) || !(1_000..=20_000).contains(&self.timeout_ms)
        {
            return Err(Error::config(
                "page_size is 1 to 100000 rows; timeout_ms 1000 to 20000 (a call must end within the sandbox's time limit)",
            ));
        }
        let groups = self.groups()?;
        if groups.len() > 6 {
            return Err(Error::config("group by at most six columns"));
        }
        Ok(groups)
    }
}

/// The group a config name stands for.
fn group(name: &str) -> Result<Group> {
    if let Some((_, path)) = COLUMNS.iter().find(|(n, _)| *n == name) {
        return Ok(Group {
            field: name.to_string(),
            column: Column::Path(path),
        });
    }
    if let Some((prefix, key)) = name.split_once(':')
        && let Some((_, array)) = LABELS.iter().find(|(p, _)| *p == prefix)
    {
        // Label keys: up to 63 characters; Google allows letters of any
        // script, so only control characters are refused (the key is a
        // query parameter, never SQL).
        if key.is_empty() || key.chars().count() > 63 || key.chars().any(char::is_control) {
            return Err(Error::Config(format!(
                "`{name}`: a label key is 1 to 63 characters"
            )));
        }
        return Ok(Group {
            field: format!("{prefix}_{key}"),
            column: Column::Label {
                array,
                key: key.to_string(),
            },
        });
    }
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    Err(Error::Config(format!(
        "cannot group by `{name}`: one of {}, or label:<key>, project_label:<key>, system_label:<key>",
        names.join(", ")
    )))
}

/// A project id (6–30 of `a-z0-9-`, a letter first, no hyphen last),
/// possibly domain-scoped (`example.com:my-project`).
pub fn project_ok(id: &str) -> bool {
    let (domain, name) = id.rsplit_once(':').unwrap_or(("", id));
    let domain_ok = domain.is_empty()
        || (domain.len() <= 63
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'));
    let bytes = name.as_bytes();
    domain_ok
        && (6..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `project.dataset.table`, each part as [`project_ok`] or letters, digits
/// and `_` (at most 1,024).
pub fn table_ok(table: &str) -> bool {
    let mut parts = table.rsplitn(3, '.');
    let (Some(name), Some(dataset), Some(project)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let plain = |s: &str| {
        (1..=1024).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    project_ok(project) && plain(dataset) && plain(name)
}

/// A time zone name (`America/Argentina/Buenos_Aires`, `UTC`, `Etc/GMT+3`)
/// or an offset (`+05:30`); BigQuery checks it is one it knows.
fn zone_ok(zone: &str) -> bool {
    let first = zone.bytes().next();
    (1..=64).contains(&zone.len())
        && first.is_some_and(|b| b.is_ascii_alphabetic() || b == b'+' || b == b'-')
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-' | b':'))
}

/// The config's JSON Schema.
pub fn schema() -> Value {
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["project_id", "table", "client_email"],
        "properties": {
            "project_id": {"type": "string", "title": "Project for queries", "description": "The Google Cloud project the query jobs run in and are billed to (the service account needs BigQuery Job User there)"},
            "table": {"type": "string", "title": "Billing export table", "description": "project.dataset.gcp_billing_export_v1_<BILLING_ACCOUNT_ID> (standard), …_resource_v1_… (detailed), or a view over it; the service account needs BigQuery Data Viewer on the dataset"},
            "client_email": {"type": "string", "title": "Service account email", "description": "client_email of the service account's JSON key; its private_key is the secret"},
            "location": {"type": "string", "title": "Dataset location", "description": "US, EU, europe-west1…; leave empty to let BigQuery find it"},
            "granularity": {"type": "string", "enum": ["DAILY", "MONTHLY"], "default": "DAILY", "title": "Granularity", "description": "A record per day or per month of usage"},
            "group_by": {"type": "array", "default": ["service", "project"], "title": "Group by", "description": format!("A record per date and these: {}, or label:<key>, project_label:<key>, system_label:<key>", names.join(", ")),
                "items": {"type": "string"}, "maxItems": 6},
            "time_zone": {"type": "string", "default": "America/Los_Angeles", "title": "Time zone", "description": "Where a day starts; Cloud Billing reports use Pacific time"},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 30, "title": "First pass reads back", "description": "Days the first run reads"},
            "settle_days": {"type": "integer", "minimum": 0, "maximum": 90, "default": 5, "title": "Days to read again", "description": "Each run reads again this many days before the last one's last day: the export keeps revising recent days"},
            "partition_filter": {"type": "boolean", "default": true, "title": "Prune partitions", "description": "Filter on _PARTITIONTIME so a query scans only recent partitions; turn off for a view"},
            "maximum_bytes_billed": {"type": "integer", "minimum": 1, "title": "Maximum bytes billed", "description": "BigQuery refuses (without charge) a query that would bill more"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 5000, "title": "Rows a page", "description": "maxResults of each page (a page is also capped at 10 MB by BigQuery)"},
            "timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 20000, "default": 10000, "title": "Wait per call (ms)", "description": "How long one call waits for the query before the run checks back"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://bigquery.googleapis.com"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for https://oauth2.googleapis.com/token"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_names() {
        assert!(project_ok("billing-admin-4821"));
        assert!(project_ok("example.com:billing-admin"));
        assert!(!project_ok("Billing"));
        assert!(!project_ok("ab-"));
        assert!(!project_ok("billing-admin-"));
        assert!(table_ok(
            "my-project.billing.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"
        ));
        assert!(table_ok("example.com:my-project.billing.costs_view"));
        assert!(!table_ok("my-project.billing.t` WHERE 1=1 --"));
        assert!(!table_ok("my-project.billing"));
        assert!(!table_ok("my-project.bill ing.t"));
        assert!(zone_ok("America/Argentina/Buenos_Aires"));
        assert!(zone_ok("+05:30"));
        assert!(!zone_ok("UTC'); DROP"));
    }

    #[test]
    fn groups_by_name_and_label() {
        let g = group("label:cost-center").unwrap();
        assert_eq!(g.field, "label_cost-center");
        assert_eq!(
            g.column,
            Column::Label {
                array: "labels",
                key: "cost-center".into()
            }
        );
        assert_eq!(
            group("sku").unwrap().column,
            Column::Path("sku.description")
        );
        assert!(group("cost").is_err());
        assert!(group("label:").is_err());
    }
}

//! The billing export the fake BigQuery serves, and its billing query as
//! the fake evaluates it (no SQL engine: the query's documented shape).
//!
//! - **Rows** ([`generate`]), in the standard usage cost table's schema
//!   (<https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage>):
//!   a row a day per service ([`SERVICES`]) and project ([`PROJECTS`]),
//!   usage at 12:00 UTC, which is the same date in every zone of [`ZONES`]
//!   (so days need no time zone data), exported 6 h later into that day's
//!   partition; Compute Engine carries a sustained use discount credit,
//!   Cloud Storage no `team` label.
//! - **The query**: one backticked table, [`super::TABLE`] (`404 notFound`);
//!   every name a keyword, a declared parameter, a name given by `AS` or
//!   `WITH`, or a documented column (`400 invalidQuery` "Unrecognized
//!   name"); typed named parameters
//!   (<https://cloud.google.com/bigquery/docs/parameterized-queries>); a
//!   column or label look-up per line `… AS gN,`; the window on
//!   `usage_start_time` from `@from_date` to `@to_date` in `@time_zone`;
//!   `DATE_TRUNC(day, MONTH)` for months; the `_PARTITIONTIME` bound
//!   (<https://cloud.google.com/bigquery/docs/querying-partitioned-tables>)
//!   prunes partitions. Sums are exact (micros), as NUMERIC is.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::{LOCATION, Refusal, TABLE, google};

/// `service.id`, `service.description`.
pub const SERVICES: [(&str, &str); 4] = [
    ("6F81-5844-456A", "Compute Engine"),
    ("95FF-2EF5-5EA1", "Cloud Storage"),
    ("24E6-581D-38E5", "BigQuery"),
    ("152E-C115-5142", "Cloud Run"),
];
/// `project.id` and its resources' `team` label.
pub const PROJECTS: [(&str, &str); 3] = [
    ("shop-prod-381204", "web"),
    ("shop-staging-381207", "web"),
    ("data-lake-229931", "data"),
];
pub const ZONES: [&str; 5] = [
    "America/Los_Angeles",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
];
/// The standard usage cost table's documented columns.
const COLUMNS: &str = "billing_account_id invoice invoice.month cost_type service service.id \
    service.description sku sku.id sku.description usage_start_time usage_end_time project \
    project.id project.number project.name project.labels labels system_labels location \
    location.location location.country location.region location.zone cost currency \
    currency_conversion_rate usage usage.amount usage.unit credits adjustment_info \
    export_time tags cost_at_list transaction_type seller_name price";
/// The STRING columns the fake groups by.
const GROUPABLE: &str = "service.id service.description sku.id sku.description project.id \
    project.name location.region cost_type invoice.month";
const LABEL_ARRAYS: [&str; 3] = ["labels", "project.labels", "system_labels"];
const KEYWORDS: &str = "WITH AS SELECT FROM WHERE AND OR NOT IS NULL GROUP BY ORDER ASC DESC \
    UNNEST DATE DATE_TRUNC DATE_SUB TIMESTAMP INTERVAL DAY MONTH CAST NUMERIC IFNULL SUM MAX \
    ANY_VALUE _PARTITIONTIME";

/// A row of the billing export (the columns the fake reads).
#[derive(Clone, Debug)]
pub struct Row {
    /// Indexes into [`SERVICES`] and [`PROJECTS`].
    pub service: usize,
    pub project: usize,
    /// Day number of `usage_start_time` (12:00 UTC).
    pub usage_day: i64,
    pub cost_micros: i64,
    /// The sum of its `credits` (negative).
    pub credit_micros: i64,
    pub cost_type: &'static str,
    /// `export_time` (Unix seconds); its UTC day is the row's partition.
    pub export_secs: i64,
}

impl Row {
    fn value(&self, source: &Source) -> Option<String> {
        let ((sid, service), (pid, team)) = (SERVICES[self.service], PROJECTS[self.project]);
        let (y, m, _) = wharf_sdk::time::civil(self.usage_day);
        Some(match source {
            Source::Column(c) if c == "service.id" => sid.into(),
            Source::Column(c) if c == "service.description" => service.into(),
            Source::Column(c) if c == "sku.id" => format!("{sid}-0001"),
            Source::Column(c) if c == "sku.description" => format!("{service} usage"),
            Source::Column(c) if c == "project.id" => pid.into(),
            Source::Column(c) if c == "project.name" => pid.replace('-', " "),
            Source::Column(c) if c == "location.region" => LOCATION.into(),
            Source::Column(c) if c == "cost_type" => self.cost_type.into(),
            Source::Column(c) if c == "invoice.month" => format!("{y:04}{m:02}"),
            // Cloud Storage buckets carry no labels here.
            Source::Label(a, k) if a == "labels" && k == "team" && self.service != 1 => team.into(),
            _ => return None,
        })
    }
}

/// The rows of `today - days ..= today` (day numbers).
pub fn generate(today: i64, days: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    for usage_day in today - days..=today {
        for (service, project) in (0..4).flat_map(|s| (0..3).map(move |p| (s, p))) {
            let digest = sha2::Sha256::digest(format!("{usage_day}|{service}|{project}"));
            let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
            let cost_micros = (n % 50_000_000) as i64;
            rows.push(Row {
                service,
                project,
                usage_day,
                cost_micros,
                credit_micros: if service == 0 { -cost_micros / 10 } else { 0 },
                cost_type: "regular",
                export_secs: usage_day * 86_400 + 18 * 3600,
            });
        }
    }
    rows
}

/// A cell of a job's results: text, NUMERIC micros, TIMESTAMP micros.
pub(super) enum Cell {
    Text(Option<String>),
    Micros(i64),
    Time(i64),
}

/// A job's result: columns (name, type), rows, rows scanned.
pub(super) type Table = (Vec<(String, &'static str)>, Vec<Vec<Cell>>, u64);
pub(super) type Params = BTreeMap<String, (String, String)>;
/// A period (day number) and the group's values.
type GroupKey = (i64, Vec<Option<String>>);
/// Cost and credits (micros) and the newest export time of a group.
type Sums = (i64, i64, i64);

fn day_number(text: &str) -> Option<i64> {
    let secs = wharf_sdk::time::from_rfc3339_utc(&format!("{text}T00:00:00Z"))?;
    (wharf_sdk::time::date(secs) == text).then_some(secs.div_euclid(86_400))
}

/// The plan's sums over the export: columns, rows, rows scanned.
pub(super) fn evaluate(rows: &[Row], plan: &Plan) -> Table {
    let mut sums: BTreeMap<GroupKey, Sums> = BTreeMap::new();
    let mut scanned = 0;
    for r in rows {
        if plan.pruned && r.export_secs.div_euclid(86_400) < plan.from - 1 {
            continue;
        }
        scanned += 1;
        if r.usage_day < plan.from || r.usage_day >= plan.to {
            continue;
        }
        let (y, m, _) = wharf_sdk::time::civil(r.usage_day);
        let month = wharf_sdk::time::days(y, m, 1);
        let period = if plan.monthly { month } else { r.usage_day };
        let groups = plan.groups.iter().map(|g| r.value(g)).collect();
        let sum = sums.entry((period, groups)).or_insert((0, 0, 0));
        *sum = (
            sum.0 + r.cost_micros,
            sum.1 + r.credit_micros,
            sum.2.max(r.export_secs),
        );
    }
    let names = (0..plan.groups.len()).map(|i| (format!("g{i}"), "STRING"));
    let mut columns = vec![("date".to_string(), "DATE")];
    columns.extend(names);
    for (n, t) in [
        ("currency", "STRING"),
        ("cost", "NUMERIC"),
        ("credits", "NUMERIC"),
    ]
    .into_iter()
    .chain([("net_cost", "NUMERIC"), ("exported_at", "TIMESTAMP")])
    {
        columns.push((n.to_string(), t));
    }
    let rows = sums
        .into_iter()
        .map(|((period, groups), (cost, credits, at))| {
            let date = wharf_sdk::time::date(period * 86_400);
            let mut row: Vec<Cell> = vec![Cell::Text(Some(date))];
            row.extend(groups.into_iter().map(Cell::Text));
            row.push(Cell::Text(Some("USD".into())));
            row.extend([
                Cell::Micros(cost),
                Cell::Micros(credits),
                Cell::Micros(cost + credits),
            ]);
            row.push(Cell::Time(at * 1_000_000));
            row
        });
    (columns, rows.collect(), scanned)
}

pub(super) fn schema(columns: &[(String, &'static str)]) -> Value {
    let field = |(n, t): &(String, &str)| json!({"name": n, "type": t, "mode": "NULLABLE"});
    json!({ "fields": columns.iter().map(field).collect::<Vec<_>>() })
}

/// NUMERIC text of micros (`-1.05`, `12`).
pub(super) fn decimal(micros: i64) -> String {
    let (sign, m) = (if micros < 0 { "-" } else { "" }, micros.unsigned_abs());
    let text = format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The named parameters: name → (type, value).
pub(super) fn parameters(body: &Value) -> Result<Params, Refusal> {
    let list = body["queryParameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !list.is_empty() && body["parameterMode"] != "NAMED" {
        return Err(google(
            400,
            "invalid",
            "Named parameters need parameterMode NAMED.",
        ));
    }
    let mut out = Params::new();
    for p in &list {
        let (kind, value) = (&p["parameterType"]["type"], &p["parameterValue"]["value"]);
        let (Some(name), Some(kind), Some(value)) =
            (p["name"].as_str(), kind.as_str(), value.as_str())
        else {
            return Err(google(
                400,
                "invalid",
                &format!("Invalid query parameter: {p}"),
            ));
        };
        if kind == "DATE" && day_number(value).is_none() {
            return Err(google(
                400,
                "invalidQuery",
                &format!("Invalid date: '{value}'"),
            ));
        }
        out.insert(name.to_string(), (kind.to_string(), value.to_string()));
    }
    Ok(out)
}

/// What a group reads: a column, or a label's value (array, key).
enum Source {
    Column(String),
    Label(String, String),
}

/// The billing query, as the fake evaluates it.
pub(super) struct Plan {
    groups: Vec<Source>,
    from: i64,
    to: i64,
    monthly: bool,
    pruned: bool,
}

/// Every name is a keyword, a declared `@parameter`, a name given by `AS`
/// or `WITH`, or a documented column (`Unrecognized name` otherwise).
fn names(sql: &str, params: &Params) -> Result<(), String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || "_.@".contains(c);
    let words: Vec<&str> = sql
        .split(|c| !name_char(c))
        .filter(|w| !w.is_empty())
        .collect();
    let given = words.windows(2).filter(|w| w[0] == "AS" || w[0] == "WITH");
    let given: Vec<&str> = given.map(|w| w[1]).collect();
    for w in &words {
        if let Some(p) = w.strip_prefix('@') {
            if !params.contains_key(p) {
                return Err(format!("Query parameter '{p}' not found"));
            }
            continue;
        }
        let root = w.split('.').next().unwrap_or_default();
        let number = w.starts_with(|c: char| c.is_ascii_digit());
        let keyword = KEYWORDS.split(' ').any(|k| k == *w);
        if !number && !keyword && !given.contains(&root) && !COLUMNS.split(' ').any(|c| c == *w) {
            return Err(format!("Unrecognized name: {w}"));
        }
    }
    Ok(())
}

/// A group's expression: a column, or `(SELECT ANY_VALUE(l.value) FROM
/// UNNEST(labels) AS l WHERE l.key = @p)` with `@p` a STRING.
fn source(expr: &str, params: &Params) -> Option<Source> {
    if GROUPABLE.split(' ').any(|c| c == expr) {
        return Some(Source::Column(expr.into()));
    }
    let inner = expr.strip_prefix("(SELECT ANY_VALUE(l.value) FROM UNNEST(")?;
    let (array, param) = inner
        .strip_suffix(')')?
        .split_once(") AS l WHERE l.key = @")?;
    let (kind, key) = params.get(param)?;
    let label = LABEL_ARRAYS.contains(&array) && kind == "STRING";
    label.then(|| Source::Label(array.into(), key.clone()))
}

pub(super) fn plan(sql: &str, params: &Params) -> Result<Plan, Refusal> {
    let bad = |why: String| google(400, "invalidQuery", &why);
    let quoted: Vec<&str> = sql.split('`').skip(1).step_by(2).collect();
    if quoted != [TABLE] {
        let why = format!("Not found: Table {quoted:?} was not found in location {LOCATION}");
        return Err(google(404, "notFound", &why));
    }
    names(&sql.replace(&format!("`{TABLE}`"), " "), params).map_err(bad)?;
    let mut groups = Vec::new();
    for line in sql.lines().map(|l| l.trim().trim_end_matches(',')) {
        let Some((expr, n)) = line.rsplit_once(" AS g") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        let why = format!("the fake cannot evaluate g{n} = `{expr}`");
        let found = source(expr, params).filter(|_| n == groups.len());
        groups.push(found.ok_or_else(|| bad(why))?);
    }
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let has = |s: &str| flat.contains(s);
    let window = has("usage_start_time >= TIMESTAMP(@from_date, @time_zone)")
        && has("usage_start_time < TIMESTAMP(@to_date, @time_zone)");
    let outputs = [
        "AS date",
        "AS cost",
        "AS credits",
        "AS net_cost",
        "AS exported_at",
    ];
    if !window || !outputs.into_iter().all(has) {
        return Err(bad(
            "the fake evaluates the billing query's window and sums only".into(),
        ));
    }
    let typed = |n: &str, t: &str| params.get(n).filter(|p| p.0 == t).map(|p| p.1.as_str());
    let (from, to) = (typed("from_date", "DATE"), typed("to_date", "DATE"));
    let (Some(from), Some(to)) = (from.and_then(day_number), to.and_then(day_number)) else {
        return Err(bad("@from_date and @to_date must be DATE parameters".into()));
    };
    let zone = typed("time_zone", "STRING").unwrap_or_default();
    if !ZONES.contains(&zone) {
        return Err(bad(format!("Invalid time zone: {zone}")));
    }
    let monthly = has("DATE_TRUNC(day, MONTH) AS date");
    let pruned = has("_PARTITIONTIME >= TIMESTAMP(DATE_SUB(@from_date, INTERVAL 1 DAY))");
    Ok(Plan {
        groups,
        from,
        to,
        monthly,
        pruned,
    })
}

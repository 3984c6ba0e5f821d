//! The billing query and the `jobs.query` body that carries it. The SQL is
//! fixed text but for the table name (checked by
//! [`crate::config::table_ok`], written in backticks) and the grouping
//! columns (taken from a fixed list); dates, the time zone and label keys
//! go to BigQuery as named query parameters.
//!
//! Costs are summed as `NUMERIC` (exact to 9 decimals, as Google's own
//! invoice queries do with micros) and credits, which are negative, from
//! the repeated `credits` column; net cost is their sum.

use wharf_sdk::prelude::*;
use wharf_sdk::time::date;

use crate::config::{Column, Config, Group};

/// The query for days `[from, to)` (day numbers), by the config's groups.
pub fn sql(config: &Config, groups: &[Group]) -> String {
    let mut columns = String::new();
    for (i, g) in groups.iter().enumerate() {
        let expr = match &g.column {
            Column::Path(path) => (*path).to_string(),
            Column::Label { array, .. } => format!(
                "(SELECT ANY_VALUE(l.value) FROM UNNEST({array}) AS l WHERE l.key = @group_{i})"
            ),
        };
        columns.push_str(&format!("    {expr} AS g{i},\n"));
    }
    let outer: String = (0..groups.len()).map(|i| format!(", g{i}")).collect();
    // Ordinals: `date` is both an alias and a type name.
    let ordinals: String = (1..=groups.len() + 2)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let date = if config.monthly() {
        "DATE_TRUNC(day, MONTH)"
    } else {
        "day"
    };
    // The export is partitioned by ingestion time, and a row is exported
    // after its usage: no row of the window sits in a partition before
    // it (a day's margin for zones ahead of UTC).
    let partitions = if config.partition_filter {
        "\n    AND _PARTITIONTIME >= TIMESTAMP(DATE_SUB(@from_date, INTERVAL 1 DAY))"
    } else {
        ""
    };
    format!(
        "WITH billing AS (\n  SELECT\n    DATE(usage_start_time, @time_zone) AS day,\n{columns}    currency,\n    \
         CAST(cost AS NUMERIC) AS cost,\n    \
         IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0) AS credits,\n    \
         export_time\n  FROM `{table}`\n  \
         WHERE usage_start_time >= TIMESTAMP(@from_date, @time_zone)\n    \
         AND usage_start_time < TIMESTAMP(@to_date, @time_zone){partitions}\n)\n\
         SELECT\n  {date} AS date{outer},\n  currency,\n  SUM(cost) AS cost,\n  SUM(credits) AS credits,\n  \
         SUM(cost) + SUM(credits) AS net_cost,\n  MAX(export_time) AS exported_at\n\
         FROM billing\nGROUP BY {ordinals}\nORDER BY {ordinals}",
        table = config.table,
    )
}

fn parameter(name: &str, kind: &str, value: &str) -> Value {
    json!({"name": name, "parameterType": {"type": kind}, "parameterValue": {"value": value}})
}

/// The named parameters of [`sql`] for days `[from, to)`.
pub fn parameters(config: &Config, groups: &[Group], from: i64, to: i64) -> Vec<Value> {
    let mut out = vec![
        parameter("from_date", "DATE", &date(from * 86_400)),
        parameter("to_date", "DATE", &date(to * 86_400)),
        parameter("time_zone", "STRING", &config.time_zone),
    ];
    for (i, g) in groups.iter().enumerate() {
        if let Column::Label { key, .. } = &g.column {
            out.push(parameter(&format!("group_{i}"), "STRING", key));
        }
    }
    out
}

/// The `jobs.query` body for days `[from, to)`; a dry run only validates
/// the query and says how many bytes it would scan.
pub fn body(config: &Config, groups: &[Group], from: i64, to: i64, dry_run: bool) -> Value {
    let mut body = json!({
        "query": sql(config, groups),
        "useLegacySql": false,
        "parameterMode": "NAMED",
        "queryParameters": parameters(config, groups, from, to),
        "maxResults": config.page_size,
        "timeoutMs": config.timeout_ms,
        // TIMESTAMPs as exact microseconds, not floating-point seconds.
        "formatOptions": {"useInt64Timestamp": true},
        // So the jobs show who ran them in the project's job history and
        // its billing export.
        "labels": {"wharf-connector": "gcp-billing"},
    });
    if let Some(location) = config.location() {
        body["location"] = json!(location);
    }
    if let Some(max) = config.maximum_bytes_billed {
        // An int64, which Google's JSON writes as a string.
        body["maximumBytesBilled"] = json!(max.to_string());
    }
    if dry_run {
        body["dryRun"] = json!(true);
    } else {
        // The same pass asked again within BigQuery's 15 minutes (a retry
        // after a lost answer) is one request, not a second query.
        body["requestId"] = json!(request_id(&body));
    }
    body
}

/// `wharf-` and a hash of the body: at most 36 ASCII characters.
fn request_id(body: &Value) -> String {
    // FNV-1a, 64 bits: no cryptography is needed, only a stable name.
    let hash = body
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("wharf-gcp-billing-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        let mut base = json!({"project_id": "billing-admin-4821", "client_email": "etl@billing-admin-4821.iam.gserviceaccount.com",
            "table": "billing-admin-4821.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn labels_are_parameters_and_the_table_is_quoted() {
        let c = config(json!({"group_by": ["service", "label:team"], "granularity": "MONTHLY"}));
        let groups = c.validate().unwrap();
        let text = sql(&c, &groups);
        assert!(text.contains(
            "FROM `billing-admin-4821.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9`"
        ));
        assert!(text.contains("service.description AS g0"));
        assert!(text.contains("WHERE l.key = @group_1) AS g1"));
        assert!(text.contains("DATE_TRUNC(day, MONTH) AS date, g0, g1"));
        assert!(text.contains("GROUP BY 1, 2, 3, 4"));
        assert!(text.contains("_PARTITIONTIME"));
        let from = wharf_sdk::time::days(2024, 5, 1);
        let b = body(&c, &groups, from, from + 10, false);
        assert_eq!(
            b["queryParameters"][0]["parameterValue"]["value"],
            "2024-05-01"
        );
        assert_eq!(
            b["queryParameters"][1]["parameterValue"]["value"],
            "2024-05-11"
        );
        assert_eq!(b["queryParameters"][3]["name"], "group_1");
        assert_eq!(b["queryParameters"][3]["parameterValue"]["value"], "team");
        assert_eq!(b["useLegacySql"], false);
        let id = b["requestId"].as_str().unwrap();
        assert!(id.len() <= 36, "{id}");
        assert_eq!(id, body(&c, &groups, from, from + 10, false)["requestId"]);
        assert!(
            body(&c, &groups, from, from + 10, true)
                .get("requestId")
                .is_none()
        );
        let view = config(json!({"partition_filter": false}));
        assert!(!sql(&view, &view.validate().unwrap()).contains("_PARTITIONTIME"));
    }
}

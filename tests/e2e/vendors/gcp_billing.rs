//! The `gcp-billing` connector through `wharf serve` against a fake Google
//! whose every BigQuery request is checked against BigQuery's discovery
//! document: a service account's JWT assertion (RS256, signed by the host)
//! verified by the token endpoint; `check` a dry run of the billing query;
//! a sync that waits out a running job (a pending page), pages its typed
//! rows into cost records by day, service, project and label; then, after
//! the token expired and the export revised a past day, an incremental run
//! that renews the token, waits out `rateLimitExceeded` and reads only the
//! days that may still change; and a key Google does not know refused,
//! with no key or token anywhere in what Wharf shows.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::bigquery::{
    self, AUDIENCE, CLIENT_EMAIL, LOCATION, PROJECT, PROJECTS, SERVICES, TABLE,
};

#[test]
fn the_discovery_check_refuses_what_bigquery_does_not_describe() {
    let q = |pairs: &[(&str, &str)]| {
        let pairs = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        pairs.collect::<Vec<_>>()
    };
    let queries = "/bigquery/v2/projects/billing-admin-4821/queries";
    let job = format!("{queries}/job_1");
    assert_eq!(bigquery::violation("POST", queries, &q(&[])), None);
    let paging = q(&[
        ("location", "europe-west1"),
        ("maxResults", "50"),
        ("timeoutMs", "10000"),
        ("pageToken", "abc"),
        ("formatOptions.useInt64Timestamp", "true"),
    ]);
    assert_eq!(bigquery::violation("GET", &job, &paging), None);
    for (method, path, query) in [
        ("GET", job.as_str(), q(&[("maxRows", "50")])),
        ("GET", job.as_str(), q(&[("timeoutMs", "soon")])),
        (
            "GET",
            job.as_str(),
            q(&[("formatOptions.useInt64Timestamp", "yes")]),
        ),
        ("PUT", queries, q(&[])),
        ("GET", "/bigquery/v1/projects/p/queries/j", q(&[])),
    ] {
        let found = bigquery::violation(method, path, &query);
        assert!(found.is_some(), "{method} {path} {query:?}");
    }
    let parameter = json!({"name": "d", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2024-05-01"}});
    let good = json!({"query": "SELECT 1", "useLegacySql": false, "maxResults": 50,
        "labels": {"wharf-connector": "gcp-billing"}, "queryParameters": [parameter]});
    let none = bigquery::body_violations("QueryRequest", &good);
    assert_eq!(none, Vec::<String>::new());
    for bad in [
        json!({"query": "SELECT 1", "legacySql": false}),
        json!({"maxResults": "50"}),
        json!({"queryParameters": [{"parameterType": "DATE"}]}),
        json!({"maximumBytesBilled": 10}),
    ] {
        let found = bigquery::body_violations("QueryRequest", &bad);
        assert!(!found.is_empty(), "{bad}");
    }
}

/// `cost` (a number) is `micros` to the micro.
fn near(v: &Value, micros: i64) -> bool {
    v.as_f64()
        .is_some_and(|f| (f - micros as f64 / 1e6).abs() < 1e-6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_costs_from_the_billing_export_with_a_service_account() {
    let (api, fake) = bigquery::start(bigquery::BigQuery::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("gcp-billing").await;
    let config = json!({"project_id": PROJECT, "table": TABLE, "client_email": CLIENT_EMAIL,
        "location": LOCATION, "group_by": ["service", "project", "label:team"],
        "lookback_days": 9, "settle_days": 3, "page_size": 50,
        "base_url": api.origin(), "token_url": api.url("/token")});
    let key = bigquery::service_account_key();
    let secrets = json!({ "private_key": key });
    let conn = wharf
        .connection("gcp-billing", &connector, config.clone(), secrets)
        .await;
    let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
    let day = |d: i64| wharf_sdk::time::date(d * 86_400);

    // The check: a token by the JWT bearer grant, then a dry run.
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, Vec::<String>::new());
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.calls, ["dry-run"]);
        assert_eq!(f.queries[0]["dryRun"], true);
        let claims = &f.assertions[0];
        assert_eq!(claims["iss"], CLIENT_EMAIL);
        assert_eq!(claims["aud"], AUDIENCE);
        let scope = "https://www.googleapis.com/auth/cloud-platform.read-only";
        assert_eq!(claims["scope"], scope);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!((1..=3600).contains(&lifetime), "{claims}");
    }
    let streams = wharf.discover(&conn).await;
    let costs = streams
        .iter()
        .find(|s| s["name"] == "costs")
        .expect("costs");
    assert_eq!(costs["key_field"], "id");
    let team = &costs["schema"]["properties"]["label_team"]["type"];
    assert_eq!(*team, json!(["string", "null"]));

    // A full first pass: the job runs (a pending page), then three pages.
    let sync = wharf
        .sync(json!({"name": "gcp-costs", "source": conn, "streams": ["costs"], "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let groups = SERVICES.len() * PROJECTS.len();
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, Vec::<String>::new());
        assert_eq!(f.violations, Vec::<String>::new());
        let calls = [
            "dry-run",
            "query",
            "results",
            "results+token",
            "results+token",
        ];
        assert_eq!(f.calls, calls, "10 days × {groups} groups, 50 a page");
        assert_eq!(f.assertions.len(), 1, "the check's token served the run");
        let params = &f.queries[1]["queryParameters"];
        assert_eq!(params[0]["parameterValue"]["value"], day(today - 9));
        assert_eq!(params[1]["parameterValue"]["value"], day(today + 2));
    }
    assert_eq!(wharf.records_all(&sync, "costs").await, 10 * groups);
    let (engine, lake) = (0, 2);
    let key_of = |d: i64, s: usize, p: usize, team: &str| {
        format!("{}|{}|{}|{team}", day(d), SERVICES[s].1, PROJECTS[p].0)
    };
    let found = wharf
        .records_where(&sync, "costs", &key_of(today, engine, lake, "data"))
        .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let record = &found[0]["data"];
    let (cost, credits) = fake.lock().unwrap().expected(today, engine, lake);
    assert!(near(&record["cost"], cost), "{record}");
    assert!(credits < 0 && near(&record["credits"], credits), "{record}");
    assert!(near(&record["net_cost"], cost + credits), "{record}");
    assert_eq!(record["currency"], "USD");
    assert_eq!(record["date"], day(today));
    assert_eq!(record["end"], day(today + 1));
    assert_eq!(record["service"], "Compute Engine");
    assert_eq!(record["project"], PROJECTS[lake].0);
    assert_eq!(record["label_team"], "data");
    let exported = record["exported_at"].as_str().unwrap_or_default();
    assert!(exported.ends_with("T18:00:00Z"), "{record}");
    // Cloud Storage carries no label: an empty group value, a null field.
    let unlabelled = key_of(today, 1, 0, "");
    let found = wharf.records_where(&sync, "costs", &unlabelled).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["data"]["label_team"], Value::Null);

    // Later: the token expired, the export revised a day of the last
    // pass, and BigQuery throttles once.
    let revised = today - 2;
    {
        let mut f = fake.lock().unwrap();
        f.expire_access_tokens();
        f.revise(revised, engine, lake, 4_250_000);
        f.throttle_next = 1;
    }
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, ["authError", "rateLimitExceeded"]);
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(
            f.assertions.len(),
            2,
            "a new assertion for the expired token"
        );
        assert_eq!(f.calls[5..].to_vec(), vec!["query", "results"]);
        let params = &f.queries.last().unwrap()["queryParameters"];
        let from = &params[0]["parameterValue"]["value"];
        assert_eq!(
            *from,
            day(today - 2),
            "settle_days before the last pass's last day"
        );
    }
    let found = wharf
        .records_where(&sync, "costs", &key_of(revised, engine, lake, "data"))
        .await;
    let (cost, _) = fake.lock().unwrap().expected(revised, engine, lake);
    assert!(near(&found[0]["data"]["cost"], cost), "{found:?}");
    assert!(
        run["counters"]["updated"].as_i64().unwrap_or(0) >= 1,
        "{run}"
    );
    assert_eq!(wharf.records_all(&sync, "costs").await, 10 * groups);

    // No key and no token in the run's log, the records or the connection.
    let logs = wharf
        .get(&format!(
            "/api/v1/runs/{}/logs",
            run["id"].as_str().unwrap()
        ))
        .await;
    let records = wharf.records(&sync, "costs").await;
    let shown = wharf.get(&format!("/api/v1/connections/{conn}")).await;
    let piece = &key[40..80];
    for text in [logs.text, json!(records).to_string(), shown.text] {
        assert!(!text.contains("ya29."), "a token leaked: {text}");
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(piece),
            "the key leaked"
        );
    }

    // A key Google does not know: the grant is refused, and said so.
    let impostor = json!({ "private_key": bigquery::unknown_key() });
    let wrong = wharf
        .connection("gcp-impostor", &connector, config, impostor)
        .await;
    let check = wharf.check(&wrong).await;
    assert_eq!(
        check.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        check.text
    );
    assert!(check.text.contains("invalid_grant"), "{}", check.text);
    assert!(!check.text.contains("PRIVATE KEY"), "{}", check.text);
    let refused = fake.lock().unwrap().refused.last().cloned();
    assert_eq!(refused.as_deref(), Some("Invalid JWT Signature."));
}

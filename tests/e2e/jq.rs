//! The `jq` mapper through the runtime: a bank transaction's lines become
//! emission entries by a lookup table, one record splits into several, a
//! jq `error` refuses that record alone (with its key) while the rest of
//! the page maps, non-object outputs are refused, envelopes route and
//! delete, unmatched records pass or drop, and `check` reports a program
//! that does not compile in jq's words with the place in the program.

use serde_json::{Value, json};
use wharf::model::record::{Op, REJECTED_STREAM, Record, mapper_rejection};
use wharf::runtime::Session;

use crate::support::{load, runtime, session};

async fn jq(config: Value) -> Session {
    let rt = runtime();
    let connector = load(&rt, "jq").await;
    session(&rt, &connector, config, &[], &[], &[])
}

fn record(stream: &str, key: &str, data: Value) -> Record {
    Record::new(stream, Some(key.into()), Op::Upsert, data.to_string()).unwrap()
}

fn data(r: &Record) -> Value {
    serde_json::from_str(r.data.get()).unwrap()
}

/// Xero's bank transactions, as the `xero` source emits them.
fn bank(id: &str, lines: &[(&str, f64)]) -> Record {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(code, amount)| json!({"AccountCode": code, "LineAmount": amount, "Description": "fuel"}))
        .collect();
    record(
        "bank_transactions",
        id,
        json!({"BankTransactionID": id, "Type": "SPEND", "Date": "2026-11-02", "LineItems": lines, "CurrencyCode": "EUR"}),
    )
}

fn emissions_config() -> Value {
    json!({
        "lookups": {"factors": {"449": {"kg_per_eur": 0.52, "scope": 1}, "445": {"kg_per_eur": 0.233, "scope": 2}}},
        "rules": [{
            "stream": "bank_transactions",
            "output_stream": "emissions",
            "key": "/id",
            "program": r#"
                .BankTransactionID as $tx
                | .LineItems | to_entries[]
                | .key as $n | .value
                | ($factors[.AccountCode] // error("no emission factor for account \(.AccountCode) (transaction \($key))")) as $f
                | {id: "\($tx)/\($n)", account: .AccountCode, eur: .LineAmount,
                   kg_co2e: (.LineAmount * $f.kg_per_eur * 1000 | round / 1000), scope: $f.scope, source: $stream}
            "#
        }],
        "unmatched": "drop"
    })
}

#[tokio::test]
async fn jq_maps_splits_and_refuses_record_by_record() {
    let mapper = jq(emissions_config()).await;
    mapper.check().await.unwrap();
    let input = vec![
        bank("tx-1", &[("449", 100.0), ("445", 20.0)]),
        bank("tx-2", &[("999", 5.0)]),
        bank("tx-3", &[("445", 10.0)]),
        record("contacts", "c-1", json!({"Name": "ACME"})),
    ];
    let out = mapper.map(&input).await.unwrap();
    let (mapped, refused): (Vec<&Record>, Vec<&Record>) =
        out.iter().partition(|r| r.stream != REJECTED_STREAM);
    let rows: Vec<(String, Value)> = mapped
        .iter()
        .map(|r| (r.key.clone().unwrap(), data(r)))
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(mapped.iter().all(|r| r.stream == "emissions"));
    assert_eq!(rows[0].0, "tx-1/0");
    assert_eq!(rows[0].1["kg_co2e"], json!(52.0));
    assert_eq!(rows[0].1["scope"], json!(1));
    assert_eq!(rows[0].1["source"], json!("bank_transactions"));
    assert_eq!(rows[1].1["kg_co2e"], json!(4.66));
    assert_eq!(rows[2].0, "tx-3/0");
    // tx-2 refused alone, with its key and the program's own words; the
    // contact matched no rule and was dropped.
    assert_eq!(refused.len(), 1);
    let error = mapper_rejection(refused[0]).unwrap();
    assert_eq!(error.row, "tx-2");
    assert_eq!(error.stream, "bank_transactions");
    assert_eq!(
        error.message,
        "no emission factor for account 999 (transaction tx-2)"
    );
}

#[tokio::test]
async fn jq_refuses_outputs_that_are_not_records_and_keeps_split_records_whole() {
    let mapper = jq(json!({"rules": [
        {"stream": "numbers", "program": ".n"},
        {"stream": "pairs", "program": "{a: .a}, (if .bad then 1 else {b: .a} end)"},
        {"stream": "*", "program": "."}
    ]}))
    .await;
    let out = mapper
        .map(&[
            record("numbers", "n1", json!({"n": 1})),
            record("pairs", "p1", json!({"a": 1})),
            record("pairs", "p2", json!({"a": 2, "bad": true})),
            record("other", "o1", json!({"x": "y"})),
        ])
        .await
        .unwrap();
    let summary: Vec<(String, Option<String>)> = out
        .iter()
        .map(|r| (r.stream.clone(), r.key.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (REJECTED_STREAM.to_string(), Some("n1".into())),
            ("pairs".into(), Some("p1#0".into())),
            ("pairs".into(), Some("p1#1".into())),
            (REJECTED_STREAM.to_string(), Some("p2".into())),
            ("other".into(), Some("o1".into())),
        ]
    );
    assert_eq!(
        mapper_rejection(&out[0]).unwrap().message,
        "the program output a number, not an object"
    );
    assert_eq!(data(&out[4]), json!({"x": "y"}));
}

#[tokio::test]
async fn jq_envelopes_route_and_delete() {
    let mapper = jq(json!({"rules": [{
        "stream": "invoices",
        "envelope": true,
        "program": r#"if .Status == "DELETED" then {op: "delete", key: .InvoiceID, stream: "invoices"}
                      else {stream: (if .Type == "ACCREC" then "sales" else "purchases" end), key: .InvoiceNumber,
                            data: {number: .InvoiceNumber, total: .Total, date: (.DateString[:10])}} end"#
    }]}))
    .await;
    let out = mapper
        .map(&[
            record("invoices", "a", json!({"InvoiceID": "a", "InvoiceNumber": "INV-1", "Type": "ACCREC", "Total": 115.5, "Status": "AUTHORISED", "DateString": "2026-11-02T00:00:00"})),
            record("invoices", "b", json!({"InvoiceID": "b", "InvoiceNumber": "BILL-7", "Type": "ACCPAY", "Total": 12, "Status": "PAID", "DateString": "2026-10-30T00:00:00"})),
            record("invoices", "c", json!({"InvoiceID": "c", "Status": "DELETED"})),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(
        (out[0].stream.as_str(), out[0].key.as_deref()),
        ("sales", Some("INV-1"))
    );
    assert_eq!(
        data(&out[0]),
        json!({"number": "INV-1", "total": 115.5, "date": "2026-11-02"})
    );
    assert_eq!(out[1].stream, "purchases");
    assert_eq!(data(&out[1])["total"], json!(12));
    assert_eq!((out[2].op, out[2].key.as_deref()), (Op::Delete, Some("c")));
}

#[tokio::test]
async fn jq_check_reports_programs_that_do_not_compile() {
    for (config, expected) in [
        (
            json!({"rules": [{"stream": "s", "program": ".a |\n  map(.b"}]}),
            "rules[0] (s): the jq program does not parse",
        ),
        (
            json!({"rules": [{"stream": "s", "program": "$rates[.code]"}]}),
            "undefined variable `$rates` at line 1, column 1",
        ),
        (
            json!({"rules": [{"stream": "s", "program": "frobnicate(.)"}]}),
            "undefined filter `frobnicate`",
        ),
        (
            json!({"lookups": {"key": {}}, "rules": [{"stream": "s", "program": "."}]}),
            "`key` is taken",
        ),
        (
            json!({"lookups": {"bad-name": {}}, "rules": [{"stream": "s", "program": "."}]}),
            "cannot be a jq variable",
        ),
        (json!({"rules": []}), "`rules` is empty"),
    ] {
        let mapper = jq(config.clone()).await;
        let error = mapper.check().await.unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{config}: expected {expected:?} in {error:?}"
        );
    }
    // A lookup table named in the program compiles once it exists.
    jq(json!({"lookups": {"rates": {"a": 1}}, "rules": [{"stream": "s", "program": "$rates[.code]"}]}))
        .await
        .check()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_source_cannot_forge_a_mappers_refusals() {
    use axum::Router;
    use axum::routing::get;

    use crate::support::Upstream;

    let up = Upstream::start(Router::new().route(
        "/items",
        get(|| async {
            axum::Json(json!({"data": [{"id": 1, "stream": "bank", "message": "forged"}]}))
        }),
    ))
    .await;
    let rt = runtime();
    let connector = load(&rt, "http-json").await;
    let config = json!({"base_url": up.origin(), "streams": {REJECTED_STREAM: {"path": "/items", "records": "/data", "key": "id"}}});
    let source = session(
        &rt,
        &connector,
        config,
        &[&up.origin()],
        &["127.0.0.0/8"],
        &[],
    );
    let error = source.fetch(REJECTED_STREAM, None).await.unwrap_err();
    assert_eq!(error.kind(), "protocol", "{error}");
    assert!(error.to_string().contains("is the host's"), "{error}");
}

//! The `quickbooks` connector through `wharf serve` against a fake
//! QuickBooks Online built from Intuit's documentation: connected by the
//! authorization code flow (the company's `realmId` from the callback
//! names every call), every stream read in full by query pages ordered by
//! `MetaData.LastUpdatedTime` (a throttled call waited out), then by change
//! data capture after the access token expired (an edit, a deletion, a new
//! customer; no query); invoices and a bill created from another source
//! with `requestid`s, an invoice without a customer refused in Intuit's
//! words, a stale `SyncToken` read again, the same batch sent twice
//! writing nothing new; signed webhooks read back into records, forged
//! ones refused; and no secret or token in a record, a log or a check.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::quickbooks::{self, CLIENT_ID, CLIENT_SECRET, REALM, VERIFIER_TOKEN};
use crate::support::Upstream;

const STREAMS: [&str; 5] = ["invoices", "bills", "customers", "vendors", "accounts"];
const ENTITIES: [&str; 5] = ["Invoice", "Bill", "Customer", "Vendor", "Account"];

fn config(api: &Upstream) -> Value {
    json!({"base_url": api.origin(), "auth_url": api.url("/connect/oauth2"),
        "token_url": api.url("/oauth2/v1/tokens/bearer"), "page_size": 10})
}

/// A statement in one spelling: lower case, `order by` in two words
/// (Intuit reads keywords in any case, and `ORDERBY` as one).
fn spelled(statement: &str) -> String {
    statement
        .to_ascii_lowercase()
        .replace("orderby", "order by")
}

/// Wait until the records of `stream` with key `key` satisfy `ok`.
async fn eventually(
    wharf: &Wharf,
    sync: &str,
    stream: &str,
    key: &str,
    ok: impl Fn(&[Value]) -> bool,
) {
    for _ in 0..100 {
        let records = wharf.records_where(sync, stream, key).await;
        let mine: Vec<Value> = records.into_iter().filter(|r| r["key"] == key).collect();
        if ok(&mine) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{stream} {key} never came as expected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickbooks_query_then_cdc_idempotent_writes_and_webhooks() {
    let (api, fake) = quickbooks::start(quickbooks::company()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("quickbooks").await;
    let conn = wharf
        .connection(
            "quickbooks",
            &connector,
            config(&api),
            json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET,
                "webhook_secret": VERIFIER_TOKEN}),
        )
        .await;
    wharf.connect_oauth(&conn).await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    {
        // The realmId of the callback is the company the check read.
        let f = fake.lock().unwrap();
        let info = format!("/v3/company/{REALM}/companyinfo/{REALM}?");
        assert!(
            f.seen
                .iter()
                .any(|s| s.uri.starts_with(&info) && s.status == 200)
        );
    }
    let streams = wharf.discover(&conn).await;
    for name in STREAMS {
        let stream = streams.iter().find(|s| s["name"] == name).expect(name);
        assert_eq!(stream["key_field"], "Id", "{stream}");
    }

    // Every stream in full, ten at a time; the first call is throttled
    // (Intuit sends no Retry-After; the fake adds one so the test is short).
    {
        let mut f = fake.lock().unwrap();
        f.throttle_next = 1;
        f.retry_after = Some(1);
        // An inactive customer is still read (a plain query would skip it).
        let id = f.all("Customer")[3]["Id"].as_str().unwrap().to_string();
        f.edit("Customer", &id, "Active", json!(false));
    }
    let sync = wharf
        .sync(
            json!({"name": "qbo-books", "source": conn, "streams": STREAMS, "mode": "incremental",
            "destination": "records"}),
        )
        .await;
    let first = wharf.run(&sync).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    for (stream, entity) in STREAMS.into_iter().zip(ENTITIES) {
        let expected = fake.lock().unwrap().all(entity).to_vec();
        let records = wharf.records(&sync, stream).await;
        assert_eq!(records.len(), expected.len(), "{stream}");
        for e in &expected {
            let r = records.iter().find(|r| r["key"] == e["Id"]);
            assert_eq!(r.map(|r| &r["data"]), Some(e), "{stream} {}", e["Id"]);
        }
    }
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert!(f.max_in_flight <= 10, "{}", f.max_in_flight);
        let api_calls = f.seen.iter().filter(|s| s.uri.starts_with("/v3/"));
        let company = format!("/v3/company/{REALM}/");
        assert!(api_calls.clone().all(|s| s.uri.starts_with(&company)));
        // Waited out: the same request again, a second later.
        let calls: Vec<_> = api_calls.collect();
        let throttled = calls.iter().position(|s| s.status == 429).expect("a 429");
        let refused = calls[throttled];
        let later = calls[throttled + 1..].iter().find(|s| s.uri == refused.uri);
        let again = later.expect("the throttled request again");
        assert_eq!(again.status, 200);
        assert!(again.at - refused.at >= Duration::from_millis(900));
        // Invoices: three pages; 115 and 116 share a time across the first
        // boundary, so the second page starts at that time and drops 115
        // (read already) by its Id; the third drops its first row likewise.
        let invoices = |q: &&(String, usize)| spelled(&q.0).contains(" from invoice ");
        let pages: Vec<&(String, usize)> = f.queries.iter().filter(invoices).collect();
        let rows: Vec<usize> = pages.iter().map(|q| q.1).collect();
        assert_eq!(rows, [10, 10, 7], "{pages:?}");
        assert_eq!(
            spelled(&pages[0].0),
            "select * from invoice order by metadata.lastupdatedtime startposition 1 maxresults 10"
        );
        let t115 = &f.find("Invoice", "115").unwrap()["MetaData"]["LastUpdatedTime"];
        let page_two = format!(
            "select * from invoice where metadata.lastupdatedtime >= '{}' order by \
             metadata.lastupdatedtime startposition 1 maxresults 10",
            t115.as_str().unwrap().to_ascii_lowercase()
        );
        assert_eq!(spelled(&pages[1].0), page_two);
        assert!(f.cdc.is_empty(), "a first read is by query");
    }

    // An hour later: the token expired; an invoice edited, a bill deleted,
    // a customer added. Change data capture brings exactly those.
    let (refreshes, customer) = {
        let mut f = fake.lock().unwrap();
        f.edit(
            "Invoice",
            "115",
            "PrivateNote",
            json!("Edited in QuickBooks"),
        );
        f.remove("Bill", "20");
        let added = f.add(
            "Customer",
            json!({"DisplayName": "Harbor Lights Cafe", "PrimaryEmailAddr": {"Address": "cafe@example.com"}}),
        );
        f.expire_access_tokens();
        f.queries.clear();
        (f.refreshes, added["Id"].as_str().unwrap().to_string())
    };
    let second = wharf.run(&sync).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    let counters = &second["counters"];
    let moved = ["created", "updated", "deleted"].map(|k| counters[k].as_i64());
    assert_eq!(moved, [Some(1), Some(1), Some(1)], "{second}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(
            f.refreshes,
            refreshes + 1,
            "the expired token was refreshed"
        );
        assert!(f.seen.iter().any(|s| s.status == 401));
        assert!(
            f.queries.is_empty(),
            "no query after a first read: {:?}",
            f.queries
        );
        let mut entities: Vec<&str> = f.cdc.iter().map(|c| c.0.as_str()).collect();
        entities.sort_unstable();
        let mut wanted = ENTITIES;
        wanted.sort_unstable();
        assert_eq!(entities, wanted, "one CDC call a stream");
        assert!(f.cdc.iter().all(|c| quickbooks::parse_time(&c.1).is_some()));
        assert_eq!(f.violations, Vec::<String>::new());
    }
    let invoices = wharf.records(&sync, "invoices").await;
    let edited = invoices.iter().find(|r| r["key"] == "115").unwrap();
    assert_eq!(edited["data"]["PrivateNote"], "Edited in QuickBooks");
    assert_eq!(edited["data"]["SyncToken"], "1");
    let bills = wharf.records(&sync, "bills").await;
    assert_eq!(bills.len(), 11);
    assert!(
        bills.iter().all(|r| r["key"] != "20"),
        "the deleted bill is gone"
    );
    let customers = wharf.records(&sync, "customers").await;
    assert!(
        customers.iter().any(
            |r| r["key"] == json!(customer) && r["data"]["DisplayName"] == "Harbor Lights Cafe"
        )
    );

    // QuickBooks as a destination: two invoices and a bill created, one
    // invoice without a customer refused, an update with the SyncToken
    // read before invoice 115 was edited.
    let line = |amount: f64, item: &str| {
        json!({"DetailType": "SalesItemLineDetail", "Amount": amount, "Description": "Design work",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": amount}})
    };
    let data = json!({
        "invoices": [
            {"CustomerRef": {"value": "1"}, "DocNumber": "W-1001", "TxnDate": "2024-05-02", "Line": [line(100.0, "4")]},
            {"CustomerRef": {"value": "24"}, "DocNumber": "W-1002", "Line": [line(275.0, "5"), line(12.75, "11")]},
            {"DocNumber": "W-1003", "Line": [line(50.0, "4")]},
            {"Id": "115", "SyncToken": "0", "sparse": true, "PrivateNote": "Updated from Wharf"},
        ],
        "bills": [{"VendorRef": {"value": "46"}, "TxnDate": "2024-05-02", "Line": [{"DetailType":
            "AccountBasedExpenseLineDetail", "Amount": 200.0,
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7"}}}]}],
    });
    let shop = Upstream::start(Router::new().route(
        "/{what}",
        get(move |Path(what): Path<String>| {
            let data = data.clone();
            async move { axum::Json(data[what].clone()) }
        }),
    ))
    .await;
    let http_json = wharf.upload("http-json").await;
    let source = wharf
        .connection(
            "orders",
            &http_json,
            json!({"base_url": shop.origin(), "streams": {"invoices": {"path": "/invoices"},
                "bills": {"path": "/bills"}}}),
            json!({}),
        )
        .await;
    let push = wharf
        .sync(
            json!({"name": "to-quickbooks", "source": source, "streams": ["invoices", "bills"],
            "mode": "full", "destination": conn, "error_threshold": 5}),
        )
        .await;
    let (invoices_before, bills_before) = {
        let f = fake.lock().unwrap();
        (f.all("Invoice").len(), f.all("Bill").len())
    };
    let third = wharf.run(&push).await;
    assert_eq!(third["status"], "succeeded", "{third}");
    let moved = ["created", "updated", "rejected"].map(|k| third["counters"][k].as_i64());
    assert_eq!(moved, [Some(3), Some(1), Some(1)], "{third}");
    let rejected = wharf.rejected(&third).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let why = rejected[0]["message"].as_str().unwrap();
    assert!(
        why.contains("Required param missing") && why.contains("CustomerRef"),
        "Intuit's words: {why}"
    );
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.all("Invoice").len(), invoices_before + 2);
        assert_eq!(f.all("Bill").len(), bills_before + 1);
        let by_number = |n: &str| {
            let found = f.all("Invoice").iter().find(|i| i["DocNumber"] == n);
            found.cloned().unwrap_or_default()
        };
        let (one, two) = (by_number("W-1001"), by_number("W-1002"));
        assert_eq!(one["CustomerRef"]["value"], "1");
        assert_eq!(one["TotalAmt"], 100.0);
        assert_eq!(two["CustomerRef"]["value"], "24");
        assert_eq!(two["TotalAmt"], 287.75);
        assert_eq!(two["SyncToken"], "0");
        assert!(by_number("W-1003").is_null(), "refused, not written");
        let bill = f.all("Bill").last().unwrap();
        assert_eq!(bill["VendorRef"]["value"], "46");
        assert_eq!(bill["TotalAmt"], 200.0);
        let updated = f.find("Invoice", "115").unwrap();
        assert_eq!(updated["PrivateNote"], "Updated from Wharf");
        assert_eq!(updated["SyncToken"], "2", "stale, read again, then saved");
        assert_eq!(
            updated["DocNumber"], "1022",
            "a sparse update keeps the rest"
        );
        let codes: Vec<&str> = f.faults.iter().map(|x| x.1.as_str()).collect();
        assert!(
            codes.contains(&"5010") && codes.contains(&"2020"),
            "{codes:?}"
        );
        assert_eq!(f.violations, Vec::<String>::new());
    }

    // The same batch again: every create is answered from its requestid.
    let (writes, replayed) = {
        let f = fake.lock().unwrap();
        (f.writes.len(), f.replayed.len())
    };
    let fourth = wharf.run(&push).await;
    assert_eq!(fourth["status"], "succeeded", "{fourth}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(
            f.all("Invoice").len(),
            invoices_before + 2,
            "nothing created twice"
        );
        assert_eq!(f.all("Bill").len(), bills_before + 1);
        let created = f.writes[writes..]
            .iter()
            .filter(|w| w.0 == "create")
            .count();
        assert_eq!(created, 0, "{:?}", &f.writes[writes..]);
        assert!(
            f.replayed.len() - replayed >= 4,
            "{:?}",
            &f.replayed[replayed..]
        );
        assert!(f.replayed.iter().all(|r| r.len() <= 50));
    }

    // Webhooks: an edit and a deletion notified, signed with the verifier
    // token; a forged or unsigned delivery refused.
    let hook = wharf.webhook(&conn).await;
    fake.lock().unwrap().edit(
        "Invoice",
        "110",
        "CustomerMemo",
        json!({"value": "Edited, then notified"}),
    );
    let body = quickbooks::event(REALM, "Invoice", "110", "Update");
    let signed = |b: &[u8]| vec![("intuit-signature", quickbooks::sign(b))];
    let a = wharf.deliver(&hook, &signed(&body), &body).await;
    assert!(a.status.is_success(), "{}: {}", a.status, a.text);
    eventually(&wharf, &sync, "invoices", "110", |r| {
        r.iter()
            .any(|r| r["data"]["CustomerMemo"]["value"] == "Edited, then notified")
    })
    .await;
    fake.lock().unwrap().remove("Invoice", "111");
    let gone = quickbooks::event(REALM, "Invoice", "111", "Delete");
    let a = wharf.deliver(&hook, &signed(&gone), &gone).await;
    assert!(a.status.is_success(), "{}: {}", a.status, a.text);
    eventually(&wharf, &sync, "invoices", "111", <[Value]>::is_empty).await;
    let forged = vec![("intuit-signature", quickbooks::sign(b"another body"))];
    let a = wharf.deliver(&hook, &forged, &body).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = wharf.deliver(&hook, &[], &body).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "unsigned");
    assert_eq!(fake.lock().unwrap().violations, Vec::<String>::new());

    // No secret or token in a record, a run's log or the check's answer.
    let mut everything = check.text.clone();
    for run in [&first, &second, &third, &fourth] {
        let id = run["id"].as_str().unwrap();
        everything.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
    }
    for stream in STREAMS {
        let records = wharf.records(&sync, stream).await;
        everything.push_str(&serde_json::to_string(&records).unwrap());
    }
    let issued = fake.lock().unwrap().issued.clone();
    assert!(issued.len() >= 4, "a grant and a refresh");
    for secret in issued
        .iter()
        .map(String::as_str)
        .chain([CLIENT_SECRET, VERIFIER_TOKEN])
    {
        assert!(!everything.contains(secret), "a secret leaked");
    }
}

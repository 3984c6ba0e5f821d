//! The `sap-b1` connector through `wharf serve` against a fake SAP
//! Business One Service Layer served over HTTPS with a certificate of its
//! own CA, as on-premises installations are: refused until an
//! administrator adds that CA to the connection's grants, then the host's
//! login session (`B1SESSION` and `ROUTEID` cookies), the default entity
//! sets discovered, a full pass paged by the next link with `Prefer:
//! odata.maxpagesize`, an incremental pass by `UpdateDate` (and by number
//! for journal entries and payments) during which SAP ends the session
//! (`401`, "Invalid session") and the host logs in again, documents and
//! business partners created and patched from records with SAP's refusals
//! as rejections, and the logout when the connection is deleted. A second
//! test speaks OData v3 at `/b1s/v1`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::sap_b1::{self, COMPANY_DB, PASSWORD, USERNAME};
use crate::support::Upstream;

const STREAMS: [&str; 6] = [
    "BusinessPartners",
    "Items",
    "Orders",
    "JournalEntries",
    "ChartOfAccounts",
    "IncomingPayments",
];

fn secrets(password: &str) -> Value {
    json!({"username": USERNAME, "password": password})
}

/// Trust the Service Layer's CA for `conn`, as an administrator does.
async fn trust(wharf: &Wharf, conn: &str, ca: &str) {
    let a = wharf
        .call(
            "PATCH",
            &format!("/api/v1/connections/{conn}"),
            Some(json!({"grants": {"networks": ["127.0.0.0/8"], "tls_ca": ca}})),
        )
        .await;
    assert!(a.status.is_success(), "{}", a.text);
}

/// The `$filter` the fake last saw for `set`.
fn last_filter(b1: &sap_b1::Shared, set: &str) -> Option<String> {
    let f = b1.lock().unwrap();
    f.filters
        .iter()
        .rev()
        .find(|(s, _)| s == set)
        .map(|(_, f)| f.clone())
}

/// A plain JSON endpoint serving records for the destination test.
async fn shop(partners: Vec<Value>, orders: Vec<Value>) -> Upstream {
    Upstream::start(
        Router::new()
            .route(
                "/partners",
                get(move || async move { axum::Json(partners) }),
            )
            .route("/orders", get(move || async move { axum::Json(orders) })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sap_b1_behind_its_own_ca_reads_incrementally_and_writes_documents() {
    let sl = sap_b1::start("v2").await;
    let b1 = sl.b1.clone();
    let wharf = Wharf::start().await;
    let connector = wharf.upload("sap-b1").await;
    let config = json!({"base_url": sl.origin, "company_db": COMPANY_DB, "page_size": 2,
        "select": {"Items": ["ItemCode", "ItemName"]}});
    let conn = wharf
        .connection("b1", &connector, config.clone(), secrets(PASSWORD))
        .await;

    // The certificate's CA is not trusted yet: the handshake is refused and
    // no login reaches SAP.
    let a = wharf.check(&conn).await;
    assert_eq!(a.json["ok"], false, "{}", a.text);
    assert!(a.text.contains("login failed"), "{}", a.text);
    assert_eq!(b1.lock().unwrap().logins, 0);
    // The fake sees the broken-off handshake as the client gives up.
    for _ in 0..50 {
        if sl.refused_handshakes.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(sl.refused_handshakes.load(Ordering::SeqCst) >= 1);

    // The administrator adds the CA: the same check logs in and reads.
    trust(&wharf, &conn, &sl.ca_pem).await;
    let a = wharf.check(&conn).await;
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(b1.lock().unwrap().logins, 1);

    // Wrong credentials: an authentication error in SAP's words, without
    // the password.
    let wrong = wharf
        .connection(
            "b1-wrong",
            &connector,
            config.clone(),
            secrets("nope-B1-123"),
        )
        .await;
    trust(&wharf, &wrong, &sl.ca_pem).await;
    let a = wharf.check(&wrong).await;
    assert_eq!(a.json["kind"], "auth", "{}", a.text);
    assert!(a.text.contains("Login failed"), "SAP's words: {}", a.text);
    assert!(!a.text.contains("nope-B1-123"), "{}", a.text);
    assert_eq!(b1.lock().unwrap().refused_logins, 1);

    // The default entity sets, each asked of the Service Layer.
    let streams = wharf.discover(&conn).await;
    let names: Vec<&str> = streams.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "BusinessPartners",
            "Items",
            "Orders",
            "Invoices",
            "PurchaseInvoices",
            "PurchaseOrders",
            "JournalEntries",
            "ChartOfAccounts",
            "DeliveryNotes",
            "CreditNotes",
            "IncomingPayments",
            "VendorPayments"
        ]
    );
    assert_eq!(streams[0]["key_field"], "CardCode");
    assert_eq!(streams[0]["cursor_field"], "UpdateDate");
    assert_eq!(streams[2]["key_field"], "DocEntry");
    assert_eq!(streams[6]["key_field"], "JdtNum");
    assert_eq!(streams[6]["cursor_field"], "JdtNum");
    assert_eq!(streams[7]["cursor_field"], Value::Null);

    // A full first pass, two entities a page.
    let sync = wharf
        .sync(
            json!({"name": "b1-books", "source": conn, "streams": STREAMS,
            "mode": "incremental", "destination": "records"}),
        )
        .await;
    let mark = b1.lock().unwrap().seen.len();
    let first = wharf.run(&sync).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let expected: Vec<usize> = {
        let f = b1.lock().unwrap();
        STREAMS.iter().map(|s| f.rows(s).len()).collect()
    };
    for (stream, n) in STREAMS.iter().zip(expected) {
        assert_eq!(wharf.records_all(&sync, stream).await, n, "{stream}");
    }
    {
        let f = b1.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        let pages = f.pages("BusinessPartners", mark);
        assert_eq!(pages.len(), 3, "five partners, two a page");
        assert!(
            pages
                .iter()
                .all(|p| p.prefer.as_deref() == Some("odata.maxpagesize=2"))
        );
        let skip = |p: &sap_b1::Seen| {
            p.query
                .iter()
                .find(|(k, _)| k == "$skip")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(skip(pages[0]), None);
        assert_eq!(skip(pages[1]).as_deref(), Some("2"), "the next link");
        assert_eq!(skip(pages[2]).as_deref(), Some("4"));
        assert!(pages.iter().all(|p| {
            p.query
                .iter()
                .any(|(k, v)| k == "$orderby" && v == "CardCode")
        }));
        assert!(
            f.filters.is_empty(),
            "a first pass reads everything: {:?}",
            f.filters
        );
    }
    let partners = wharf.records(&sync, "BusinessPartners").await;
    let norm = partners.iter().find(|r| r["key"] == "C20000").unwrap();
    assert_eq!(norm["data"]["CardName"], "Norm Thompson");
    assert_eq!(norm["data"]["UpdateTime"], "16:40:10");
    let items = wharf.records(&sync, "Items").await;
    let fields: BTreeSet<&str> = items[0]["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["ItemCode", "ItemName", "UpdateDate", "UpdateTime"]),
        "$select, with the stamps the cursor needs"
    );
    let orders = wharf.records(&sync, "Orders").await;
    let two = orders.iter().find(|r| r["key"] == "2").unwrap();
    assert_eq!(two["data"]["DocumentLines"].as_array().unwrap().len(), 2);
    assert_eq!(two["data"]["DocumentLines"][1]["ItemCode"], "A00004");

    // SAP changes; the session ends in the middle of the next pass.
    {
        let mut f = b1.lock().unwrap();
        f.touch(
            "BusinessPartners",
            &json!("C30000"),
            "Phone1",
            json!("508-555-0999"),
        );
        f.add(
            "Orders",
            json!({"DocEntry": 4, "DocNum": 4, "DocType": "dDocument_Items", "DocDate": "2026-12-07T00:00:00Z",
                "DocDueDate": "2026-12-14T00:00:00Z", "CardCode": "C40000", "CardName": "Earthshaker Corporation",
                "NumAtCard": "PO-4714", "DocTotal": 800.0, "DocCurrency": "$", "Comments": null,
                "DocumentStatus": "bost_Open", "Cancelled": "tNO", "CreationDate": "2026-12-07T00:00:00Z",
                "DocumentLines": [sap_b1::line(0, "A00001", "J.B. Officeprint 1420", 2.0, 400.0)]}),
        );
        f.add(
            "JournalEntries",
            json!({"JdtNum": 4, "Number": 4, "ReferenceDate": "2026-12-07T00:00:00Z", "DueDate": "2026-12-07T00:00:00Z",
                "TaxDate": "2026-12-07T00:00:00Z", "Memo": "Incoming Payment - C30000", "Reference": "4",
                "JournalEntryLines": [
                    {"Line_ID": 0, "AccountCode": "_SYS00000000001", "Debit": 1250.0, "Credit": 0.0, "LineMemo": "Cash"},
                    {"Line_ID": 1, "AccountCode": "_SYS00000000002", "Debit": 0.0, "Credit": 1250.0, "LineMemo": "Receivable"}]}),
        );
        // A payment read by the first pass is cancelled since: same
        // DocEntry, `Cancelled` turns `tYES`.
        let payment = f
            .sets
            .get_mut("IncomingPayments")
            .and_then(|p| p.iter_mut().find(|p| p["DocEntry"] == 1))
            .expect("payment 1");
        payment["Cancelled"] = json!("tYES");
        f.expire_after(3);
    }
    let logins = b1.lock().unwrap().logins;
    let mark = b1.lock().unwrap().seen.len();
    let second = wharf.run(&sync).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    {
        let f = b1.lock().unwrap();
        assert_eq!(f.logins, logins + 1, "logged in again after SAP's 401");
        assert!(f.seen[mark..].iter().any(|s| s.status == 401));
        assert!(f.invalid_session >= 1);
        assert_eq!(f.violations, Vec::<String>::new());
    }
    // From the day of the newest change less the lookback; by number for
    // journal entries and payments; the chart of accounts whole.
    assert_eq!(
        last_filter(&b1, "BusinessPartners").as_deref(),
        Some("UpdateDate ge 2026-12-02")
    );
    assert_eq!(
        last_filter(&b1, "Orders").as_deref(),
        Some("UpdateDate ge 2026-12-02")
    );
    assert_eq!(
        last_filter(&b1, "JournalEntries").as_deref(),
        Some("JdtNum gt 3")
    );
    // Payments: the new ones by number, then the cancelled ones again.
    assert_eq!(
        last_filter(&b1, "IncomingPayments").as_deref(),
        Some("Cancelled eq 'tYES' and DocEntry le 2")
    );
    let payments = wharf.records(&sync, "IncomingPayments").await;
    let cancelled = payments.iter().find(|r| r["key"] == "1").unwrap();
    assert_eq!(cancelled["data"]["Cancelled"], "tYES");
    assert_eq!(last_filter(&b1, "ChartOfAccounts"), None);
    let partners = wharf.records(&sync, "BusinessPartners").await;
    let chips = partners.iter().find(|r| r["key"] == "C30000").unwrap();
    assert_eq!(chips["data"]["Phone1"], "508-555-0999");
    assert_eq!(chips["data"]["UpdateDate"], "2026-12-07T00:00:00Z");
    assert_eq!(wharf.records_all(&sync, "Orders").await, 4);
    assert!(
        wharf
            .records(&sync, "JournalEntries")
            .await
            .iter()
            .any(|r| r["key"] == "4")
    );
    let moved = second["counters"]["created"].as_i64().unwrap_or(0)
        + second["counters"]["updated"].as_i64().unwrap_or(0);
    assert!(
        (3..=6).contains(&moved),
        "the changes, and the last pass's newest again: {second}"
    );

    // As a destination: partners patched or created by CardCode, orders
    // created (SAP numbers them) or patched by DocEntry; SAP's refusals
    // rejected with its words.
    let source = shop(
        vec![
            json!({"CardCode": "C30000", "CardName": "Microchips Inc.", "Phone1": "508-555-0333"}),
            json!({"CardCode": "C50000", "CardName": "Bluestone Traders", "CardType": "cCustomer"}),
            json!({"CardCode": "C60000", "CardNme": "Typo Ltd", "CardType": "cCustomer"}),
        ],
        vec![
            json!({"NumAtCard": "WEB-1001", "CardCode": "C20000", "DocDueDate": "2026-12-20",
                "DocumentLines": [{"ItemCode": "A00001", "Quantity": 4, "UnitPrice": 380}]}),
            json!({"NumAtCard": "WEB-1002", "CardCode": "C20000", "DocDueDate": "2026-12-20",
                "DocumentLines": [{"ItemCode": "A00001", "Quantity": 1, "UnitPrice": 400},
                    {"ItemCode": "A00099", "Quantity": 1, "UnitPrice": 10}]}),
            json!({"DocEntry": 1, "NumAtCard": "PO-4711", "Comments": "Deliver to dock 3",
                "DocumentLines": [{"LineNum": 0, "Quantity": 3}]}),
        ],
    )
    .await;
    let http_json = wharf.upload("http-json").await;
    let shop_conn = wharf
        .connection(
            "shop",
            &http_json,
            json!({"base_url": source.origin(), "streams": {
                "BusinessPartners": {"path": "/partners", "key": "CardCode"},
                "Orders": {"path": "/orders", "key": "NumAtCard"}}}),
            json!({}),
        )
        .await;
    let to_b1 = wharf
        .sync(
            json!({"name": "to-b1", "source": shop_conn, "streams": ["BusinessPartners", "Orders"],
            "mode": "full", "destination": conn, "error_threshold": 5}),
        )
        .await;
    let mark = b1.lock().unwrap().seen.len();
    let pushed = wharf.run(&to_b1).await;
    assert_eq!(pushed["status"], "succeeded", "{pushed}");
    assert_eq!(pushed["counters"]["created"], 2, "{pushed}");
    assert_eq!(pushed["counters"]["updated"], 2, "{pushed}");
    let rejected = wharf.rejected(&pushed).await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let typo = rejected.iter().find(|r| r["key"] == "C60000").unwrap();
    let why = typo["message"].as_str().unwrap();
    assert!(
        why.contains("Property 'CardNme' of 'BusinessPartner' is invalid"),
        "{why}"
    );
    let item = rejected.iter().find(|r| r["key"] == "WEB-1002").unwrap();
    assert_eq!(item["field"], "RDR1.ItemCode");
    assert!(
        item["message"].as_str().unwrap().contains("'A00099'"),
        "{item}"
    );
    {
        let f = b1.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(
            f.row("BusinessPartners", &json!("C30000")).unwrap()["CardName"],
            "Microchips Inc."
        );
        assert_eq!(
            f.row("BusinessPartners", &json!("C50000")).unwrap()["CardName"],
            "Bluestone Traders"
        );
        assert!(f.row("BusinessPartners", &json!("C60000")).is_none());
        let created = f
            .row("Orders", &json!(5))
            .expect("SAP numbered the new order 5");
        assert_eq!(created["NumAtCard"], "WEB-1001");
        assert_eq!(created["CardName"], "Norm Thompson");
        assert_eq!(created["DocTotal"], 1520.0);
        let patched = f.row("Orders", &json!(1)).unwrap();
        assert_eq!(patched["Comments"], "Deliver to dock 3");
        assert_eq!(
            patched["DocumentLines"].as_array().unwrap().len(),
            1,
            "lines merged by LineNum"
        );
        assert_eq!(patched["DocumentLines"][0]["Quantity"], 3.0);
        assert_eq!(patched["DocumentLines"][0]["ItemCode"], "A00001");
        // Lines are merged, not replaced, unless the config says so.
        assert!(
            f.seen[mark..]
                .iter()
                .filter(|s| s.method == "PATCH")
                .all(|s| !s.replace_collections)
        );
        let writes: Vec<(String, String)> = f.seen[mark..]
            .iter()
            .filter(|s| s.method != "GET")
            .map(|s| (s.method.clone(), s.path.clone()))
            .collect();
        for expected in [
            ("PATCH", "BusinessPartners('C30000')"),
            ("PATCH", "BusinessPartners('C50000')"),
            ("POST", "BusinessPartners"),
            ("POST", "Orders"),
            ("PATCH", "Orders(1)"),
        ] {
            assert!(
                writes
                    .iter()
                    .any(|(m, p)| m == expected.0 && p == expected.1),
                "{expected:?} in {writes:?}"
            );
        }
    }

    // No password or session in any record, log or check answer.
    let issued = b1.lock().unwrap().issued.clone();
    assert!(!issued.is_empty());
    let mut everything = String::new();
    for run in [&first, &second, &pushed] {
        let id = run["id"].as_str().unwrap();
        everything.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
        everything.push_str(&run.to_string());
    }
    for stream in STREAMS {
        everything.push_str(&serde_json::to_string(&wharf.records(&sync, stream).await).unwrap());
    }
    everything.push_str(&wharf.check(&conn).await.text);
    assert!(!everything.contains(PASSWORD));
    for session in &issued {
        assert!(!everything.contains(session.as_str()), "a session leaked");
    }

    // Deleting the connection ends its session at the Service Layer.
    for s in [&sync, &to_b1] {
        let a = wharf
            .call("DELETE", &format!("/api/v1/syncs/{s}"), None)
            .await;
        assert!(a.status.is_success(), "{}", a.text);
    }
    let a = wharf
        .call("DELETE", &format!("/api/v1/connections/{conn}"), None)
        .await;
    assert!(a.status.is_success(), "{}", a.text);
    for _ in 0..100 {
        if !b1.lock().unwrap().logouts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let f = b1.lock().unwrap();
    assert_eq!(f.logouts.len(), 1, "{:?}", f.logouts);
    let last = f.issued.last().unwrap();
    assert!(
        f.logouts[0].contains(&format!("B1SESSION={last}")),
        "{:?}",
        f.logouts
    );
    assert!(f.logouts[0].contains("ROUTEID=.node1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sap_b1_speaks_odata_v3_at_b1s_v1() {
    let sl = sap_b1::start("v1").await;
    let b1 = sl.b1.clone();
    let wharf = Wharf::start().await;
    let connector = wharf.upload("sap-b1").await;
    let conn = wharf
        .connection(
            "b1-v1",
            &connector,
            json!({"base_url": sl.origin, "company_db": COMPANY_DB, "version": "v1", "page_size": 3,
                "entities": ["BusinessPartners", "Orders"]}),
            secrets(PASSWORD),
        )
        .await;
    trust(&wharf, &conn, &sl.ca_pem).await;
    assert_eq!(wharf.check(&conn).await.json["ok"], true);
    let names: Vec<String> = wharf
        .discover(&conn)
        .await
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, ["BusinessPartners", "Orders"]);

    let sync = wharf
        .sync(
            json!({"name": "b1-v1", "source": conn, "streams": ["BusinessPartners", "Orders"],
            "mode": "incremental", "destination": "records"}),
        )
        .await;
    let mark = b1.lock().unwrap().seen.len();
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(wharf.records_all(&sync, "BusinessPartners").await, 5);
    assert_eq!(wharf.records_all(&sync, "Orders").await, 3);
    assert_eq!(
        b1.lock().unwrap().pages("BusinessPartners", mark).len(),
        2,
        "odata.nextLink followed"
    );
    let partners = wharf.records(&sync, "BusinessPartners").await;
    let norm = partners.iter().find(|r| r["key"] == "C20000").unwrap();
    assert_eq!(norm["data"]["UpdateDate"], "2026-11-20");

    b1.lock().unwrap().touch(
        "BusinessPartners",
        &json!("C20000"),
        "CardName",
        json!("Norm Thompson Ltd."),
    );
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        last_filter(&b1, "BusinessPartners").as_deref(),
        Some("UpdateDate ge '2026-12-02'"),
        "OData v3 compares dates as quoted text"
    );
    let partners = wharf.records(&sync, "BusinessPartners").await;
    let norm = partners.iter().find(|r| r["key"] == "C20000").unwrap();
    assert_eq!(norm["data"]["CardName"], "Norm Thompson Ltd.");

    // SAP's v3 error shape becomes the rejection's message.
    let source = shop(
        vec![json!({"CardCode": "C70000", "CardNme": "Typo Ltd", "CardType": "cCustomer"})],
        Vec::new(),
    )
    .await;
    let http_json = wharf.upload("http-json").await;
    let shop_conn = wharf
        .connection(
            "shop-v1",
            &http_json,
            json!({"base_url": source.origin(), "streams": {
                "BusinessPartners": {"path": "/partners", "key": "CardCode"}}}),
            json!({}),
        )
        .await;
    let to_b1 = wharf
        .sync(
            json!({"name": "to-b1-v1", "source": shop_conn, "streams": ["BusinessPartners"],
            "mode": "full", "destination": conn, "error_threshold": 5}),
        )
        .await;
    let run = wharf.run(&to_b1).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let why = rejected[0]["message"].as_str().unwrap();
    assert!(
        why.contains("Property 'CardNme' of 'BusinessPartner' is invalid [SAP -1000]"),
        "{why}"
    );
    assert_eq!(b1.lock().unwrap().violations, Vec::<String>::new());
}

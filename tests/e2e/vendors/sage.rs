//! The `sage` connector through `wharf serve` against a fake Sage
//! Business Cloud Accounting (v3.1): connected by the authorization code
//! flow (the client in the token form, five-minute access tokens, refresh
//! tokens good once), a consent covering two businesses refused by `check`
//! with their names until one is chosen, every stream read in full by
//! `page`/`items_per_page` with `X-Business` on every call while an access
//! token expires mid-run and is refreshed, then incrementally by
//! `updated_or_created_since`; a spent refresh token refused; a business
//! the user lost fails the run as an authentication error. And a consent
//! covering one business, used without being named, a throttled call
//! waited out, and a token that expired between runs.
//!
//! The books are built here, with the fake's helpers: a UK chart of
//! accounts (Sage's default nominal codes), customers and suppliers, and
//! documents posted as Sage posts them (a transaction and two ledger
//! entries each).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::sage::{self, Business, CLIENT_ID, CLIENT_SECRET, Sage, link, merge};
use crate::support::Upstream;

const STREAMS: [&str; 13] = [
    "ledger_accounts",
    "transactions",
    "ledger_entries",
    "journals",
    "contacts",
    "sales_invoices",
    "sales_credit_notes",
    "purchase_invoices",
    "purchase_credit_notes",
    "contact_payments",
    "bank_accounts",
    "products",
    "tax_rates",
];

/// The chart: code, type, name.
const CHART: &str = "1100 CURRENT_ASSETS Debtors Control Account;1200 BANK Current;\
    2100 CURRENT_LIABILITY Creditors Control Account;2200 CURRENT_LIABILITY Sales Tax Control \
    Account;2201 CURRENT_LIABILITY Purchase Tax Control Account;3260 EQUITY Drawings;\
    4000 SALES Sales Type A;4010 SALES Sales Type B;5000 DIRECT_EXPENSES Cost of sales - goods;\
    7100 OVERHEADS Rent and rates;7500 OVERHEADS Office costs;\
    7900 OVERHEADS Bank charges and interest";
/// Contacts: C(ustomer) or V(endor), reference, name.
const PEOPLE: &str = "C BAY001 Bayside Club;C HAM001 Hamilton Smith Ltd;\
    C MAR001 Marine Systems;C SWA001 Swanston Security;V POR001 Port & Philip Freight;\
    V REX001 Rex Media Group;V YOU001 Young Bros Transport";
/// Documents: list, number prefix, how many, transaction type, the
/// accounts debited and credited, C or V.
const DOCUMENTS: &str = "sales_invoices SI 6 SALES_INVOICE 1100 4000 C;\
    purchase_invoices PI 4 PURCHASE_INVOICE 5000 2100 V;\
    sales_credit_notes SCN 1 SALES_CREDIT_NOTE 4000 1100 C;\
    purchase_credit_notes PCN 1 PURCHASE_CREDIT_NOTE 2100 5000 V;\
    contact_payments RCPT 2 CUSTOMER_RECEIPT 1200 1100 C;\
    contact_payments PAY 1 VENDOR_PAYMENT 2100 1200 V;journals JNL 2 JOURNAL 7100 2100 C";

/// `"a b rest of it"` as `["a", "b", "rest of it"]`.
fn split3(text: &str) -> [&str; 3] {
    let mut parts = text.trim().splitn(3, ' ');
    [(); 3].map(|()| parts.next().unwrap_or_default())
}

/// The `index`th business's books, every list of the connector in them.
fn books(index: usize, name: &str) -> Business {
    let mut bk = Business::new(index, name);
    let gbp = link("currencies", "GBP", "Pound Sterling (GBP)");
    let standard = link("tax_rates", "GB_STANDARD", "Standard 20.00%");
    let mut account = BTreeMap::new();
    for line in CHART.split(';') {
        let [code, ty, title] = split3(line);
        let fields = json!({"nominal_code": code.parse::<u32>().unwrap(), "name": title,
            "display_name": title, "included_in_chart": true, "tax_rate": standard,
            "ledger_account_type": link("ledger_account_types", ty, ty)});
        let shown = format!("{title} ({code})");
        account.insert(code, bk.add("ledger_accounts", &shown, fields));
    }
    for (code, title, pct) in [
        ("GB_STANDARD", "Standard", 20),
        ("GB_LOWER", "Lower Rate", 5),
    ] {
        let fields = json!({"name": title, "percentage": pct, "is_visible": true, "code": code});
        bk.add("tax_rates", &format!("{title} {pct}.00%"), fields);
    }
    let fields = json!({"nominal_code": 1200, "balance": 4210.5, "currency": gbp,
        "bank_account_details": {"account_name": "Current", "account_number": "12345678",
        "sort_code": "12-34-56"}, "ledger_account": account["1200"],
        "bank_account_type": link("bank_account_types", "CHECKING", "Current")});
    let bank = bk.add("bank_accounts", "Current (1200)", fields);
    let mut contacts: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for p in PEOPLE.split(';') {
        let [ty, reference, who] = split3(p);
        let kind = [("CUSTOMER", "Customer"), ("VENDOR", "Supplier")][usize::from(ty == "V")];
        let email = format!("accounts@{}.example", reference.to_lowercase());
        let fields = json!({"name": who, "reference": reference, "email": email,
            "contact_types": [link("contact_types", kind.0, kind.1)], "currency": gbp});
        let contact = bk.add("contacts", &format!("{who} ({reference})"), fields);
        contacts.entry(ty).or_default().push(contact);
    }
    for (code, what, price) in [
        ("PAPER-A4", "A4 paper", 4.5),
        ("TONER-K", "Toner, black", 62.0),
    ] {
        let fields = json!({"item_code": code, "description": what, "active": true,
            "sales_ledger_account": account["4000"], "purchase_ledger_account": account["5000"],
            "sales_prices": [{"price_name": "Selling Price", "price": price}]});
        bk.add("products", what, fields);
    }
    for doc in DOCUMENTS.split(';') {
        let words: Vec<&str> = doc.split_whitespace().collect();
        let [list, prefix, count, tx_type, debit, credit, who] = words[..] else {
            panic!("DOCUMENTS: {doc}");
        };
        let kind = link("transaction_types", tx_type, tx_type);
        for k in 0..count.parse::<usize>().unwrap() {
            let (number, contact) = (format!("{prefix}-{}", k + 1), &contacts[who][k % 3]);
            let net = 100.0 * (k as f64 + 1.0) + 25.0 * index as f64;
            let (tax, date) = (net * 0.2, format!("2024-03-{:02}", 2 + k));
            let line = json!([{"description": format!("{number} line"), "quantity": 1.0,
                "ledger_account": account[debit.max(credit)], "unit_price": net,
                "net_amount": net, "tax_amount": tax, "total_amount": net + tax,
                "tax_rate": standard}]);
            let unpaid = link("artefact_statuses", "UNPAID", "Unpaid");
            let transfer = link("payment_methods", "BANK_TRANSFER", "Bank Transfer");
            let mut fields = json!({"contact": contact, "date": date, "reference": number,
                "net_amount": net, "tax_amount": tax, "total_amount": net + tax,
                "currency": gbp});
            let own = match list {
                "sales_invoices" => json!({"invoice_number": number, "invoice_lines": line,
                    "outstanding_amount": net + tax, "status": unpaid}),
                "purchase_invoices" => json!({"vendor_reference": number, "status": unpaid,
                    "invoice_lines": line}),
                "contact_payments" => json!({"transaction_type": kind, "bank_account": bank,
                    "payment_method": transfer}),
                "journals" => json!({"description": "Rent accrual", "journal_lines": [
                    {"ledger_account": account[debit], "details": number, "debit": net,
                        "credit": 0},
                    {"ledger_account": account[credit], "details": number, "debit": 0,
                        "credit": net}]}),
                _ => json!({"credit_note_number": number, "credit_note_lines": line}),
            };
            merge(&mut fields, own);
            let origin = bk.add(list, &number, fields);
            let fields = json!({"date": date, "deleted": false, "reference": number,
                "total": net + tax, "transaction_type": kind, "origin": origin,
                "contact": contact});
            let tx = bk.add("transactions", &number, fields);
            let posted = bk.lists.get_mut(list).and_then(|l| l.last_mut()).unwrap();
            posted["transaction"] = tx.clone();
            for (acc, dr, cr) in [(debit, net + tax, 0.0), (credit, 0.0, net + tax)] {
                let fields = json!({"transaction": tx, "ledger_account": account[acc],
                    "transaction_type": kind, "date": date, "details": number,
                    "debit": dr, "credit": cr});
                bk.add("ledger_entries", &format!("{number} {acc}"), fields);
            }
        }
    }
    bk
}

/// A user who may open a bike shop (the lead) and a bakery.
fn two_businesses() -> Sage {
    Sage::new(vec![
        books(0, "Ridgeway Cycles Ltd"),
        books(1, "Harbour Bakery"),
    ])
}

fn config(api: &Upstream, extra: Value) -> Value {
    let mut c = json!({"base_url": api.origin(), "items_per_page": 5,
        "auth_url": api.url("/oauth2/auth/central"), "token_url": api.url("/token")});
    merge(&mut c, extra);
    c
}

/// A Sage connection, connected through the fake's consent page.
async fn connected(wharf: &Wharf, api: &Upstream) -> String {
    let connector = wharf.upload("sage").await;
    let secrets = json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET});
    let conn = wharf
        .connection("sage", &connector, config(api, json!({})), secrets)
        .await;
    wharf.connect_oauth(&conn).await;
    conn
}

/// Everything the runs' logs and the records hold, and what `check` said.
async fn everything(wharf: &Wharf, sync: &str, runs: &[&Value], said: &str) -> String {
    let mut all = said.to_string();
    for run in runs {
        let id = run["id"].as_str().unwrap();
        all.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
    }
    for stream in STREAMS {
        all.push_str(&serde_json::to_string(&wharf.records(sync, stream).await).unwrap());
    }
    all
}

/// The API calls answered (not `/businesses`).
fn api_calls(f: &Sage) -> Vec<&sage::Seen> {
    let api = |s: &&sage::Seen| s.uri.starts_with("/v3.1/") && !s.uri.contains("/businesses");
    f.seen.iter().filter(api).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sage_books_paged_refreshed_mid_run_then_by_updated_or_created_since() {
    let (api, fake) = sage::start(two_businesses()).await;
    let (business, other) = {
        let f = fake.lock().unwrap();
        (f.businesses[0].id.clone(), f.businesses[1].id.clone())
    };
    let wharf = Wharf::start().await;
    let conn = connected(&wharf, &api).await;

    // The consent covers two businesses: check names both and reads none.
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], false, "{:?}", check.json);
    let mut said = check.text.clone();
    for name in ["Ridgeway Cycles Ltd", "Harbour Bakery"] {
        assert!(said.contains(name), "{said}");
    }
    assert!(said.contains(&business) && said.contains(&other), "{said}");
    let patch = json!({"config": config(&api, json!({"business_id": business}))});
    let a = wharf
        .call("PATCH", &format!("/api/v1/connections/{conn}"), Some(patch))
        .await;
    assert!(a.status.is_success(), "{:?}", a.json);
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    said.push_str(&check.text);
    let offered: Vec<Value> = wharf.discover(&conn).await;
    let names: Vec<&str> = offered.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, STREAMS.to_vec());

    // The seventh API call of the run finds its token five minutes old.
    fake.lock().unwrap().expire_tokens_after(6);
    let body = json!({"name": "sage-books", "source": conn, "streams": STREAMS,
        "mode": "incremental", "destination": "records"});
    let sync = wharf.sync(body).await;
    let first = wharf.run(&sync).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let counts: Vec<usize> = {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.refreshes, 1, "the expired token was refreshed once");
        assert_eq!(f.expired_refused, 1);
        assert_eq!(
            f.reused_refresh, 0,
            "the host kept the newest refresh token"
        );
        assert_eq!(f.refused_429, 0);
        let calls = api_calls(&f);
        assert!(
            calls.iter().all(|s| s.x_business && s.method == "GET"),
            "X-Business on every call"
        );
        let ok = calls.iter().filter(|s| s.status == 200);
        assert!(
            ok.clone().all(|s| s.business == Some(0)),
            "the bakery was never read"
        );
        // 12 accounts in pages of 5: pages 1 to 3, and no fourth.
        let pages = |p: &str| {
            ok.clone()
                .filter(|s| s.uri.contains("/ledger_accounts?"))
                .filter(|s| s.uri.contains(p))
                .count()
        };
        assert_eq!((pages("page=3"), pages("page=4")), (1, 0));
        let listed = ok.clone().filter(|s| s.uri.contains("items_per_page=5"));
        assert!(listed.clone().count() >= 26);
        assert!(listed.clone().all(|s| s.uri.contains("attributes=all")));
        STREAMS
            .iter()
            .map(|s| f.businesses[0].lists[*s].len())
            .collect()
    };
    for (stream, n) in STREAMS.iter().zip(counts) {
        assert_eq!(wharf.records_all(&sync, stream).await, n, "{stream}");
    }
    let accounts = wharf.records(&sync, "ledger_accounts").await;
    let sales = accounts
        .iter()
        .find(|r| r["data"]["nominal_code"] == 4000)
        .expect("all attributes, as attributes=all asks");
    assert_eq!(sales["data"]["displayed_as"], "Sales Type A (4000)");
    assert_eq!(sales["key"], sales["data"]["id"]);
    let invoices = wharf.records(&sync, "sales_invoices").await;
    assert!(
        invoices
            .iter()
            .all(|r| r["data"]["invoice_lines"].is_array())
    );
    assert!(
        invoices
            .iter()
            .all(|r| r["data"]["transaction"]["$path"].is_string())
    );

    // A contact changes and an invoice is raised; the next run asks for
    // what changed since the newest change it saw.
    let (changed, added) = {
        let mut f = fake.lock().unwrap();
        let b = &mut f.businesses[0];
        let changed = b.edit("contacts", 2, json!({"email": "ap@marine.example"}));
        let fields = json!({"invoice_number": "SI-7", "total_amount": 90.0});
        let added = b.add("sales_invoices", "SI-7", fields)["id"].clone();
        let last = b.lists["sales_invoices"].len() - 1;
        b.edit(
            "sales_invoices",
            last,
            json!({"created_at": sage::now_iso()}),
        );
        f.since.clear();
        (changed, added)
    };
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.since.len(), STREAMS.len(), "{:?}", f.since);
        assert!(
            f.since
                .iter()
                .all(|s| s.starts_with("2024-03-") && s.ends_with('Z'))
        );
    }
    // The contact and the invoice; each stream's newest record comes again
    // (the bound is inclusive).
    let counters = &run["counters"];
    let moved = counters["created"].as_i64().unwrap() + counters["updated"].as_i64().unwrap();
    assert!((2..=2 + STREAMS.len() as i64).contains(&moved), "{run}");
    let contacts = wharf.records(&sync, "contacts").await;
    let contact = contacts
        .iter()
        .find(|r| r["key"] == json!(changed))
        .unwrap();
    assert_eq!(contact["data"]["email"], "ap@marine.example");
    let invoices = wharf.records(&sync, "sales_invoices").await;
    assert!(invoices.iter().any(|r| r["key"] == added), "{added}");

    // A refresh token is good once: the first one, spent mid-run, is
    // refused with invalid_grant.
    let spent = fake.lock().unwrap().issued[1].clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", spent.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let answer = reqwest::Client::new()
        .post(api.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let error: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(fake.lock().unwrap().reused_refresh, 1);

    // No token or secret in a check's answer, a log or a record.
    let all = everything(&wharf, &sync, &[&first, &run], &said).await;
    let issued = fake.lock().unwrap().issued.clone();
    assert!(issued.len() >= 4);
    for token in &issued {
        assert!(!all.contains(token.as_str()), "a token leaked");
    }
    assert!(!all.contains(CLIENT_SECRET));

    // The user loses the business: an authentication error, in Sage's words.
    fake.lock().unwrap().revoke(0);
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("AuthorizationFailure"), "{run}");
    assert!(
        error.contains("You do not have access to this business"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sage_one_business_used_unnamed_throttle_waited_and_expired_token_renewed() {
    let (api, fake) = sage::start(Sage::new(vec![books(0, "Ridgeway Cycles Ltd")])).await;
    let wharf = Wharf::start().await;
    let conn = connected(&wharf, &api).await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);

    // The first list call is throttled: Retry-After is waited out.
    fake.lock().unwrap().throttle_next = 1;
    let body = json!({"name": "sage-ledger", "source": conn, "mode": "full",
        "streams": ["ledger_accounts", "contacts"], "destination": "records"});
    let sync = wharf.sync(body).await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(wharf.records_all(&sync, "ledger_accounts").await, 12);
    assert_eq!(wharf.records_all(&sync, "contacts").await, 7);
    {
        let mut f = fake.lock().unwrap();
        assert_eq!(f.refused_429, 1);
        assert_eq!(f.violations, Vec::<String>::new());
        let calls = api_calls(&f);
        assert!(calls.iter().all(|s| s.x_business && s.business == Some(0)));
        // Six minutes pass between runs.
        f.advance(Duration::from_secs(360));
    }
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let f = fake.lock().unwrap();
    assert_eq!(
        (f.refreshes, f.expired_refused, f.reused_refresh),
        (1, 1, 0)
    );
    assert_eq!(f.violations, Vec::<String>::new());
}
